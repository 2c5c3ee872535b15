// shopctl bulk: many orders (of one plan, or mixed from a file) in batches with bounded
// concurrency, never paid twice (see shop/bulk_placer.hpp), with a progress bar, an optional
// journal and --resume.
#include "bulk_output.hpp"
#include "client_session.hpp"
#include "commands.hpp"
#include "order_file.hpp"
#include "output.hpp"
#include "progress.hpp"

#include <shop/bulk_placer.hpp>
#include <shop/json.hpp>
#include <shop/status_poller.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <fstream>
#include <memory>
#include <sstream>

namespace shopctl {
namespace {

namespace asio = boost::asio;

struct bulk_opts {
    std::int64_t plan = 0, qty = 1;
    std::size_t count = 0;
    std::vector<std::string> fields;
    std::string coupon;
    std::size_t concurrency = 8;
    std::size_t batch = 20;
    std::size_t max_attempts = 5;
    bool no_resend = false;
    bool wait = false;
    double wait_seconds = 600;
    double settle_seconds = 60;
    std::string journal, resume, from;
};

// Arguments by reference: GCC 12 mishandles objects with destructors built inside a
// co_await expression.
asio::awaitable<void> run_bulk(shop::client& c, const bulk_opts* o, std::vector<shop::bulk_item>& items,
                               const global_options& g, int& rc) {
    shop::bulk_options bo;
    bo.concurrency = o->concurrency;
    bo.batch = o->batch;
    bo.max_attempts = o->max_attempts;
    bo.retry_unplaced = !o->no_resend;
    bo.journal_path = o->journal;
    bo.settle = std::chrono::milliseconds(static_cast<std::int64_t>(o->settle_seconds * 1000));
    shop::bulk_placer placer(c, bo);

    progress_view view;
    std::optional<shop::bulk_progress> last;
    shop::bulk_placer::progress_handler on_progress = [&](const shop::bulk_progress& p) {
        last = p;
        view.update(p);
    };

    // Ctrl-C: stop sending and settle what is in flight; the journal stays consistent.
    auto ex = co_await asio::this_coro::executor;
    asio::signal_set signals(ex, SIGINT, SIGTERM);
    asio::cancellation_signal cancel;
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (ec) return;
        fmt::print(stderr, "\ninterrupted: no new orders; settling those in flight\n");
        cancel.emit(asio::cancellation_type::terminal);
    });
    // The default token's exception (shop::error with the diagnostics), cancellable.
    auto token = shop::with_diagnostics(asio::bind_cancellation_slot(cancel.slot(), asio::use_awaitable));
    shop::bulk_report report;
    if (!o->resume.empty()) {
        std::string path = o->resume;
        report = co_await placer.async_resume(std::move(path), on_progress, std::move(token));
    } else {
        report = co_await placer.async_place(std::move(items), on_progress, std::move(token));
    }
    signals.cancel();
    if (last) view.finish(*last);

    std::vector<shop::poll_result> statuses;
    if (o->wait && report.placed > 0) {
        std::vector<std::string> ids;
        for (auto const& r : report.items)
            if (r.outcome == shop::bulk_outcome::placed) ids.push_back(r.trans_id);
        shop::poll_options po;
        po.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(o->wait_seconds * 1000));
        shop::status_poller poller(c, po);
        if (!g.json) fmt::print(stderr, "waiting for {} order(s) to be delivered\n", ids.size());
        statuses = co_await poller.async_poll(std::move(ids), {});
    }

    if (g.json) fmt::print("{}\n", bulk_report_json(report, statuses));
    else print_bulk_report(report, statuses);
    rc = bulk_exit_code(report);
}

} // namespace

void add_bulk_command(CLI::App& app, global_options& g, int& rc) {
    auto o = std::make_shared<bulk_opts>();
    auto* bulk = app.add_subcommand("bulk", "place many orders in parallel, never paying twice");
    bulk->add_option("--plan", o->plan, "plan id")->check(CLI::PositiveNumber);
    bulk->add_option("--count", o->count, "number of orders")->check(CLI::Range(1, 1000000));
    bulk->add_option("--qty", o->qty, "quantity of each order")->check(CLI::Range(1, 1000000));
    bulk->add_option("--field", o->fields, "KEY=VALUE (repeatable); {i} in VALUE becomes the item's index");
    bulk->add_option("--coupon", o->coupon, "coupon code for every order");
    bulk->add_option("--from", o->from,
                     "orders from FILE, one JSON object per line: plan_id, quantity, fields, coupon_code");
    bulk->add_option("--concurrency", o->concurrency, "creates in flight at once")->check(CLI::Range(1, 256));
    bulk->add_option("--batch", o->batch, "orders per create (one transaction; default 20, the API's maximum)")
        ->check(CLI::Range(1, 20));
    bulk->add_option("--max-attempts", o->max_attempts, "creates per item at most (resends included)")
        ->check(CLI::Range(1, 20));
    bulk->add_flag("--no-resend", o->no_resend,
                   "do not resend an item whose lost attempt was shown to have placed nothing");
    bulk->add_option("--settle", o->settle_seconds,
                     "seconds a lost create is given to commit before it may be found unplaced and resent")
        ->check(CLI::NonNegativeNumber);
    bulk->add_flag("--wait", o->wait, "then poll the placed orders until delivered");
    bulk->add_option("--wait-timeout", o->wait_seconds, "give up waiting after this many seconds")
        ->check(CLI::PositiveNumber);
    bulk->add_option("--journal", o->journal, "record the run in this JSON-lines file (must not exist)");
    bulk->add_option("--resume", o->resume, "continue the run recorded in this journal");
    bulk->callback([&g, &rc, o] {
        std::vector<shop::bulk_item> items;
        if (!o->resume.empty()) {
            if (o->plan || o->count || !o->fields.empty() || !o->coupon.empty() || !o->journal.empty() || !o->from.empty()) {
                fmt::print(stderr, "error: --resume takes the items and the journal from JOURNAL; "
                                   "--plan, --count, --field, --coupon, --from and --journal do not apply\n");
                rc = exit_usage;
                return;
            }
        } else if (!o->from.empty()) {
            if (o->plan || o->count || !o->fields.empty() || !o->coupon.empty() || o->qty != 1) {
                fmt::print(stderr, "error: --from takes every order from FILE; --plan, --count, --qty, --field and "
                                   "--coupon do not apply\n");
                rc = exit_usage;
                return;
            }
            std::ifstream in(o->from, std::ios::binary);
            std::ostringstream text;
            if (!in || !(text << in.rdbuf())) {
                fmt::print(stderr, "error: {}: cannot read it\n", o->from);
                rc = exit_usage;
                return;
            }
            auto file = parse_order_file(text.str());
            if (!file.errors.empty()) {
                // Nothing is sent while one line is wrong.
                for (auto const& e : file.errors) fmt::print(stderr, "error: {}: {}\n", o->from, e);
                rc = exit_usage;
                return;
            }
            items = std::move(file.items);
        } else {
            if (!o->plan || !o->count) {
                fmt::print(stderr, "error: bulk needs --plan and --count, or --from FILE (or --resume JOURNAL)\n");
                rc = exit_usage;
                return;
            }
            shop::field_list fields;
            if (!read_fields(o->fields, fields)) {
                rc = exit_usage;
                return;
            }
            items.reserve(o->count);
            for (std::size_t i = 0; i < o->count; ++i) {
                shop::bulk_item item{.plan_id = o->plan, .quantity = o->qty, .fields = fields, .coupon_code = o->coupon};
                for (auto& kv : item.fields) kv.second = substitute_index(kv.second, i);
                items.push_back(std::move(item));
            }
        }
        int bulk_rc = exit_ok;
        rc = run_client(g, [o, &g, &bulk_rc, items = std::move(items)](shop::client& c) mutable -> asio::awaitable<void> {
            co_await run_bulk(c, o.get(), items, g, bulk_rc);
        }, command_bound::per_call);
        if (rc == exit_ok) rc = bulk_rc;
    });
}

} // namespace shopctl
