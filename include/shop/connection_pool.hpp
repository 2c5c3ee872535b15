// A bounded pool of keep-alive HTTP/1.1 connections to one origin (scheme, host, port),
// shareable between several clients (one per API key) so that they reuse connections.
//
//   auto pool = shop::connection_pool::create(ex, "https://shop.example/api/v1", tls, pool, timeouts);
//   shop::exchange_result r = co_await pool->execute(std::move(request), deadline);
//
// Transport failures are reported as an error_code plus a detail text, never thrown; the
// caller turns them into shop::error with diagnostics. A request whose bytes may have
// reached the server is never resent unless it is idempotent.
//
// Thread safety: every member function may be called from any thread and from many
// coroutines at once; the executor may be an io_context or a thread pool.
#pragma once

#include <shop/config.hpp>
#include <shop/detail/http_connection.hpp>
#include <shop/detail/pool_slots.hpp>
#include <shop/detail/url.hpp>
#include <shop/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shop {

using detail::origin;

/// The outcome of one request through the pool.
struct exchange_result {
    /// Empty on success (any HTTP status); else timeout, connection_closed, connect_failed,
    /// tls_handshake_failed, tls_verification_failed, body_too_large, bad_response,
    /// pool_exhausted, cancelled or invalid_argument.
    error_code ec;
    /// What failed, where and why, for diagnostics::message.
    std::string detail;
    /// Some byte of the request may have reached the server (true on success). With an error on a
    /// non-idempotent request (an order create) the outcome is unknown: report
    /// errc::outcome_unknown, do not resend blindly.
    bool maybe_sent = false;
    http_response response;
    /// Connections the request was written to: 2 after a transparent stale-connection retry.
    unsigned attempts = 0;
};

/// Counters of a pool (see detail::pool_counters): open, idle, busy, waiting, peak_open,
/// opened, reused, expired.
using pool_stats = detail::pool_counters;

class connection_pool;

/// Exclusive use of one connected pooled connection (for a pipelining caller: queue N
/// requests, flush once, read N responses in order). Destruction, or release(), gives the
/// connection back: parked for reuse if it is still in sync (every response read,
/// keep-alive, no error) and not marked broken, closed otherwise.
///
/// Drive the connection from one coroutine whose executor serialises handlers (a strand,
/// or an io_context run by one thread).
class connection_lease {
public:
    connection_lease() = default;
    connection_lease(connection_lease&& other) noexcept
        : pool_(std::move(other.pool_)),
          conn_(std::move(other.conn_)),
          holds_slot_(std::exchange(other.holds_slot_, false)),
          broken_(std::exchange(other.broken_, false)) {}
    connection_lease& operator=(connection_lease&& other) noexcept {
        if (this != &other) {
            release();
            pool_ = std::move(other.pool_);
            conn_ = std::move(other.conn_);
            holds_slot_ = std::exchange(other.holds_slot_, false);
            broken_ = std::exchange(other.broken_, false);
        }
        return *this;
    }
    connection_lease(connection_lease const&) = delete;
    connection_lease& operator=(connection_lease const&) = delete;
    ~connection_lease() { release(); }

    explicit operator bool() const noexcept { return conn_ != nullptr; }
    detail::http_connection& operator*() const noexcept { return *conn_; }
    detail::http_connection* operator->() const noexcept { return conn_.get(); }
    detail::http_connection* get() const noexcept { return conn_.get(); }

    /// Close the connection on release instead of returning it (e.g. a pipelined response
    /// that did not match).
    void mark_broken() noexcept { broken_ = true; }

    /// Give the connection (and its pool slot) back now.
    void release() noexcept;

private:
    friend class connection_pool;
    std::shared_ptr<connection_pool> pool_;
    std::unique_ptr<detail::http_connection> conn_;
    bool holds_slot_ = false;  // a pool slot is counted busy for this lease
    bool broken_ = false;
};

/// acquire()'s answer: a connected lease, or an error_code with its detail.
struct lease_result {
    error_code ec;
    std::string detail;
    connection_lease lease;
};

class connection_pool : public std::enable_shared_from_this<connection_pool> {
    struct private_tag {};

public:
    using executor_type = boost::asio::any_io_executor;
    using clock = std::chrono::steady_clock;
    using time_point = clock::time_point;

    /// Pool for the origin of `base_url` (its path is the caller's business). Throws
    /// shop::error (errc::invalid_argument) for a bad URL, a CA that cannot be loaded, or
    /// max_connections == 0.
    static std::shared_ptr<connection_pool> create(executor_type ex, std::string_view base_url,
                                                   tls_options const& tls = {}, pool_options const& pool = {},
                                                   timeout_options const& timeouts = {}) {
        detail::base_url parsed;
        std::string why;
        if (auto ec = detail::parse_base_url(base_url, parsed, why)) throw error(ec, diagnostics{{}, why, {}, {}, 0});
        return create(std::move(ex), parsed.origin, tls, pool, timeouts);
    }

    static std::shared_ptr<connection_pool> create(executor_type ex, origin const& target,
                                                   tls_options const& tls = {}, pool_options const& pool = {},
                                                   timeout_options const& timeouts = {}) {
        return std::make_shared<connection_pool>(private_tag{}, std::move(ex), target, tls, pool, timeouts);
    }

    connection_pool(private_tag, executor_type ex, origin const& target, tls_options const& tls,
                    pool_options const& pool, timeout_options const& timeouts)
        : ex_(std::move(ex)), slots_(pool.max_connections, pool.idle_timeout) {
        auto fail = [](std::string why) {
            throw error(make_error_code(errc::invalid_argument), diagnostics{{}, std::move(why), {}, {}, 0});
        };
        if (pool.max_connections == 0) fail("pool_options::max_connections must be at least 1");
        if (target.host.empty() || target.port == 0) fail("the origin has no host or port");
        auto settings = std::make_shared<detail::connection_settings>();
        settings->target = target;
        settings->verify_peer = tls.verify;
        settings->limits = pool;
        settings->timeouts = timeouts;
        if (target.is_tls) {
            error_code ec;
            std::string why;
            settings->tls = detail::make_tls_context(tls, ec, why);
            if (ec) fail(std::move(why));
        }
        settings->prepare();
        settings_ = std::move(settings);
    }

    connection_pool(connection_pool const&) = delete;
    connection_pool& operator=(connection_pool const&) = delete;

    /// Sends one request and reads its whole response on a pooled connection (opened on
    /// demand). A request on a reused keep-alive connection that fails before any response
    /// byte (stale socket: reset, EOF, broken pipe) is retried once on a new connection if
    /// it is idempotent or provably unsent; otherwise it completes with maybe_sent = true.
    ///
    /// Cancellation (per operation, from the completion token's or awaiting coroutine's
    /// cancellation slot): terminal and partial, at every phase. A cancelled request
    /// closes its connection (never returned to the pool half-read) and completes with
    /// errc::cancelled; maybe_sent tells whether the request may have gone out. Total
    /// cancellation is not offered: a cancelled exchange has side effects.
    ///
    /// Completion signature: void(std::exception_ptr, exchange_result); the exception is
    /// only ever a std::bad_alloc-class failure, transport errors are in the result.
    template <class CompletionToken>
    auto async_execute(http_request req, time_point deadline, CompletionToken&& token) {
        // A fresh strand per request: tcp_stream timeout handlers and I/O completions of
        // one exchange must not run concurrently on a thread pool.
        return boost::asio::co_spawn(request_strand(), run_exchange(shared_from_this(), std::move(req), deadline),
                                     std::forward<CompletionToken>(token));
    }

    boost::asio::awaitable<exchange_result> execute(http_request req, time_point deadline) {
        return async_execute(std::move(req), deadline, boost::asio::use_awaitable);
    }

    /// As above, with the deadline now + timeout_options::total (none if total is zero).
    boost::asio::awaitable<exchange_result> execute(http_request req) {
        return execute(std::move(req), default_deadline());
    }

    /// A connected connection for exclusive use, waiting up to pool_options::wait_timeout
    /// (errc::pool_exhausted) and `deadline` (errc::timeout). `fresh` skips idle
    /// connections (after one failed). Cancellation: terminal and partial, as execute().
    /// Completion signature: void(std::exception_ptr, lease_result).
    template <class CompletionToken>
    auto async_acquire(time_point deadline, bool fresh, CompletionToken&& token) {
        return boost::asio::co_spawn(request_strand(), run_acquire(shared_from_this(), deadline, fresh),
                                     std::forward<CompletionToken>(token));
    }

    boost::asio::awaitable<lease_result> acquire(time_point deadline, bool fresh = false) {
        return async_acquire(deadline, fresh, boost::asio::use_awaitable);
    }

    /// Counters at this instant.
    pool_stats stats() const {
        std::lock_guard lock(mutex_);
        return slots_.counters();
    }

    /// Closes idle connections that exceeded pool_options::idle_timeout (this also happens
    /// on every acquisition). Returns how many were closed.
    std::size_t close_expired() {
        std::vector<connection_ptr> doomed;
        std::lock_guard lock(mutex_);
        return slots_.sweep(clock::now(), [&](connection_ptr c) { doomed.push_back(std::move(c)); });
    }

    /// Stops the pool: idle connections are closed, waiting acquirers complete with
    /// errc::cancelled, later requests fail the same way, and busy connections are
    /// closed when their request ends.
    void close() {
        std::vector<connection_ptr> doomed;
        std::vector<waiter_ptr> woken;
        {
            std::lock_guard lock(mutex_);
            woken = slots_.close([&](connection_ptr c) { doomed.push_back(std::move(c)); });
            for (auto& w : woken) {
                w->closed = true;
                w->resolved = true;
            }
        }
        doomed.clear();
        for (auto& w : woken) wake(w);
    }

    origin const& target() const noexcept { return settings_->target; }
    executor_type get_executor() const noexcept { return ex_; }
    pool_options const& options() const noexcept { return settings_->limits; }
    timeout_options const& timeouts() const noexcept { return settings_->timeouts; }

    /// now + timeout_options::total, or no deadline if total is zero.
    time_point default_deadline() const noexcept {
        auto const total = settings_->timeouts.total;
        return total.count() > 0 ? clock::now() + total : time_point::max();
    }

private:
    friend class connection_lease;
    using connection_ptr = std::unique_ptr<detail::http_connection>;

    // A queued acquirer. The timer is its wake-up call: whoever resolves the wait fills
    // the fields under the pool mutex, then cancels the timer on the waiter's own executor
    // (a timer is not thread-safe).
    struct waiter {
        explicit waiter(executor_type const& ex) : timer(ex) {}
        boost::asio::steady_timer timer;
        connection_ptr conn;    // handed over by a release
        bool may_open = false;  // a slot handed over: open a new connection
        bool closed = false;    // the pool was closed
        bool resolved = false;
    };
    using waiter_ptr = std::shared_ptr<waiter>;

    // Lets terminal and partial cancellation through, as terminal: the Beast operations
    // underneath honour only terminal, and either way the connection is closed.
    struct cancel_filter {
        boost::asio::cancellation_type operator()(boost::asio::cancellation_type t) const noexcept {
            using ct = boost::asio::cancellation_type;
            return (t & (ct::terminal | ct::partial)) != ct::none ? ct::terminal : ct::none;
        }
    };

    // Over the concrete executor when it is a known one: the strand then fits inside
    // any_io_executor, and strand dispatch queries no type-erased executor (each of those
    // costs a heap allocation in Asio 1.81). A strand given by the user is used as is.
    executor_type request_strand() const {
        namespace net = boost::asio;
        if (auto const* io = ex_.target<net::io_context::executor_type>()) return net::make_strand(*io);
        if (auto const* tp = ex_.target<net::thread_pool::executor_type>()) return net::make_strand(*tp);
        if (ex_.target<net::strand<net::io_context::executor_type>>() ||
            ex_.target<net::strand<net::thread_pool::executor_type>>() || ex_.target<net::strand<executor_type>>())
            return ex_;
        return net::make_strand(ex_);
    }

    static bool cancelled(boost::asio::cancellation_state const& cs) noexcept {
        return cs.cancelled() != boost::asio::cancellation_type::none;
    }

    static boost::asio::awaitable<exchange_result> run_exchange(std::shared_ptr<connection_pool> self,
                                                                http_request req, time_point deadline) {
        namespace net = boost::asio;
        bool const early = cancelled(co_await net::this_coro::cancellation_state);  // reset forgets it
        co_await net::this_coro::reset_cancellation_state(cancel_filter{});
        co_await net::this_coro::throw_if_cancelled(false);
        auto const cs = co_await net::this_coro::cancellation_state;
        exchange_result r;
        lease_result acquired;
        // The common case (a live idle connection) completes without suspending.
        auto w = self->begin_acquire(acquired, deadline, cs, co_await net::this_coro::executor, false, early);
        if (w || (!acquired.ec && !acquired.lease.conn_)) co_await self->finish_acquire(std::move(w), acquired, deadline);
        if (acquired.ec) {
            r.ec = acquired.ec;
            r.detail = std::move(acquired.detail);
            co_return r;
        }
        connection_lease lease = std::move(acquired.lease);
        for (bool retried = false;;) {
            auto& conn = *lease;
            bool const reused = conn.responses_read() > 0;
            ++r.attempts;
            error_code ec = conn.queue_request(req);
            if (!ec) ec = co_await conn.flush(deadline);
            if (!ec) ec = co_await conn.read_response(r.response, deadline);
            if (!ec) {  // the lease parks the connection if it is still in sync
                r.ec = {};
                r.detail.clear();
                r.maybe_sent = true;
                co_return r;
            }

            bool const sent = conn.maybe_sent();
            r.maybe_sent = r.maybe_sent || sent;
            r.ec = ec;
            r.detail = conn.last_error();
            // A keep-alive socket the server closed while it sat idle fails before any
            // response byte; resending is only safe when the request cannot have taken
            // effect twice.
            bool const stale = reused && ec == errc::connection_closed && !conn.response_started();
            if (!stale) co_return r;
            if (!req.idempotent && sent) {
                r.detail += " (on a reused keep-alive connection; the request may have reached the server "
                            "and was not resent)";
                co_return r;
            }
            if (retried || cancelled(cs) || clock::now() >= deadline) co_return r;
            retried = true;
            if (auto rec = co_await self->reopen(lease, deadline, r.detail)) {
                r.ec = rec;
                co_return r;
            }
        }
    }

    static boost::asio::awaitable<lease_result> run_acquire(std::shared_ptr<connection_pool> self,
                                                            time_point deadline, bool fresh) {
        namespace net = boost::asio;
        bool const early = cancelled(co_await net::this_coro::cancellation_state);
        co_await net::this_coro::reset_cancellation_state(cancel_filter{});
        co_await net::this_coro::throw_if_cancelled(false);
        auto const cs = co_await net::this_coro::cancellation_state;
        lease_result r;
        auto w = self->begin_acquire(r, deadline, cs, co_await net::this_coro::executor, fresh, early);
        if (w || (!r.ec && !r.lease.conn_)) co_await self->finish_acquire(std::move(w), r, deadline);
        co_return r;
    }

    // The part of an acquisition that never suspends: take a live idle connection or
    // reserve a slot for a new one (r.lease), fail (r.ec), or queue a waiter (returned).
    waiter_ptr begin_acquire(lease_result& r, time_point deadline, boost::asio::cancellation_state const& cs,
                             executor_type const& ex, bool fresh, bool cancelled_early) {
        if (cancelled_early || cancelled(cs)) {
            fail(r, errc::cancelled, "cancelled before a connection was acquired");
            return nullptr;
        }
        if (clock::now() >= deadline) {
            fail(r, errc::timeout, "the request deadline passed before a connection was acquired");
            return nullptr;
        }
        typename slots_type::acquire_decision d;
        waiter_ptr w;
        std::vector<connection_ptr> doomed;
        {
            std::lock_guard lock(mutex_);
            slots_.sweep(clock::now(), [&](connection_ptr c) { doomed.push_back(std::move(c)); });
            d = slots_.acquire(fresh);
            if (d.kind == slots_type::acquire_kind::wait) {
                w = std::make_shared<waiter>(ex);
                slots_.enqueue(w);
            }
        }
        doomed.clear();
        d.evicted.reset();
        r.lease.pool_ = shared_from_this();
        switch (d.kind) {
        case slots_type::acquire_kind::closed:
            fail(r, errc::cancelled, "the connection pool is closed");
            return nullptr;
        case slots_type::acquire_kind::wait:
            return w;
        case slots_type::acquire_kind::reuse:
            r.lease.conn_ = std::move(*d.conn);
            break;
        case slots_type::acquire_kind::open:
            break;
        }
        r.lease.holds_slot_ = true;
        drop_dead_idle(r);
        return nullptr;
    }

    // An idle socket the server has closed in the meantime is caught here, before a
    // request is risked on it: take another idle connection, or keep the slot to open one.
    void drop_dead_idle(lease_result& r) {
        while (r.lease.conn_ && !r.lease.conn_->still_alive()) {
            r.lease.conn_.reset();
            std::unique_lock lock(mutex_);
            auto d = slots_.replace(false);
            lock.unlock();
            if (d.kind == slots_type::acquire_kind::closed) {
                r.lease.holds_slot_ = false;
                fail(r, errc::cancelled, "the connection pool was closed");
                return;
            }
            if (d.kind == slots_type::acquire_kind::reuse) r.lease.conn_ = std::move(*d.conn);
        }
    }

    // The part that may suspend: wait for a release (if `w`), then open a connection if the
    // lease holds a slot without one.
    boost::asio::awaitable<void> finish_acquire(waiter_ptr w, lease_result& r, time_point deadline) {
        namespace net = boost::asio;
        auto const cs = co_await net::this_coro::cancellation_state;
        if (w) {
            auto const wait_timeout = settings_->limits.wait_timeout;
            time_point const bound = detail::phase_bound(wait_timeout, deadline);
            w->timer.expires_at(bound);
            if (!cancelled(cs)) {
                auto [ec] = co_await w->timer.async_wait(net::as_tuple(net::use_awaitable));
                (void)ec;  // the outcome is in the waiter, decided under the mutex
            }
            {
                std::unique_lock lock(mutex_);
                if (!w->resolved) {
                    slots_.cancel_wait(w);
                    lock.unlock();
                    if (cancelled(cs))
                        fail(r, errc::cancelled, "cancelled while waiting for a connection");
                    else if (bound == deadline)
                        fail(r, errc::timeout, "the request deadline passed while waiting for a connection");
                    else
                        fail(r, errc::pool_exhausted,
                             "no connection to " + target().to_string() + " became free within " +
                                 std::to_string(wait_timeout.count()) + " ms (max_connections " +
                                 std::to_string(slots_.capacity()) + ")");
                    co_return;
                }
            }
            if (w->closed) {
                fail(r, errc::cancelled, "the connection pool was closed");
                co_return;
            }
            r.lease.holds_slot_ = true;
            r.lease.conn_ = std::move(w->conn);
            if (cancelled(cs)) {
                fail(r, errc::cancelled, "cancelled while waiting for a connection");
                co_return;
            }
            drop_dead_idle(r);
            if (r.ec) co_return;
        }
        if (!r.lease.conn_) {
            if (auto ec = co_await connect_into(r.lease, deadline, r.detail)) {
                r.ec = ec;
                r.lease = {};
            }
        }
    }

    // The lease holds a slot without a usable connection: open one into it. On failure
    // the lease still holds the slot (released when the lease goes).
    boost::asio::awaitable<error_code> connect_into(connection_lease& lease, time_point deadline, std::string& detail) {
        auto conn = std::make_unique<detail::http_connection>(ex_, settings_);
        if (auto ec = co_await conn->connect(deadline)) {
            detail = conn->last_error();
            co_return ec;
        }
        lease.conn_ = std::move(conn);
        co_return error_code{};
    }

    // Replace the lease's dead connection with a new one in the same slot, so that a
    // retry does not queue behind waiters.
    boost::asio::awaitable<error_code> reopen(connection_lease& lease, time_point deadline, std::string& detail) {
        lease.conn_.reset();
        {
            std::lock_guard lock(mutex_);
            auto d = slots_.replace(true);
            if (d.kind == slots_type::acquire_kind::closed) {
                lease.holds_slot_ = false;
                detail = "the connection pool was closed";
                co_return make_error_code(errc::cancelled);
            }
        }
        co_return co_await connect_into(lease, deadline, detail);
    }

    static void fail(lease_result& r, errc code, std::string detail) {
        r.lease = {};
        r.ec = make_error_code(code);
        r.detail = std::move(detail);
    }

    // Called by a lease: park or close its connection and pass its slot on.
    void give_back(connection_ptr conn, bool reusable) noexcept {
        waiter_ptr woken;
        connection_ptr doomed;
        {
            std::lock_guard lock(mutex_);
            auto d = conn ? slots_.release(std::move(conn), reusable, clock::now()) : slots_.release_slot();
            switch (d.kind) {
            case slots_type::release_kind::parked: break;
            case slots_type::release_kind::handed_over:
                woken = std::move(*d.waiter);
                woken->conn = std::move(*d.conn);
                woken->resolved = true;
                break;
            case slots_type::release_kind::closed:
                if (d.conn) doomed = std::move(*d.conn);
                break;
            case slots_type::release_kind::waiter_opens:
                if (d.conn) doomed = std::move(*d.conn);
                woken = std::move(*d.waiter);
                woken->may_open = true;
                woken->resolved = true;
                break;
            }
        }
        doomed.reset();
        if (woken) wake(woken);
    }

    static void wake(waiter_ptr const& w) noexcept {
        try {
            auto ex = w->timer.get_executor();
            boost::asio::post(ex, [w] { w->timer.cancel(); });
        } catch (...) {
            // Out of memory: the waiter still wakes at its own deadline and finds the
            // decision recorded above.
        }
    }

    using slots_type = detail::pool_slots<connection_ptr, waiter_ptr>;

    executor_type ex_;
    std::shared_ptr<detail::connection_settings const> settings_;
    mutable std::mutex mutex_;
    slots_type slots_;
};

inline void connection_lease::release() noexcept {
    if (pool_ && holds_slot_) {
        bool const keep = conn_ && !broken_ && conn_->reusable();
        pool_->give_back(std::move(conn_), keep);
    }
    conn_.reset();
    pool_.reset();
    holds_slot_ = false;
    broken_ = false;
}

} // namespace shop
