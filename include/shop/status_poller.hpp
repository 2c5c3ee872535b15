// shop::status_poller: watches many orders (thousands of trans_ids) until each reaches a
// terminal status or the run's deadline, sending up to `pipeline_depth` GET /orders/status
// requests pipelined on each of up to `connections` pooled connections.
//
//     shop::status_poller poller(client, {.connections = 2, .pipeline_depth = 16});
//     auto results = co_await poller.async_poll(ids, [](const shop::poll_result& r) { ... },
//                                               boost::asio::use_awaitable);
//
// How it works: `connections` workers run as coroutines on one strand and share one
// detail::poll_schedule (when each order is due); each worker leases a connection from the
// client's pool and keeps a detail::pipeline_queue of the requests on the wire. Responses are
// matched FIFO (and checked against the trans_id they carry). Every request takes a slot of
// the client's limiter (request_priority::low), so order creation is never starved.
//
// Watching on a budget (poll_options::use_listing): in a round where listing pages cost fewer
// requests than one status read per due order (detail::listing_watch decides, from where
// each order last sat in the listing), an idle worker reads pages instead and learns the
// statuses there; completed orders (their delivery items) and orders the pages did not show
// are then read by status, pipelined as usual.
//
// Trouble on a connection (closed mid-pipeline, stalled past read_timeout, fewer answers
// than requests, an answer for another order): the unanswered requests are re-queued (they
// are GETs), the connection is closed, never returned to the pool, and the worker continues
// on a fresh connection at depth 1. Every answer is counted for exactly one order.
#pragma once

#include <shop/client.hpp>
#include <shop/config.hpp>
#include <shop/connection_pool.hpp>
#include <shop/detail/async/spawn.hpp>
#include <shop/detail/poll/listing_watch.hpp>
#include <shop/detail/poll/pipeline_queue.hpp>
#include <shop/detail/poll/poll_schedule.hpp>
#include <shop/detail/async/task_group.hpp>
#include <shop/detail/status_requests.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace shop {

/// The outcome for one watched order.
struct poll_result {
    std::string trans_id;
    /// The last status read (none if no answer was ever read).
    std::optional<order_status_result> last;
    /// Empty when the order reached a terminal status. Otherwise why it ended without one:
    /// the API's verdict (order_not_found, invalid_api_key, daily_limit_exceeded, …; such an
    /// order is not polled again), errc::invalid_argument (malformed trans_id, never sent),
    /// errc::timeout (the deadline came first; `last` may still hold a pending status),
    /// errc::cancelled (the run or this order was cancelled), or the last transport error
    /// when no answer was ever read. While the run goes on it holds a transient error
    /// (HTTP 5xx page, broken body) of the last poll, cleared by the next good answer.
    error_code ec;
    diagnostics diag;
    /// `last` holds a terminal status (completed, cancelled, refunded, cancelled_no_refund).
    bool terminal = false;
    /// Status answers read for this order (each answer is counted once, for one order).
    std::size_t polls = 0;
    /// Listing pages that showed it (poll_options::use_listing).
    std::size_t sightings = 0;
};

/// Counters of the last (or current) run of a status_poller.
struct poll_stats {
    std::size_t requests_written = 0;     ///< requests flushed to a connection (resends included)
    std::size_t responses_read = 0;       ///< responses read and matched (abandoned included)
    std::size_t abandoned = 0;            ///< responses read and discarded (order stopped while on the wire)
    std::size_t requeued = 0;             ///< requests re-queued after connection trouble
    std::size_t connection_failures = 0;  ///< connections closed for trouble (close, stall, short answer)
    std::size_t degraded_workers = 0;     ///< workers that fell back to depth 1
    std::size_t max_in_flight = 0;        ///< deepest pipeline seen on one connection
    std::size_t list_pages_read = 0;      ///< listing pages read instead of status reads
    std::size_t listed = 0;               ///< orders seen in those pages
};

/// Polls many orders' statuses until terminal (or, with poll_options::until_terminal off,
/// reads each once), pipelined over a few pooled connections.
///
/// The client (and its pool and limiter) must outlive every run, and the poller must be
/// alive when a run starts (with a deferred token, when it is launched), as for Asio's I/O
/// objects. One run at a time per poller object (stop_watching and stats refer to the
/// latest run).
///
/// Cancellation of async_poll: terminal (the token's cancellation slot). All workers stop
/// promptly, connections with requests on the wire are closed (never returned to the pool
/// half-read), and the operation completes with the results so far (no error); orders not
/// yet terminal carry errc::cancelled. Partial and total cancellation are not supported.
class status_poller {
public:
    using clock = std::chrono::steady_clock;
    using update_handler = std::function<void(const poll_result&)>;

    explicit status_poller(client& c, poll_options o = {}) : client_(c), opts_(o) {
        if (opts_.connections == 0) opts_.connections = 1;
        if (opts_.pipeline_depth == 0) opts_.pipeline_depth = 1;
    }

    const poll_options& options() const noexcept { return opts_; }

    /// Polls every trans_id until terminal or the deadline. `on_update` (may be empty) is
    /// called on the poller's strand each time an order's status changes (the first answer
    /// included) and when an order ends with an error; it must not block and must not
    /// throw (an exception stops the run, which completes with errc::callback_failed and the
    /// exception's text in the diagnostics).
    ///
    /// Completion: void(error_code, std::vector<poll_result>), one result per input
    /// trans_id, in input order (duplicates are polled once and share a result). The error
    /// is empty unless the update handler threw: each order's own outcome is in its result.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::vector<poll_result>)) Token = default_token>
    auto async_poll(std::vector<std::string> trans_ids, update_handler on_update, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::vector<poll_result>)>(
            poll_init{this}, token, static_cast<diagnostics*>(nullptr), std::move(trans_ids), std::move(on_update));
    }
    /// As above; the update handler's failure is written to `diag`.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::vector<poll_result>)) Token = default_token>
    auto async_poll(std::vector<std::string> trans_ids, update_handler on_update, diagnostics& diag, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, std::vector<poll_result>)>(
            poll_init{this}, token, &diag, std::move(trans_ids), std::move(on_update));
    }

    /// Stops watching one order of the current run: it ends with errc::cancelled (unless it
    /// already ended). A request for it already on the wire is abandoned: its response is
    /// still read and discarded, so the connection stays in step. Thread-safe.
    void stop_watching(std::string trans_id) {
        auto st = current_;
        if (!st) return;
        // post, not dispatch: never re-entered from inside an update handler.
        boost::asio::post(st->strand, [st, id = std::move(trans_id)] { st->stop_one(id); });
    }

    /// Counters of the latest run (read them after it completed, or on its strand).
    poll_stats stats() const {
        auto st = current_;
        return st ? st->stats : poll_stats{};
    }

private:
    struct poll_init {
        status_poller* self;
        template <class Handler>
        void operator()(Handler&& handler, diagnostics* diag, std::vector<std::string> ids, update_handler on_update) const {
            auto st = std::make_shared<run_state>(self->client_, self->opts_, std::move(on_update));
            self->current_ = st;
            detail::spawn_run<std::vector<poll_result>>(st->strand, std::forward<Handler>(handler), diag,
                                                        run(st, std::move(ids), diag));
        }
    };

    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
    using timer_type = boost::asio::steady_timer;

    struct order_state {
        poll_result result;
        bool finished = false;  // terminal, dropped or stopped: never polled again
    };

    struct run_state {
        run_state(client& c, poll_options const& o, update_handler h)
            : cl(c),
              opts(o),
              on_update(std::move(h)),
              strand(boost::asio::make_strand(c.get_executor())),
              started(clock::now()),
              deadline(started + o.deadline),
              schedule(o.intervals, deadline),
              workers(strand) {}

        client& cl;
        poll_options opts;
        update_handler on_update;
        strand_type strand;
        clock::time_point started, deadline;
        detail::poll_schedule schedule;
        std::vector<order_state> orders;
        std::unordered_map<std::string, std::size_t> index;
        // One per connection: its coroutine (sleep, cancellation) and its pipeline. A worker
        // idle for lack of any schedule (all in flight elsewhere) is woken by notify_idle().
        detail::task_group workers;
        std::vector<detail::pipeline_queue<std::string>> pipelines;
        bool cancelled = false;
        std::optional<std::string> fatal;  // why the update handler failed
        poll_stats stats;
        detail::listing_watch watch;
        bool scouting = false;                      // a worker is reading listing pages
        std::unordered_set<std::string> by_status;  // left to a status read (delivery items, not in the pages)
        std::size_t listing_failures = 0;           // in a row; three turn the listing off for the run

        bool listing_on() const {
            return opts.use_listing && opts.until_terminal && listing_failures < 3;
        }
        error_code last_transport;
        std::string last_transport_detail;

        order_state* find(std::string const& id) {
            auto it = index.find(id);
            return it == index.end() ? nullptr : &orders[it->second];
        }

        // Wakes sleeping workers: work became due, or the run may be over.
        void notify() { workers.wake_all(); }
        // An order was scheduled again: wake the workers that slept for lack of any schedule.
        void notify_idle() { workers.wake_idle(); }

        void deliver(order_state& o) {
            if (!on_update || fatal) return;
            try {
                on_update(o.result);
            } catch (std::exception const& e) {
                fatal = std::string("the update handler threw: ") + e.what();
                stop_all();
            } catch (...) {
                fatal = "the update handler threw";
                stop_all();
            }
        }

        void stop_all() {
            cancelled = true;
            workers.stop_all();
        }

        void finish_with(order_state& o, error_code ec, diagnostics diag) {
            o.finished = true;
            o.result.ec = ec;
            o.result.diag = std::move(diag);
            schedule.drop(o.result.trans_id);
            deliver(o);
            notify();
        }

        void stop_one(std::string const& id) {
            auto* o = find(id);
            if (!o || o->finished) return;
            for (auto& q : pipelines)
                if (q.abandon(id)) break;
            diagnostics d;
            d.endpoint = "orders/status";
            d.message = "stopped watching this order";
            finish_with(*o, make_error_code(errc::cancelled), std::move(d));
        }

        // One answer for `id` (already matched FIFO).
        // Returns false when the answer belongs to another order: the stream is out of step.
        bool on_answer(std::string const& id, http_response const& resp, clock::time_point now) {
            auto* o = find(id);
            if (!o || o->finished) return true;
            by_status.erase(id);
            order_status_result r;
            diagnostics diag;
            error_code const ec = detail::status_requests::read(cl, resp, r, diag);
            if (!ec && r.order.trans_id != id) return false;
            ++o->result.polls;
            if (!ec) {
                bool const changed = !o->result.last || !(o->result.last->order.status == r.order.status);
                bool const terminal = r.order.status.is_terminal();
                bool const done = terminal || !opts.until_terminal;
                o->result.last = std::move(r);
                o->result.terminal = terminal;
                o->result.ec = {};
                o->result.diag = {};
                schedule.on_polled(id, done, now);
                if (done) o->finished = true;
                else notify_idle();
                if (changed) deliver(*o);
                return true;
            }
            if (ec == errc::rate_limit_exceeded) {
                // Not acted on: ask again once the limiter's cool-down allows.
                detail::status_requests::note_refusal(cl, ec);
                o->result.ec = ec;
                o->result.diag = std::move(diag);
                schedule.on_requeue(id, now);
                notify_idle();
                return true;
            }
            if (ec == errc::daily_limit_exceeded) detail::status_requests::note_refusal(cl, ec);
            if (ec == errc::http_error || ec == errc::bad_response ||
                (ec == errc::unknown_server_error && diag.http_status >= 500)) {
                // A broken answer from a front end or the server: poll again later.
                o->result.ec = ec;
                o->result.diag = std::move(diag);
                schedule.on_polled(id, false, now);
                notify_idle();
                return true;
            }
            // A verdict of the API about this order (ORDER_NOT_FOUND, auth, permission…): final.
            finish_with(*o, ec, std::move(diag));
            return true;
        }

        // The listing showed the order `info`.
        void on_listed(order_info const& info, clock::time_point now) {
            auto* o = find(info.trans_id);
            if (!o || o->finished) return;
            ++o->result.sightings;
            ++stats.listed;
            if (info.status.value == order_status::kind::completed) {
                // Its delivery items are only in a status answer.
                by_status.insert(info.trans_id);
                schedule.on_requeue(info.trans_id, now);
                notify_idle();
                return;
            }
            bool const changed = !o->result.last || !(o->result.last->order.status == info.status);
            bool const terminal = info.status.is_terminal();
            if (!o->result.last) o->result.last.emplace();
            // The listing carries no fields_data: an earlier status answer's stay.
            auto fields = std::move(o->result.last->order.fields_data);
            o->result.last->order = info;
            if (o->result.last->order.fields_data.empty()) o->result.last->order.fields_data = std::move(fields);
            o->result.terminal = terminal;
            o->result.ec = {};
            o->result.diag = {};
            schedule.on_polled(info.trans_id, terminal, now);
            if (terminal) {
                o->finished = true;
                watch.forget(info.trans_id);
            } else {
                notify_idle();
            }
            if (changed) deliver(*o);
        }

        void requeue(std::vector<std::string> const& ids, clock::time_point now) {
            for (auto const& id : ids) {
                schedule.on_requeue(id, now);
                ++stats.requeued;
            }
            if (!ids.empty()) notify();
        }
    };

    static boost::asio::awaitable<detail::outcome<std::vector<poll_result>>> run(std::shared_ptr<run_state> st,
                                                                                std::vector<std::string> ids,
                                                                                diagnostics* diag) {
        namespace net = boost::asio;
        co_await net::this_coro::throw_if_cancelled(false);
        http_request probe;
        auto const now = clock::now();
        st->orders.reserve(ids.size());
        std::vector<std::size_t> slot_of(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) {
            auto found = st->index.find(ids[i]);
            if (found != st->index.end()) {
                slot_of[i] = found->second;
                continue;
            }
            slot_of[i] = st->orders.size();
            st->index.emplace(ids[i], st->orders.size());
            order_state o;
            o.result.trans_id = ids[i];
            // Validates the trans_id: a malformed one is never sent.
            if (auto ec = detail::status_requests::make(st->cl, ids[i], probe, o.result.diag)) {
                o.finished = true;
                o.result.ec = ec;
            } else {
                st->schedule.add(ids[i], now);
            }
            st->orders.push_back(std::move(o));
        }
        for (auto& o : st->orders)
            if (o.finished) st->deliver(o);  // malformed trans_ids: never sent

        std::size_t const n = std::min(st->opts.connections, std::max<std::size_t>(st->schedule.watching(), 1));
        for (std::size_t i = 0; i < n; ++i) st->pipelines.emplace_back(st->opts.pipeline_depth);
        st->workers.resize(n);
        for (std::size_t i = 0; i < n; ++i) st->workers.spawn(i, worker(st, i), st);
        co_await st->workers.join([&st] { st->stop_all(); });
        for (auto& o : st->orders) {
            if (o.finished) continue;
            if (st->cancelled) {
                o.result.ec = make_error_code(errc::cancelled);
                o.result.diag.message = "the poll was cancelled";
            } else if (o.result.polls == 0 && st->last_transport) {
                o.result.ec = st->last_transport;
                o.result.diag.message = st->last_transport_detail;
            } else {
                o.result.ec = make_error_code(errc::timeout);
                o.result.diag.message = "the poll's deadline passed before a terminal status";
            }
            o.result.diag.endpoint = "orders/status";
        }
        detail::outcome<std::vector<poll_result>> out;
        out.value.reserve(ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) out.value.push_back(st->orders[slot_of[i]].result);
        if (st->fatal) {
            out.ec = make_error_code(errc::callback_failed);
            if (diag) {
                *diag = diagnostics{};
                diag->message = *st->fatal;
            }
        }
        co_return out;
    }

    // The re-check period of a worker waiting for another one's listing walk.
    static constexpr std::chrono::milliseconds idle_recheck{200};

    // Sleeps until `until` or notify(); returns false if the worker was cancelled.
    static boost::asio::awaitable<bool> sleep_until(run_state& st, detail::task_group::member& w, clock::time_point until) {
        bool const awake = co_await w.timer.sleep_until(until);
        co_return awake && !st.cancelled;
    }

    // Reads listing pages from `page` on while they may show at least two of `ids`; what
    // they did not show is left to status reads.
    static boost::asio::awaitable<void> walk_listing(run_state& st, std::vector<std::string> ids, std::int64_t page) {
        namespace net = boost::asio;
        st.watch.begin_walk(std::move(ids));
        std::vector<std::string> on_page;
        for (;;) {
            if (st.cancelled || clock::now() >= st.deadline) break;
            order_list_query query;
            query.page = page;
            query.limit = static_cast<std::int64_t>(st.watch.per_page());
            diagnostics why;
            auto got = co_await st.cl.list_orders(query, why, net::as_tuple(net::use_awaitable));
            if (st.cancelled) break;
            if (std::get<0>(got)) {
                ++st.listing_failures;
                break;
            }
            st.listing_failures = 0;
            ++st.stats.list_pages_read;
            auto const& listed = std::get<1>(got);
            on_page.clear();
            for (auto const& o : listed.orders) on_page.push_back(o.trans_id);
            auto const found = st.watch.on_page(page, listed.page.total, on_page);
            if (!found.empty()) {
                std::unordered_set<std::string> wanted(found.begin(), found.end());
                auto const now = clock::now();
                for (auto const& o : listed.orders)
                    if (wanted.erase(o.trans_id)) st.on_listed(o, now);
            }
            if (!st.watch.want_next_page(listed.page.has_more && !listed.orders.empty())) break;
            ++page;
        }
        auto const now = clock::now();
        for (auto const& id : st.watch.end_walk()) {
            st.by_status.insert(id);
            st.schedule.on_requeue(id, now);
        }
    }

    static boost::asio::awaitable<void> worker(std::shared_ptr<run_state> stp, std::size_t index) {
        namespace net = boost::asio;
        using namespace boost::asio::experimental::awaitable_operators;
        co_await net::this_coro::throw_if_cancelled(false);
        auto& st = *stp;
        auto& w = st.workers[index];
        auto& q = st.pipelines[index];
        auto const cs = co_await net::this_coro::cancellation_state;
        auto stopped = [&] { return cs.cancelled() != net::cancellation_type::none || st.cancelled; };

        connection_lease lease;
        bool fresh = false;
        bool degraded_counted = false;
        auto acquire_pause = std::chrono::milliseconds(100);
        http_response resp;
        http_request req;
        diagnostics acquire_diag, request_diag;
        timer_type limit_timer(st.strand);

        // Connection trouble: hand the unanswered requests back, close, go on at depth 1.
        // `why` by value: it is often the connection's last_error(), gone once the lease closes.
        auto trouble = [&](error_code ec, std::string why) {
            auto ids = q.on_failure();
            st.requeue(ids, clock::now());
            lease.mark_broken();
            lease.release();
            fresh = true;
            if (stopped()) return;
            ++st.stats.connection_failures;
            st.last_transport = ec;
            st.last_transport_detail = std::move(why);
            if (!degraded_counted && q.degraded()) {
                degraded_counted = true;
                ++st.stats.degraded_workers;
            }
        };

        for (;;) {
            if (stopped()) break;
            auto now = clock::now();
            if (now >= st.deadline) break;
            if (q.idle() && st.schedule.done()) break;

            if (q.idle()) {
                auto next = st.schedule.next_due();
                if (!next || *next > now) {
                    // Nothing to send or read: give the connection back and sleep.
                    lease.release();
                    auto until = next ? std::min(*next, st.deadline) : st.deadline;
                    w.idle = !next;
                    if (!(co_await sleep_until(st, w, until))) break;
                    continue;
                }
            }

            if (q.idle() && st.scouting) {
                // Another worker reads the listing for this round: what it leaves to status
                // reads comes when it is done (notify).
                lease.release();
                w.idle = true;
                if (!(co_await sleep_until(st, w, std::min(st.deadline, now + idle_recheck)))) break;
                continue;
            }
            if (q.idle() && st.listing_on()) {
                // This round's plan: listing pages, when they cost fewer requests than the
                // due orders' status reads. What is left to status reads is due at once.
                // Orders due within a quarter of the first interval join the round, so that
                // a round's orders stay together.
                auto due = st.schedule.take_due(now + st.opts.intervals.initial / 4, st.orders.size());
                std::vector<std::string> by_listing, by_status;
                for (auto& id : due) (st.by_status.count(id) ? by_status : by_listing).push_back(std::move(id));
                auto first_page = st.watch.plan(by_listing);
                if (!first_page) by_status.insert(by_status.end(), by_listing.begin(), by_listing.end());
                for (auto const& id : by_status) st.schedule.on_requeue(id, now);
                if (first_page) {
                    st.scouting = true;
                    lease.release();  // the pages are read through the client
                    co_await walk_listing(st, std::move(by_listing), *first_page);
                    st.scouting = false;
                    st.notify();
                    continue;
                }
            }

            if (!lease) {
                auto bound = std::min(st.deadline, now + st.opts.acquire_timeout);
                auto got = co_await st.cl.pool()->async_acquire(bound, fresh, acquire_diag, net::as_tuple(net::use_awaitable));
                if (stopped()) break;
                if (std::get<0>(got)) {
                    st.last_transport = std::get<0>(got);
                    st.last_transport_detail = acquire_diag.message;
                    auto until = std::min(st.deadline, clock::now() + acquire_pause);
                    w.idle = false;
                    acquire_pause = std::min(acquire_pause * 2, std::chrono::milliseconds(2000));
                    if (!(co_await sleep_until(st, w, until))) break;
                    continue;
                }
                acquire_pause = std::chrono::milliseconds(100);
                lease = std::move(std::get<1>(got));
                fresh = false;
            }

            // Refill the pipeline with due orders, one limiter slot each (none while the
            // listing is read: it may answer for them).
            bool failed = false;
            while (q.can_write() && !failed && !st.scouting) {
                auto due = st.schedule.take_due(clock::now(), 1);
                if (due.empty()) break;
                std::string id = std::move(due.front());
                // A limiter slot, waiting no longer than the run's deadline.
                error_code lec;
                if (!st.cl.limiter()->unlimited()) {
                    limit_timer.expires_at(st.deadline);
                    auto slot_wait = st.cl.limiter()->async_acquire(request_priority::low, net::as_tuple(net::use_awaitable));
                    auto deadline_wait = limit_timer.async_wait(net::as_tuple(net::use_awaitable));
                    auto raced = co_await (std::move(slot_wait) || std::move(deadline_wait));
                    if (raced.index() == 0) lec = std::get<0>(std::get<0>(raced));
                    else lec = make_error_code(errc::timeout);
                }
                auto* o = st.find(id);
                if (stopped() || lec == errc::cancelled) {
                    st.schedule.on_requeue(id, clock::now());
                    break;
                }
                if (!o || o->finished) continue;  // stopped while we waited
                if (lec == errc::daily_limit_exceeded) {
                    diagnostics d;
                    d.endpoint = "orders/status";
                    d.message = "daily request limit reached; refused locally until the server's midnight";
                    st.finish_with(*o, lec, std::move(d));
                    continue;
                }
                if (lec) {  // rate_limited_locally (try again later) or the deadline
                    o->result.ec = lec;
                    st.schedule.on_requeue(id, clock::now());
                    break;
                }
                if (auto rec = detail::status_requests::make(st.cl, id, req, request_diag)) {
                    st.finish_with(*o, rec, std::move(request_diag));  // validated at the start: not reached
                    continue;
                }
                if (auto qec = lease.queue(req)) {
                    st.schedule.on_requeue(id, clock::now());
                    st.notify();
                    trouble(qec, lease.last_error());
                    failed = true;
                    break;
                }
                q.on_written(std::move(id));
                ++st.stats.requests_written;
            }
            if (failed) continue;
            if (stopped()) break;
            st.stats.max_in_flight = std::max(st.stats.max_in_flight, q.in_flight());
            if (lease.queued() > 0) {
                auto flushed = co_await lease.async_flush(st.deadline, net::as_tuple(net::use_awaitable));
                if (auto fec = std::get<0>(flushed)) {
                    trouble(fec, lease.last_error());
                    continue;
                }
            }
            if (q.idle()) continue;

            // Read the oldest answer.
            auto read_bound = std::min(st.deadline, clock::now() + st.opts.read_timeout);
            auto read = co_await lease.async_read_response(resp, read_bound, net::as_tuple(net::use_awaitable));
            if (auto rec = std::get<0>(read)) {
                trouble(rec, lease.last_error());
                continue;
            }
            ++st.stats.responses_read;
            auto answered = q.on_response();
            if (answered.abandoned) {
                ++st.stats.abandoned;
            } else if (!st.on_answer(answered.id, resp, clock::now())) {
                // An answer for another order: the stream is out of step. Nothing of it is
                // counted; everything unanswered (this one included) is asked again.
                st.requeue(std::vector<std::string>{answered.id}, clock::now());
                trouble(make_error_code(errc::bad_response), "a pipelined answer did not match its request");
                continue;
            }
            if (lease.server_closes()) {
                // Connection: close: what is still on the wire will not be answered.
                if (!q.idle()) trouble(make_error_code(errc::connection_closed), "the server closed a pipelined connection");
                else lease.release();
            }
        }

        // Leaving: anything still on the wire goes back (others may still run) and the
        // connection is closed rather than parked half-read.
        if (!q.idle()) {
            auto ids = q.on_failure();
            st.requeue(ids, clock::now());
            lease.mark_broken();
        }
        lease.release();
        st.notify();
    }

    client& client_;
    poll_options opts_;
    std::shared_ptr<run_state> current_;
};

} // namespace shop
