// connection_pool and connection_lease: the implementation (compiled once with
// SHOP_SEPARATE_COMPILATION, see <shop/src.hpp>).
#pragma once

#include <shop/connection_pool.hpp>
#include <shop/detail/async/operation.hpp>
#include <shop/detail/async/task.hpp>
#include <shop/detail/transport/http_connection.hpp>
#include <shop/detail/transport/url.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <vector>

namespace shop {
namespace detail {

/// A queued acquirer. Its timer is its wake-up call: whoever resolves the wait (a release,
/// close(), a cancellation) fills the fields and cancels the timer, all under the pool's
/// mutex; the timer's own expiry is the wait bound.
struct pool_waiter {
    explicit pool_waiter(boost::asio::any_io_executor const& ex) : timer(ex) {}
    boost::asio::steady_timer timer;
    std::shared_ptr<http_connection> conn;  // handed over by a release
    bool may_open = false;   // a slot handed over: open a new connection
    bool closed = false;     // the pool was closed
    bool cancelled = false;  // the acquirer's caller gave up
    bool resolved = false;   // one of the above happened
};

struct exchange_status {
    error_code ec;
    bool maybe_sent = false;
    unsigned attempts = 0;
};

/// While a step waits, its interruption is registered with the operation's cancel point.
struct armed_step {
    armed_step(cancel_point& cp, cancel_point::interrupt_fn fn, void* target) : cancel(cp), armed(cp.arm(fn, target)) {}
    ~armed_step() {
        if (armed) cancel.disarm();
    }
    armed_step(armed_step const&) = delete;
    armed_step& operator=(armed_step const&) = delete;
    cancel_point& cancel;
    bool armed;
};

/// A waiter's wait for a pooled connection: the timer armed under the pool's mutex (as every
/// other touch of it), cut short by a release, close() or a cancellation.
struct pool_wait {
    connection_pool* pool;
    pool_waiter* waiter;
    std::chrono::steady_clock::time_point bound;
    cancel_point* cancel;

    template <class Handler>
    void operator()(Handler&& h) const {
        // Copied first: once the wait is started, the awaiting step (holding this object)
        // may go on on another thread.
        pool_waiter* const w = waiter;
        cancel_point* const c = cancel;
        std::lock_guard lock(pool->mutex_);
        w->timer.expires_at(bound);
        w->timer.async_wait(std::forward<Handler>(h));
        // Already decided (a release between enqueue and now, or a cancellation): the
        // timer is cancelled at once, under the same lock as every other wake.
        if (w->resolved || c->requested()) w->timer.cancel();
    }

    static void interrupt(void* target, std::uint64_t) {
        auto* self = static_cast<pool_wait*>(target);
        std::lock_guard lock(self->pool->mutex_);
        self->waiter->timer.cancel();
    }
};

} // namespace detail

// ---------------------------------------------------------------- connection_lease

SHOP_DECL error_code connection_lease::queue(http_request const& request) {
    if (!conn_) return make_error_code(errc::connection_closed);
    return conn_->queue_request(request);
}

SHOP_DECL std::size_t connection_lease::unanswered() const noexcept { return conn_ ? conn_->unanswered() : 0; }
SHOP_DECL std::size_t connection_lease::queued() const noexcept { return conn_ ? conn_->queued() : 0; }
SHOP_DECL bool connection_lease::is_open() const noexcept { return conn_ && conn_->is_open(); }
SHOP_DECL bool connection_lease::server_closes() const noexcept { return conn_ && conn_->server_closes(); }
SHOP_DECL bool connection_lease::maybe_sent() const noexcept { return conn_ && conn_->maybe_sent(); }
SHOP_DECL std::uint64_t connection_lease::responses_read() const noexcept { return conn_ ? conn_->responses_read() : 0; }
SHOP_DECL std::string const& connection_lease::last_error() const noexcept {
    static std::string const none = "no connection";
    return conn_ ? conn_->last_error() : none;
}

SHOP_DECL void connection_lease::release() noexcept {
    if (pool_ && holds_slot_) {
        bool const keep = conn_ && !broken_ && conn_->reusable();
        pool_->give_back(std::move(conn_), keep);
    }
    conn_.reset();
    pool_.reset();
    holds_slot_ = false;
    broken_ = false;
}

namespace detail {
inline task<error_code> lease_flush(op_context& ctx, std::shared_ptr<http_connection> const& conn,
                                    std::chrono::steady_clock::time_point deadline) {
    if (!conn) {
        ctx.diag.message = "the lease holds no connection";
        co_return make_error_code(errc::connection_closed);
    }
    auto ec = co_await conn->flush(deadline, ctx.cancel);
    if (ec) ctx.diag.message = conn->last_error();
    co_return ec;
}

inline task<error_code> lease_read(op_context& ctx, std::shared_ptr<http_connection> const& conn, http_response* out,
                                   std::chrono::steady_clock::time_point deadline) {
    if (!conn) {
        ctx.diag.message = "the lease holds no connection";
        co_return make_error_code(errc::connection_closed);
    }
    auto ec = co_await conn->read_response(deadline, ctx.cancel);
    if (ec) {
        ctx.diag.message = conn->last_error();
    } else {
        // Swapped, not copied: the strings' capacities go back and forth between the two.
        auto& in = conn->response();
        out->status = in.status;
        std::swap(out->content_type, in.content_type);
        std::swap(out->body, in.body);
    }
    co_return ec;
}
inline task<error_code> lease_close(op_context&, std::shared_ptr<http_connection> const& conn) {
    if (conn) co_await conn->graceful_close();
    co_return error_code{};
}
} // namespace detail

SHOP_DECL boost::asio::any_io_executor connection_lease::executor() const {
    return pool_ ? pool_->get_executor() : boost::asio::any_io_executor(boost::asio::system_executor());
}
SHOP_DECL detail::task<error_code> connection_lease::flush_task(detail::op_context& ctx, connection_ptr const& conn,
                                                               time_point const& deadline) {
    return detail::lease_flush(ctx, conn, deadline);
}
SHOP_DECL detail::task<error_code> connection_lease::read_task(detail::op_context& ctx, connection_ptr const& conn,
                                                              http_response* const& out, time_point const& deadline) {
    return detail::lease_read(ctx, conn, out, deadline);
}
SHOP_DECL detail::task<error_code> connection_lease::close_task(detail::op_context& ctx, connection_ptr const& conn) {
    return detail::lease_close(ctx, conn);
}

// ---------------------------------------------------------------- connection_pool

SHOP_DECL std::shared_ptr<connection_pool> connection_pool::create(executor_type ex, std::string_view base_url,
                                                                   tls_options const& tls, pool_options const& pool,
                                                                   timeout_options const& timeouts) {
    detail::base_url parsed;
    std::string why;
    if (auto ec = detail::parse_base_url(base_url, parsed, why)) throw error(ec, diagnostics{{}, why, {}, {}, 0});
    return create(std::move(ex), parsed.origin, tls, pool, timeouts);
}

SHOP_DECL std::shared_ptr<connection_pool> connection_pool::create(executor_type ex, origin const& target,
                                                                   tls_options const& tls, pool_options const& pool,
                                                                   timeout_options const& timeouts) {
    return std::make_shared<connection_pool>(private_tag{}, std::move(ex), target, tls, pool, timeouts);
}

SHOP_DECL connection_pool::connection_pool(private_tag, executor_type ex, origin const& target, tls_options const& tls,
                                           pool_options const& pool, timeout_options const& timeouts)
    : ex_(std::move(ex)), slots_(pool.max_connections, pool.idle_timeout) {
    auto fail = [](std::string why) {
        throw error(make_error_code(errc::invalid_argument), diagnostics{{}, std::move(why), {}, {}, 0});
    };
    if (pool.max_connections == 0) fail("pool_options::max_connections must be at least 1");
    if (target.host.empty() || target.port == 0) fail("the origin has no host or port");
    // Written into every request as it is: a CR or LF in it would split the request.
    if (std::string why; detail::validate_header_value(pool.user_agent, why))
        fail("pool_options::user_agent: " + why);
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

SHOP_DECL connection_pool::~connection_pool() = default;

SHOP_DECL pool_stats connection_pool::stats() const {
    std::lock_guard lock(mutex_);
    return slots_.counters();
}

SHOP_DECL std::size_t connection_pool::close_expired() {
    std::vector<connection_ptr> doomed;
    std::lock_guard lock(mutex_);
    return slots_.sweep(clock::now(), [&](connection_ptr c) { doomed.push_back(std::move(c)); });
}

SHOP_DECL void connection_pool::close() {
    std::vector<connection_ptr> doomed;
    {
        std::lock_guard lock(mutex_);
        auto woken = slots_.close([&](connection_ptr c) { doomed.push_back(std::move(c)); });
        for (auto& w : woken) {
            w->closed = true;
            w->resolved = true;
            wake(*w);
        }
    }
    // Idle connections are closed on their own strands (their sockets belong there).
    for (auto& c : doomed) {
        auto& strand = c->strand();
        boost::asio::post(strand, [c = std::move(c)] { c->close(); });
    }
}

SHOP_DECL origin const& connection_pool::target() const noexcept { return settings_->target; }
SHOP_DECL pool_options const& connection_pool::options() const noexcept { return settings_->limits; }
SHOP_DECL timeout_options const& connection_pool::timeouts() const noexcept { return settings_->timeouts; }

SHOP_DECL connection_pool::time_point connection_pool::default_deadline() const noexcept {
    auto const total = settings_->timeouts.total;
    return total.count() > 0 ? clock::now() + total : time_point::max();
}

namespace detail {
inline void fail_with(op_context& ctx, std::string message) { ctx.diag.message = std::move(message); }
} // namespace detail

SHOP_DECL error_code connection_pool::begin_acquire(detail::op_context& ctx, time_point deadline, bool fresh,
                                                    connection_lease& out, waiter_ptr& wait) {
    if (ctx.cancel.requested()) {
        detail::fail_with(ctx, "cancelled before a connection was acquired");
        return make_error_code(errc::cancelled);
    }
    if (clock::now() >= deadline) {
        detail::fail_with(ctx, "the request deadline passed before a connection was acquired");
        return make_error_code(errc::timeout);
    }
    typename slots_type::acquire_decision d;
    std::vector<connection_ptr> doomed;
    {
        std::lock_guard lock(mutex_);
        slots_.sweep(clock::now(), [&](connection_ptr c) { doomed.push_back(std::move(c)); });
        d = slots_.acquire(fresh);
        if (d.kind == slots_type::acquire_kind::wait) {
            wait = std::make_shared<detail::pool_waiter>(ex_);
            slots_.enqueue(wait);
        }
    }
    if (d.evicted) doomed.push_back(std::move(*d.evicted));
    for (auto& c : doomed) {
        auto const strand = c->strand();  // before the connection moves into the handler
        boost::asio::post(strand, [c = std::move(c)] { c->close(); });
    }
    switch (d.kind) {
    case slots_type::acquire_kind::closed:
        detail::fail_with(ctx, "the connection pool is closed");
        return make_error_code(errc::cancelled);
    case slots_type::acquire_kind::wait:
        return {};
    case slots_type::acquire_kind::reuse:
        out.conn_ = std::move(*d.conn);
        break;
    case slots_type::acquire_kind::open:
        break;
    }
    out.pool_ = shared_from_this();
    out.holds_slot_ = true;
    return drop_dead_idle(ctx, out);
}

// An idle socket the server has closed in the meantime is caught here, before a request is
// risked on it: take another idle connection, or keep the slot to open one.
SHOP_DECL error_code connection_pool::drop_dead_idle(detail::op_context& ctx, connection_lease& lease) {
    while (lease.conn_ && !lease.conn_->still_alive()) {
        auto dead = std::move(lease.conn_);
        boost::asio::post(dead->strand(), [dead] { dead->close(); });
        std::unique_lock lock(mutex_);
        auto d = slots_.replace(false);
        lock.unlock();
        if (d.kind == slots_type::acquire_kind::closed) {
            lease.holds_slot_ = false;
            lease.pool_.reset();
            detail::fail_with(ctx, "the connection pool was closed");
            return make_error_code(errc::cancelled);
        }
        if (d.kind == slots_type::acquire_kind::reuse) lease.conn_ = std::move(*d.conn);
    }
    return {};
}

SHOP_DECL detail::task<error_code> connection_pool::wait_for_slot(detail::op_context& ctx, waiter_ptr w,
                                                                  time_point deadline, connection_lease& out) {
    auto const wait_timeout = settings_->limits.wait_timeout;
    time_point const bound = detail::phase_bound(wait_timeout, deadline);
    // A cancellation wakes the waiter under the mutex, like a release would; the waiter
    // then finds itself unresolved (or handed a connection it gives back) and gives up.
    detail::pool_wait wait{this, w.get(), bound, &ctx.cancel};
    {
        detail::armed_step step(ctx.cancel, &detail::pool_wait::interrupt, &wait);
        auto op = detail::io<void(error_code)>(ex_, wait);
        auto waited = co_await op;  // the outcome is in the waiter, decided under the mutex
        (void)waited;
    }
    {
        std::unique_lock lock(mutex_);
        if (!w->resolved) {
            slots_.cancel_wait(w);
            w->resolved = true;
            lock.unlock();
            if (ctx.cancel.requested()) {
                detail::fail_with(ctx, "cancelled while waiting for a connection");
                co_return make_error_code(errc::cancelled);
            }
            if (bound == deadline) {
                detail::fail_with(ctx, "the request deadline passed while waiting for a connection");
                co_return make_error_code(errc::timeout);
            }
            detail::fail_with(ctx, "no connection to " + target().to_string() + " became free within " +
                                       std::to_string(wait_timeout.count()) + " ms (max_connections " +
                                       std::to_string(slots_.capacity()) + ")");
            co_return make_error_code(errc::pool_exhausted);
        }
    }
    if (w->closed) {
        detail::fail_with(ctx, "the connection pool was closed");
        co_return make_error_code(errc::cancelled);
    }
    out.pool_ = shared_from_this();
    out.holds_slot_ = true;
    out.conn_ = std::move(w->conn);
    if (ctx.cancel.requested()) {
        out.release();
        detail::fail_with(ctx, "cancelled while waiting for a connection");
        co_return make_error_code(errc::cancelled);
    }
    co_return drop_dead_idle(ctx, out);
}

SHOP_DECL detail::task<error_code> connection_pool::acquire(detail::op_context& ctx, time_point deadline, bool fresh,
                                                            connection_lease& out) {
    waiter_ptr w;
    // The common case (a live idle connection) does not suspend here.
    if (auto ec = begin_acquire(ctx, deadline, fresh, out, w)) co_return ec;
    if (w) {
        if (auto ec = co_await wait_for_slot(ctx, std::move(w), deadline, out)) co_return ec;
    }
    if (!out.conn_) {
        if (auto ec = co_await connect_into(ctx, out, deadline)) {
            out.release();
            co_return ec;
        }
    }
    co_return error_code{};
}

// The lease holds a slot without a usable connection: open one into it. On failure the
// lease still holds the slot (released when the lease goes).
SHOP_DECL detail::task<error_code> connection_pool::connect_into(detail::op_context& ctx, connection_lease& lease,
                                                                 time_point deadline) {
    auto conn = std::make_shared<detail::http_connection>(ex_, settings_);
    if (auto ec = co_await conn->connect(deadline, ctx.cancel)) {
        detail::fail_with(ctx, conn->last_error());
        co_return ec;
    }
    lease.conn_ = std::move(conn);
    co_return error_code{};
}

// Replace the lease's dead connection with a new one in the same slot, so that a retry does
// not queue behind waiters.
SHOP_DECL detail::task<error_code> connection_pool::reopen(detail::op_context& ctx, connection_lease& lease,
                                                           time_point deadline) {
    lease.conn_.reset();
    {
        std::lock_guard lock(mutex_);
        auto d = slots_.replace(true);
        if (d.kind == slots_type::acquire_kind::closed) {
            lease.holds_slot_ = false;
            lease.pool_.reset();
            detail::fail_with(ctx, "the connection pool was closed");
            co_return make_error_code(errc::cancelled);
        }
    }
    co_return co_await connect_into(ctx, lease, deadline);
}

SHOP_DECL detail::task<detail::exchange_status> connection_pool::exchange(detail::op_context& ctx,
                                                                          http_request const& request,
                                                                          time_point deadline, response_reader reader,
                                                                          void* user) {
    detail::exchange_status r;
    connection_lease lease;
    if (auto ec = co_await acquire(ctx, deadline, false, lease)) {
        r.ec = ec;
        co_return r;
    }
    for (bool retried = false;;) {
        auto conn = lease.conn_;  // a copy: the lease may swap connections on a retry
        if (!conn->on_strand()) {
            auto hop = detail::enter(conn->strand());
            co_await hop;
        }
        bool const reused = conn->responses_read() > 0;
        ++r.attempts;
        error_code ec = conn->queue_request(request);
        if (!ec) ec = co_await conn->flush(deadline, ctx.cancel);
        if (!ec) ec = co_await conn->read_response(deadline, ctx.cancel);
        if (!ec) {
            r.ec = {};
            r.maybe_sent = true;
            reader(user, conn->response());
            lease.release();  // parks the connection if it is still in sync
            co_return r;
        }
        bool const sent = conn->maybe_sent();
        r.maybe_sent = r.maybe_sent || sent;
        r.ec = ec;
        ctx.diag.message = conn->last_error();
        // A keep-alive socket the server closed while it sat idle fails before any response
        // byte; resending is only safe when the request cannot have taken effect twice.
        bool const stale = reused && ec == errc::connection_closed && !conn->response_started();
        if (!stale) co_return r;
        if (!request.idempotent && sent) {
            ctx.diag.message += " (on a reused keep-alive connection; the request may have reached the server "
                                "and was not resent)";
            co_return r;
        }
        if (retried || ctx.cancel.requested() || clock::now() >= deadline) co_return r;
        retried = true;
        if (auto rec = co_await reopen(ctx, lease, deadline)) {
            r.ec = rec;
            co_return r;
        }
    }
}

namespace detail {
/// The pool's own operations (async_execute, async_acquire) as tasks.
struct pool_access {
    static void copy_response(void* user, http_response& response) {
        auto* out = static_cast<exchange_result*>(user);
        out->response.status = response.status;
        out->response.content_type = response.content_type;
        out->response.body = response.body;
    }

    static task<error_code> execute(op_context& ctx, exchange_result& out, std::shared_ptr<connection_pool> const& pool,
                                    http_request const& request, std::chrono::steady_clock::time_point deadline) {
        auto st = co_await pool->exchange(ctx, request, deadline, &copy_response, &out);
        out.maybe_sent = st.maybe_sent;
        out.attempts = st.attempts;
        co_return st.ec;
    }

    static task<error_code> acquire(op_context& ctx, connection_lease& out, std::shared_ptr<connection_pool> const& pool,
                                    std::chrono::steady_clock::time_point deadline, bool fresh) {
        co_return co_await pool->acquire(ctx, deadline, fresh, out);
    }
};
} // namespace detail

SHOP_DECL detail::task<error_code> connection_pool::execute_task(detail::op_context& ctx, exchange_result& out,
                                                                 pool_ptr const& pool, http_request const& request,
                                                                 time_point const& deadline) {
    return detail::pool_access::execute(ctx, out, pool, request, deadline);
}

SHOP_DECL detail::task<error_code> connection_pool::acquire_task(detail::op_context& ctx, connection_lease& out,
                                                                 pool_ptr const& pool, time_point const& deadline,
                                                                 bool const& fresh) {
    return detail::pool_access::acquire(ctx, out, pool, deadline, fresh);
}

// Called by a lease: park or close its connection and pass its slot on.
SHOP_DECL void connection_pool::give_back(connection_ptr conn, bool reusable) noexcept {
    connection_ptr doomed;
    {
        std::lock_guard lock(mutex_);
        auto d = conn ? slots_.release(std::move(conn), reusable, clock::now()) : slots_.release_slot();
        switch (d.kind) {
        case slots_type::release_kind::parked: break;
        case slots_type::release_kind::handed_over:
            (*d.waiter)->conn = std::move(*d.conn);
            (*d.waiter)->resolved = true;
            wake(**d.waiter);
            break;
        case slots_type::release_kind::closed:
            if (d.conn) doomed = std::move(*d.conn);
            break;
        case slots_type::release_kind::waiter_opens:
            if (d.conn) doomed = std::move(*d.conn);
            (*d.waiter)->may_open = true;
            (*d.waiter)->resolved = true;
            wake(**d.waiter);
            break;
        }
    }
    if (doomed) {
        auto& strand = doomed->strand();
        boost::asio::post(strand, [c = std::move(doomed)] { c->close(); });
    }
}

// Under the pool's mutex: every touch of a waiter's timer is.
SHOP_DECL void connection_pool::wake(detail::pool_waiter& w) noexcept { w.timer.cancel(); }

} // namespace shop
