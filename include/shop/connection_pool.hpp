// A bounded pool of keep-alive HTTP/1.1 connections to one origin (scheme, host, port),
// shareable between several clients (one per API key) so that they reuse connections.
//
//   auto pool = shop::connection_pool::create(ex, "https://shop.example/api/v1", tls, pool, timeouts);
//   shop::exchange_result r = co_await pool->async_execute(std::move(request), deadline);
//
// Operations complete with `void(error_code, Result)`; what failed, where and why is in the
// diagnostics (`diagnostics::message`), given by the caller or read by the default token. A
// request whose bytes may have reached the server is never resent unless it is idempotent.
//
// Thread safety: every member function may be called from any thread and from many
// operations at once; the executor may be an io_context or a thread pool. Each connection
// has a strand of its own (made once, when it is opened).
#pragma once

#include <shop/config.hpp>
#include <shop/detail/async/operation.hpp>
#include <shop/detail/async/task.hpp>
#include <shop/detail/linkage.hpp>
#include <shop/detail/transport/pool_slots.hpp>
#include <shop/error.hpp>
#include <shop/http.hpp>
#include <shop/with_diagnostics.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace shop {

namespace detail {
class http_connection;
struct connection_settings;
struct pool_waiter;
struct exchange_status;
struct client_access;
struct pool_access;
struct pool_wait;
} // namespace detail

/// The outcome of one request through the pool.
struct exchange_result {
    http_response response;
    /// Some byte of the request may have reached the server (true on success). With an
    /// error on a non-idempotent request (an order create) the outcome is unknown: do not
    /// resend blindly.
    bool maybe_sent = false;
    /// Connections the request was written to: 2 after a transparent stale-connection retry.
    unsigned attempts = 0;
};

class connection_pool;

/// Exclusive use of one connected pooled connection (for a pipelining caller: queue N
/// requests, flush once, read N responses in order). Destruction, or release(), gives the
/// connection back: parked for reuse if it is still in sync (every response read,
/// keep-alive, no error) and not marked broken, closed otherwise.
///
/// One operation at a time on a lease (like an Asio socket); queue() and the accessors are
/// called between operations, from the executor that drives the lease.
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

    /// Holds a connection.
    explicit operator bool() const noexcept { return conn_ != nullptr; }

    /// Serialises a request for the next flush, without I/O (several may be queued: that is
    /// pipelining). errc::invalid_argument (the request is not queued, the connection stays
    /// usable) or errc::connection_closed; the reason is in last_error().
    SHOP_DECL error_code queue(http_request const& request);

    /// Writes every queued request, bounded by the write timeout and `deadline`.
    /// Completion: void(error_code); cancellation (terminal, partial) closes the connection.
    template <class Token = default_token>
    auto async_flush(std::chrono::steady_clock::time_point deadline, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code)>(flush_init{executor(), conn_}, token,
                                                                    static_cast<diagnostics*>(nullptr), deadline);
    }

    /// Reads the next response (FIFO) into `out`, reusing its strings. Bounded by the read
    /// timeout and `deadline`; body_limit/header_limit give errc::body_too_large.
    /// Completion: void(error_code); cancellation (terminal, partial) closes the connection.
    template <class Token = default_token>
    auto async_read_response(http_response& out, std::chrono::steady_clock::time_point deadline, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code)>(read_init{executor(), conn_}, token,
                                                                    static_cast<diagnostics*>(nullptr), &out, deadline);
    }

    /// Closes the connection politely (TLS close_notify, bounded by
    /// timeout_options::tls_shutdown), then the socket; the lease then gives back only its
    /// slot. Completion: void(error_code) (empty: closing cannot fail).
    template <class Token = default_token>
    auto async_close(Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code)>(close_init{executor(), conn_}, token,
                                                                    static_cast<diagnostics*>(nullptr));
    }

    /// Requests written whose responses have not been read.
    SHOP_DECL std::size_t unanswered() const noexcept;
    /// Requests queued but not flushed.
    SHOP_DECL std::size_t queued() const noexcept;
    SHOP_DECL bool is_open() const noexcept;
    /// The server announced Connection: close: what is still on the wire will not be answered.
    SHOP_DECL bool server_closes() const noexcept;
    /// Some byte of an unanswered request may have reached the server.
    SHOP_DECL bool maybe_sent() const noexcept;
    /// Why the last operation failed ("reading the response from https://…: …").
    SHOP_DECL std::string const& last_error() const noexcept;
    /// Responses read on this connection; non-zero means it is a reused keep-alive one.
    SHOP_DECL std::uint64_t responses_read() const noexcept;

    /// Close the connection on release instead of returning it (e.g. a pipelined response
    /// that did not match).
    void mark_broken() noexcept { broken_ = true; }

    /// Give the connection (and its pool slot) back now.
    SHOP_DECL void release() noexcept;

private:
    friend class connection_pool;
    friend class client;
    friend struct detail::client_access;
    friend struct detail::pool_access;

    using connection_ptr = std::shared_ptr<detail::http_connection>;
    using time_point = std::chrono::steady_clock::time_point;

    // What each operation does, as a task (compiled once with SHOP_SEPARATE_COMPILATION).
    SHOP_DECL static detail::task<error_code> flush_task(detail::op_context& ctx, connection_ptr const& conn,
                                                         time_point const& deadline);
    SHOP_DECL static detail::task<error_code> read_task(detail::op_context& ctx, connection_ptr const& conn,
                                                        http_response* const& out, time_point const& deadline);
    SHOP_DECL static detail::task<error_code> close_task(detail::op_context& ctx, connection_ptr const& conn);
    /// The executor operations run on: the pool's (a lease without one has nothing to do).
    SHOP_DECL boost::asio::any_io_executor executor() const;

    // The initiations hold the connection and executor themselves, not the lease: with a
    // deferred token the operation starts later, when the lease may have moved.
    struct flush_init {
        boost::asio::any_io_executor ex;
        connection_ptr conn;
        template <class Handler>
        void operator()(Handler&& h, diagnostics* d, time_point deadline) const {
            detail::start_operation<void>(ex, std::forward<Handler>(h), d, detail::bind_call(&flush_task, conn, deadline));
        }
    };
    struct read_init {
        boost::asio::any_io_executor ex;
        connection_ptr conn;
        template <class Handler>
        void operator()(Handler&& h, diagnostics* d, http_response* out, time_point deadline) const {
            detail::start_operation<void>(ex, std::forward<Handler>(h), d,
                                          detail::bind_call(&read_task, conn, out, deadline));
        }
    };
    struct close_init {
        boost::asio::any_io_executor ex;
        connection_ptr conn;
        template <class Handler>
        void operator()(Handler&& h, diagnostics* d) const {
            detail::start_operation<void>(ex, std::forward<Handler>(h), d, detail::bind_call(&close_task, conn));
        }
    };

    std::shared_ptr<connection_pool> pool_;
    std::shared_ptr<detail::http_connection> conn_;
    bool holds_slot_ = false;  // a pool slot is counted busy for this lease
    bool broken_ = false;
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
    SHOP_DECL static std::shared_ptr<connection_pool> create(executor_type ex, std::string_view base_url,
                                                             tls_options const& tls = {}, pool_options const& pool = {},
                                                             timeout_options const& timeouts = {});
    SHOP_DECL static std::shared_ptr<connection_pool> create(executor_type ex, origin const& target,
                                                             tls_options const& tls = {}, pool_options const& pool = {},
                                                             timeout_options const& timeouts = {});

    SHOP_DECL connection_pool(private_tag, executor_type ex, origin const& target, tls_options const& tls,
                              pool_options const& pool, timeout_options const& timeouts);
    SHOP_DECL ~connection_pool();
    connection_pool(connection_pool const&) = delete;
    connection_pool& operator=(connection_pool const&) = delete;

    /// Sends one request and reads its whole response on a pooled connection (opened on
    /// demand). A request on a reused keep-alive connection that fails before any response
    /// byte (stale socket: reset, EOF, broken pipe) is retried once on a new connection if
    /// it is idempotent or provably unsent.
    ///
    /// Completion: void(error_code, exchange_result). Any HTTP status is a success here;
    /// failures: timeout, connection_closed, connect_failed, tls_handshake_failed,
    /// tls_verification_failed, body_too_large, bad_response, pool_exhausted, cancelled,
    /// invalid_argument, with `exchange_result::maybe_sent`. Cancellation: terminal and
    /// partial, at every phase; the connection in use is closed (never returned half-read).
    template <class Token = default_token>
    auto async_execute(http_request request, time_point deadline, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, exchange_result)>(
            execute_init{shared_from_this()}, token, static_cast<diagnostics*>(nullptr), std::move(request), deadline);
    }
    /// As above; the diagnostics of a failure are written to `diag`.
    template <class Token = default_token>
    auto async_execute(http_request request, time_point deadline, diagnostics& diag, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, exchange_result)>(
            execute_init{shared_from_this()}, token, &diag, std::move(request), deadline);
    }

    /// A connected connection for exclusive use, waiting up to pool_options::wait_timeout
    /// (errc::pool_exhausted) and `deadline` (errc::timeout). `fresh` skips idle
    /// connections (after one failed). Completion: void(error_code, connection_lease).
    /// Cancellation: terminal and partial.
    template <class Token = default_token>
    auto async_acquire(time_point deadline, bool fresh, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, connection_lease)>(
            acquire_init{shared_from_this()}, token, static_cast<diagnostics*>(nullptr), deadline, fresh);
    }
    template <class Token = default_token>
    auto async_acquire(time_point deadline, bool fresh, diagnostics& diag, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code, connection_lease)>(acquire_init{shared_from_this()}, token,
                                                                                       &diag, deadline, fresh);
    }

    /// Counters at this instant.
    SHOP_DECL pool_stats stats() const;

    /// Closes idle connections that exceeded pool_options::idle_timeout (this also happens
    /// on every acquisition). Returns how many were closed.
    SHOP_DECL std::size_t close_expired();

    /// Stops the pool: idle connections are closed, waiting acquirers complete with
    /// errc::cancelled, later requests fail the same way, and busy connections are
    /// closed when their request ends.
    SHOP_DECL void close();

    SHOP_DECL origin const& target() const noexcept;
    executor_type get_executor() const noexcept { return ex_; }
    SHOP_DECL pool_options const& options() const noexcept;
    SHOP_DECL timeout_options const& timeouts() const noexcept;

    /// now + timeout_options::total, or no deadline if total is zero.
    SHOP_DECL time_point default_deadline() const noexcept;

private:
    friend class connection_lease;
    friend class client;
    friend struct detail::client_access;
    friend struct detail::pool_access;
    friend struct detail::pool_wait;
    using connection_ptr = std::shared_ptr<detail::http_connection>;
    using waiter_ptr = std::shared_ptr<detail::pool_waiter>;
    using slots_type = detail::pool_slots<connection_ptr, waiter_ptr>;

    using pool_ptr = std::shared_ptr<connection_pool>;
    // What each operation does, as a task (compiled once with SHOP_SEPARATE_COMPILATION).
    SHOP_DECL static detail::task<error_code> execute_task(detail::op_context& ctx, exchange_result& out,
                                                           pool_ptr const& pool, http_request const& request,
                                                           time_point const& deadline);
    SHOP_DECL static detail::task<error_code> acquire_task(detail::op_context& ctx, connection_lease& out,
                                                           pool_ptr const& pool, time_point const& deadline,
                                                           bool const& fresh);

    // The initiations hold the pool itself: with a deferred token the operation starts
    // later, when the caller's reference may be gone.
    struct execute_init {
        pool_ptr pool;
        template <class Handler>
        void operator()(Handler&& h, diagnostics* d, http_request request, time_point deadline) const {
            detail::start_operation<exchange_result>(pool->ex_, std::forward<Handler>(h), d,
                                                     detail::bind_call(&execute_task, pool, std::move(request), deadline));
        }
    };
    struct acquire_init {
        pool_ptr pool;
        template <class Handler>
        void operator()(Handler&& h, diagnostics* d, time_point deadline, bool fresh) const {
            detail::start_operation<connection_lease>(pool->ex_, std::forward<Handler>(h), d,
                                                      detail::bind_call(&acquire_task, pool, deadline, fresh));
        }
    };

    // --- the library's own steps, for the client and the lease.

    /// Called with the response while the connection is still held (on its strand): the
    /// client reads the answer from the connection's buffers, without copying it.
    using response_reader = void (*)(void* user, http_response& response);

    /// One request: connection, write, read, `reader`, stale-connection retry. Failures are
    /// returned (the reason in ctx.diag.message).
    SHOP_DECL detail::task<detail::exchange_status> exchange(detail::op_context& ctx, http_request const& request,
                                                             time_point deadline, response_reader reader, void* user);
    /// A connected lease, or the failure (the reason in ctx.diag.message).
    SHOP_DECL detail::task<error_code> acquire(detail::op_context& ctx, time_point deadline, bool fresh,
                                               connection_lease& out);

    // The part of an acquisition that never suspends: take a live idle connection or
    // reserve a slot for a new one (into `out`), fail (returned), or queue a waiter.
    SHOP_DECL error_code begin_acquire(detail::op_context& ctx, time_point deadline, bool fresh, connection_lease& out,
                                       waiter_ptr& wait);
    SHOP_DECL detail::task<error_code> wait_for_slot(detail::op_context& ctx, waiter_ptr w, time_point deadline,
                                                     connection_lease& out);
    SHOP_DECL detail::task<error_code> connect_into(detail::op_context& ctx, connection_lease& lease, time_point deadline);
    SHOP_DECL detail::task<error_code> reopen(detail::op_context& ctx, connection_lease& lease, time_point deadline);
    SHOP_DECL error_code drop_dead_idle(detail::op_context& ctx, connection_lease& lease);
    SHOP_DECL void give_back(connection_ptr conn, bool reusable) noexcept;
    SHOP_DECL static void wake(detail::pool_waiter& w) noexcept;

    executor_type ex_;
    std::shared_ptr<detail::connection_settings const> settings_;
    mutable std::mutex mutex_;
    slots_type slots_;
};

} // namespace shop

#if SHOP_HEADER_ONLY
#include <shop/detail/impl/connection_pool.ipp>
#endif
