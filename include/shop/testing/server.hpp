// The simulator's HTTP/1.1 server (Boost.Beast): acceptor, keep-alive connections with
// in-order pipelining, optional TLS, the deployed stack's wire habits (chunked bodies,
// Set-Cookie, no-cache headers) and the fault injection of faults.hpp. Every wait is
// bounded by a per-connection watchdog.
#pragma once

#include <shop/testing/api.hpp>
#include <shop/testing/faults.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace shop::testing {

/// Transport settings. Zero timeouts are not allowed: every wait is bounded.
struct server_options {
    /// TLS context (certificate and key loaded); null = plain HTTP.
    std::shared_ptr<boost::asio::ssl::context> tls;
    /// Largest request body; larger ones get 413 REQUEST_TOO_LARGE and the connection closes.
    std::size_t max_body = 1 << 20;
    /// Largest request header block (same answer when exceeded).
    std::uint32_t max_header = 16 * 1024;
    /// Waiting for a request and reading its header (keep-alive idle time included).
    std::chrono::milliseconds idle_timeout{60'000};
    /// Reading a request body.
    std::chrono::milliseconds read_timeout{30'000};
    /// Writing one response (a slow-drip one included).
    std::chrono::milliseconds write_timeout{30'000};
    /// The TLS handshake.
    std::chrono::milliseconds handshake_timeout{10'000};
};

namespace detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// The Date header value, formatted once per second per thread.
inline std::string_view http_date() {
    thread_local std::time_t last = -1;
    thread_local char buf[40];
    thread_local std::size_t len = 0;
    std::time_t now = std::time(nullptr);
    if (now != last) {
        last = now;
        std::tm tm{};
        gmtime_r(&now, &tm);
        len = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    }
    return {buf, len};
}

/// A fresh PHPSESSID (26 characters of [0-9a-v], as PHP makes them).
inline void append_phpsessid(std::string& out) {
    thread_local std::uint64_t state =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
        reinterpret_cast<std::uintptr_t>(&state);
    static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
    for (int half = 0; half < 2; ++half) {
        std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (int i = 0; i < 13; ++i, z >>= 5) out += alphabet[z & 31];
    }
}

/// Status line and headers as nginx + PHP-FPM send them. The body follows chunked, except
/// for HTTP/1.0 clients, which cannot read chunked bodies (`content_length` is used then).
inline void append_head(std::string& out, unsigned status, bool html, bool keep_alive,
                        std::optional<std::size_t> content_length = std::nullopt) {
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    auto reason = http::obsolete_reason(http::int_to_status(status));
    out.append(reason.data(), reason.size());
    out += "\r\nServer: nginx\r\nDate: ";
    out += http_date();
    out += html ? "\r\nContent-Type: text/html; charset=UTF-8" : "\r\nContent-Type: application/json; charset=utf-8";
    if (content_length) {
        out += "\r\nContent-Length: ";
        out += std::to_string(*content_length);
        out += "\r\nConnection: ";
    } else {
        out += "\r\nTransfer-Encoding: chunked\r\nConnection: ";
    }
    out += keep_alive ? "keep-alive" : "close";
    out += "\r\nSet-Cookie: PHPSESSID=";
    append_phpsessid(out);
    out += "; path=/\r\nExpires: Thu, 19 Nov 1981 08:52:00 GMT\r\n"
           "Cache-Control: no-store, no-cache, must-revalidate\r\nPragma: no-cache\r\n\r\n";
}

/// The page a CDN front end sends when the origin fails.
inline std::string cdn_502_page(bool keep_alive) {
    static constexpr std::string_view body =
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";
    std::string out = "HTTP/1.1 502 Bad Gateway\r\nServer: cloudflare\r\nDate: ";
    out += http_date();
    out += "\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body.size());
    out += keep_alive ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\nConnection: close\r\n\r\n";
    out += body;
    return out;
}

inline std::string bad_request_page() {
    static constexpr std::string_view body =
        "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n"
        "<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    std::string out = "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nDate: ";
    out += http_date();
    out += "\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body.size());
    out += "\r\nConnection: close\r\n\r\n";
    out += body;
    return out;
}

inline void append_hex(std::string& out, std::size_t n) {
    char buf[20];
    auto r = std::to_chars(buf, buf + sizeof buf, n, 16);
    out.append(buf, r.ptr);
}

class server_core;

/// What every connection shares, whatever its stream type: the socket's lifetime and the
/// watchdog that bounds every wait.
class connection_base : public std::enable_shared_from_this<connection_base> {
public:
    explicit connection_base(net::any_io_executor ex) : ex_(ex), watchdog_(ex), timer_(ex) {}
    virtual ~connection_base() = default;
    virtual tcp::socket& socket() noexcept = 0;
    /// The connection's strand: everything touching the connection runs there.
    net::any_io_executor const& executor() const noexcept { return ex_; }

    /// Closes now (FIN if nothing is pending); idempotent. Runs on the connection's strand.
    void force_close() noexcept {
        if (closed_) return;
        closed_ = true;
        boost::system::error_code ec;
        socket().close(ec);
        watchdog_.cancel();
        timer_.cancel();
    }
    /// Closes with a TCP reset (SO_LINGER 0).
    void reset_close() noexcept {
        boost::system::error_code ec;
        socket().set_option(net::socket_base::linger(true, 0), ec);
        force_close();
    }

    /// Closes the connection once `deadline_` passes. The deadline is usually moved forward
    /// without touching the timer (cheap on the hot path); the timer then re-arms lazily.
    net::awaitable<void> watch(std::shared_ptr<connection_base> self) {
        while (!closed_) {
            watchdog_.expires_at(deadline_);
            co_await watchdog_.async_wait(use_tuple);
            if (closed_) co_return;
            if (std::chrono::steady_clock::now() >= deadline_) {
                force_close();
                co_return;
            }
        }
        (void)self;
    }

protected:
    /// A phase bound: the connection closes unless the phase ends within `d`. May fire up to
    /// the previous phase's bound late when shortening; arm_strict() does not.
    void arm(std::chrono::milliseconds d) noexcept { deadline_ = std::chrono::steady_clock::now() + d; }
    void arm_strict(std::chrono::milliseconds d) noexcept {
        arm(d);
        if (deadline_ < watchdog_.expiry()) watchdog_.cancel();
    }

    net::any_io_executor ex_;
    net::steady_timer watchdog_;
    net::steady_timer timer_;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool closed_ = false;
};

/// Shared by the acceptor and every connection; keeps the API (and so the store) alive while
/// any connection runs.
class server_core : public std::enable_shared_from_this<server_core> {
public:
    server_core(net::any_io_executor ex, std::shared_ptr<api> handler, server_options opts)
        : ex_(ex), strand_(net::make_strand(ex)), acceptor_(strand_), handler_(std::move(handler)), opts_(std::move(opts)) {}

    void listen(tcp::endpoint ep) {
        acceptor_.open(ep.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen(net::socket_base::max_listen_connections);
        local_ = acceptor_.local_endpoint();
        net::co_spawn(strand_, accept_loop(shared_from_this()), net::detached);
    }

    void stop() {
        std::unordered_map<std::uint64_t, std::weak_ptr<connection_base>> connections;
        {
            std::lock_guard lk(mu_);
            if (stopped_) return;
            stopped_ = true;
            connections.swap(connections_);
        }
        net::post(strand_, [self = shared_from_this()] {
            boost::system::error_code ec;
            self->acceptor_.close(ec);
        });
        for (auto& [id, weak] : connections)
            if (auto s = weak.lock()) net::post(s->executor(), [s] { s->force_close(); });
    }

    tcp::endpoint local_endpoint() const { return local_; }
    api& handler() noexcept { return *handler_; }
    server_options const& options() const noexcept { return opts_; }

    void unregister(std::uint64_t id) {
        std::lock_guard lk(mu_);
        connections_.erase(id);
    }

private:
    net::awaitable<void> accept_loop(std::shared_ptr<server_core> self);
    void start_connection(tcp::socket sock);
    template <class Conn>
    void launch(std::shared_ptr<Conn> s, std::uint64_t id);

    net::any_io_executor ex_;
    net::strand<net::any_io_executor> strand_;
    tcp::acceptor acceptor_;
    std::shared_ptr<api> handler_;
    server_options opts_;
    tcp::endpoint local_;
    std::mutex mu_;
    bool stopped_ = false;
    std::uint64_t next_id_ = 1;
    std::unordered_map<std::uint64_t, std::weak_ptr<connection_base>> connections_;
};

template <class Stream>
class connection final : public connection_base {
public:
    static constexpr bool is_tls = !std::is_same_v<Stream, tcp::socket>;

    template <class... Args>
    connection(net::any_io_executor ex, std::shared_ptr<server_core> core, std::uint64_t id, Args&&... args)
        : connection_base(ex), core_(std::move(core)), id_(id), stream_(std::forward<Args>(args)...) {}

    tcp::socket& socket() noexcept override { return beast::get_lowest_layer(stream_); }

    net::awaitable<void> start(std::shared_ptr<connection> self) {
        try {
            co_await run();
        } catch (std::exception const&) {
            // A broken request must never take the server down: drop the connection.
        }
        force_close();
        core_->unregister(id_);
        (void)self;
    }

private:
    using fk = fault_kind;

    net::awaitable<void> run() {
        auto const& opts = core_->options();
        auto& faults = core_->handler().faults();
        boost::system::error_code ec;
        auto peer = socket().remote_endpoint(ec);
        std::string remote_ip = ec ? std::string() : peer.address().to_string();

        if constexpr (is_tls) {
            arm(opts.handshake_timeout);
            auto [hec] = co_await stream_.async_handshake(net::ssl::stream_base::server, use_tuple);
            if (hec) co_return;
        }

        beast::flat_buffer buf(opts.max_header + opts.max_body + 65536);
        api_response res;
        res.body.reserve(4096);
        std::string head;
        head.reserve(512);
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(opts.max_header);
            parser.body_limit(opts.max_body);
            // Strict: costs nothing in the common case (the watchdog is armed earlier), and a
            // short idle timeout then holds even right after a long phase.
            arm_strict(opts.idle_timeout);
            auto [rec, rn] = co_await http::async_read_header(stream_, buf, parser, use_tuple);
            if (rec) {
                if (rec == http::error::body_limit || rec == http::error::header_limit) co_await reject_too_large();
                else if (rec.category() == http::make_error_code(http::error::bad_method).category() &&
                         rec != http::error::end_of_stream && rec != http::error::partial_message && !closed_)
                    co_await reject_bad_request();
                co_return;
            }
            auto& req = parser.get();
            std::string_view target(req.target().data(), req.target().size());
            endpoint ep = classify_target(target);
            fault_decision fd = ep != endpoint::admin ? faults.decide(ep) : fault_decision{};

            if (fd.has(fk::close_before_read)) {
                faults.record(fk::close_before_read);
                force_close();
                co_return;
            }
            if (!parser.is_done()) {
                auto expect = req[http::field::expect];
                if (beast::iequals(expect, "100-continue")) {
                    arm(opts.write_timeout);
                    static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
                    auto [wec, wn] = co_await net::async_write(stream_, net::buffer(cont), use_tuple);
                    if (wec) co_return;
                }
                arm(opts.read_timeout);
                auto [bec, bn] = co_await http::async_read(stream_, buf, parser, use_tuple);
                if (bec) {
                    if (bec == http::error::body_limit) co_await reject_too_large();
                    co_return;
                }
            }
            bool keep_alive = req.keep_alive();
            bool head_only = req.method() == http::verb::head;

            if (fd.has(fk::latency) && fd.delay.count() > 0) {
                faults.record(fk::latency);
                arm(fd.delay + opts.write_timeout);
                timer_.expires_after(fd.delay);
                co_await timer_.async_wait(use_tuple);
                if (closed_) co_return;
            }
            if (fd.has(fk::no_pipelining)) {
                boost::system::error_code aec;
                if (buf.size() > 0 || socket().available(aec) > 0) {
                    faults.record(fk::no_pipelining);
                    force_close();
                    co_return;
                }
            }
            arm(opts.write_timeout);
            if (fd.has(fk::html_502)) {
                faults.record(fk::html_502);
                auto page = cdn_502_page(keep_alive);
                auto [wec, wn] = co_await net::async_write(stream_, net::buffer(page), use_tuple);
                if (wec) co_return;
                if (!keep_alive) {
                    co_await graceful_close();
                    co_return;
                }
                continue;
            }

            api_request ar;
            ar.method = req.method();
            ar.target = target;
            ar.body = req.body();
            auto sv = [](beast::string_view v) { return std::string_view(v.data(), v.size()); };
            ar.api_key = sv(req["X-API-Key"]);
            ar.api_secret = sv(req["X-API-Secret"]);
            ar.admin_token = sv(req["X-Sim-Admin"]);
            ar.remote_ip = remote_ip;
            if (fd.has(fk::checkout_error) && ep == endpoint::orders_create) {
                faults.record(fk::checkout_error);
                ar.fail_checkout = true;
            }
            core_->handler().handle(ar, res);

            if (fd.has(fk::close_after_commit)) {
                faults.record(fk::close_after_commit);
                co_await graceful_close();
                co_return;
            }
            if (fd.has(fk::malformed_json) && !res.html && !res.body.empty()) {
                faults.record(fk::malformed_json);
                res.body.pop_back();
                res.body.insert(0, "<br />\n<b>Warning</b>:  Undefined array key \"plan\" in "
                                   "<b>/home/shop/public_html/api/v1/index.php</b> on line <b>214</b><br />\n");
            }

            head.clear();
            bool chunked = req.version() >= 11;
            append_head(head, res.status, res.html, keep_alive,
                        chunked ? std::nullopt : std::optional<std::size_t>(res.body.size()));
            std::string chunk_line;
            std::string_view tail;
            if (chunked) {
                if (!res.body.empty()) {
                    append_hex(chunk_line, res.body.size());
                    chunk_line += "\r\n";
                }
                tail = res.body.empty() ? std::string_view("0\r\n\r\n") : std::string_view("\r\n0\r\n\r\n");
            }

            if (head_only) {
                auto [wec, wn] = co_await net::async_write(stream_, net::buffer(head), use_tuple);
                if (wec) co_return;
            } else if (fd.has(fk::reset_mid_response) || fd.has(fk::truncated_body)) {
                bool reset = fd.has(fk::reset_mid_response);
                faults.record(reset ? fk::reset_mid_response : fk::truncated_body);
                std::string part = head + chunk_line + res.body.substr(0, res.body.size() / 2);
                auto [wec, wn] = co_await net::async_write(stream_, net::buffer(part), use_tuple);
                if (reset || wec) {
                    reset_close();
                    co_return;
                }
                co_await graceful_close();
                co_return;
            } else if (fd.has(fk::slow_drip)) {
                faults.record(fk::slow_drip);
                std::string all = head + chunk_line + res.body + std::string(tail);
                // ~20 bytes every 50 ms, at most 40 pieces: a bounded ~2 s whatever the size.
                std::size_t piece = std::max<std::size_t>(20, (all.size() + 39) / 40);
                for (std::size_t off = 0; off < all.size(); off += piece) {
                    auto [wec, wn] = co_await net::async_write(
                        stream_, net::buffer(all.data() + off, std::min(piece, all.size() - off)), use_tuple);
                    if (wec) co_return;
                    if (off + piece >= all.size()) break;
                    timer_.expires_after(std::chrono::milliseconds(50));
                    co_await timer_.async_wait(use_tuple);
                    if (closed_) co_return;
                }
            } else {
                std::array<net::const_buffer, 4> bufs{net::buffer(head), net::buffer(chunk_line), net::buffer(res.body),
                                                      net::buffer(tail.data(), tail.size())};
                auto [wec, wn] = co_await net::async_write(stream_, bufs, use_tuple);
                if (wec) co_return;
            }
            if (!keep_alive) {
                co_await graceful_close();
                co_return;
            }
        }
    }

    net::awaitable<void> reject_too_large() {
        api_response res;
        core_->handler().write_error(res, errc::request_too_large);
        std::string out;
        append_head(out, res.status, false, false);
        append_hex(out, res.body.size());
        out += "\r\n";
        out += res.body;
        out += "\r\n0\r\n\r\n";
        arm(core_->options().write_timeout);
        auto [wec, wn] = co_await net::async_write(stream_, net::buffer(out), use_tuple);
        if (!wec) co_await graceful_close();
    }

    net::awaitable<void> reject_bad_request() {
        auto out = bad_request_page();
        arm(core_->options().write_timeout);
        auto [wec, wn] = co_await net::async_write(stream_, net::buffer(out), use_tuple);
        if (!wec) co_await graceful_close();
    }

    /// FIN after the last answer, then a bounded lingering read so that a peer still sending
    /// (an oversized body, a pipelined request) reads our answer instead of a reset.
    net::awaitable<void> graceful_close() {
        if (closed_) co_return;
        arm_strict(std::chrono::seconds(2));
        if constexpr (is_tls) {
            auto [sec] = co_await stream_.async_shutdown(use_tuple);
            (void)sec;
            if (closed_) co_return;
        }
        boost::system::error_code ec;
        socket().shutdown(tcp::socket::shutdown_send, ec);
        char sink[4096];
        std::size_t drained = 0;
        while (!closed_ && drained < (1u << 20)) {
            auto [rec, n] = co_await socket().async_read_some(net::buffer(sink), use_tuple);
            if (rec) break;
            drained += n;
        }
        force_close();
    }

    std::shared_ptr<server_core> core_;
    std::uint64_t id_;
    Stream stream_;
};

inline net::awaitable<void> server_core::accept_loop(std::shared_ptr<server_core> self) {
    for (;;) {
        auto [ec, sock] = co_await acceptor_.async_accept(net::any_io_executor(net::make_strand(ex_)), use_tuple);
        if (ec) {
            {
                std::lock_guard lk(mu_);
                if (stopped_) co_return;
            }
            if (ec == net::error::operation_aborted || ec == net::error::bad_descriptor) co_return;
            // Out of descriptors or a transient error: back off instead of spinning.
            net::steady_timer t(strand_, std::chrono::milliseconds(50));
            co_await t.async_wait(use_tuple);
            continue;
        }
        start_connection(std::move(sock));
    }
    (void)self;
}

inline void server_core::start_connection(tcp::socket sock) {
    boost::system::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    auto ex = sock.get_executor();
    std::uint64_t id;
    {
        std::lock_guard lk(mu_);
        if (stopped_) return;
        id = next_id_++;
    }
    if (opts_.tls)
        launch(std::make_shared<connection<net::ssl::stream<tcp::socket>>>(ex, shared_from_this(), id, std::move(sock), *opts_.tls), id);
    else
        launch(std::make_shared<connection<tcp::socket>>(ex, shared_from_this(), id, std::move(sock)), id);
}

template <class Conn>
void server_core::launch(std::shared_ptr<Conn> s, std::uint64_t id) {
    {
        // Registered before it runs, so that its unregister() always comes after.
        std::lock_guard lk(mu_);
        if (stopped_) return;
        connections_.emplace(id, s);
    }
    auto ex = s->executor();
    net::co_spawn(ex, s->start(s), net::detached);
    net::co_spawn(ex, s->watch(s), net::detached);
}

} // namespace detail

/// A listening HTTP/1.1 server in front of an `api`. Listens at construction.
class server {
public:
    server(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint ep, std::shared_ptr<api> handler,
           server_options opts = {})
        : core_(std::make_shared<detail::server_core>(ex, std::move(handler), std::move(opts))) {
        core_->listen(ep);
    }
    ~server() { stop(); }
    server(server const&) = delete;
    server& operator=(server const&) = delete;

    /// Closes the acceptor and every connection (on their executors); idempotent.
    void stop() { core_->stop(); }
    boost::asio::ip::tcp::endpoint local_endpoint() const { return core_->local_endpoint(); }
    std::uint16_t port() const { return core_->local_endpoint().port(); }

private:
    std::shared_ptr<detail::server_core> core_;
};

} // namespace shop::testing
