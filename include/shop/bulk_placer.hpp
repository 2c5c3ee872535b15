// shop::bulk_placer: places many orders with bounded concurrency and never pays twice.
//
//     shop::bulk_placer placer(client, {.concurrency = 8, .journal_path = "run.jsonl"});
//     shop::bulk_placer::progress_handler on_progress = [](const shop::bulk_progress& p) { ... };
//     auto report = co_await placer.async_place(items, on_progress, boost::asio::use_awaitable);
//
// Each item ends placed (trans_id, amount), rejected (the error with its diagnostics), outcome
// unknown (with the evidence gathered) or not attempted (a fatal condition stopped the run).
//
// Items go up to `bulk_options::batch` (20) per create: one transaction, all of its orders
// placed and paid or none. A batch refused because of some of its items is split (the items
// a refusal names apart, else halves) until the valid ones are placed and each offending one
// has its own refusal; a refusal for the whole account stops new sends.
//
// The API has no idempotency key, so a create whose answer was lost is never resent blindly.
// The item becomes "lost" and its twins (same plan, quantity and fields) are held back.
// Lost items are reconciled in passes: new sends pause until no create is in flight, the order
// listing is walked newest first down to the newest order known before the attempt (no
// server-side filters: the deployed server fails them), candidates are matched on plan,
// quantity, creation time, amount (when this run has seen the price) and, through
// /orders/status, fields. The one unclaimed match is adopted. When nothing matches and the
// loss is `settle` old, two witnesses can show that the attempt placed nothing:
// - the listing: the walk reached the attempt's floor, and no unclaimed order of the item's
//   plan and quantity since then carries its fields (for twins: none is left once the
//   matching orders were shared out). It decides whatever else spends from the account.
// - the balance: it equals the baseline (a balance read with nothing lost or in flight) minus
//   everything this run is known to have been charged since (summary.total_amount). It
//   assumes nothing else moves the balance between two baselines, and decides for twins
//   that foreign look-alike orders leave open.
// Either one is enough (bulk_item_result::proof says which, or both); the item is sent again
// (bulk_options::retry_unplaced). When neither holds (a walk cut short by its page bound or
// an error, look-alike orders, a moved balance), it ends outcome unknown after
// `reconcile_passes` rather than risk a second payment.
//
// A lost batch is decided as one unit first (its orders sit side by side in the account's
// listing, so one field read per matching run identifies them, and one item proven absent
// proves the whole batch absent); what that leaves open is matched item by item.
//
// All of it runs on one strand: `concurrency` sender coroutines and one reconciler, sharing a
// detail::bulk_queue. Every wait is bounded by the client's own timeouts or a short re-check.
#pragma once

#include <shop/client.hpp>
#include <shop/config.hpp>
#include <shop/detail/async/spawn.hpp>
#include <shop/detail/bulk/balance_ledger.hpp>
#include <shop/detail/bulk/bulk_journal.hpp>
#include <shop/detail/bulk/bulk_queue.hpp>
#include <shop/detail/bulk/create_verdict.hpp>
#include <shop/detail/bulk/journal_sync.hpp>
#include <shop/detail/bulk/reconcile.hpp>
#include <shop/detail/async/task_group.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace shop {

enum class bulk_outcome {
    placed,        ///< an order exists for the item (answered, or adopted by reconciliation)
    rejected,      ///< the API refused it, or a lost attempt was proved to have placed nothing
    unknown,       ///< an attempt's answer was lost and reconciliation could not tell
    not_attempted, ///< never sent: the run stopped first
};

constexpr std::string_view to_string(bulk_outcome o) noexcept {
    switch (o) {
    case bulk_outcome::placed: return "placed";
    case bulk_outcome::rejected: return "rejected";
    case bulk_outcome::unknown: return "unknown";
    case bulk_outcome::not_attempted: return "not_attempted";
    }
    return "?";
}

/// How reconciliation showed that a lost attempt placed nothing.
enum class absence_proof {
    none,    ///< no lost attempt of the item was concluded unplaced
    listing, ///< the listing, read whole since the attempt, holds no order with its plan, quantity and fields
    balance, ///< the balance shows no charge beyond what this run knows of
    both,    ///< the listing and the balance agree
};

constexpr std::string_view to_string(absence_proof p) noexcept {
    switch (p) {
    case absence_proof::none: return "none";
    case absence_proof::listing: return "listing";
    case absence_proof::balance: return "balance";
    case absence_proof::both: return "both";
    }
    return "?";
}

/// The final state of one item.
struct bulk_item_result {
    std::size_t index = 0;
    std::string reference; ///< the item's bulk_item::reference
    bulk_outcome outcome = bulk_outcome::not_attempted;
    std::string trans_id;
    std::int64_t order_id = 0;
    money final_amount;
    /// What was charged for it, when known exactly: the answer's summary.total_amount, or
    /// for an adopted order, paid and without coupon, its final_amount.
    std::optional<money> charged;
    /// The order's status when placed (from the create's answer or from reconciliation).
    std::optional<order_status> status;
    /// Found by reconciliation after its answer was lost.
    bool adopted = false;
    /// Creates sent for this item.
    std::size_t attempts = 0;
    /// Why it was rejected, not attempted or unknown; for an adopted order, the loss.
    error_code ec;
    diagnostics diag;
    /// What happened to its lost attempts, in order (empty when nothing was lost).
    std::vector<std::string> evidence;
    /// What proved its last lost attempt unplaced (none when no loss was concluded so); the
    /// item may have been placed by a later attempt.
    absence_proof proof = absence_proof::none;
};

/// A snapshot delivered to the progress handler.
struct bulk_progress {
    std::size_t total = 0, placed = 0, rejected = 0, unknown = 0, not_attempted = 0;
    std::size_t in_flight = 0;   ///< creates on their way
    std::size_t reconciling = 0; ///< lost items awaiting reconciliation
    std::chrono::milliseconds elapsed{0};
    /// Items settled per second by this run (not counting those a resumed journal had
    /// settled already), and the time left at that rate.
    double rate = 0;
    std::optional<std::chrono::milliseconds> eta;
    bool stopping = false; ///< a fatal condition stopped new sends (see stop_reason)
    error_code stop_reason;
    std::size_t done() const noexcept { return placed + rejected + unknown + not_attempted; }
};

struct bulk_report {
    std::vector<bulk_item_result> items; ///< in input order
    std::size_t placed = 0, rejected = 0, unknown = 0, not_attempted = 0;
    money start_balance;
    std::optional<money> end_balance;  ///< read after the run (empty if that read failed)
    money charged_total;               ///< charged for placed items (final_amount where not known exactly)
    error_code stop_reason;            ///< the fatal condition that stopped new sends, if any
    diagnostics stop_diag;
    std::size_t creates_sent = 0;      ///< creates sent in this run
    std::size_t reconcile_passes = 0;
    std::size_t adopted = 0;           ///< lost answers whose order reconciliation found
    std::size_t resent = 0;            ///< items sent again after a proven non-placement
    std::size_t settled_before = 0;    ///< items a resumed journal had already settled
    std::chrono::milliseconds elapsed{0};
};

/// Places many orders; see the top of this header.
///
/// The client (with its pool and limiter) must outlive every run, and the placer must be
/// alive when a run starts (with a deferred token, when it is launched), as for Asio's I/O
/// objects. One run at a time per placer.
///
/// Cancellation of async_place/async_resume: terminal (the token's cancellation slot). New
/// sends stop, creates in flight are cancelled (those that may have reached the server end
/// outcome unknown, with the journal to resume from), and the operation completes normally
/// with the report so far.
class bulk_placer {
public:
    using clock = std::chrono::steady_clock;
    using progress_handler = std::function<void(const bulk_progress&)>;

    explicit bulk_placer(client& c, bulk_options o = {}) : client_(c), opts_(std::move(o)) {
        if (opts_.concurrency == 0) opts_.concurrency = 1;
        if (opts_.max_attempts == 0) opts_.max_attempts = 1;
        if (opts_.reconcile_passes == 0) opts_.reconcile_passes = 1;
        if (opts_.max_list_pages == 0) opts_.max_list_pages = 1;
        if (opts_.max_status_reads == 0) opts_.max_status_reads = 1;
        if (opts_.reconcile_batch == 0) opts_.reconcile_batch = opts_.concurrency;
    }

    const bulk_options& options() const noexcept { return opts_; }

    /// Places every item. `on_progress` (may be empty) is called on the run's strand after
    /// every change; it must not block and must not throw (an exception stops new sends; the
    /// creates in flight are settled and the run completes with errc::callback_failed, the
    /// exception's text in the diagnostics, and the report so far).
    ///
    /// Completion: void(error_code, bulk_report). The error is set only when the run could
    /// not start (the starting balance could not be read, the journal could not be created;
    /// nothing was sent then) or when the progress handler threw; every item's outcome is in
    /// the report.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, bulk_report)) Token = default_token>
    auto async_place(std::vector<bulk_item> items, progress_handler on_progress, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, bulk_report)>(
            place_init{this}, token, static_cast<diagnostics*>(nullptr), std::move(items), std::move(on_progress));
    }

    /// As above; why the run failed to start (or the handler's failure) is written to `diag`.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, bulk_report)) Token = default_token>
    auto async_place(std::vector<bulk_item> items, progress_handler on_progress, diagnostics& diag, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, bulk_report)>(place_init{this}, token, &diag,
                                                                                 std::move(items), std::move(on_progress));
    }

    /// Continues the run recorded in `journal_path` (its items and baseline; this placer's
    /// options apply otherwise). Attempts that never got an outcome (the process died with
    /// them in flight) and items left unknown are lost items from the start: reconciled as
    /// usual, their twins held back meanwhile; items never sent, or shown to have placed
    /// nothing (a stopped run), are sent. The journal is locked and appended to. Same
    /// completion as async_place (errc::journal_failed when the journal cannot be read,
    /// locked or is not one).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, bulk_report)) Token = default_token>
    auto async_resume(std::string journal_path, progress_handler on_progress, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, bulk_report)>(
            resume_init{this}, token, static_cast<diagnostics*>(nullptr), std::move(journal_path),
            std::move(on_progress));
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, bulk_report)) Token = default_token>
    auto async_resume(std::string journal_path, progress_handler on_progress, diagnostics& diag, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, bulk_report)>(
            resume_init{this}, token, &diag, std::move(journal_path), std::move(on_progress));
    }

private:
    struct place_init {
        bulk_placer* self;
        template <class Handler>
        void operator()(Handler&& handler, diagnostics* diag, std::vector<bulk_item> items, progress_handler on_progress) const {
            auto st = std::make_shared<run_state>(self->client_, self->opts_, std::move(on_progress));
            detail::spawn_run<bulk_report>(st->strand, std::forward<Handler>(handler), diag,
                                           run_new(st, std::move(items), diag));
        }
    };
    struct resume_init {
        bulk_placer* self;
        template <class Handler>
        void operator()(Handler&& handler, diagnostics* diag, std::string path, progress_handler on_progress) const {
            auto st = std::make_shared<run_state>(self->client_, self->opts_, std::move(on_progress));
            detail::spawn_run<bulk_report>(st->strand, std::forward<Handler>(handler), diag,
                                           run_resumed(st, std::move(path), diag));
        }
    };

    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;

    struct item_state {
        std::string key;             // twin key
        std::size_t passes = 0;      // reconciliation passes it took part in while lost
        std::size_t tries = 0;       // creates sent for it by this run (the attempts bound)
        std::uint64_t sent_seq = 0;  // order of its last send, for matching twins
        std::int64_t not_before = 0; // of the last attempt (server unix seconds)
        std::int64_t after_id = 0;   // of the last attempt
        bool proven_unplaced = false;// a lost attempt was shown to have placed nothing
        std::size_t batch_size = 1;  // items of its last create (the batch sent_seq names)
        std::uint64_t part = 0;      // part of a refused batch it is sent with (0: any batch)
        bool apart = true;           // no other item of the run leaves a look-alike order (detail::told_apart)
    };

    struct run_state {
        run_state(client& c, bulk_options const& o, progress_handler h)
            : cl(c), opts(o), on_progress(std::move(h)), strand(boost::asio::make_strand(c.get_executor())),
              tasks(strand), started(clock::now()) {}

        client& cl;
        bulk_options opts;
        progress_handler on_progress;
        strand_type strand;
        detail::task_group tasks;  // the senders and the reconciler
        clock::time_point started;

        std::vector<bulk_item> items;
        std::vector<item_state> state;
        std::vector<bulk_item_result> results;
        std::optional<detail::bulk_queue> queue;
        detail::journal_file journal;
        bulk_report report;

        detail::balance_ledger ledger;
        void rebase(money balance) { ledger.rebase(balance, clock::now()); }

        std::int64_t server_offset = 0;  // server unix time - local unix time
        std::int64_t known_max_id = 0;   // newest order id known to exist
        std::set<std::string> claimed;   // trans_ids of this run's orders
        std::map<std::string, order_status_result> status_of; // candidates read via /orders/status
        std::map<std::string, money> learned_amount;          // plan|qty → final_amount (no coupon)
        std::map<std::int64_t, std::string> product_of_plan;  // learned from answers: names a refusal's culprit
        std::uint64_t send_seq = 0;
        std::uint64_t parts = 0;                              // parts of refused batches so far

        bool cancelled = false;
        std::optional<std::string> fatal;  // why the progress handler failed

        // The server's clock, from an answer's timestamp (one-second resolution).
        void adopt_clock(response_meta const& meta) {
            if (meta.timestamp <= 0) return;
            auto local = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
            server_offset = meta.timestamp - local;
        }

        std::int64_t server_now() const {
            auto local = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
            return local + server_offset;
        }

        void notify() { tasks.wake_all(); }

        void stop_all() {
            cancelled = true;
            if (queue) queue->stop();
            tasks.stop_all();
        }

        // A fatal condition: no new sends, the rest of the run settles what is in flight.
        void stop_sends(error_code ec, diagnostics const& diag) {
            if (!report.stop_reason) {
                report.stop_reason = ec;
                report.stop_diag = diag;
            }
            queue->stop();
            notify();
        }

        // Fails (errc::journal_failed, the reason in journal.last_error()) when the line
        // could not be written.
        error_code write_journal(std::string const& line) { return journal.write_line(line, false); }

        // Everything written so far forced to the disk (journal_sync: on a private thread, so
        // the client's executor never waits on the disk). Before a create is sent.
        detail::journal_sync syncer;
        std::string sync_error;
        boost::asio::awaitable<error_code> make_durable() {
            if (!journal.wants_sync()) co_return error_code{};
            auto [ec] = co_await syncer.async_sync(journal.native_handle(), strand, &sync_error,
                                                   boost::asio::as_tuple(boost::asio::use_awaitable));
            if (ec) co_return journal.fail(sync_error);
            co_return error_code{};
        }

        // Items settled, by outcome (kept as they settle: progress is reported often).
        std::array<std::size_t, 4> settled{};
        void tally(std::size_t i) { ++settled[static_cast<std::size_t>(results[i].outcome)]; }

        void progress() {
            if (!on_progress || fatal) return;
            bulk_progress p;
            p.total = results.size();
            p.placed = settled[static_cast<std::size_t>(bulk_outcome::placed)];
            p.rejected = settled[static_cast<std::size_t>(bulk_outcome::rejected)];
            p.unknown = settled[static_cast<std::size_t>(bulk_outcome::unknown)];
            p.not_attempted = settled[static_cast<std::size_t>(bulk_outcome::not_attempted)];
            p.in_flight = queue->in_flight();
            p.reconciling = queue->lost_count();
            p.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
            double secs = std::max(0.001, std::chrono::duration<double>(p.elapsed).count());
            p.rate = static_cast<double>(p.done() - std::min(p.done(), report.settled_before)) / secs;
            if (p.rate > 0 && !queue->stopped())
                p.eta = std::chrono::milliseconds(static_cast<std::int64_t>(static_cast<double>(p.total - p.done()) / p.rate * 1000.0));
            p.stopping = queue->stopped();
            p.stop_reason = report.stop_reason;
            try {
                on_progress(p);
            } catch (std::exception const& e) {
                fatal = std::string("the progress handler threw: ") + e.what();
                stop_all();
            } catch (...) {
                fatal = "the progress handler threw";
                stop_all();
            }
        }

        // `in_ledger`: its charge goes into the balance ledger (false when the caller books a
        // batch's exact total instead).
        void placed(std::size_t i, std::string trans_id, std::int64_t order_id, money final_amount,
                    std::optional<money> charged, std::optional<order_status> status, bool adopted, bool in_ledger = true) {
            auto& r = results[i];
            r.outcome = bulk_outcome::placed;
            if (!adopted) {  // a resend that was answered: the earlier loss is history (evidence)
                r.ec = {};
                r.diag = {};
            }
            r.trans_id = std::move(trans_id);
            r.order_id = order_id;
            r.final_amount = final_amount;
            r.charged = charged;
            r.status = std::move(status);
            r.adopted = adopted;
            claimed.insert(r.trans_id);
            known_max_id = std::max(known_max_id, order_id);
            report.charged_total += charged.value_or(final_amount);
            if (in_ledger) ledger.charge(charged.value_or(final_amount), charged.has_value());
            if (adopted) ++report.adopted;
            if (items[i].coupon_code.empty() && !adopted)
                learned_amount[amount_key(items[i])] = final_amount;
        }

        static std::string amount_key(bulk_item const& item) {
            return std::to_string(item.plan_id) + '|' + std::to_string(item.quantity);
        }
    };

    // --- setting a run up --------------------------------------------------------------

    // Matching cannot tell coupons apart (a skipped coupon leaves none on the order), so
    // items differing only in their coupon are twins too.
    static std::string key_of(bulk_item const& item) { return detail::twin_key(item.plan_id, item.quantity, item.fields); }

    static void init_items(run_state& st, std::vector<bulk_item> items) {
        st.items = std::move(items);
        st.state.resize(st.items.size());
        st.results.resize(st.items.size());
        std::vector<std::string> keys;
        keys.reserve(st.items.size());
        for (std::size_t i = 0; i < st.items.size(); ++i) {
            st.state[i].key = key_of(st.items[i]);
            keys.push_back(st.state[i].key);
            st.results[i].index = i;
            st.results[i].reference = st.items[i].reference;
        }
        std::vector<detail::lost_attempt> identities(st.items.size());
        for (std::size_t i = 0; i < st.items.size(); ++i)
            identities[i] = {.plan_id = st.items[i].plan_id, .quantity = st.items[i].quantity, .fields = st.items[i].fields};
        auto const apart = detail::told_apart(identities);
        for (std::size_t i = 0; i < st.items.size(); ++i) st.state[i].apart = apart[i];
        st.queue.emplace(std::move(keys));
    }

    static absence_proof proof_named(std::string_view name) {
        for (auto p : {absence_proof::listing, absence_proof::balance, absence_proof::both})
            if (name == to_string(p)) return p;
        return absence_proof::none;
    }

    using run_outcome = detail::outcome<bulk_report>;

    // The run could not start: nothing was sent.
    static run_outcome not_started(diagnostics* out, error_code ec, diagnostics why) {
        if (out) *out = std::move(why);
        return run_outcome{ec, {}};
    }
    static diagnostics journal_diag(std::string message) {
        diagnostics d;
        d.message = std::move(message);
        return d;
    }

    static boost::asio::awaitable<run_outcome> run_new(std::shared_ptr<run_state> st, std::vector<bulk_item> items,
                                                       diagnostics* diag) {
        namespace net = boost::asio;
        co_await net::this_coro::throw_if_cancelled(false);
        init_items(*st, std::move(items));
        // The baseline: balance (and the server's clock) and the newest order, before any send.
        diagnostics why;
        auto bal = co_await st->cl.balance(why, net::as_tuple(net::use_awaitable));
        if (auto ec = std::get<0>(bal)) co_return not_started(diag, ec, std::move(why));
        order_list_query newest;
        newest.limit = 1;
        auto top = co_await st->cl.list_orders(newest, why, net::as_tuple(net::use_awaitable));
        if (auto ec = std::get<0>(top)) co_return not_started(diag, ec, std::move(why));
        auto const& b = std::get<1>(bal);
        st->report.start_balance = b.balance.current;
        st->rebase(b.balance.current);
        st->adopt_clock(b.meta);
        auto const& listed = std::get<1>(top).orders;
        st->known_max_id = listed.empty() ? 0 : listed.front().id;
        if (!st->opts.journal_path.empty()) {
            if (auto ec = st->journal.open(st->opts.journal_path, true, st->opts.journal_sync))
                co_return not_started(diag, ec, journal_diag(st->journal.last_error()));
            detail::journal_run header;
            header.after_id = st->known_max_id;
            header.start_balance = st->report.start_balance;
            header.server_offset = st->server_offset;
            header.items = st->items.size();
            error_code ec = st->write_journal(detail::journal_run_line(header));
            for (std::size_t i = 0; i < st->items.size() && !ec; ++i)
                ec = st->write_journal(detail::journal_item_line(i, st->items[i]));
            if (!ec) ec = co_await st->make_durable();
            if (ec) co_return not_started(diag, ec, journal_diag(st->journal.last_error()));
        }
        co_return co_await drive(st, diag);
    }

    static boost::asio::awaitable<run_outcome> run_resumed(std::shared_ptr<run_state> st, std::string path,
                                                           diagnostics* diag) {
        namespace net = boost::asio;
        co_await net::this_coro::throw_if_cancelled(false);
        // Locked first: two runs resuming one journal would both settle and resend.
        if (auto ec = st->journal.open(path, false, st->opts.journal_sync))
            co_return not_started(diag, ec, journal_diag(st->journal.last_error()));
        std::string text, problem;
        if (auto ec = detail::journal_file::read_all(path, text, problem))
            co_return not_started(diag, ec, journal_diag(problem));
        detail::journal_replay replay;
        if (auto ec = detail::replay_journal(text, replay, problem))
            co_return not_started(diag, ec, journal_diag(path + ": " + problem));
        init_items(*st, std::move(replay.items));
        // The balance test goes on from the journal's baseline; the clock is read afresh.
        st->report.start_balance = replay.run.start_balance;
        st->rebase(replay.run.start_balance);
        st->server_offset = replay.run.server_offset;
        st->known_max_id = replay.run.after_id;
        diagnostics why;
        auto bal = co_await st->cl.balance(why, net::as_tuple(net::use_awaitable));
        if (auto ec = std::get<0>(bal)) co_return not_started(diag, ec, std::move(why));
        st->adopt_clock(std::get<1>(bal).meta);
        auto const resumed_balance = std::get<1>(bal).balance.current;
        auto const now = clock::now();
        auto const wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        using how = detail::resumed_item::kind;
        for (std::size_t i = 0; i < st->items.size(); ++i) {
            auto const& js = replay.states[i];
            auto const step = detail::resume_item(js, wall_ms);
            auto& r = st->results[i];
            auto& s = st->state[i];
            r.attempts = js.attempts;
            r.proof = proof_named(js.proof);
            s.not_before = js.not_before;
            s.after_id = js.after_id;
            if (!step.evidence.empty()) r.evidence.push_back(step.evidence);
            switch (step.how) {
            case how::send: break;
            case how::send_unplaced: s.proven_unplaced = true; break;
            case how::placed:
                // (An adopted order whose charge was not known exactly has no "charged".)
                st->placed(i, js.trans_id, js.order_id, js.final_amount, js.charged, std::nullopt, js.adopted);
                st->queue->settle(i);
                st->tally(i);
                break;
            case how::rejected:
                r.outcome = bulk_outcome::rejected;
                r.ec = js.ec;
                r.diag.server_code = js.code;
                r.diag.message = js.message;
                r.diag.endpoint = "orders/create";
                st->queue->settle(i);
                st->tally(i);
                break;
            case how::lost:
                r.outcome = bulk_outcome::unknown;
                r.ec = make_error_code(errc::outcome_unknown);
                r.diag.endpoint = "orders/create";
                r.diag.message = step.message;
                s.sent_seq = step.batch_seq;  // the order the attempts were sent in; a batch shares it
                s.batch_size = step.batch_size;
                st->queue->add_lost(i, now - std::min<clock::duration>(step.since_send, now.time_since_epoch()));
                break;
            }
        }
        for (auto const& js : replay.states) st->send_seq = std::max<std::uint64_t>(st->send_seq, js.attempt_line);
        // Nothing left unsettled: the balance just read is the baseline (a top-up since the
        // stop does not count against later lost items).
        if (st->queue->lost_count() == 0) st->rebase(resumed_balance);
        if (replay.torn_tail) {
            // Cut the torn line off, so what is appended starts on a line of its own.
            std::error_code fec;
            std::filesystem::resize_file(path, replay.whole_size, fec);
            if (fec)
                co_return not_started(diag, make_error_code(errc::journal_failed),
                                      journal_diag("journal " + path + ": cannot cut its torn last line: " + fec.message()));
        }
        for (std::size_t i = 0; i < st->items.size(); ++i)
            if (st->queue->phase_of(i) == detail::bulk_queue::phase::done) ++st->report.settled_before;
        // A whole last line whose newline never made it: end it before appending.
        error_code jec;
        if (!replay.torn_tail && !text.empty() && text.back() != '\n') jec = st->write_journal({});
        if (!jec) jec = st->write_journal(detail::journal_resume_line());
        if (jec) co_return not_started(diag, jec, journal_diag(st->journal.last_error()));
        co_return co_await drive(st, diag);
    }

    // --- the run -----------------------------------------------------------------------

    static boost::asio::awaitable<run_outcome> drive(std::shared_ptr<run_state> st, diagnostics* diag) {
        namespace net = boost::asio;
        std::size_t const senders = std::max<std::size_t>(1, std::min(st->opts.concurrency, st->items.size()));
        st->tasks.resize(senders + 1);
        for (std::size_t i = 0; i < senders + 1; ++i) st->tasks.spawn(i, i < senders ? sender(st, i) : reconciler(st, i), st);
        st->progress();
        co_await st->tasks.join([&st] { st->stop_all(); });
        finish(*st);
        st->journal.close();
        if (!st->cancelled && !st->fatal) {
            auto end = co_await st->cl.balance(net::as_tuple(net::use_awaitable));
            if (!std::get<0>(end)) st->report.end_balance = std::get<1>(end).balance.current;
        }
        st->progress();
        st->report.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - st->started);
        st->report.items = st->results;
        run_outcome out{{}, st->report};
        if (st->fatal) {  // the progress handler threw (perhaps in that last call)
            out.ec = make_error_code(errc::callback_failed);
            if (diag) {
                *diag = diagnostics{};
                diag->message = *st->fatal;
            }
        }
        co_return out;
    }

    // Everything not settled when the run ends: lost items stay unknown, waiting ones were
    // never sent (or were proved unplaced earlier: rejected).
    static void finish(run_state& st) {
        for (auto i : st.queue->lost_items()) {
            auto& r = st.results[i];
            r.outcome = bulk_outcome::unknown;
            r.evidence.push_back(st.cancelled ? "the run was cancelled before reconciliation settled it"
                                              : "the run ended before reconciliation settled it");
            st.queue->resolve(i);
            st.tally(i);
        }
        for (auto i : st.queue->unsent()) {
            auto& r = st.results[i];
            if (st.state[i].proven_unplaced) {
                r.outcome = bulk_outcome::rejected;
                r.diag.message = "not placed (its lost attempt placed nothing); not sent again: " + stop_text(st);
            } else {
                r.outcome = bulk_outcome::not_attempted;
                r.ec = make_error_code(errc::not_attempted);
                r.diag = diagnostics{};
                r.diag.endpoint = "orders/create";
                r.diag.message = "not sent: " + stop_text(st);
            }
            st.tally(i);
        }
        auto& rep = st.report;
        rep.placed = rep.rejected = rep.unknown = rep.not_attempted = 0;
        for (auto const& r : st.results) {
            switch (r.outcome) {
            case bulk_outcome::placed: ++rep.placed; break;
            case bulk_outcome::rejected: ++rep.rejected; break;
            case bulk_outcome::unknown: ++rep.unknown; break;
            case bulk_outcome::not_attempted: ++rep.not_attempted; break;
            }
        }
    }

    static std::string stop_text(run_state const& st) {
        if (st.report.stop_reason)
            return "the run stopped on " + st.report.stop_diag.to_string();
        if (st.cancelled) return "the run was cancelled";
        return "the run ended";
    }

    // Sleeps until `until` or notify(); false once the task is cancelled.
    static boost::asio::awaitable<bool> sleep_until(run_state& st, detail::task_group::member& t, clock::time_point until) {
        bool const awake = co_await t.timer.sleep_until(until);
        co_return awake && !st.cancelled;
    }

    // The re-check period of idle tasks: every state change also wakes them.
    static constexpr std::chrono::milliseconds idle_check{200};

    static boost::asio::awaitable<void> sender(std::shared_ptr<run_state> stp, std::size_t index) {
        namespace net = boost::asio;
        co_await net::this_coro::throw_if_cancelled(false);
        auto& st = *stp;
        auto& t = st.tasks[index];
        // One create carries items with the same coupon (it is the create's), and the parts of
        // a refused batch go on their own.
        auto joins = [&st](std::size_t first, std::size_t i) {
            return st.state[first].part == st.state[i].part && st.items[first].coupon_code == st.items[i].coupon_code;
        };
        std::size_t const max_batch = std::clamp<std::size_t>(st.opts.batch, 1, 20);
        while (!st.cancelled && !st.queue->finished()) {
            auto batch = st.queue->next_batch(max_batch, joins);
            if (batch.empty()) {
                if (!(co_await sleep_until(st, t, clock::now() + idle_check))) break;
                continue;
            }
            co_await send_batch(st, std::move(batch));
        }
    }

    // Undoes the bookkeeping of a create that never left.
    static void unsend(run_state& st, std::size_t i) {
        --st.results[i].attempts;
        --st.state[i].tries;
    }

    static boost::asio::awaitable<void> send_batch(run_state& st, std::vector<std::size_t> batch) {
        namespace net = boost::asio;
        std::size_t const n = batch.size();
        auto const seq = ++st.send_seq;
        auto const not_before = st.server_now() - st.opts.clock_slack.count();
        std::vector<std::size_t> attempts;
        for (auto i : batch) {
            auto& s = st.state[i];
            ++st.results[i].attempts;
            ++s.tries;
            s.not_before = not_before;
            s.after_id = st.known_max_id;
            s.sent_seq = seq;
            s.batch_size = n;
            attempts.push_back(st.results[i].attempts);
        }
        auto const sent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        auto const line = n == 1 ? detail::journal_attempt_line(batch[0], attempts[0], not_before, st.known_max_id, sent_ms)
                                 : detail::journal_batch_line(batch, attempts, not_before, st.known_max_id, sent_ms);
        auto jec = st.write_journal(line);
        if (!jec) jec = co_await st.make_durable();
        if (jec) {
            // Never send what could not be recorded.
            for (auto i : batch) {
                unsend(st, i);
                st.queue->requeue(i);
            }
            st.stop_sends(jec, journal_diag(st.journal.last_error()));
            co_return;
        }
        if (st.cancelled || st.queue->stopped()) {
            // Stopped while the line reached the disk: it stays unsent, and the journal says so.
            for (auto i : batch) {
                unsend(st, i);
                write_or_stop(st, detail::journal_not_placed_line(i, st.results[i].attempts));
                st.queue->requeue(i);
            }
            co_return;
        }
        create_order_request request;
        for (auto i : batch) request.items.push_back(order_item{st.items[i].plan_id, st.items[i].quantity, st.items[i].fields});
        request.coupon_code = st.items[batch[0]].coupon_code;
        ++st.report.creates_sent;
        diagnostics why;
        auto answer = co_await st.cl.create_order(request, why, net::as_tuple(net::use_awaitable));
        auto ec = std::get<0>(answer);
        auto const& res = std::get<1>(answer);
        if (!ec) {
            if (auto mismatch = detail::answer_mismatch(request, res.orders); !mismatch.empty()) {
                // Paid, but the answer cannot say which order is whose: reconciliation finds them.
                ec = make_error_code(errc::outcome_unknown);
                why = diagnostics{};
                why.endpoint = "orders/create";
                why.message = std::move(mismatch);
            }
        }
        if (!ec) {
            on_answer(st, batch, res);
            after_change(st);
            co_return;
        }
        switch (detail::classify_create_failure(ec, n)) {
        case detail::create_action::requeue_and_stop:
            // Cancelled before anything could leave: nothing was placed. Unless the run itself
            // is being cancelled, something else (a closed pool) would cancel every create.
            --st.report.creates_sent;
            for (auto i : batch) {
                unsend(st, i);
                write_or_stop(st, detail::journal_not_placed_line(i, st.results[i].attempts));
                st.queue->requeue(i);
            }
            if (!st.cancelled) st.stop_sends(ec, why);
            break;
        case detail::create_action::fatal:
            // Refused before acting, like every item after it: rejected in this report, but
            // journaled as not placed so that a resume (after a top-up, a new key…) sends it.
            for (auto i : batch) {
                auto& r = st.results[i];
                r.outcome = bulk_outcome::rejected;
                r.ec = ec;
                r.diag = why;
                write_or_stop(st, detail::journal_not_placed_line(i, r.attempts));
                st.queue->on_done(i);
                st.tally(i);
            }
            st.stop_sends(ec, why);
            break;
        case detail::create_action::retry_later:
            // Refused before acting (the client turns any create that may have left into
            // outcome_unknown): try again later, within the item's attempts.
            for (auto i : batch) {
                auto& r = st.results[i];
                r.evidence.push_back("attempt " + std::to_string(r.attempts) + " not acted on: " + why.to_string());
                // Never final in the journal: nothing was placed, a resume may send it.
                write_or_stop(st, detail::journal_not_placed_line(i, r.attempts));
                if (st.state[i].tries < st.opts.max_attempts) {
                    st.queue->requeue(i);
                } else {
                    r.outcome = bulk_outcome::rejected;
                    r.ec = ec;
                    r.diag = why;
                    st.queue->on_done(i);
                    st.tally(i);
                }
            }
            break;
        case detail::create_action::split: {
            // One transaction, refused whole for some of its items: nothing was placed. The
            // parts go separately (a part that is one item gets its own verdict); a split is
            // not the items' fault, so it does not count against their attempts.
            std::vector<std::int64_t> plans;
            std::vector<std::string> products;
            for (auto i : batch) {
                plans.push_back(st.items[i].plan_id);
                auto p = st.product_of_plan.find(st.items[i].plan_id);
                products.push_back(p == st.product_of_plan.end() ? std::string() : p->second);
            }
            for (auto const& part : detail::split_refused_batch(plans, products, why.message)) {
                auto const id = ++st.parts;
                for (auto k : part) st.state[batch[k]].part = id;
            }
            for (auto i : batch) {
                auto& r = st.results[i];
                r.evidence.push_back("attempt " + std::to_string(r.attempts) + ": its batch of " + std::to_string(n) +
                                     " was refused (" + why.to_string() + "); sent again in parts");
                --st.state[i].tries;
                write_or_stop(st, detail::journal_not_placed_line(i, r.attempts));
                st.queue->requeue(i);
            }
            break;
        }
        case detail::create_action::reject:
            // The API's verdict on the item (or a bad item, never sent).
            for (auto i : batch) {
                reject(st, i, ec, why);
                st.queue->on_done(i);
                st.tally(i);
            }
            break;
        case detail::create_action::lost: {
            // Anything else (a lost answer, CHECKOUT_ERROR, an unknown error code, any failure
            // this code does not know) may have placed the orders: all of them or none.
            auto const now = clock::now();
            for (auto i : batch) {
                auto& r = st.results[i];
                r.outcome = bulk_outcome::unknown;
                r.ec = ec;
                r.diag = why;
                r.evidence.push_back("attempt " + std::to_string(r.attempts) +
                                     (n > 1 ? " (a batch of " + std::to_string(n) + ")" : std::string()) + ": " +
                                     why.to_string());
                st.queue->on_lost(i, now);
            }
            break;
        }
        }
        after_change(st);
    }

    // A create answered: one order per item, in the order of the items.
    static void on_answer(run_state& st, std::vector<std::size_t> const& batch, create_order_result const& res) {
        std::size_t const n = batch.size();
        // summary.total_amount is what the whole create was charged. A zero total for a
        // non-zero amount means no summary came: the charges are not known exactly.
        money finals;
        for (auto const& o : res.orders) finals += o.final_amount;
        bool const total_known = res.summary.total_amount != money{} || finals == money{};
        // Per order: exact when the create had one item, or when the orders' amounts add up to
        // the total (no double discount hidden in it). Else the ledger books the exact total.
        bool const per_order_exact = total_known && (n == 1 || finals == res.summary.total_amount);
        bool const book_total = total_known && !per_order_exact;
        for (std::size_t k = 0; k < n; ++k) {
            auto const i = batch[k];
            auto const& o = res.orders[k];
            std::optional<money> charge;
            if (per_order_exact) charge = n == 1 ? res.summary.total_amount : o.final_amount;
            if (!o.product_name.empty()) st.product_of_plan[o.plan_id] = o.product_name;
            st.placed(i, o.trans_id, o.order_id, o.final_amount, charge, o.status, false, !book_total);
            write_or_stop(st, detail::journal_placed_line(i, o.trans_id, o.order_id, o.final_amount, charge, false));
            st.queue->on_done(i);
            st.tally(i);
        }
        if (book_total) st.ledger.charge(res.summary.total_amount, true);
    }

    static void reject(run_state& st, std::size_t i, error_code ec, diagnostics const& diag) {
        auto& r = st.results[i];
        r.outcome = bulk_outcome::rejected;
        r.ec = ec;
        r.diag = diag;
        write_or_stop(st, detail::journal_rejected_line(i, ec, diag.server_code, diag.message));
    }

    // An outcome line that cannot be written stops new sends; the outcome itself stands.
    static void write_or_stop(run_state& st, std::string const& line) {
        if (auto ec = st.write_journal(line)) st.stop_sends(ec, journal_diag(st.journal.last_error()));
    }

    static void after_change(run_state& st) {
        st.progress();
        st.notify();
    }

    // --- reconciliation ----------------------------------------------------------------

    static boost::asio::awaitable<void> reconciler(std::shared_ptr<run_state> stp, std::size_t index) {
        namespace net = boost::asio;
        co_await net::this_coro::throw_if_cancelled(false);
        auto& st = *stp;
        auto& t = st.tasks[index];
        std::optional<clock::time_point> next_pass_at;
        while (!st.cancelled && !st.queue->finished()) {
            auto now = clock::now();
            bool const due = st.queue->should_reconcile(now, st.opts.reconcile_batch, st.opts.reconcile_after) &&
                             (!next_pass_at || now >= *next_pass_at);
            if (!due && st.queue->lost_count() == 0 && now - st.ledger.baseline_at() >= st.opts.rebaseline_after) {
                // Nothing lost: a fresh baseline, read with nothing in flight, keeps deposits
                // and refunds since the last one out of later balance tests.
                st.queue->pause();
                bool ok = true;
                while (ok && st.queue->in_flight() > 0) ok = co_await sleep_until(st, t, clock::now() + idle_check);
                if (ok && st.queue->lost_count() == 0) {
                    auto bal = co_await st.cl.balance(net::as_tuple(net::use_awaitable));
                    if (!std::get<0>(bal)) st.rebase(std::get<1>(bal).balance.current);
                    else st.ledger.touch(clock::now());  // try again one interval later
                }
                st.queue->resume();
                st.notify();
                if (!ok) break;
                continue;
            }
            if (!due) {
                auto until = now + idle_check;
                if (next_pass_at && *next_pass_at > now) until = std::min(until, *next_pass_at);
                if (!(co_await sleep_until(st, t, until))) break;
                continue;
            }
            // The oldest loss first waits out the settle time, while other items are still sent.
            auto const oldest = *st.queue->oldest_loss();
            if (now < oldest + st.opts.settle) {
                if (!(co_await sleep_until(st, t, oldest + st.opts.settle))) break;
                continue;
            }
            // No create in flight while the listing and the balance are read: both then show
            // every order this run placed.
            st.queue->pause();
            bool ok = true;
            while (ok && st.queue->in_flight() > 0) ok = co_await sleep_until(st, t, clock::now() + idle_check);
            if (!ok) {
                st.queue->resume();
                break;
            }
            auto const cutoff = clock::now() - st.opts.settle;
            bool const progressed = co_await reconcile_pass(st, cutoff);
            st.queue->resume();
            next_pass_at.reset();
            if (!progressed) next_pass_at = clock::now() + st.opts.pass_interval;
            after_change(st);
        }
    }

    // What one pass learns, step by step.
    struct pass_state {
        explicit pass_state(clock::time_point by) : settled_by(by) {}
        clock::time_point settled_by;              // losses older than this may be concluded unplaced
        std::size_t settled = 0;
        std::vector<detail::order_candidate> listing; // above the floor, newest first, deduplicated
        std::size_t status_reads = 0;
        std::vector<std::size_t> unresolved;        // for another pass, or unknown for good
        std::map<std::size_t, std::string> why;     // per unresolved item
        std::vector<std::size_t> unmatched;         // settled old, no order found: the witnesses decide
        std::set<std::size_t> absent_by_listing;    // of those, what the listing proves unplaced
        std::map<std::size_t, std::string> listing_says; // why the listing proves nothing
        void leave_unresolved(std::size_t i, std::string reason) {
            why[i] = std::move(reason);
            unresolved.push_back(i);
        }
    };

    // One pass over every lost item. An order found is adopted whenever it was lost; "nothing
    // was placed" is concluded only for losses older than `settled_by` (the others wait for
    // a later pass, without it counting against them). Returns whether any item was settled.
    static boost::asio::awaitable<bool> reconcile_pass(run_state& st, clock::time_point settled_by) {
        ++st.report.reconcile_passes;
        auto lost = st.queue->lost_items();
        if (lost.empty()) co_return false;
        pass_state ps(settled_by);
        std::string const walk_error = co_await list_candidates(st, lost, ps);
        if (st.cancelled) co_return false;
        if (!walk_error.empty()) {
            for (auto i : lost) ps.leave_unresolved(i, walk_error);
        } else {
            auto rest = co_await match_batches(st, lost, ps);
            if (st.cancelled) co_return ps.settled > 0;
            co_await match_groups(st, rest, ps);
            if (st.cancelled) co_return ps.settled > 0;
            co_await balance_verdict(st, ps);
            if (st.cancelled) co_return ps.settled > 0;
        }
        age_unresolved(st, ps);
        // Nothing lost and nothing in flight: a fresh baseline for the balance test, so a
        // deposit or refund since the last one does not block later passes.
        if (st.queue->lost_count() == 0 && st.queue->in_flight() == 0) {
            auto bal = co_await st.cl.balance(boost::asio::as_tuple(boost::asio::use_awaitable));
            if (!std::get<0>(bal) && st.queue->in_flight() == 0) st.rebase(std::get<1>(bal).balance.current);
        }
        co_return ps.settled > 0;
    }

    // Step 1, list the candidates: the listing, newest first, down to the oldest floor among
    // the lost attempts, every order once (pages shift while orders arrive). Returns why the
    // walk fell short (then it proves nothing), or nothing.
    static boost::asio::awaitable<std::string> list_candidates(run_state& st, std::vector<std::size_t> const& lost,
                                                               pass_state& ps) {
        namespace net = boost::asio;
        std::int64_t floor = st.state[lost.front()].after_id;
        for (auto i : lost) floor = std::min(floor, st.state[i].after_id);
        std::set<std::int64_t> seen;
        for (std::size_t page = 1; page <= st.opts.max_list_pages; ++page) {
            order_list_query query;
            query.page = static_cast<std::int64_t>(page);
            query.limit = 100;
            diagnostics list_diag;
            auto listed = co_await st.cl.list_orders(query, list_diag, net::as_tuple(net::use_awaitable));
            if (st.cancelled) co_return std::string("the run was cancelled");
            if (std::get<0>(listed)) co_return "listing orders failed: " + list_diag.to_string();
            auto const& r = std::get<1>(listed);
            bool reached = !r.page.has_more || r.orders.empty();
            for (auto const& o : r.orders) {
                st.known_max_id = std::max(st.known_max_id, o.id);
                if (o.id <= floor) {
                    reached = true;
                    continue;
                }
                if (!seen.insert(o.id).second) continue;
                auto c = detail::to_candidate(o, st.opts.server_utc_offset);
                if (auto f = st.status_of.find(o.trans_id); f != st.status_of.end()) c.fields = f->second.order.fields_data;
                ps.listing.push_back(std::move(c));
            }
            if (reached) co_return std::string();
        }
        co_return "the listing was not read down to the run's first order within " + std::to_string(st.opts.max_list_pages) +
            " pages";
    }

    // Step 2, lost batches as units: every item of a create of several is lost, so its orders
    // all exist, side by side, or none does (detail::match_lost_batch). Adopted whole, or
    // proven absent by one item, with as few status reads as that takes. Returns the lost
    // items left to match one by one.
    static boost::asio::awaitable<std::vector<std::size_t>> match_batches(run_state& st, std::vector<std::size_t> const& lost,
                                                                         pass_state& ps) {
        std::map<std::uint64_t, std::vector<std::size_t>> batches;
        std::vector<std::size_t> rest;
        for (auto i : lost) batches[st.state[i].sent_seq].push_back(i);
        for (auto& [seq, members] : batches) {
            auto const size = st.state[members.front()].batch_size;
            if (members.size() < 2 || members.size() != size) {  // a single create, or a batch partly settled
                rest.insert(rest.end(), members.begin(), members.end());
                continue;
            }
            std::sort(members.begin(), members.end());  // a batch lists its items in index order
            std::vector<detail::lost_attempt> attempts;
            std::vector<bool> apart;
            for (auto i : members) {
                attempts.push_back(attempt_of(st, i));
                apart.push_back(st.state[i].apart);
            }
            detail::batch_verdict v;
            std::string fetch_error;
            for (int round = 0; round < 4; ++round) {
                v = detail::match_lost_batch(attempts, ps.listing, st.claimed, apart);
                if (v.verdict != detail::batch_verdict::kind::need_fields) break;
                fetch_error = co_await read_fields(st, v.need, ps.listing, ps.status_reads);
                if (st.cancelled) co_return rest;
                if (!fetch_error.empty()) break;
            }
            if (v.verdict == detail::batch_verdict::kind::adopt) {
                for (std::size_t k = 0; k < members.size(); ++k) adopt(st, members[k], v.trans_ids[k], ps.listing, true);
                ps.settled += members.size();
            } else if (v.verdict == detail::batch_verdict::kind::absent) {
                // Its orders would be there: none is. Concluded once the loss is settled old.
                if (st.queue->loss_time(members.front()) <= ps.settled_by)
                    for (auto i : members) {
                        ps.unmatched.push_back(i);
                        ps.absent_by_listing.insert(i);
                    }
            } else {
                // Undecided as a unit: item by item, as for single creates.
                rest.insert(rest.end(), members.begin(), members.end());
            }
        }
        co_return rest;
    }

    static detail::lost_attempt attempt_of(run_state const& st, std::size_t i) {
        detail::lost_attempt a;
        a.plan_id = st.items[i].plan_id;
        a.quantity = st.items[i].quantity;
        a.fields = st.items[i].fields;
        a.not_before = st.state[i].not_before;
        a.after_id = st.state[i].after_id;
        if (st.items[i].coupon_code.empty())
            if (auto m = st.learned_amount.find(run_state::amount_key(st.items[i])); m != st.learned_amount.end())
                a.expected_amount = m->second;
        return a;
    }

    // Step 3, match groups of twins, fetching fields as needed; for what matches nothing, ask
    // the listing whether an order that could be theirs exists at all.
    static boost::asio::awaitable<void> match_groups(run_state& st, std::vector<std::size_t> const& items, pass_state& ps) {
        std::map<std::string, std::vector<std::size_t>> groups;
        for (auto i : items) groups[st.state[i].key].push_back(i);
        for (auto& [key, members] : groups) {
            std::sort(members.begin(), members.end(),
                      [&](std::size_t a, std::size_t b) { return st.state[a].sent_seq < st.state[b].sent_seq; });
            std::vector<detail::lost_attempt> attempts;
            for (auto i : members) attempts.push_back(attempt_of(st, i));
            std::vector<detail::match_verdict> verdicts;
            std::string fetch_error;
            for (int round = 0; round < 2; ++round) {
                verdicts = detail::match_lost_group(attempts, ps.listing, st.claimed);
                if (verdicts.front().verdict != detail::match_verdict::kind::need_fields) break;
                fetch_error = co_await read_fields(st, verdicts.front().need, ps.listing, ps.status_reads);
                if (st.cancelled) co_return;
                if (!fetch_error.empty()) break;
            }
            if (!fetch_error.empty() || verdicts.front().verdict == detail::match_verdict::kind::need_fields) {
                for (auto i : members)
                    ps.leave_unresolved(i, fetch_error.empty() ? "fields of the candidates could not be read" : fetch_error);
                continue;
            }
            std::vector<std::size_t> group_unmatched;
            for (std::size_t k = 0; k < members.size(); ++k) {
                auto i = members[k];
                auto const& v = verdicts[k];
                if (v.verdict == detail::match_verdict::kind::adopt) {
                    adopt(st, i, v.trans_id, ps.listing);
                    ++ps.settled;
                } else if (v.verdict == detail::match_verdict::kind::ambiguous) {
                    ps.leave_unresolved(i, "several unclaimed orders match it");
                } else if (st.queue->loss_time(i) <= ps.settled_by) {
                    group_unmatched.push_back(i);
                }  // else: too recent to conclude anything; the next pass looks again
            }
            if (group_unmatched.empty()) continue;
            // The listing's word on the leftovers (the adopted orders are claimed now): no
            // unclaimed order of the plan and quantity with their fields since the oldest of
            // their attempts.
            detail::lost_attempt leftovers = attempts.front();  // plan, quantity, fields: the group's
            leftovers.after_id = st.state[group_unmatched.front()].after_id;
            for (auto i : group_unmatched) leftovers.after_id = std::min(leftovers.after_id, st.state[i].after_id);
            std::string note;
            for (int round = 0; round < 2; ++round) {
                auto a = detail::check_listing_absence(leftovers, ps.listing, st.claimed);
                if (a.verdict == detail::listing_absence::kind::proven) {
                    ps.absent_by_listing.insert(group_unmatched.begin(), group_unmatched.end());
                    note.clear();
                    break;
                }
                if (a.verdict == detail::listing_absence::kind::lookalikes) {
                    note = std::to_string(a.lookalikes) + " unclaimed order" + (a.lookalikes == 1 ? "" : "s") +
                           " with its plan, quantity and fields could be " + (group_unmatched.size() == 1 ? "its" : "theirs");
                    break;
                }
                note = co_await read_fields(st, a.need, ps.listing, ps.status_reads);
                if (st.cancelled) co_return;
                if (!note.empty()) break;
                note = "fields of the candidates could not be read";
            }
            for (auto i : group_unmatched) {
                ps.unmatched.push_back(i);
                if (!ps.absent_by_listing.count(i)) ps.listing_says[i] = note;
            }
        }
    }

    // Step 4, the balance: the deciding witness where the listing proves nothing, a second
    // one where it does (detail::balance_ledger). Another spender moves it: the listing still
    // decides for items it can tell apart.
    static boost::asio::awaitable<void> balance_verdict(run_state& st, pass_state& ps) {
        namespace net = boost::asio;
        if (ps.unmatched.empty()) co_return;
        diagnostics balance_why;
        auto bal = co_await st.cl.balance(balance_why, net::as_tuple(net::use_awaitable));
        if (st.cancelled) co_return;
        std::optional<money> clean_balance;
        std::string balance_says;
        if (std::get<0>(bal)) {
            balance_says = "reading the balance failed: " + balance_why.to_string();
        } else {
            money const now_balance = std::get<1>(bal).balance.current;
            auto v = st.ledger.judge(now_balance, !ps.unresolved.empty());
            if (v.clean) clean_balance = now_balance;
            else balance_says = std::move(v.why);
        }
        for (auto i : ps.unmatched) {
            bool const by_listing = ps.absent_by_listing.count(i) > 0;
            if (by_listing || clean_balance) {
                auto const proof = by_listing && clean_balance ? absence_proof::both
                                   : by_listing                ? absence_proof::listing
                                                               : absence_proof::balance;
                not_placed(st, i, proof, clean_balance);
                ++ps.settled;
            } else {
                ps.leave_unresolved(i, "no matching order; the listing proves nothing (" + ps.listing_says[i] + "); " +
                                           balance_says);
            }
        }
    }

    // Step 5, age the unresolved: another pass later, or outcome unknown for good. A pass
    // counts against an item only once its settle time is over: before, its order may still
    // be on its way.
    static void age_unresolved(run_state& st, pass_state& ps) {
        for (auto i : ps.unresolved) {
            auto& s = st.state[i];
            auto& r = st.results[i];
            if (st.queue->loss_time(i) > ps.settled_by) continue;
            ++s.passes;
            r.evidence.push_back("reconciliation pass " + std::to_string(s.passes) + ": " + ps.why[i]);
            if (s.passes >= st.opts.reconcile_passes) {
                r.outcome = bulk_outcome::unknown;
                r.ec = make_error_code(errc::outcome_unknown);
                write_or_stop(st, detail::journal_unknown_line(i, ps.why[i]));
                st.queue->resolve(i);
                st.tally(i);
                ++ps.settled;
            }
        }
    }

    // Reads the fields of the candidates named in `need` (/orders/status, within the pass's
    // bound of reads); returns why it could not, or nothing.
    static boost::asio::awaitable<std::string> read_fields(run_state& st, std::vector<std::string> const& need,
                                                           std::vector<detail::order_candidate>& candidates,
                                                           std::size_t& status_reads) {
        namespace net = boost::asio;
        for (auto const& id : need) {
            if (status_reads == st.opts.max_status_reads)
                co_return "more candidates than one pass reads (" + std::to_string(st.opts.max_status_reads) + ")";
            ++status_reads;
            diagnostics status_diag;
            auto got = co_await st.cl.order_status(id, status_diag, net::as_tuple(net::use_awaitable));
            if (st.cancelled) co_return std::string("the run was cancelled");
            if (std::get<0>(got)) co_return "reading " + id + " failed: " + status_diag.to_string();
            auto const& sr = std::get<1>(got);
            for (auto& c : candidates)
                if (c.trans_id == id) c.fields = sr.order.fields_data;
            st.status_of[id] = sr;
        }
        co_return std::string();
    }

    // `in_batch`: found as its batch's run of adjacent orders (its own status maybe not read).
    static void adopt(run_state& st, std::size_t i, std::string const& trans_id,
                      std::vector<detail::order_candidate> const& candidates, bool in_batch = false) {
        auto c = std::find_if(candidates.begin(), candidates.end(), [&](auto const& x) { return x.trans_id == trans_id; });
        std::optional<order_status> status;
        std::int64_t id = c != candidates.end() ? c->id : 0;
        money amount = c != candidates.end() ? c->final_amount : money{};
        // Its charge is its final_amount only when it is paid and carries no coupon (a
        // percentage coupon can be discounted twice on the deployed server).
        std::optional<money> charge;
        std::string payment = "unknown";
        if (auto s = st.status_of.find(trans_id); s != st.status_of.end()) {
            auto const& o = s->second.order;
            status = o.status;
            id = o.id;
            amount = o.final_amount;
            payment = o.payment_status;
            if (o.payment_status == "paid" && (!o.coupon_code || o.coupon_code->empty())) charge = amount;
        } else if (c != candidates.end() && st.items[i].coupon_code.empty()) {
            // Not read: a create pays at once, and without a coupon it charges final_amount.
            charge = amount;
            payment = "paid at creation";
        }
        auto& r = st.results[i];
        r.evidence.push_back("reconciliation: adopted order " + trans_id + " (id " + std::to_string(id) + ", payment " +
                             payment + "): " +
                             (in_batch ? "its place in the one run of unclaimed adjacent orders matching its batch's plans, "
                                         "quantities, time and fields"
                                       : "the one unclaimed order matching plan, quantity, time and fields"));
        st.placed(i, trans_id, id, amount, charge, std::move(status), true);
        write_or_stop(st, detail::journal_placed_line(i, trans_id, id, amount, charge, true));
        st.queue->resolve(i);
        st.tally(i);
    }

    // `balance`: the clean balance that witnessed it (listing alone: none).
    static void not_placed(run_state& st, std::size_t i, absence_proof proof, std::optional<money> balance) {
        auto& r = st.results[i];
        auto& s = st.state[i];
        s.proven_unplaced = true;
        r.proof = proof;
        std::string const listing = "the listing, read whole since its attempt, holds no order with its plan, quantity and fields";
        std::string const ledger = balance ? "the balance (" + balance->to_fixed2() + ") shows no unknown charge" : std::string();
        r.evidence.push_back("reconciliation: " +
                             (proof == absence_proof::both      ? listing + ", and " + ledger
                              : proof == absence_proof::listing ? listing
                                                                : "no matching order and " + ledger) +
                             ": not placed");
        write_or_stop(st, detail::journal_not_placed_line(i, r.attempts, to_string(proof)));
        if (st.opts.retry_unplaced && s.tries < st.opts.max_attempts && !st.queue->stopped()) {
            ++st.report.resent;
            s.passes = 0;
            st.queue->resend(i);
            return;
        }
        r.outcome = bulk_outcome::rejected;
        std::string const reason = st.queue->stopped() ? stop_text(st)
                                   : !st.opts.retry_unplaced ? std::string("resending is off")
                                                             : std::string("attempts used up");
        r.diag.message = "not placed: " + r.diag.message + " (reconciliation found no order and no charge; not sent again: " +
                         reason + ")";
        // Final unless the run was stopped: a resume sends what a stop held back.
        if (!st.queue->stopped())
            write_or_stop(st, detail::journal_rejected_line(i, r.ec, r.diag.server_code, r.diag.message));
        st.queue->resolve(i);
        st.tally(i);
    }

    client& client_;
    bulk_options opts_;
};

} // namespace shop
