// One HTTP/1.1 keep-alive connection over TCP or TLS, driven by the library's tasks.
//
// The connection keeps one read buffer, one response and one JSON arena for its whole life:
// bytes that arrive after one response belong to the next, so N requests can be written
// (queue_request + flush) and N responses read back in order (read_response), and a warm
// request allocates nothing here. Every phase is bounded by its own timeout and by the
// request's deadline; any I/O failure closes the socket, so a broken or cancelled exchange
// can never leave the connection out of sync.
//
// Threading: each connection has a strand of its own, made once; every operation on it is
// started from that strand (a task enters it first) and resumes there, so the stream's
// timeout handlers and I/O completions never run concurrently, whatever the executor.
#pragma once

#include <shop/config.hpp>
#include <shop/detail/async/operation.hpp>
#include <shop/detail/async/task.hpp>
#include <shop/detail/transport/response_sink.hpp>
#include <shop/detail/transport/url.hpp>
#include <shop/error.hpp>
#include <shop/http.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/ssl/verify_mode.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/optional/optional.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/socket.h>
#include <sys/types.h>
#endif

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace shop {
namespace detail {

using steady_clock = std::chrono::steady_clock;
using time_point = steady_clock::time_point;

namespace http_detail {

inline error_code invalid(std::string& why, std::string text) {
    why = std::move(text);
    return make_error_code(errc::invalid_argument);
}

// Headers the transport writes itself; letting a caller set them would allow request
// smuggling or contradict the framing.
inline bool is_transport_header(std::string_view name) noexcept {
    using boost::beast::iequals;
    return iequals(name, "host") || iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
           iequals(name, "connection");
}

inline error_code check_header(std::string_view name, std::string_view value, std::string& why) {
    if (auto ec = validate_header_name(name, why)) return ec;
    if (auto ec = validate_header_value(value, why)) {
        why = "header " + std::string(name) + ": " + why;
        return ec;
    }
    if (is_transport_header(name))
        return invalid(why, "header " + std::string(name) + " is set by the transport and cannot be overridden");
    return {};
}

inline void append_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

} // namespace http_detail
} // namespace detail

inline std::shared_ptr<header_block const> header_block::make(std::span<field const> fields, error_code& ec,
                                                              std::string& why) {
    auto block = std::make_shared<header_block>();
    std::size_t size = 0;
    for (auto const& [name, value] : fields) size += name.size() + value.size() + 4;
    block->wire_.reserve(size);
    for (auto const& [name, value] : fields) {
        if ((ec = detail::http_detail::check_header(name, value, why))) return nullptr;
        block->user_agent_ |= boost::beast::iequals(name, "user-agent");
        block->content_type_ |= boost::beast::iequals(name, "content-type");
        detail::http_detail::append_header(block->wire_, name, value);
    }
    ec = {};
    return block;
}

namespace detail {

/// Everything a connection needs to know about its origin, fixed for a pool's lifetime.
struct connection_settings {
    shop::origin target;
    /// Required for an https origin; shared by every connection of the pool.
    std::shared_ptr<boost::asio::ssl::context> tls;
    /// Check the certificate chain and the host name (tls_options::verify).
    bool verify_peer = true;
    pool_options limits;
    timeout_options timeouts;

    /// Precomputed "Host: …\r\n" and "User-Agent: …\r\n" lines (call prepare()).
    std::string host_line;
    std::string user_agent_line;

    void prepare() {
        host_line.clear();
        http_detail::append_header(host_line, "Host", target.host_header());
        user_agent_line.clear();
        if (!limits.user_agent.empty()) http_detail::append_header(user_agent_line, "User-Agent", limits.user_agent);
    }
};

/// Builds the client TLS context of a pool: TLS 1.2 or later, peer verification on unless
/// disabled, trust from the system roots and/or the given CA file/PEM.
inline std::shared_ptr<boost::asio::ssl::context> make_tls_context(tls_options const& o, error_code& ec,
                                                                   std::string& why) {
    namespace ssl = boost::asio::ssl;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    error_code e;
    ctx->set_verify_mode(o.verify ? ssl::verify_peer : ssl::verify_none, e);
    if (o.use_system_roots && (ctx->set_default_verify_paths(e), e)) {
        ec = make_error_code(errc::invalid_argument);
        why = "could not load the system root certificates: " + e.message();
        return nullptr;
    }
    if (!o.ca_file.empty() && (ctx->load_verify_file(o.ca_file, e), e)) {
        ec = make_error_code(errc::invalid_argument);
        why = "could not load CA file " + o.ca_file + ": " + e.message();
        return nullptr;
    }
    if (!o.ca_pem.empty() && (ctx->add_certificate_authority(boost::asio::buffer(o.ca_pem), e), e)) {
        ec = make_error_code(errc::invalid_argument);
        why = "could not load the CA certificates given as PEM: " + e.message();
        return nullptr;
    }
    if (o.verify && !o.use_system_roots && o.ca_file.empty() && o.ca_pem.empty()) {
        ec = make_error_code(errc::invalid_argument);
        why = "TLS verification is on but no certificate is trusted (no system roots, CA file or PEM)";
        return nullptr;
    }
    ec = {};
    return ctx;
}

/// The earlier of `now + phase` and the request deadline; a zero phase has no bound of its own.
inline time_point phase_bound(std::chrono::milliseconds phase, time_point deadline) noexcept {
    if (phase.count() <= 0) return deadline;
    auto const now = steady_clock::now();
    if (deadline - now <= phase) return deadline;
    return now + phase;
}

/// A strand of its own for a connection, over the concrete executor when it is a known one
/// (the strand then fits inside any_io_executor and its dispatch queries no type-erased
/// executor). An executor that is already a strand is used as it is.
inline boost::asio::any_io_executor connection_strand(boost::asio::any_io_executor const& ex) {
    namespace net = boost::asio;
    if (auto const* io = ex.target<net::io_context::executor_type>()) return net::make_strand(*io);
    if (auto const* tp = ex.target<net::thread_pool::executor_type>()) return net::make_strand(*tp);
    if (ex.target<net::strand<net::io_context::executor_type>>() ||
        ex.target<net::strand<net::thread_pool::executor_type>>() || ex.target<net::strand<net::any_io_executor>>())
        return ex;
    return net::make_strand(ex);
}

namespace http_detail {

// Records why certificate verification failed (OpenSSL's reason, or the host name check),
// so the error can say more than "certificate verify failed".
struct tls_verifier {
    boost::asio::ssl::host_name_verification check;
    std::string host;
    std::string* reason;

    bool operator()(bool preverified, boost::asio::ssl::verify_context& ctx) const {
        X509_STORE_CTX* sc = ctx.native_handle();
        int const depth = X509_STORE_CTX_get_error_depth(sc);
        if (!preverified) {
            if (reason->empty()) {
                *reason = X509_verify_cert_error_string(X509_STORE_CTX_get_error(sc));
                append_subject(sc, depth);
            }
            return false;
        }
        if (!check(preverified, ctx)) {
            bool const ip = host.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos &&
                            host.find_first_of(".:") != std::string::npos;
            X509_STORE_CTX_set_error(sc, ip ? X509_V_ERR_IP_ADDRESS_MISMATCH : X509_V_ERR_HOSTNAME_MISMATCH);
            if (reason->empty()) {
                *reason = "certificate does not match ";
                *reason += ip ? "IP address " : "host name ";
                *reason += host;
                append_subject(sc, depth);
            }
            return false;
        }
        return true;
    }

    void append_subject(X509_STORE_CTX* sc, int depth) const {
        *reason += " (depth ";
        *reason += std::to_string(depth);
        if (X509* cert = X509_STORE_CTX_get_current_cert(sc)) {
            char name[256];
            if (X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof name)) {
                *reason += ", subject ";
                *reason += name;
            }
        }
        *reason += ')';
    }
};

inline bool closed_by_peer(error_code const& ec) noexcept {
    namespace net = boost::asio;
    namespace http = boost::beast::http;
    return ec == net::error::eof || ec == http::error::end_of_stream || ec == http::error::partial_message ||
           ec == net::error::connection_reset || ec == net::error::broken_pipe ||
           ec == net::error::connection_aborted || ec == net::error::not_connected ||
           ec == net::error::shut_down || ec == net::ssl::error::stream_truncated;
}

} // namespace http_detail

/// Which step of an exchange failed; decides the error condition and the message.
enum class io_phase { resolve, connect, handshake, write, read, shutdown };

class http_connection : public std::enable_shared_from_this<http_connection> {
public:
    using executor_type = boost::asio::any_io_executor;

    http_connection(executor_type const& ex, std::shared_ptr<connection_settings const> settings)
        : settings_(std::move(settings)), strand_(connection_strand(ex)) {
        if (settings_->target.is_tls)
            tls_.emplace(strand_, *settings_->tls);
        else
            tcp_.emplace(strand_);
    }
    http_connection(http_connection const&) = delete;
    http_connection& operator=(http_connection const&) = delete;

    /// The strand every operation on this connection runs on.
    executor_type const& strand() const noexcept { return strand_; }
    /// Already running on this connection's strand (then no hop is needed to enter it).
    bool on_strand() const noexcept {
        namespace net = boost::asio;
        if (auto const* s = strand_.target<net::strand<net::io_context::executor_type>>()) return s->running_in_this_thread();
        if (auto const* s = strand_.target<net::strand<net::thread_pool::executor_type>>()) return s->running_in_this_thread();
        if (auto const* s = strand_.target<net::strand<net::any_io_executor>>()) return s->running_in_this_thread();
        return false;
    }

    shop::origin const& target() const noexcept { return settings_->target; }

    /// Resolve (skipped for IP literals), connect, and for https the TLS handshake with
    /// SNI (except IP literals) and certificate + host name verification. Each step is
    /// bounded by its timeout and by `deadline`. Nothing of a request is sent here.
    /// Cancellation through `cancel` (the socket is closed).
    task<error_code> connect(time_point deadline, cancel_point& cancel) {
        namespace net = boost::asio;
        using net::ip::tcp;
        if (!on_strand()) {
            auto hop = enter(strand_);
            co_await hop;
        }
        auto const& s = *settings_;
        if (state_ != state::fresh)
            co_return usage_error(errc::invalid_argument, "connect() on a connection that was already used");
        state_ = state::connecting;

        error_code ec;
        auto const address = net::ip::make_address(s.target.host, ec);
        bool const literal = !ec;
        tcp::resolver::results_type resolved;
        if (!literal) {
            ec = co_await resolve(deadline, cancel, resolved);
            if (ec) co_return ec;
        }

        time_point bound = phase_bound(s.timeouts.connect, deadline);
        if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::connect, bound, deadline);
        interruptible guard(*this, cancel);
        if (!guard.armed) co_return fail({}, io_phase::connect, bound, deadline, true);
        auto& t = lowest();
        t.expires_at(bound);
        if (literal) {
            std::array<tcp::endpoint, 1> const one{tcp::endpoint(address, s.target.port)};
            auto op = io<void(error_code, tcp::endpoint)>(strand_, [&](auto h) { t.async_connect(one, std::move(h)); });
            auto [e, ep] = co_await op;
            ec = e;
        } else {
            auto op = io<void(error_code, tcp::endpoint)>(strand_, [&](auto h) { t.async_connect(resolved, std::move(h)); });
            auto [e, ep] = co_await op;
            ec = e;
        }
        t.expires_never();
        if (ec) co_return fail(ec, io_phase::connect, bound, deadline, cancel.requested());
        if (cancel.requested()) co_return fail({}, io_phase::connect, bound, deadline, true);
        error_code ignored;
        t.socket().set_option(tcp::no_delay(true), ignored);  // small requests, pipelining

        if (tls_) {
            SSL* ssl = tls_->native_handle();
            if (!literal && SSL_set_tlsext_host_name(ssl, s.target.host.c_str()) != 1)
                co_return fail(error_code(static_cast<int>(::ERR_get_error()), net::error::get_ssl_category()),
                               io_phase::handshake, bound, deadline, false);
            if (s.verify_peer)
                tls_->set_verify_callback(
                    http_detail::tls_verifier{net::ssl::host_name_verification(s.target.host), s.target.host,
                                              &verify_reason_});
            bound = phase_bound(s.timeouts.handshake, deadline);
            if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::handshake, bound, deadline);
            t.expires_at(bound);
            auto op = io<void(error_code)>(strand_, [&](auto h) {
                tls_->async_handshake(net::ssl::stream_base::client, std::move(h));
            });
            auto [e] = co_await op;
            t.expires_never();
            if (e) co_return fail(e, io_phase::handshake, bound, deadline, cancel.requested());
            if (cancel.requested()) co_return fail({}, io_phase::handshake, bound, deadline, true);
        }
        state_ = state::open;
        co_return error_code{};
    }

    /// Serialises a request into the output buffer without any I/O (several may be queued
    /// for one flush: pipelining). A request that fails validation is not queued and
    /// leaves the connection usable: errc::invalid_argument, reason in last_error().
    error_code queue_request(http_request const& req) {
        using http_detail::append_header;
        if (state_ != state::open || !keep_alive_)
            return usage_error(errc::connection_closed, "the connection is not open for another request");
        std::string why;
        if (req.target.empty() || req.target.front() != '/')
            return usage_error(errc::invalid_argument, "request target must start with '/'");
        for (unsigned char c : req.target)
            if (c <= 0x20 || c >= 0x7f)
                return usage_error(errc::invalid_argument,
                                   "request target holds a space, control or non-ASCII byte (percent-encode it)");
        bool sets_ua = req.fixed_headers && req.fixed_headers->sets_user_agent();
        bool sets_ct = req.fixed_headers && req.fixed_headers->sets_content_type();
        for (auto const& [name, value] : req.headers) {
            if (http_detail::check_header(name, value, why)) return usage_error(errc::invalid_argument, std::move(why));
            sets_ua |= boost::beast::iequals(name, "user-agent");
            sets_ct |= boost::beast::iequals(name, "content-type");
        }

        auto const& s = *settings_;
        wbuf_ += req.method == http_method::post ? "POST " : "GET ";
        wbuf_ += req.target;
        wbuf_ += " HTTP/1.1\r\n";
        wbuf_ += s.host_line;
        if (!sets_ua) wbuf_ += s.user_agent_line;
        wbuf_ += "Connection: keep-alive\r\n";
        if (req.fixed_headers) wbuf_ += req.fixed_headers->wire();
        for (auto const& [name, value] : req.headers) append_header(wbuf_, name, value);
        if (!req.body.empty() || req.method == http_method::post) {
            if (!sets_ct) wbuf_ += "Content-Type: application/json\r\n";
            char digits[24];
            auto const r = std::to_chars(digits, digits + sizeof digits, req.body.size());
            wbuf_ += "Content-Length: ";
            wbuf_.append(digits, r.ptr);
            wbuf_ += "\r\n";
        }
        wbuf_ += "\r\n";
        wbuf_ += req.body;
        ++queued_;
        return {};
    }

    /// Writes every queued request, bounded by the write timeout and `deadline`.
    task<error_code> flush(time_point deadline, cancel_point& cancel) {
        namespace net = boost::asio;
        if (!on_strand()) {
            auto hop = enter(strand_);
            co_await hop;
        }
        if (queued_ == 0) co_return error_code{};
        if (state_ != state::open) co_return usage_error(errc::connection_closed, "the connection is not open");
        time_point const bound = phase_bound(settings_->timeouts.write, deadline);
        if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::write, bound, deadline);
        interruptible guard(*this, cancel);
        if (!guard.armed) co_return fail({}, io_phase::write, bound, deadline, true);
        // TLS reports 0 bytes on a failed write even when records already left, and a
        // plain socket may accept bytes before a reset: a write once started may have
        // reached the server.
        if (tls_) maybe_sent_ = true;
        lowest().expires_at(bound);
        error_code ec;
        std::size_t n = 0;
        if (tls_) {
            auto op = io<void(error_code, std::size_t)>(strand_, [&](auto h) { net::async_write(*tls_, net::buffer(wbuf_), std::move(h)); });
            std::tie(ec, n) = co_await op;
        } else {
            auto op = io<void(error_code, std::size_t)>(strand_, [&](auto h) { net::async_write(*tcp_, net::buffer(wbuf_), std::move(h)); });
            std::tie(ec, n) = co_await op;
        }
        lowest().expires_never();
        if (n > 0) maybe_sent_ = true;
        unanswered_ += queued_;
        queued_ = 0;
        wbuf_.clear();
        if (ec) co_return fail(ec, io_phase::write, bound, deadline, cancel.requested());
        if (cancel.requested()) co_return fail({}, io_phase::write, bound, deadline, true);
        co_return error_code{};
    }

    /// Reads the next response (FIFO) into response(), reusing its strings' capacity.
    /// Bounded by the read timeout and `deadline`; body_limit/header_limit give
    /// errc::body_too_large.
    task<error_code> read_response(time_point deadline, cancel_point& cancel) {
        namespace net = boost::asio;
        namespace http = boost::beast::http;
        if (!on_strand()) {
            auto hop = enter(strand_);
            co_await hop;
        }
        response_started_ = false;
        if (state_ != state::open) co_return usage_error(errc::connection_closed, "the connection is not open");
        if (unanswered_ == 0) co_return usage_error(errc::invalid_argument, "no request is waiting for a response");
        time_point const bound = phase_bound(settings_->timeouts.read, deadline);
        interruptible guard(*this, cancel);
        if (!guard.armed) co_return fail({}, io_phase::read, bound, deadline, true);
        for (;;) {
            response_.status = 0;
            response_.content_type.clear();
            response_.body.clear();
            if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::read, bound, deadline);
            http_detail::response_sink parser(response_);
            parser.body_limit(settings_->limits.body_limit);
            parser.header_limit(settings_->limits.header_limit);
            lowest().expires_at(bound);
            error_code ec;
            std::size_t n = 0;
            if (tls_) {
                auto op = io<void(error_code, std::size_t)>(strand_, [&](auto h) { http::async_read(*tls_, buf_, parser, std::move(h)); });
                std::tie(ec, n) = co_await op;
            } else {
                auto op = io<void(error_code, std::size_t)>(strand_, [&](auto h) { http::async_read(*tcp_, buf_, parser, std::move(h)); });
                std::tie(ec, n) = co_await op;
            }
            lowest().expires_never();
            if (ec) {
                response_started_ = parser.got_some() || buf_.size() > 0;
                co_return fail(ec, io_phase::read, bound, deadline, cancel.requested());
            }
            if (cancel.requested()) {
                // Read whole, but the caller gave up meanwhile: the answer is dropped and the
                // connection closed, as for any cancelled exchange.
                co_return fail({}, io_phase::read, bound, deadline, true);
            }
            if (response_.status >= 100 && response_.status < 200 && response_.status != 101) continue;  // interim
            --unanswered_;
            ++responses_read_;
            if (!parser.keep_alive()) keep_alive_ = false;
            if (unanswered_ == 0) maybe_sent_ = false;
            co_return error_code{};
        }
    }

    /// The last response read (valid until the next read_response).
    http_response const& response() const noexcept { return response_; }
    http_response& response() noexcept { return response_; }

    /// Closes politely: TLS close_notify bounded by timeout_options::tls_shutdown (zero:
    /// skip it), then the socket. Never waits longer than that bound (beast #2807).
    task<void> graceful_close() {
        namespace net = boost::asio;
        if (!on_strand()) {
            auto hop = enter(strand_);
            co_await hop;
        }
        if (state_ == state::open && tls_ && settings_->timeouts.tls_shutdown.count() > 0) {
            lowest().expires_after(settings_->timeouts.tls_shutdown);
            auto op = io<void(error_code)>(strand_, [&](auto h) { tls_->async_shutdown(std::move(h)); });
            auto [ec] = co_await op;
            (void)ec;  // the peer's answer does not matter: we close either way
        } else if (state_ == state::open && tcp_) {
            error_code ignored;
            tcp_->socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
        }
        close();
    }

    /// Closes the socket at once (cancels any pending operation). On the strand.
    void close() noexcept {
        if (state_ != state::closed) {
            error_code ignored;
            lowest().socket().close(ignored);
            state_ = state::closed;
        }
    }

    /// Cheap pre-use check of an idle connection (one non-blocking peek, no I/O wait):
    /// false if the peer has closed or reset it, or sent anything while nothing was asked.
    bool still_alive() noexcept {
        if (!reusable()) return false;
#if defined(__unix__) || defined(__APPLE__)
        char c;
        auto const n = ::recv(lowest().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n >= 0) return false;  // 0: FIN; >0: unexpected bytes (alert, close_notify)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
#else
        return true;
#endif
    }

    bool is_open() const noexcept { return state_ == state::open; }
    /// Keep-alive, no error, every response read, nothing buffered: may serve another request.
    bool reusable() const noexcept {
        return state_ == state::open && keep_alive_ && unanswered_ == 0 && queued_ == 0 && buf_.size() == 0;
    }
    /// Requests written (at least partly) whose responses have not been read.
    std::size_t unanswered() const noexcept { return unanswered_; }
    /// Requests queued but not flushed.
    std::size_t queued() const noexcept { return queued_; }
    /// Some byte of an unanswered request may have reached the server.
    bool maybe_sent() const noexcept { return maybe_sent_; }
    /// The last failed read had received part of its response.
    bool response_started() const noexcept { return response_started_; }
    /// Responses read on this connection; non-zero means it is a reused keep-alive one.
    std::uint64_t responses_read() const noexcept { return responses_read_; }
    /// The server announced Connection: close (or HTTP/1.0 without keep-alive).
    bool server_closes() const noexcept { return !keep_alive_; }
    /// Why the last operation failed ("reading the response from https://…: …").
    std::string const& last_error() const noexcept { return last_error_; }

private:
    enum class state { fresh, connecting, open, closed };
    using ssl_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

    // While a step waits on the socket, a cancellation closes it, on the strand, unless
    // the step is over by then: a close posted just as the step ended finds the step
    // counter moved on (the guard ends on the strand) and leaves alone a connection that
    // may be back in the pool.
    struct interruptible {
        interruptible(http_connection& c, cancel_point& cp) : conn(c), cancel(cp) {
            ++c.step_;
            armed = cancel.arm(&http_connection::interrupt, &c, c.step_);
        }
        ~interruptible() {
            if (armed) cancel.disarm();
            ++conn.step_;
        }
        interruptible(interruptible const&) = delete;
        interruptible& operator=(interruptible const&) = delete;
        http_connection& conn;
        cancel_point& cancel;
        bool armed = false;
    };

    static void interrupt(void* target, std::uint64_t step) {
        auto* self = static_cast<http_connection*>(target);
        // Called under the operation's cancel lock while the step is armed: the connection
        // is alive; the close itself runs on the strand.
        boost::asio::post(self->strand_, [keep = self->shared_from_this(), step] {
            if (keep->step_ == step) keep->close();
        });
    }

    boost::beast::tcp_stream& lowest() noexcept { return tls_ ? tls_->next_layer() : *tcp_; }

    task<error_code> resolve(time_point deadline, cancel_point& cancel,
                             boost::asio::ip::tcp::resolver::results_type& out) {
        namespace net = boost::asio;
        using net::ip::tcp;
        // getaddrinfo runs on Asio's resolver thread and ignores cancellation once
        // started, so the wait is bounded by a timer; a late answer is dropped.
        struct resolve_state {
            explicit resolve_state(executor_type const& ex) : resolver(ex), timer(ex) {}
            tcp::resolver resolver;
            net::steady_timer timer;
            error_code ec;
            tcp::resolver::results_type results;
            bool done = false;
        };
        time_point const bound = phase_bound(settings_->timeouts.resolve, deadline);
        if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::resolve, bound, deadline);
        auto st = std::make_shared<resolve_state>(strand_);
        st->timer.expires_at(bound);
        st->resolver.async_resolve(settings_->target.host, std::to_string(settings_->target.port),
                                   tcp::resolver::numeric_service,
                                   net::bind_executor(strand_, [st](error_code ec, tcp::resolver::results_type r) {
                                       st->ec = ec;
                                       st->results = std::move(r);
                                       st->done = true;
                                       st->timer.cancel();
                                   }));
        {
            // A cancellation cuts the wait short (the timer, on the strand).
            struct timer_guard {
                cancel_point& cancel;
                bool armed;
                ~timer_guard() {
                    if (armed) cancel.disarm();
                }
            } guard{cancel, cancel.arm(
                                [](void* t, std::uint64_t) {
                                    // Under the cancel lock, so `st` is alive; the posted
                                    // cancel keeps the state alive by itself.
                                    auto s = *static_cast<std::shared_ptr<resolve_state>*>(t);
                                    boost::asio::post(s->timer.get_executor(), [s] { s->timer.cancel(); });
                                },
                                &st)};
            if (guard.armed) {
                auto op = io<void(error_code)>(strand_, [&](auto h) { st->timer.async_wait(std::move(h)); });
                auto [wec] = co_await op;
                (void)wec;
            }
        }
        if (!st->done) {
            st->resolver.cancel();
            if (cancel.requested()) co_return fail({}, io_phase::resolve, bound, deadline, true);
            co_return fail_timeout(io_phase::resolve, bound, deadline);
        }
        if (st->ec) co_return fail(st->ec, io_phase::resolve, bound, deadline, false);
        out = std::move(st->results);
        co_return error_code{};
    }

    error_code usage_error(errc code, std::string text) {
        last_error_ = std::move(text);
        return make_error_code(code);
    }

    static char const* phase_text(io_phase p) noexcept {
        switch (p) {
        case io_phase::resolve: return "resolving";
        case io_phase::connect: return "connecting to";
        case io_phase::handshake: return "TLS handshake with";
        case io_phase::write: return "sending the request to";
        case io_phase::read: return "reading the response from";
        case io_phase::shutdown: return "closing";
        }
        return "talking to";
    }

    std::chrono::milliseconds phase_timeout(io_phase p) const noexcept {
        auto const& t = settings_->timeouts;
        switch (p) {
        case io_phase::resolve: return t.resolve;
        case io_phase::connect: return t.connect;
        case io_phase::handshake: return t.handshake;
        case io_phase::write: return t.write;
        case io_phase::read: return t.read;
        case io_phase::shutdown: return t.tls_shutdown;
        }
        return {};
    }

    error_code fail_timeout(io_phase p, time_point bound, time_point deadline) {
        return fail(boost::beast::error::timeout, p, bound, deadline, false);
    }

    // Closes the connection and turns a transport error into the shop condition, with a
    // message naming the phase, the origin and the cause.
    error_code fail(error_code ec, io_phase p, time_point bound, time_point deadline, bool was_cancelled) {
        namespace net = boost::asio;
        namespace http = boost::beast::http;
        close();
        errc code = errc::connection_closed;
        std::string cause;
        if (was_cancelled) {
            code = errc::cancelled;
            cause = "cancelled";
        } else if (ec == boost::beast::error::timeout || ec == net::error::timed_out) {
            code = errc::timeout;
            if (bound == deadline) {
                cause = "the request deadline passed";
            } else {
                cause = "no progress within the ";
                cause += std::to_string(phase_timeout(p).count());
                cause += " ms timeout";
            }
        } else {
            cause = ec.message();
            switch (p) {
            case io_phase::resolve:
            case io_phase::connect: code = errc::connect_failed; break;
            case io_phase::handshake:
                if (!verify_reason_.empty() || is_verify_failure(ec)) {
                    code = errc::tls_verification_failed;
                    cause = "certificate verification failed: ";
                    cause += verify_reason_.empty() ? verify_result_text() : verify_reason_;
                } else {
                    code = errc::tls_handshake_failed;
                }
                break;
            case io_phase::write:
            case io_phase::read:
            case io_phase::shutdown:
                if (ec == http::error::body_limit || ec == http::error::header_limit ||
                    ec == http::error::buffer_overflow) {
                    code = errc::body_too_large;
                    cause += ec == http::error::body_limit
                                 ? " (body_limit " + std::to_string(settings_->limits.body_limit) + " bytes)"
                                 : " (header_limit " + std::to_string(settings_->limits.header_limit) + " bytes)";
                } else if (http_detail::closed_by_peer(ec) || ec.category() != http_category()) {
                    code = errc::connection_closed;
                    if (p == io_phase::read && !response_started_) cause += " (before any byte of the response)";
                } else {
                    code = errc::bad_response;
                }
                break;
            }
        }
        last_error_ = phase_text(p);
        last_error_ += ' ';
        last_error_ += settings_->target.to_string();
        last_error_ += ": ";
        last_error_ += cause;
        return make_error_code(code);
    }

    static boost::system::error_category const& http_category() noexcept {
        return boost::beast::http::make_error_code(boost::beast::http::error::end_of_stream).category();
    }

    bool is_verify_failure(error_code const& ec) const noexcept {
        return ec.category() == boost::asio::error::get_ssl_category() &&
               ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
    }

    std::string verify_result_text() {
        return X509_verify_cert_error_string(SSL_get_verify_result(tls_->native_handle()));
    }

    std::shared_ptr<connection_settings const> settings_;
    executor_type strand_;
    std::optional<boost::beast::tcp_stream> tcp_;
    std::optional<ssl_stream> tls_;
    boost::beast::flat_buffer buf_;  // survives between responses: pipelined bytes wait here
    std::string wbuf_;               // reused for every request's head and body
    http_response response_;         // reused for every response
    std::string last_error_;
    std::string verify_reason_;
    std::size_t queued_ = 0;
    std::size_t unanswered_ = 0;
    std::uint64_t responses_read_ = 0;
    std::uint64_t step_ = 0;  // which waiting step a cancellation may interrupt
    state state_ = state::fresh;
    bool keep_alive_ = true;
    bool maybe_sent_ = false;
    bool response_started_ = false;
};

} // namespace detail
} // namespace shop
