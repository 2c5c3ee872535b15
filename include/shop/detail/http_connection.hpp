// One HTTP/1.1 keep-alive connection over TCP or TLS, driven from Asio coroutines.
//
// The connection keeps one read buffer for its whole life: bytes that arrive after one
// response belong to the next, so N requests can be written (queue_request + flush) and
// N responses read back in order (read_response). Every phase is bounded by its own
// timeout and by the request's deadline; any I/O failure closes the socket, so a broken or
// cancelled exchange can never leave the connection out of sync.
//
// Threading: one coroutine uses a connection at a time, and that coroutine's executor must
// serialise handlers (a strand, or an io_context run by one thread): tcp_stream runs its
// timeout handlers on the completion handler's executor.
#pragma once

#include <shop/config.hpp>
#include <shop/detail/url.hpp>
#include <shop/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/ssl/verify_context.hpp>
#include <boost/asio/ssl/verify_mode.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
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
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shop {

/// Request headers validated and serialised once, then shared by any number of requests
/// (a client's credentials): sending them costs no allocation and no re-validation.
class header_block {
public:
    using field = std::pair<std::string_view, std::string_view>;

    /// Null, with `ec` = errc::invalid_argument and `why`, if a name is not an RFC 9110
    /// token, a value holds a control character, or the name is one the transport owns
    /// (Host, Content-Length, Transfer-Encoding, Connection).
    static std::shared_ptr<header_block const> make(std::span<field const> fields, error_code& ec,
                                                    std::string& why);
    static std::shared_ptr<header_block const> make(std::initializer_list<field> fields, error_code& ec,
                                                    std::string& why) {
        return make(std::span<field const>(fields.begin(), fields.size()), ec, why);
    }

    /// "Name: value\r\n" lines.
    std::string_view wire() const noexcept { return wire_; }
    bool sets_user_agent() const noexcept { return user_agent_; }
    bool sets_content_type() const noexcept { return content_type_; }

private:
    std::string wire_;
    bool user_agent_ = false;
    bool content_type_ = false;
};

/// One request as the transport sends it.
struct http_request {
    boost::beast::http::verb method = boost::beast::http::verb::get;
    /// Origin-form target, already percent-encoded (detail::append_target): "/api/v1/x?a=b".
    std::string target;
    /// Sent with Content-Length; a POST/PUT/PATCH or a non-empty body also gets
    /// "Content-Type: application/json" unless a header sets one.
    std::string body;
    /// Pre-validated headers shared between requests (credentials); may be null.
    std::shared_ptr<header_block const> fixed_headers;
    /// Per-request extra headers, validated when the request is queued.
    std::vector<std::pair<std::string, std::string>> headers;
    /// Safe to send twice (GET). Only such a request is resent after a stale keep-alive
    /// connection failed under it; the default is the safe answer for an order POST.
    bool idempotent = false;
};

/// What the transport reports of a response (Set-Cookie and other headers are dropped).
struct http_response {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

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
    detail::origin target;
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

namespace http_detail {

// Fills an http_response straight from the parser: no header container, no per-field
// allocation (only Content-Type is kept), body appended into the caller's reused string.
class response_sink final : public boost::beast::http::basic_parser<false> {
public:
    explicit response_sink(http_response& out) noexcept : out_(out) {}

private:
    using string_view = boost::beast::string_view;
    using field = boost::beast::http::field;
    using verb = boost::beast::http::verb;

    void on_request_impl(verb, string_view, string_view, int, error_code&) override {}
    void on_response_impl(int code, string_view, int, error_code&) override {
        out_.status = static_cast<unsigned>(code);
    }
    void on_field_impl(field name, string_view, string_view value, error_code&) override {
        if (name == field::content_type) out_.content_type.assign(value.data(), value.size());
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(boost::optional<std::uint64_t> const& length, error_code&) override {
        // The parser has already held Content-Length against body_limit.
        if (length) out_.body.reserve(static_cast<std::size_t>(*length));
    }
    std::size_t on_body_impl(string_view s, error_code&) override {
        out_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view s, error_code&) override {
        out_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_finish_impl(error_code&) override {}

    http_response& out_;
};

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

class http_connection {
public:
    using executor_type = boost::asio::any_io_executor;

    http_connection(executor_type ex, std::shared_ptr<connection_settings const> settings)
        : settings_(std::move(settings)) {
        if (settings_->target.is_tls)
            tls_.emplace(ex, *settings_->tls);
        else
            tcp_.emplace(ex);
    }
    http_connection(http_connection const&) = delete;
    http_connection& operator=(http_connection const&) = delete;

    executor_type get_executor() noexcept { return lowest().get_executor(); }
    origin const& target() const noexcept { return settings_->target; }

    /// Resolve (skipped for IP literals), connect, and for https the TLS handshake with
    /// SNI (except IP literals) and certificate + host name verification. Each step is
    /// bounded by its timeout and by `deadline`. Nothing of a request is sent here.
    /// Cancellation: terminal (partial/total too for the TCP connect).
    boost::asio::awaitable<error_code> connect(time_point deadline) {
        namespace net = boost::asio;
        using net::ip::tcp;
        auto const cs = co_await net::this_coro::cancellation_state;
        auto const& s = *settings_;
        if (state_ != state::fresh)
            co_return usage_error(errc::invalid_argument, "connect() on a connection that was already used");
        state_ = state::connecting;

        error_code ec;
        auto const address = net::ip::make_address(s.target.host, ec);
        bool const literal = !ec;
        tcp::resolver::results_type resolved;
        if (!literal) {
            if ((ec = co_await resolve(deadline, cs, resolved))) co_return ec;
        }

        time_point bound = phase_bound(s.timeouts.connect, deadline);
        if (cs.cancelled() != net::cancellation_type::none) co_return fail({}, io_phase::connect, bound, deadline, true);
        if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::connect, bound, deadline);
        auto& t = lowest();
        t.expires_at(bound);
        if (literal) {
            std::array<tcp::endpoint, 1> const one{tcp::endpoint(address, s.target.port)};
            auto [e, ep] = co_await t.async_connect(one, net::as_tuple(net::use_awaitable));
            ec = e;
        } else {
            auto [e, ep] = co_await t.async_connect(resolved, net::as_tuple(net::use_awaitable));
            ec = e;
        }
        t.expires_never();
        if (ec) co_return fail(ec, io_phase::connect, bound, deadline, cancelled(cs));
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
            if (cs.cancelled() != net::cancellation_type::none)
                co_return fail({}, io_phase::handshake, bound, deadline, true);
            if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::handshake, bound, deadline);
            t.expires_at(bound);
            auto [e] = co_await tls_->async_handshake(net::ssl::stream_base::client, net::as_tuple(net::use_awaitable));
            t.expires_never();
            if (e) co_return fail(e, io_phase::handshake, bound, deadline, cancelled(cs));
        }
        state_ = state::open;
        co_return error_code{};
    }

    /// Serialises a request into the output buffer without any I/O (several may be queued
    /// for one flush: pipelining). A request that fails validation is not queued and
    /// leaves the connection usable: errc::invalid_argument, reason in last_error().
    error_code queue_request(http_request const& req) {
        namespace http = boost::beast::http;
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
        if (req.method == http::verb::unknown) return usage_error(errc::invalid_argument, "unknown HTTP method");
        bool sets_ua = req.fixed_headers && req.fixed_headers->sets_user_agent();
        bool sets_ct = req.fixed_headers && req.fixed_headers->sets_content_type();
        for (auto const& [name, value] : req.headers) {
            if (http_detail::check_header(name, value, why)) return usage_error(errc::invalid_argument, std::move(why));
            sets_ua |= boost::beast::iequals(name, "user-agent");
            sets_ct |= boost::beast::iequals(name, "content-type");
        }

        auto const& s = *settings_;
        auto const method = http::to_string(req.method);
        wbuf_.append(method.data(), method.size());
        wbuf_ += ' ';
        wbuf_ += req.target;
        wbuf_ += " HTTP/1.1\r\n";
        wbuf_ += s.host_line;
        if (!sets_ua) wbuf_ += s.user_agent_line;
        wbuf_ += "Connection: keep-alive\r\n";
        if (req.fixed_headers) wbuf_ += req.fixed_headers->wire();
        for (auto const& [name, value] : req.headers) append_header(wbuf_, name, value);
        bool const has_content = !req.body.empty() || req.method == http::verb::post ||
                                 req.method == http::verb::put || req.method == http::verb::patch;
        if (has_content) {
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
    /// Cancellation: terminal (the connection is closed).
    boost::asio::awaitable<error_code> flush(time_point deadline) {
        namespace net = boost::asio;
        auto const cs = co_await net::this_coro::cancellation_state;
        if (queued_ == 0) co_return error_code{};
        if (state_ != state::open) co_return usage_error(errc::connection_closed, "the connection is not open");
        time_point const bound = phase_bound(settings_->timeouts.write, deadline);
        if (cancelled(cs)) co_return fail({}, io_phase::write, bound, deadline, true);
        if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::write, bound, deadline);
        // TLS reports 0 bytes on a failed write even when records already left, and a
        // plain socket may accept bytes before a reset: a write once started may have
        // reached the server.
        if (tls_) maybe_sent_ = true;
        lowest().expires_at(bound);
        auto [ec, n] = co_await with_stream([this](auto& stream) {
            return net::async_write(stream, net::buffer(wbuf_), net::as_tuple(net::use_awaitable));
        });
        lowest().expires_never();
        if (n > 0) maybe_sent_ = true;
        unanswered_ += queued_;
        queued_ = 0;
        wbuf_.clear();
        if (ec) co_return fail(ec, io_phase::write, bound, deadline, cancelled(cs));
        co_return error_code{};
    }

    /// queue_request + flush.
    boost::asio::awaitable<error_code> write_request(http_request const& req, time_point deadline) {
        if (auto ec = queue_request(req)) co_return ec;
        co_return co_await flush(deadline);
    }

    /// Reads the next response (FIFO) into `out`, reusing its strings' capacity. Bounded by
    /// the read timeout and `deadline`; body_limit/header_limit give errc::body_too_large.
    /// Cancellation: terminal (the connection is closed).
    boost::asio::awaitable<error_code> read_response(http_response& out, time_point deadline) {
        namespace net = boost::asio;
        namespace http = boost::beast::http;
        auto const cs = co_await net::this_coro::cancellation_state;
        response_started_ = false;
        if (state_ != state::open) co_return usage_error(errc::connection_closed, "the connection is not open");
        if (unanswered_ == 0) co_return usage_error(errc::invalid_argument, "no request is waiting for a response");
        time_point const bound = phase_bound(settings_->timeouts.read, deadline);
        for (;;) {
            out.status = 0;
            out.content_type.clear();
            out.body.clear();
            if (cancelled(cs)) co_return fail({}, io_phase::read, bound, deadline, true);
            if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::read, bound, deadline);
            http_detail::response_sink parser(out);
            parser.body_limit(settings_->limits.body_limit);
            parser.header_limit(settings_->limits.header_limit);
            lowest().expires_at(bound);
            auto [ec, n] = co_await with_stream([this, &parser](auto& stream) {
                return http::async_read(stream, buf_, parser, net::as_tuple(net::use_awaitable));
            });
            lowest().expires_never();
            if (ec) {
                response_started_ = parser.got_some() || buf_.size() > 0;
                co_return fail(ec, io_phase::read, bound, deadline, cancelled(cs));
            }
            if (out.status >= 100 && out.status < 200 && out.status != 101) continue;  // interim
            --unanswered_;
            ++responses_read_;
            if (!parser.keep_alive()) keep_alive_ = false;
            if (unanswered_ == 0) maybe_sent_ = false;
            co_return error_code{};
        }
    }

    /// Closes politely: TLS close_notify bounded by timeout_options::tls_shutdown (zero:
    /// skip it), then the socket. Never waits longer than that bound (beast #2807).
    boost::asio::awaitable<void> graceful_close() {
        namespace net = boost::asio;
        auto const cs = co_await net::this_coro::cancellation_state;
        if (state_ == state::open && tls_ && settings_->timeouts.tls_shutdown.count() > 0 && !cancelled(cs)) {
            lowest().expires_after(settings_->timeouts.tls_shutdown);
            auto [ec] = co_await tls_->async_shutdown(net::as_tuple(net::use_awaitable));
            (void)ec;  // the peer's answer does not matter: we close either way
        } else if (state_ == state::open && tcp_) {
            error_code ignored;
            tcp_->socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
        }
        close();
    }

    /// Closes the socket at once (cancels any pending operation).
    void close() noexcept {
        if (state_ != state::closed) {
            lowest().close();
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

    boost::beast::tcp_stream& lowest() noexcept { return tls_ ? tls_->next_layer() : *tcp_; }

    // Both branches yield the same awaitable type; the operation is chosen at run time.
    template <class F>
    auto with_stream(F&& f) -> decltype(f(std::declval<boost::beast::tcp_stream&>())) {
        if (tls_) return f(*tls_);
        return f(*tcp_);
    }

    static bool cancelled(boost::asio::cancellation_state const& cs) noexcept {
        return cs.cancelled() != boost::asio::cancellation_type::none;
    }

    boost::asio::awaitable<error_code> resolve(time_point deadline, boost::asio::cancellation_state const& cs,
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
        if (cancelled(cs)) co_return fail({}, io_phase::resolve, bound, deadline, true);
        if (bound <= steady_clock::now()) co_return fail_timeout(io_phase::resolve, bound, deadline);
        auto const ex = co_await net::this_coro::executor;
        auto st = std::make_shared<resolve_state>(ex);
        st->timer.expires_at(bound);
        // The answer is delivered on this coroutine's executor, so it is serialised with
        // the timer wait below.
        st->resolver.async_resolve(settings_->target.host, std::to_string(settings_->target.port),
                                   tcp::resolver::numeric_service,
                                   net::bind_executor(ex, [st](error_code ec, tcp::resolver::results_type r) {
                                       st->ec = ec;
                                       st->results = std::move(r);
                                       st->done = true;
                                       st->timer.cancel();
                                   }));
        auto [wec] = co_await st->timer.async_wait(net::as_tuple(net::use_awaitable));
        (void)wec;
        if (!st->done) {
            st->resolver.cancel();
            if (cancelled(cs)) co_return fail({}, io_phase::resolve, bound, deadline, true);
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
    std::optional<boost::beast::tcp_stream> tcp_;
    std::optional<ssl_stream> tls_;
    boost::beast::flat_buffer buf_;  // survives between responses: pipelined bytes wait here
    std::string wbuf_;               // reused for every request's head and body
    std::string last_error_;
    std::string verify_reason_;
    std::size_t queued_ = 0;
    std::size_t unanswered_ = 0;
    std::uint64_t responses_read_ = 0;
    state state_ = state::fresh;
    bool keep_alive_ = true;
    bool maybe_sent_ = false;
    bool response_started_ = false;
};

} // namespace detail
} // namespace shop
