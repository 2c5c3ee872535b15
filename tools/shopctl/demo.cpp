// shopctl demo: starts the simulator in this process and walks through the API with the
// library, as a reseller's program would.
#include "bulk_output.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "progress.hpp"

#include <shop/shop.hpp>
#include <shop/testing/simulator.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <map>
#include <thread>

namespace shopctl {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

void step(std::string_view title) { fmt::print("\n== {} ==\n", title); }

asio::awaitable<void> walk_through(shop::client& c) {
    step("account (GET /account/info)");
    auto info = co_await c.sync_limits(); // also adopts the key's limits into the limiter
    fmt::print("user {} <{}>, key '{}' with {} permissions, {}/minute, {}/day\n", info.user.username, info.user.email,
               info.api_key.name, info.api_key.permissions.size(), info.api_key.rate_limit, info.api_key.daily_limit);

    step("balance (GET /account/balance)");
    auto start = co_await c.balance();
    fmt::print("{} {} ({})\n", start.balance.current.to_php_string(), start.balance.currency, start.balance.formatted);

    step("categories (GET /categories/list?include_children=1&include_products=1)");
    shop::category_list_query tree{.include_children = true, .include_products = true};
    auto cats = co_await c.list_categories(tree);
    table ct({"id", "name", "parent", "products"});
    for (auto const& cat : cats.categories)
        ct.add({std::to_string(cat.id), cat.name, std::to_string(cat.parent_id),
                cat.product_count ? std::to_string(*cat.product_count) : ""});
    ct.print();

    step("products (GET /products/list, every page)");
    shop::product_list_query two_per_page{.limit = 2};
    auto products = co_await c.all_products(two_per_page);
    table pt({"plan", "product / plan", "price", "instant", "stock", "fields"});
    for (auto const& p : products)
        for (auto const& pl : p.plans) {
            std::string fields;
            for (auto const& f : pl.fields) fields += (fields.empty() ? "" : ",") + f.key;
            pt.add({std::to_string(pl.id), p.name + " / " + pl.name, pl.final_price.to_php_string(),
                    pl.is_instant ? "yes" : "no", std::to_string(pl.stock_count), fields});
        }
    pt.print();

    shop::money charged;
    step("an instant order: plan 18, delivered at once (POST /orders/create)");
    // Arguments are built before co_await: GCC 12 mishandles temporaries with destructors
    // inside a co_await expression (rejects or destroys them twice).
    shop::create_order_request instant_request{.items = {{.plan_id = 18, .fields = {{"email_dang_nhap", "demo@example.com"}}}}};
    auto instant = co_await c.create_order(std::move(instant_request));
    charged += instant.summary.total_amount;
    auto const& o = instant.orders.at(0);
    fmt::print("{}: {} x {} = {} ({}), HTTP {}\n", o.trans_id, o.quantity, o.plan_name, o.final_amount.to_php_string(),
               o.status.raw, instant.meta.http_status);
    auto st = co_await c.order_status(o.trans_id);
    for (auto const& item : st.delivery.items) fmt::print("  delivered: {}\n", item);

    step("a coupon that does not apply warns, it does not fail");
    shop::create_order_request expired_coupon{.items = {{.plan_id = 900, .quantity = 2}}, .coupon_code = "HETHAN"};
    auto warned = co_await c.create_order(std::move(expired_coupon));
    charged += warned.summary.total_amount;
    for (auto const& w : warned.warnings) fmt::print("  warning {}: {}\n", w.code, w.message);
    shop::create_order_request ten_percent{.items = {{.plan_id = 900, .quantity = 2}}, .coupon_code = "GIAM10"};
    auto discounted = co_await c.create_order(std::move(ten_percent));
    charged += discounted.summary.total_amount;
    fmt::print("  GIAM10 on 2 x 10000: charged {}\n", discounted.summary.total_amount.to_php_string());

    step("a manual order: plan 904 goes pending -> processing -> completed");
    shop::create_order_request manual_request{.items = {{.plan_id = 904}}};
    auto manual = co_await c.create_order(std::move(manual_request));
    charged += manual.summary.total_amount;
    auto id = manual.orders.at(0).trans_id;
    std::string last;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < 100; ++i) {
        auto s = co_await c.order_status(id);
        if (s.order.status.raw != last) fmt::print("  {} is {}\n", id, last = s.order.status.raw);
        if (s.order.status.is_terminal()) {
            for (auto const& item : s.delivery.items) fmt::print("  delivered: {}\n", item);
            break;
        }
        timer.expires_after(200ms);
        co_await timer.async_wait(asio::use_awaitable);
    }

    step("errors carry error_code, message, HTTP status and request_id");
    try {
        shop::create_order_request sold_out{.items = {{.plan_id = 903}}};
        co_await c.create_order(std::move(sold_out));
    } catch (const shop::error& e) {
        fmt::print("  {}\n", e.diag().to_string());
    }

    step("orders (GET /orders/list, newest first)");
    shop::order_list_query newest{.limit = 10};
    auto listed = co_await c.list_orders(newest);
    table lt({"trans_id", "status", "plan", "qty", "amount", "created"});
    for (auto const& x : listed.orders)
        lt.add({x.trans_id, x.status.raw, x.plan ? x.plan->name : "(deleted)", std::to_string(x.quantity),
                x.final_amount.to_php_string(), x.created_at.value_or("")});
    lt.print();

    step("the balance agrees to the last xu");
    auto end = co_await c.balance();
    fmt::print("start {} - charged {} = {}; the server says {} -> {}\n", start.balance.current.to_php_string(),
               charged.to_php_string(), (start.balance.current - charged).to_php_string(),
               end.balance.current.to_php_string(),
               end.balance.current == start.balance.current - charged ? "OK" : "MISMATCH");
}

/// Median and 95th percentile of `v` (sorted in place), in the unit it holds.
std::pair<double, double> median_p95(std::vector<double>& v) {
    if (v.empty()) return {0, 0};
    std::sort(v.begin(), v.end());
    return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 95 / 100)]};
}

// The main job: a few hundred orders in parallel while the shop drops answers, then every
// order watched until delivered, pipelined.
asio::awaitable<void> bulk_and_poll(shop::client& c, shop::testing::simulator& sim, std::vector<double>& create_ms) {
    constexpr std::size_t instant_count = 250, manual_count = 50;
    step("bulk: 300 orders in batches of 20, 4 creates in flight, while the shop loses answers (POST /orders/create)");
    // From here on the simulator misbehaves: some creates are committed and their answer
    // lost, some never arrive, some fail at checkout. A create carries 20 orders, so each
    // fault costs a whole batch: reconciliation settles it as one unit.
    sim.faults().add(std::string_view("orders/create:close-after-commit=0.15"));
    sim.faults().add(std::string_view("orders/create:close-before-read=0.15"));
    sim.faults().add(std::string_view("orders/create:checkout-error=0.05"));
    fmt::print("faults on: 15% close-after-commit, 15% close-before-read, 5% CHECKOUT_ERROR, per create\n");
    std::vector<shop::bulk_item> items;
    for (std::size_t i = 0; i < instant_count; ++i)
        items.push_back({.plan_id = 905, .fields = {{"tai_khoan", "demo-" + std::to_string(i)}}});
    for (std::size_t i = 0; i < manual_count; ++i) items.push_back({.plan_id = 904});  // delivered later by the shop
    auto const orders_before = sim.state().orders().size();
    shop::bulk_placer placer(c, {.concurrency = 4, .batch = 20, .settle = std::chrono::milliseconds(200)});
    progress_view view;
    std::optional<shop::bulk_progress> last;
    shop::bulk_placer::progress_handler on_progress = [&](const shop::bulk_progress& p) {
        last = p;
        view.update(p);
    };
    create_ms.clear();
    auto report = co_await placer.async_place(std::move(items), on_progress);
    if (last) view.finish(*last);
    sim.faults().clear();
    std::vector<shop::poll_result> none;
    print_bulk_report(report, none);
    auto [create_median, create_p95] = median_p95(create_ms);
    fmt::print("create latency: median {:.2f} ms, p95 {:.2f} ms\n", create_median, create_p95);

    // What the shop recorded: one order per placed item, nothing twice.
    auto const records = sim.state().orders().size() - orders_before;
    fmt::print("simulator records {} new orders for {} placed items: {}\n", records, report.placed,
               records == report.placed ? "none placed twice" : "MISMATCH");

    step("watching every placed order until delivered: 2 connections, 16 pipelined requests each");
    std::vector<std::string> ids;
    for (auto const& r : report.items)
        if (r.outcome == shop::bulk_outcome::placed) ids.push_back(r.trans_id);
    shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 16,
                                   .intervals = {.initial = std::chrono::milliseconds(300)}});
    std::map<std::string, std::size_t> changes;
    shop::status_poller::update_handler on_update = [&](const shop::poll_result& r) {
        if (r.last) ++changes[r.last->order.status.raw];
    };
    auto started = std::chrono::steady_clock::now();
    auto results = co_await poller.async_poll(std::move(ids), on_update);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::size_t delivered = 0;
    for (auto const& r : results)
        if (r.terminal && r.last->order.status == shop::order_status::kind::completed) ++delivered;
    auto stats = poller.stats();
    fmt::print("{} of {} delivered in {:.2f} s; {} status requests ({:.0f}/s), deepest pipeline {}\n", delivered,
               results.size(), secs, stats.responses_read, stats.responses_read / std::max(secs, 0.001),
               stats.max_in_flight);
    std::string seen;
    for (auto const& [k, n] : changes) seen += (seen.empty() ? "" : ", ") + fmt::format("{} {}", k, n);
    fmt::print("status changes seen: {}\n", seen);
}

} // namespace

void add_demo_command(CLI::App& app, int& rc) {
    app.add_subcommand("demo", "start the simulator in-process and walk through the API")->callback([&rc] {
        asio::io_context server_io;
        shop::testing::simulator_options so;
        so.processing_after = 600ms;
        so.completed_after = 1500ms;
        // A limit a reseller's key gets raised to, so the bulk part runs in seconds (the
        // documented default is 60 a minute).
        so.rate_limit_override = 100'000;
        shop::testing::simulator sim(server_io.get_executor(), so);
        std::thread server_thread([&] { server_io.run(); });
        fmt::print("simulator listening at {} (demo account, documented example key)\n", sim.base_url());

        asio::io_context io;
        shop::client_config cfg;
        cfg.base_url = sim.base_url();
        cfg.api_key = std::string(shop::testing::demo_api_key);
        cfg.api_secret = std::string(shop::testing::demo_api_secret);
        std::vector<double> create_ms;
        cfg.request_log = [&](const shop::request_log_entry& e) {
            if (e.method == "POST") create_ms.push_back(e.elapsed.count() / 1000.0);
        };
        shop::client client(io.get_executor(), cfg);
        auto demo = [&]() -> asio::awaitable<void> {
            co_await walk_through(client);
            co_await bulk_and_poll(client, sim, create_ms);
        };
        asio::co_spawn(io, demo(), [&](std::exception_ptr ep) {
            if (ep) rc = report_exception(ep);
        });
        io.run();
        sim.stop();
        server_thread.join();
    });
}

} // namespace shopctl
