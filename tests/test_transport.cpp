// Transport: URL/credential checks, the I/O-free pool bookkeeping, and the HTTP connection
// and pool against small Beast servers on loopback (each on its own thread, bounded).
#include "timing.hpp"

#include <shop/connection_pool.hpp>
#include <shop/detail/transport/http_connection.hpp>
#include <shop/detail/transport/pool_slots.hpp>
#include <shop/detail/transport/url.hpp>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::ip::tcp;
using namespace std::chrono_literals;
using shop::errc;
using steady = std::chrono::steady_clock;

namespace {

std::string cert_path(std::string const& name) { return std::string(SHOP_TEST_DATA_DIR) + "/certs/" + name; }

std::string read_file(std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

using testtime::ms_since;

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 server with scripted behaviour, selected by the request path:
//   /api/v1/stall            read the request, never answer
//   /api/v1/slow             answer after 150 ms
//   /api/v1/big?n=N          N-byte body with Content-Length; /api/v1/bigchunked?n=N chunked
//   /api/v1/bighdr           a 10 kB header
//   /api/v1/drop-on-reuse    on a connection's 2nd+ request: read it, close without answer
//   anything else            200, chunked, Set-Cookie, body "METHOD TARGET|BODY"
// Runs on its own thread and io_context; stops in its destructor or after `lifetime`.
class test_server {
public:
    struct options {
        bool tls = false;
        std::string cert = "server";  // or "untrusted", "expired"
        std::string bind = "127.0.0.1";
        std::chrono::milliseconds close_idle_after{0};  // 0: keep idle connections 30 s
        std::chrono::seconds lifetime{60};
    };

    struct seen {
        std::string method, target, host, user_agent, api_key, content_type, body;
    };

    explicit test_server(options o) : opts_(std::move(o)), acceptor_(ioc_), tls_ctx_(net::ssl::context::tls_server) {
        tcp::endpoint ep(net::ip::make_address(opts_.bind), 0);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        if (opts_.tls) {
            tls_ctx_.use_certificate_chain_file(cert_path(opts_.cert + ".pem"));
            tls_ctx_.use_private_key_file(cert_path(opts_.cert + ".key"), net::ssl::context::pem);
        }
        net::co_spawn(ioc_, accept_loop(), net::detached);
        thread_ = std::thread([this] { ioc_.run_for(opts_.lifetime); });
    }
    ~test_server() {
        ioc_.stop();
        thread_.join();
    }

    unsigned short port() const { return port_; }
    std::string base_url(std::string const& host = {}) const {
        return std::string(opts_.tls ? "https://" : "http://") + (host.empty() ? opts_.bind : host) + ":" +
               std::to_string(port_) + "/api/v1";
    }
    int connections() const { return connections_.load(); }
    std::vector<seen> log() const {
        std::lock_guard l(m_);
        return log_;
    }
    int count(std::string const& method, std::string const& path) const {
        std::lock_guard l(m_);
        int n = 0;
        for (auto const& s : log_)
            if (s.method == method && s.target.rfind(path, 0) == 0) ++n;
        return n;
    }

private:
    net::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, sock] = co_await acceptor_.async_accept(net::as_tuple(net::use_awaitable));
            if (ec) co_return;
            ++connections_;
            net::co_spawn(ioc_, session(std::move(sock)), net::detached);
        }
    }

    net::awaitable<void> session(tcp::socket sock) {
        beast::tcp_stream stream(std::move(sock));
        if (!opts_.tls) {
            co_await serve(stream, stream);
            co_return;
        }
        beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), tls_ctx_);
        tls.next_layer().expires_after(5s);
        auto [ec] = co_await tls.async_handshake(net::ssl::stream_base::server, net::as_tuple(net::use_awaitable));
        if (ec) co_return;
        co_await serve(tls, tls.next_layer());
    }

    template <class Stream>
    net::awaitable<void> serve(Stream& stream, beast::tcp_stream& lowest) {
        beast::flat_buffer buf;
        for (int index = 1;; ++index) {
            http::request<http::string_body> req;
            lowest.expires_after(index > 1 && opts_.close_idle_after.count() > 0 ? opts_.close_idle_after
                                                                                 : std::chrono::milliseconds(30s));
            auto [ec, n] = co_await http::async_read(stream, buf, req, net::as_tuple(net::use_awaitable));
            if (ec) co_return;  // includes the idle timeout: the socket is closed
            lowest.expires_never();
            std::string const target(req.target());
            {
                std::lock_guard l(m_);
                log_.push_back({std::string(req.method_string()), target, std::string(req[http::field::host]),
                                std::string(req[http::field::user_agent]), std::string(req["X-API-Key"]),
                                std::string(req[http::field::content_type]), req.body()});
            }
            auto path = target.substr(0, target.find('?'));
            if (path == "/api/v1/stall") {
                net::steady_timer t(lowest.get_executor(), opts_.lifetime);
                co_await t.async_wait(net::as_tuple(net::use_awaitable));
                co_return;
            }
            if (path == "/api/v1/drop-on-reuse" && index > 1) {
                lowest.close();
                co_return;
            }
            if (path == "/api/v1/slow") {
                net::steady_timer t(lowest.get_executor(), 150ms);
                co_await t.async_wait(net::as_tuple(net::use_awaitable));
            }
            http::response<http::string_body> res{http::status::ok, req.version()};
            res.set(http::field::content_type, "application/json; charset=utf-8");
            res.set(http::field::set_cookie, "PHPSESSID=0123456789abcdef; path=/");
            res.set(http::field::cache_control, "no-store, no-cache, must-revalidate");
            res.keep_alive(req.keep_alive());
            bool chunked = true;
            if (path == "/api/v1/big" || path == "/api/v1/bigchunked") {
                auto const n_at = target.find("n=");
                res.body().assign(std::stoul(target.substr(n_at + 2)), 'x');
                chunked = path == "/api/v1/bigchunked";
            } else if (path == "/api/v1/bighdr") {
                res.set("X-Padding", std::string(10000, 'p'));
                res.body() = "{}";
            } else {
                res.body() = std::string(req.method_string()) + " " + target + "|" + req.body();
            }
            if (chunked)
                res.chunked(true);
            else
                res.prepare_payload();
            auto [wec, wn] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
            if (wec || !res.keep_alive()) co_return;
        }
    }

    options opts_;
    net::io_context ioc_;
    tcp::acceptor acceptor_;
    net::ssl::context tls_ctx_;
    unsigned short port_ = 0;
    std::atomic<int> connections_{0};
    mutable std::mutex m_;
    std::vector<seen> log_;
    std::thread thread_;
};

// Runs `aw` on `ioc` to completion, at most `limit`; fails the test if it did not finish.
template <class T>
T run(net::io_context& ioc, net::awaitable<T> aw, std::chrono::seconds limit = 30s) {
    std::optional<T> out;
    std::exception_ptr err;
    net::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
        err = e;
        out.emplace(std::move(v));
    });
    ioc.restart();
    ioc.run_for(limit);
    if (err) std::rethrow_exception(err);
    REQUIRE(out.has_value());
    return std::move(*out);
}

shop::http_request get(std::string target) {
    shop::http_request r;
    r.method = shop::http_method::get;
    r.target = std::move(target);
    r.idempotent = true;
    return r;
}

shop::http_request post(std::string target, std::string body) {
    shop::http_request r;
    r.method = shop::http_method::post;
    r.target = std::move(target);
    r.body = std::move(body);
    r.idempotent = false;
    return r;
}

shop::tls_options trust_test_ca() {
    shop::tls_options t;
    t.use_system_roots = false;
    t.ca_file = cert_path("ca.pem");
    return t;
}

steady::time_point in(std::chrono::milliseconds d) { return steady::now() + d; }

/// What one exchange through the pool gave: the completion's error_code, the failure's
/// detail (diagnostics::message) and the exchange_result.
struct exchanged {
    shop::error_code ec;
    std::string detail;
    bool maybe_sent = false;
    shop::http_response response;
    unsigned attempts = 0;
};

exchanged to_exchanged(shop::error_code ec, shop::diagnostics const& d, shop::exchange_result r) {
    return exchanged{ec, d.message, r.maybe_sent, std::move(r.response), r.attempts};
}

net::awaitable<exchanged> execute(std::shared_ptr<shop::connection_pool> const& pool, shop::http_request req,
                                  steady::time_point deadline) {
    shop::diagnostics d;
    auto r = co_await pool->async_execute(std::move(req), deadline, d, net::as_tuple(net::use_awaitable));
    co_return to_exchanged(std::get<0>(r), d, std::move(std::get<1>(r)));
}

/// A lease, or why there is none.
struct leased {
    shop::error_code ec;
    std::string detail;
    shop::connection_lease lease;
};

net::awaitable<leased> acquire(std::shared_ptr<shop::connection_pool> const& pool, steady::time_point deadline) {
    shop::diagnostics d;
    auto r = co_await pool->async_acquire(deadline, false, d, net::as_tuple(net::use_awaitable));
    co_return leased{std::get<0>(r), d.message, std::move(std::get<1>(r))};
}

} // namespace

// =======================================================================================
// pool_slots: no sockets, no sleeps; time is made up.
// =======================================================================================

namespace {
using slots = shop::detail::pool_slots<int, int>;
using kind = slots::acquire_kind;
using rkind = slots::release_kind;
steady::time_point const t0{};
} // namespace

TEST_CASE("pool_slots grows on demand, then queues FIFO and hands releases over", "[pool_slots]") {
    slots s(2, 30s);
    auto a = s.acquire();
    CHECK(a.kind == kind::open);
    CHECK(s.open() == 1);
    CHECK(s.busy() == 1);
    auto b = s.acquire();
    CHECK(b.kind == kind::open);
    CHECK(s.open() == 2);

    CHECK(s.acquire().kind == kind::wait);
    s.enqueue(100);
    CHECK(s.acquire().kind == kind::wait);
    s.enqueue(200);
    CHECK(s.waiting() == 2);

    // connection 1 comes back healthy: the first waiter gets it, nothing parks
    auto r = s.release(1, true, t0 + 1s);
    CHECK(r.kind == rkind::handed_over);
    REQUIRE(r.waiter);
    CHECK(*r.waiter == 100);
    CHECK(*r.conn == 1);
    CHECK(s.idle() == 0);
    CHECK(s.busy() == 2);
    CHECK(s.waiting() == 1);

    // connection 2 fails: its slot goes to the next waiter, which must open anew
    r = s.release(2, false, t0 + 2s);
    CHECK(r.kind == rkind::waiter_opens);
    CHECK(*r.waiter == 200);
    CHECK(*r.conn == 2);  // to be closed
    CHECK(s.open() == 2);
    CHECK(s.waiting() == 0);

    // no waiters: a healthy release parks, a failed one closes
    CHECK(s.release(3, true, t0 + 3s).kind == rkind::parked);
    r = s.release(4, false, t0 + 3s);
    CHECK(r.kind == rkind::closed);
    CHECK(*r.conn == 4);
    auto c = s.counters();
    CHECK(c.open == 1);
    CHECK(c.idle == 1);
    CHECK(c.busy == 0);
    CHECK(c.waiting == 0);
    CHECK(c.peak_open == 2);
    CHECK(c.opened == 3);  // two opens + one handed-over slot
}

TEST_CASE("pool_slots reuses the freshest idle connection and never overtakes the queue", "[pool_slots]") {
    slots s(3, 30s);
    for (int i = 0; i < 3; ++i) REQUIRE(s.acquire().kind == kind::open);
    s.release(1, true, t0 + 1s);
    s.release(2, true, t0 + 2s);
    auto a = s.acquire();
    CHECK(a.kind == kind::reuse);
    CHECK(*a.conn == 2);
    CHECK(s.counters().reused == 1);
    auto b = s.acquire();
    CHECK(*b.conn == 1);
    CHECK(s.acquire().kind == kind::wait);
    s.enqueue(7);
    // a release is handed to the waiter; a later acquirer does not jump ahead of it
    s.release(5, true, t0 + 3s);
    CHECK(s.idle() == 0);
    CHECK(s.acquire().kind == kind::wait);
}

TEST_CASE("pool_slots expires idle connections by the clock it is given", "[pool_slots]") {
    slots s(4, 10s);
    for (int i = 0; i < 3; ++i) REQUIRE(s.acquire().kind == kind::open);
    s.release(1, true, t0);
    s.release(2, true, t0 + 5s);
    s.release(3, true, t0 + 9s);
    REQUIRE(s.next_expiry());
    CHECK(*s.next_expiry() == t0 + 10s);

    std::vector<int> closed;
    auto collect = [&](int c) { closed.push_back(c); };
    CHECK(s.sweep(t0 + 9999ms, collect) == 0);
    CHECK(s.sweep(t0 + 10s, collect) == 1);  // idle for exactly idle_timeout: gone
    CHECK(closed == std::vector<int>{1});
    CHECK(s.sweep(t0 + 15s, collect) == 1);
    CHECK(closed == std::vector<int>{1, 2});
    CHECK(s.open() == 1);
    CHECK(s.counters().expired == 2);
    CHECK(*s.acquire().conn == 3);

    slots forever(1, 0s);  // zero: disabled
    REQUIRE(forever.acquire().kind == kind::open);
    forever.release(9, true, t0);
    CHECK(forever.sweep(t0 + 24h, collect) == 0);
    CHECK_FALSE(forever.next_expiry());
}

TEST_CASE("pool_slots cancellation, failures and replacement", "[pool_slots]") {
    slots s(1, 30s);
    REQUIRE(s.acquire().kind == kind::open);
    s.enqueue(1);
    s.enqueue(2);
    CHECK(s.cancel_wait(1));
    CHECK_FALSE(s.cancel_wait(1));
    // opening failed: the slot goes to waiter 2
    auto r = s.release_slot();
    CHECK(r.kind == rkind::waiter_opens);
    CHECK(*r.waiter == 2);
    CHECK_FALSE(r.conn);
    CHECK_FALSE(s.cancel_wait(2));  // already served: it owns the slot now
    // its open fails too, nobody waits: the slot disappears
    CHECK(s.release_slot().kind == rkind::closed);
    CHECK(s.open() == 0);
    CHECK(s.busy() == 0);

    slots t(2, 30s);
    REQUIRE(t.acquire().kind == kind::open);
    REQUIRE(t.acquire().kind == kind::open);
    t.release(10, true, t0);
    // the holder's connection was dead: take the idle one, its own slot goes away
    auto d = t.replace(false);
    CHECK(d.kind == kind::reuse);
    CHECK(*d.conn == 10);
    CHECK(t.open() == 1);
    // dead again and nothing idle: open in the same slot
    d = t.replace(false);
    CHECK(d.kind == kind::open);
    CHECK(t.open() == 1);
    // a fresh connection is wanted even though one is idle
    REQUIRE(t.acquire().kind == kind::open);
    t.release(11, true, t0);
    CHECK(t.replace(true).kind == kind::open);
    CHECK(t.idle() == 1);
    // at capacity, a fresh acquire evicts the oldest idle connection
    t.release(12, true, t0 + 1s);
    CHECK(t.idle() == 2);
    auto f = t.acquire(true);
    CHECK(f.kind == kind::open);
    REQUIRE(f.evicted);
    CHECK(*f.evicted == 11);
    CHECK(t.open() == 2);
    CHECK(t.idle() == 1);
}

TEST_CASE("pool_slots close drains idle connections and waiters", "[pool_slots]") {
    slots s(1, 30s);
    REQUIRE(s.acquire().kind == kind::open);
    s.enqueue(5);
    std::vector<int> closed;
    auto woken = s.close([&](int c) { closed.push_back(c); });
    CHECK(woken == std::vector<int>{5});
    CHECK(closed.empty());
    CHECK(s.acquire().kind == kind::closed);
    auto r = s.release(1, true, t0);  // healthy, but the pool is closed
    CHECK(r.kind == rkind::closed);
    CHECK(*r.conn == 1);
    CHECK(s.open() == 0);
}

// =======================================================================================
// URLs, targets, headers and credentials
// =======================================================================================

TEST_CASE("base URLs parse into origin and path prefix", "[url]") {
    shop::detail::base_url b;
    std::string why;
    REQUIRE_FALSE(shop::detail::parse_base_url("https://www.cloneviammo.com/api/v1", b, why));
    CHECK(b.origin.scheme == "https");
    CHECK(b.origin.host == "www.cloneviammo.com");
    CHECK(b.origin.port == 443);
    CHECK(b.origin.is_tls);
    CHECK(b.path_prefix == "/api/v1");
    CHECK(b.origin.host_header() == "www.cloneviammo.com");

    REQUIRE_FALSE(shop::detail::parse_base_url("http://127.0.0.1:40123/api/v1/", b, why));
    CHECK(b.origin.host == "127.0.0.1");
    CHECK(b.origin.port == 40123);
    CHECK_FALSE(b.origin.is_tls);
    CHECK(b.path_prefix == "/api/v1");
    CHECK(b.origin.host_header() == "127.0.0.1:40123");

    REQUIRE_FALSE(shop::detail::parse_base_url("HTTP://Shop.Example.COM", b, why));
    CHECK(b.origin.host == "shop.example.com");
    CHECK(b.origin.port == 80);
    CHECK(b.path_prefix.empty());

    REQUIRE_FALSE(shop::detail::parse_base_url("https://[::1]:8443/x", b, why));
    CHECK(b.origin.host == "::1");
    CHECK(b.origin.host_header() == "[::1]:8443");

    for (char const* bad : {"ftp://example.com/api", "https://user:pw@example.com/api", "https://example.com/api#frag",
                            "https:///api/v1", "https://example.com/api?x=1", "example.com/api/v1",
                            "https://example.com:0/", "https://example.com:99999/", "https://exa mple.com/",
                            "https://example.com/api\r\nX: y", "https://exa%00mple.com/"}) {
        INFO(bad);
        why.clear();
        auto ec = shop::detail::parse_base_url(bad, b, why);
        CHECK(ec == errc::invalid_argument);
        CHECK_FALSE(why.empty());
    }
}

TEST_CASE("request targets percent-encode every query value", "[url]") {
    using shop::detail::append_target;
    std::string why;
    std::string t;
    REQUIRE_FALSE(append_target(t, "/api/v1", "/orders/status", {{"trans_id", "CX6DWMI"}}, why));
    CHECK(t == "/api/v1/orders/status?trans_id=CX6DWMI");

    t.clear();
    REQUIRE_FALSE(append_target(t, "/api/v1", "/products/list", {{"search", "a b&c=d#e+f/?"}, {"page", "2"}}, why));
    CHECK(t == "/api/v1/products/list?search=a%20b%26c%3Dd%23e%2Bf%2F%3F&page=2");

    t.clear();
    REQUIRE_FALSE(append_target(t, "/api/v1", "/products/list", {{"search", "T\xC3\xA0i kho\xE1\xBA\xA3n"}}, why));
    CHECK(t == "/api/v1/products/list?search=T%C3%A0i%20kho%E1%BA%A3n");

    t.clear();
    REQUIRE_FALSE(append_target(t, "", "/orders/status", {{"trans_id", "X\r\nX-Evil: 1\r\n\r\nGET / HTTP/1.1"}}, why));
    CHECK(t.find('\r') == std::string::npos);
    CHECK(t.find('\n') == std::string::npos);
    CHECK(t.find(' ') == std::string::npos);
    CHECK(t == "/orders/status?trans_id=X%0D%0AX-Evil%3A%201%0D%0A%0D%0AGET%20%2F%20HTTP%2F1.1");

    t.clear();
    REQUIRE_FALSE(append_target(t, "/api/v1", "/account/balance", {}, why));
    CHECK(t == "/api/v1/account/balance");

    t.clear();
    REQUIRE_FALSE(append_target(t, "/p", "/orders/list", {{"status", ""}}, why));
    CHECK(t == "/p/orders/list?status=");

    for (char const* bad : {"orders/status", "/orders status", "/orders?x=1", "/orders#x", "/a%20b", "", "/a\r\n"}) {
        INFO(bad);
        t.clear();
        CHECK(append_target(t, "/api/v1", bad, {}, why) == errc::invalid_argument);
    }
    t.clear();
    CHECK(append_target(t, "/api/v1", "/x", {{"", "v"}}, why) == errc::invalid_argument);
}

TEST_CASE("header names and values are checked before sending", "[url]") {
    std::string why;
    CHECK_FALSE(shop::detail::validate_header_value("sk_live_abc", why));
    CHECK_FALSE(shop::detail::validate_header_value("Vi\xE1\xBB\x87t", why));  // obs-text is allowed
    CHECK(shop::detail::validate_header_value("a\r\nX-Evil: 1", why) == errc::invalid_argument);
    CHECK(shop::detail::validate_header_value(std::string("a\0b", 3), why) == errc::invalid_argument);
    CHECK(shop::detail::validate_header_value("a\tb", why) == errc::invalid_argument);
    CHECK(shop::detail::validate_header_value("a\x7f", why) == errc::invalid_argument);
    CHECK_FALSE(shop::detail::validate_header_name("X-API-Key", why));
    CHECK(shop::detail::validate_header_name("X API", why) == errc::invalid_argument);
    CHECK(shop::detail::validate_header_name("X:API", why) == errc::invalid_argument);
    CHECK(shop::detail::validate_header_name("", why) == errc::invalid_argument);

    shop::error_code ec;
    auto block = shop::header_block::make({{"X-API-Key", "k"}, {"X-API-Secret", "s"}}, ec, why);
    REQUIRE(block);
    CHECK_FALSE(ec);
    CHECK(block->wire() == "X-API-Key: k\r\nX-API-Secret: s\r\n");
    CHECK_FALSE(shop::header_block::make({{"Host", "evil.example"}}, ec, why));
    CHECK(ec == errc::invalid_argument);
    CHECK_FALSE(shop::header_block::make({{"Content-Length", "5"}}, ec, why));
    CHECK_FALSE(shop::header_block::make({{"transfer-encoding", "chunked"}}, ec, why));
    CHECK_FALSE(shop::header_block::make({{"X-API-Key", "k\r\nHost: x"}}, ec, why));
    CHECK(ec == errc::invalid_argument);
}

TEST_CASE("credential format checks: prefix and length, not the alphabet", "[url]") {
    using shop::detail::validate_api_key;
    using shop::detail::validate_api_secret;
    std::string why;
    std::string const key = "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6";
    std::string const secret = "sk_secret_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2";
    REQUIRE(key.size() == 40);
    REQUIRE(secret.size() == 74);
    CHECK_FALSE(validate_api_key(key, why));
    CHECK_FALSE(validate_api_secret(secret, why));
    CHECK_FALSE(validate_api_key(std::string(32, 'f'), why));      // legacy
    CHECK_FALSE(validate_api_secret(std::string(64, '0'), why));   // legacy

    CHECK(validate_api_key("sk_test_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6", why) == errc::invalid_argument);
    CHECK(why.find("sk_live_") != std::string::npos);
    CHECK(validate_api_key(key.substr(0, 39), why) == errc::invalid_argument);
    CHECK(why.find("39") != std::string::npos);
    CHECK(validate_api_key(key + "\n", why) == errc::invalid_argument);
    CHECK(validate_api_key("", why) == errc::invalid_argument);
    CHECK(validate_api_secret(secret.substr(1), why) == errc::invalid_argument);
    CHECK(why.find(secret.substr(1)) == std::string::npos);  // never echoes the secret
    CHECK(validate_api_secret("sk_secreT_" + secret.substr(10), why) == errc::invalid_argument);
    CHECK(why.find("without that prefix") != std::string::npos);
    CHECK(validate_api_secret(secret.substr(0, 73) + "\x01", why) == errc::invalid_argument);
    CHECK(validate_api_secret(key, why) == errc::invalid_argument);
}

// =======================================================================================
// HTTP over loopback
// =======================================================================================

TEST_CASE("chunked responses with Set-Cookie parse, and keep-alive connections are reused", "[transport]") {
    test_server server({});
    net::io_context ioc;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
    shop::error_code ec;
    std::string why;
    auto creds = shop::header_block::make({{"X-API-Key", "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"}}, ec, why);
    REQUIRE(creds);

    auto r1 = run(ioc, [&]() -> net::awaitable<exchanged> {
        auto req = get("/api/v1/orders/status?trans_id=CX6DWMI");
        req.fixed_headers = creds;
        co_return co_await execute(pool, std::move(req), in(5s));
    }());
    INFO(r1.detail);
    REQUIRE_FALSE(r1.ec);
    CHECK(r1.response.status == 200);
    CHECK(r1.response.content_type == "application/json; charset=utf-8");
    CHECK(r1.response.body == "GET /api/v1/orders/status?trans_id=CX6DWMI|");
    CHECK(r1.attempts == 1);

    auto r2 = run(ioc, execute(pool, post("/api/v1/orders/create", R"({"items":[{"plan_id":1}]})"), in(5s)));
    REQUIRE_FALSE(r2.ec);
    CHECK(r2.response.body == R"(POST /api/v1/orders/create|{"items":[{"plan_id":1}]})");

    CHECK(server.connections() == 1);
    auto const log = server.log();
    REQUIRE(log.size() == 2);
    CHECK(log[0].host == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(log[0].user_agent == "shop-client/0.1");
    CHECK(log[0].api_key == "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6");
    CHECK(log[0].content_type.empty());
    CHECK(log[1].content_type == "application/json");

    auto st = pool->stats();
    CHECK(st.open == 1);
    CHECK(st.idle == 1);
    CHECK(st.busy == 0);
    CHECK(st.waiting == 0);
    CHECK(st.reused == 1);
}

TEST_CASE("a bad request is refused before it is sent and leaves the connection usable", "[transport]") {
    test_server server({});
    net::io_context ioc;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
    auto req = get("/api/v1/x");
    req.headers.emplace_back("X-Trace", "a\r\nX-Evil: 1");
    auto r = run(ioc, execute(pool, std::move(req), in(5s)));
    CHECK(r.ec == errc::invalid_argument);
    CHECK_FALSE(r.maybe_sent);
    auto bad_target = get("/api/v1/x y");
    r = run(ioc, execute(pool, std::move(bad_target), in(5s)));
    CHECK(r.ec == errc::invalid_argument);
    r = run(ioc, execute(pool, get("/api/v1/ok"), in(5s)));
    CHECK_FALSE(r.ec);
    CHECK(server.log().size() == 1);
    CHECK(server.connections() == 1);
    // The pool's own User-Agent goes into every request: checked once, when the pool is made.
    shop::pool_options split;
    split.user_agent = "agent/1\r\nX-Evil: 1";
    CHECK_THROWS_AS(shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, split), shop::error);
    split.user_agent = std::string("agent\0/1", 8);
    CHECK_THROWS_AS(shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, split), shop::error);
}

TEST_CASE("TLS with a trusted CA is accepted, by IP literal and by host name", "[transport][tls]") {
    test_server server({.tls = true});
    net::io_context ioc;
    SECTION("CA file, IP literal (no SNI)") {
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), trust_test_ca());
        auto r = run(ioc, execute(pool, get("/api/v1/account/balance"), in(10s)));
        INFO(r.detail);
        REQUIRE_FALSE(r.ec);
        CHECK(r.response.body == "GET /api/v1/account/balance|");
        r = run(ioc, execute(pool, get("/api/v1/account/info"), in(10s)));
        REQUIRE_FALSE(r.ec);
        CHECK(server.connections() == 1);
    }
    SECTION("CA as PEM text, host name localhost (resolver, SNI, DNS SAN)") {
        shop::tls_options tls;
        tls.use_system_roots = false;
        tls.ca_pem = read_file(cert_path("ca.pem"));
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url("localhost"), tls);
        auto r = run(ioc, execute(pool, get("/api/v1/account/balance"), in(10s)));
        INFO(r.detail);
        REQUIRE_FALSE(r.ec);
        CHECK(server.log().at(0).host == "localhost:" + std::to_string(server.port()));
    }
}

TEST_CASE("TLS verification failures are reported as such", "[transport][tls]") {
    net::io_context ioc;
    SECTION("untrusted self-signed certificate") {
        test_server server({.tls = true, .cert = "untrusted"});
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), trust_test_ca());
        auto r = run(ioc, execute(pool, get("/api/v1/account/balance"), in(10s)));
        INFO(r.detail);
        CHECK(r.ec == errc::tls_verification_failed);
        CHECK(r.detail.find("self-signed") != std::string::npos);
        CHECK_FALSE(r.maybe_sent);
        CHECK(server.log().empty());
        CHECK(pool->stats().open == 0);
    }
    SECTION("expired certificate of the trusted CA") {
        test_server server({.tls = true, .cert = "expired"});
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), trust_test_ca());
        auto r = run(ioc, execute(pool, get("/api/v1/account/balance"), in(10s)));
        INFO(r.detail);
        CHECK(r.ec == errc::tls_verification_failed);
        CHECK(r.detail.find("expired") != std::string::npos);
        CHECK_FALSE(r.maybe_sent);
        CHECK(server.log().empty());
    }
    SECTION("certificate for another name") {
        test_server server({.tls = true, .bind = "127.0.0.2"});
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), trust_test_ca());
        auto r = run(ioc, execute(pool, get("/api/v1/account/balance"), in(10s)));
        INFO(r.detail);
        CHECK(r.ec == errc::tls_verification_failed);
        CHECK(r.detail.find("does not match IP address 127.0.0.2") != std::string::npos);
        CHECK_FALSE(r.maybe_sent);
        CHECK(server.log().empty());
    }
    SECTION("no trust configured is a configuration error") {
        shop::tls_options none;
        none.use_system_roots = false;
        CHECK_THROWS_AS(shop::connection_pool::create(ioc.get_executor(), "https://127.0.0.1:1/api", none), shop::error);
        none.ca_file = cert_path("missing.pem");
        CHECK_THROWS_AS(shop::connection_pool::create(ioc.get_executor(), "https://127.0.0.1:1/api", none), shop::error);
    }
}

TEST_CASE("connect failures are connect_failed and not sent", "[transport]") {
    net::io_context ioc;
    unsigned short port;
    {
        tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
        port = a.local_endpoint().port();
    }
    auto pool = shop::connection_pool::create(ioc.get_executor(), "http://127.0.0.1:" + std::to_string(port) + "/api/v1");
    auto r = run(ioc, execute(pool, post("/api/v1/orders/create", "{}"), in(5s)));
    INFO(r.detail);
    CHECK(r.ec == errc::connect_failed);
    CHECK_FALSE(r.maybe_sent);
    CHECK(r.detail.find("127.0.0.1") != std::string::npos);
    auto st = pool->stats();
    CHECK(st.open == 0);
    CHECK(st.busy == 0);
}

TEST_CASE("a stalled server trips the read timeout within its bound", "[transport]") {
    test_server server({});
    net::io_context ioc;
    shop::timeout_options timeouts;
    timeouts.read = 300ms;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, {}, timeouts);
    auto const t0 = steady::now();
    auto r = run(ioc, execute(pool, get("/api/v1/stall"), in(10s)));
    auto const elapsed = ms_since(t0);
    INFO(r.detail);
    CHECK(r.ec == errc::timeout);
    CHECK(r.maybe_sent);
    CHECK(r.detail.find("300 ms") != std::string::npos);
    CHECK(elapsed >= 300);
    CHECK(elapsed < 300 + testtime::slack.count());  // the read timeout, not the 10 s deadline
    CHECK(pool->stats().open == 0);

    // the request deadline caps every phase
    auto const t1 = steady::now();
    r = run(ioc, execute(pool, get("/api/v1/stall"), in(200ms)));
    auto const elapsed2 = ms_since(t1);
    CHECK(r.ec == errc::timeout);
    CHECK(r.detail.find("deadline") != std::string::npos);
    CHECK(elapsed2 >= 190);
    CHECK(elapsed2 < 200 + testtime::slack.count());
}

TEST_CASE("body and header limits hold", "[transport]") {
    test_server server({});
    net::io_context ioc;
    shop::pool_options limits;
    limits.body_limit = 1000;
    limits.header_limit = 4096;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, limits);
    auto r = run(ioc, execute(pool, get("/api/v1/big?n=1000"), in(5s)));
    REQUIRE_FALSE(r.ec);
    CHECK(r.response.body.size() == 1000);
    r = run(ioc, execute(pool, get("/api/v1/big?n=1001"), in(5s)));
    CHECK(r.ec == errc::body_too_large);
    r = run(ioc, execute(pool, get("/api/v1/bigchunked?n=5000"), in(5s)));
    CHECK(r.ec == errc::body_too_large);
    r = run(ioc, execute(pool, get("/api/v1/bighdr"), in(5s)));
    CHECK(r.ec == errc::body_too_large);
    r = run(ioc, execute(pool, get("/api/v1/bigchunked?n=900"), in(5s)));
    REQUIRE_FALSE(r.ec);
    CHECK(r.response.body == std::string(900, 'x'));
    auto st = pool->stats();
    CHECK(st.open == 1);  // each failure closed its connection
    CHECK(st.busy == 0);
}

TEST_CASE("cancellation completes with cancelled and leaves the pool healthy", "[transport][cancel]") {
    test_server server({});
    net::io_context ioc;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
    auto check_healthy = [&] {
        auto st = pool->stats();
        CHECK(st.open == 0);  // the cancelled connection was closed, not parked
        CHECK(st.busy == 0);
        CHECK(st.waiting == 0);
        auto ok = run(ioc, execute(pool, get("/api/v1/after"), in(5s)));
        CHECK_FALSE(ok.ec);
        st = pool->stats();
        CHECK(st.open == 1);
        CHECK(st.idle == 1);
    };

    SECTION("terminal, through the awaiting coroutine's slot") {
        net::cancellation_signal sig;
        std::optional<exchanged> result;
        auto const t0 = steady::now();
        net::co_spawn(
            ioc, [&]() -> net::awaitable<exchanged> { co_return co_await execute(pool, get("/api/v1/stall"), in(10s)); },
            net::bind_cancellation_slot(sig.slot(), [&](std::exception_ptr, exchanged r) { result = std::move(r); }));
        net::steady_timer timer(ioc, 100ms);
        timer.async_wait([&](auto) { sig.emit(net::cancellation_type::terminal); });
        ioc.run_for(10s);
        REQUIRE(result);
        INFO(result->detail);
        CHECK(result->ec == errc::cancelled);
        CHECK(result->maybe_sent);
        CHECK(ms_since(t0) < 100 + testtime::slack.count());  // not the 10 s deadline
        check_healthy();
    }
    SECTION("partial, through async_execute's completion token") {
        net::cancellation_signal sig;
        std::optional<exchanged> result;
        pool->async_execute(get("/api/v1/stall"), in(10s),
                            net::bind_cancellation_slot(sig.slot(), [&](shop::error_code ec, shop::exchange_result r) { result = to_exchanged(ec, {}, std::move(r)); }));
        net::steady_timer timer(ioc, 100ms);
        timer.async_wait([&](auto) { sig.emit(net::cancellation_type::partial); });
        ioc.run_for(10s);
        REQUIRE(result);
        CHECK(result->ec == errc::cancelled);
        check_healthy();
    }
    SECTION("terminal, emitted before the request has started") {
        net::cancellation_signal sig;
        std::optional<exchanged> result;
        pool->async_execute(get("/api/v1/never"), in(10s),
                            net::bind_cancellation_slot(sig.slot(), [&](shop::error_code ec, shop::exchange_result r) { result = to_exchanged(ec, {}, std::move(r)); }));
        sig.emit(net::cancellation_type::terminal);
        ioc.run_for(10s);
        REQUIRE(result);
        CHECK(result->ec == errc::cancelled);
        CHECK_FALSE(result->maybe_sent);
        CHECK(server.count("GET", "/api/v1/never") == 0);
        check_healthy();
    }
    SECTION("awaitable operator || with a timer") {
        using namespace net::experimental::awaitable_operators;
        auto const t0 = steady::now();
        auto which = run(ioc, [&]() -> net::awaitable<std::size_t> {
            net::steady_timer timer(co_await net::this_coro::executor, 100ms);
            auto v = co_await (execute(pool, get("/api/v1/stall"), in(10s)) || timer.async_wait(net::use_awaitable));
            co_return v.index();
        }());
        CHECK(which == 1);
        CHECK(ms_since(t0) < 100 + testtime::slack.count());  // not the 10 s deadline
        check_healthy();
    }
    SECTION("while waiting for a connection") {
        shop::pool_options one;
        one.max_connections = 1;
        auto small = shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, one);
        net::cancellation_signal sig;
        std::optional<exchanged> first, second;
        small->async_execute(get("/api/v1/slow"), in(10s), [&](shop::error_code ec, shop::exchange_result r) { first = to_exchanged(ec, {}, std::move(r)); });
        small->async_execute(get("/api/v1/queued"), in(10s),
                             net::bind_cancellation_slot(sig.slot(), [&](shop::error_code ec, shop::exchange_result r) { second = to_exchanged(ec, {}, std::move(r)); }));
        net::steady_timer timer(ioc, 50ms);
        timer.async_wait([&](auto) {
            CHECK(small->stats().waiting == 1);
            sig.emit(net::cancellation_type::terminal);
        });
        ioc.run_for(10s);
        REQUIRE(first);
        REQUIRE(second);
        CHECK_FALSE(first->ec);
        CHECK(second->ec == errc::cancelled);
        CHECK_FALSE(second->maybe_sent);
        CHECK(server.count("GET", "/api/v1/queued") == 0);
        auto st = small->stats();
        CHECK(st.waiting == 0);
        CHECK(st.idle == 1);
    }
}

TEST_CASE("stale keep-alive connections", "[transport][stale]") {
    net::io_context ioc;
    SECTION("the server closed idle sockets: detected before use, GET and POST go out once") {
        test_server server({.close_idle_after = 100ms});
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
        REQUIRE_FALSE(run(ioc, execute(pool, get("/api/v1/first"), in(5s))).ec);
        run(ioc, [&]() -> net::awaitable<int> {
            net::steady_timer t(co_await net::this_coro::executor, 400ms);
            co_await t.async_wait(net::use_awaitable);
            co_return 0;
        }());
        auto g = run(ioc, execute(pool, get("/api/v1/second"), in(5s)));
        INFO(g.detail);
        CHECK_FALSE(g.ec);
        CHECK(g.attempts == 1);
        auto p = run(ioc, execute(pool, post("/api/v1/orders/create", "{}"), in(5s)));
        CHECK_FALSE(p.ec);
        CHECK(server.count("POST", "/api/v1/orders/create") == 1);
        CHECK(server.connections() == 2);
    }
    SECTION("the connection dies under the request: a GET is retried once on a new connection") {
        test_server server({});
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
        REQUIRE_FALSE(run(ioc, execute(pool, get("/api/v1/drop-on-reuse"), in(5s))).ec);
        auto r = run(ioc, execute(pool, get("/api/v1/drop-on-reuse?again=1"), in(5s)));
        INFO(r.detail);
        CHECK_FALSE(r.ec);
        CHECK(r.attempts == 2);
        CHECK(r.response.body == "GET /api/v1/drop-on-reuse?again=1|");
        CHECK(server.count("GET", "/api/v1/drop-on-reuse?again=1") == 2);
        CHECK(server.connections() == 2);
    }
    SECTION("the connection dies under a POST: not resent, outcome unknown") {
        test_server server({});
        auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
        REQUIRE_FALSE(run(ioc, execute(pool, get("/api/v1/drop-on-reuse"), in(5s))).ec);
        auto r = run(ioc, execute(pool, post("/api/v1/drop-on-reuse", R"({"items":[]})"), in(5s)));
        INFO(r.detail);
        CHECK(r.ec == errc::connection_closed);
        CHECK(r.maybe_sent);
        CHECK(r.attempts == 1);
        CHECK(r.detail.find("not resent") != std::string::npos);
        CHECK(server.count("POST", "/api/v1/drop-on-reuse") == 1);
        CHECK(server.connections() == 1);
        auto st = pool->stats();
        CHECK(st.open == 0);
        CHECK(st.busy == 0);
    }
}

TEST_CASE("a full pool makes callers wait, within the wait bound", "[transport]") {
    test_server server({});
    net::io_context ioc;
    shop::pool_options one;
    one.max_connections = 1;
    one.wait_timeout = 200ms;
    // The first request holds the only connection far longer than the wait bound plus slack:
    // the second must give up on the pool rather than get the connection when it frees.
    shop::timeout_options timeouts;
    timeouts.read = 200ms + testtime::slack + 2s;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, one, timeouts);
    std::optional<exchanged> a, b;
    long long b_elapsed = 0;
    pool->async_execute(get("/api/v1/stall"), in(10s), [&](shop::error_code ec, shop::exchange_result r) { a = to_exchanged(ec, {}, std::move(r)); });
    auto const t0 = steady::now();
    shop::diagnostics b_diag;
    pool->async_execute(get("/api/v1/waits"), in(10s), b_diag, [&](shop::error_code ec, shop::exchange_result r) {
        b_elapsed = ms_since(t0);
        b = to_exchanged(ec, b_diag, std::move(r));
    });
    ioc.run_for(10s);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->ec == errc::timeout);
    INFO(b->detail);
    CHECK(b->ec == errc::pool_exhausted);
    CHECK_FALSE(b->maybe_sent);
    CHECK(b_elapsed >= 190);
    CHECK(b_elapsed < 200 + testtime::slack.count());
    CHECK(server.count("GET", "/api/v1/waits") == 0);
    auto st = pool->stats();
    CHECK(st.open == 0);
    CHECK(st.waiting == 0);
    CHECK(st.peak_open == 1);
}

TEST_CASE("a lease pipelines requests on one connection and reads the answers in order", "[transport][lease]") {
    test_server server({});
    net::io_context ioc;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
    auto bodies = run(ioc, [&]() -> net::awaitable<std::vector<std::string>> {
        std::vector<std::string> out;
        auto acquired = co_await acquire(pool, in(5s));
        if (acquired.ec) co_return out;
        auto& lease = acquired.lease;
        for (int i = 0; i < 3; ++i) {
            auto ec = lease.queue(get("/api/v1/orders/status?trans_id=T" + std::to_string(i)));
            if (ec) co_return out;
        }
        auto flushed = co_await lease.async_flush(in(5s), net::as_tuple(net::use_awaitable));
        if (std::get<0>(flushed)) co_return out;
        shop::http_response resp;  // reused for every response
        for (int i = 0; i < 3; ++i) {
            auto read = co_await lease.async_read_response(resp, in(5s), net::as_tuple(net::use_awaitable));
            if (std::get<0>(read)) co_return out;
            out.push_back(resp.body);
        }
        co_return out;
    }());
    REQUIRE(bodies.size() == 3);
    for (int i = 0; i < 3; ++i)
        CHECK(bodies[i] == "GET /api/v1/orders/status?trans_id=T" + std::to_string(i) + "|");
    CHECK(server.connections() == 1);
    auto st = pool->stats();
    CHECK(st.idle == 1);  // returned in sync

    // a lease given back with a response unread closes its connection
    auto unanswered = run(ioc, [&]() -> net::awaitable<std::size_t> {
        auto acquired = co_await acquire(pool, in(5s));
        if (acquired.ec) co_return 0;
        (void)acquired.lease.queue(get("/api/v1/a"));
        (void)acquired.lease.queue(get("/api/v1/b"));
        (void)co_await acquired.lease.async_flush(in(5s), net::as_tuple(net::use_awaitable));
        shop::http_response resp;
        (void)co_await acquired.lease.async_read_response(resp, in(5s), net::as_tuple(net::use_awaitable));
        co_return acquired.lease.unanswered();
    }());
    CHECK(unanswered == 1);
    st = pool->stats();
    CHECK(st.open == 0);
    CHECK(st.busy == 0);
}

TEST_CASE("1000 concurrent requests share a 16-connection pool", "[transport][load]") {
    test_server server({});
    net::io_context ioc;
    shop::pool_options opts;
    opts.max_connections = 16;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, opts);
    int ok = 0, wrong = 0, done = 0;
    std::size_t max_open_seen = 0;
    for (int i = 0; i < 1000; ++i) {
        net::co_spawn(
            ioc,
            [&, i]() -> net::awaitable<void> {
                auto const target = "/api/v1/orders/status?trans_id=T" + std::to_string(i);
                auto r = co_await execute(pool, get(target), in(30s));
                max_open_seen = std::max(max_open_seen, pool->stats().open);
                if (!r.ec && r.response.body == "GET " + target + "|")
                    ++ok;
                else
                    ++wrong;
                ++done;
            },
            net::detached);
    }
    ioc.run_for(60s);
    CHECK(done == 1000);
    CHECK(ok == 1000);
    CHECK(wrong == 0);
    auto st = pool->stats();
    CHECK(st.peak_open <= 16);
    CHECK(max_open_seen <= 16);
    CHECK(server.connections() <= 16);
    CHECK(st.busy == 0);
    CHECK(st.waiting == 0);
    CHECK(st.open == st.idle);
}

TEST_CASE("a thread-pool executor with 4 threads", "[transport][threads]") {
    test_server server({});
    net::thread_pool threads(4);
    shop::pool_options opts;
    opts.max_connections = 8;
    auto pool = shop::connection_pool::create(threads.get_executor(), server.base_url(), {}, opts);
    constexpr int n = 400;
    std::atomic<int> ok{0}, done{0};
    std::promise<void> all_done;
    for (int i = 0; i < n; ++i) {
        net::co_spawn(
            threads,
            [&, i]() -> net::awaitable<void> {
                auto const target = "/api/v1/x?i=" + std::to_string(i);
                auto req = i % 3 == 0 ? post(target, "{\"i\":" + std::to_string(i) + "}") : get(target);
                auto r = co_await execute(pool, std::move(req), in(30s));
                if (!r.ec && r.response.body.find(target) != std::string::npos) ++ok;
                (void)pool->stats();
                if (++done == n) all_done.set_value();
            },
            net::detached);
    }
    auto const finished = all_done.get_future().wait_for(60s);
    CHECK(finished == std::future_status::ready);
    CHECK(ok.load() == n);
    auto st = pool->stats();
    CHECK(st.peak_open <= 8);
    CHECK(st.busy == 0);
    CHECK(st.waiting == 0);
    CHECK(server.connections() <= 8);
    pool->close();
    CHECK(pool->stats().open == 0);
    pool.reset();
    threads.join();
}

TEST_CASE("a closed pool refuses new requests", "[transport]") {
    test_server server({});
    net::io_context ioc;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
    REQUIRE_FALSE(run(ioc, execute(pool, get("/api/v1/a"), in(5s))).ec);
    CHECK(pool->stats().idle == 1);
    pool->close();
    CHECK(pool->stats().open == 0);
    auto r = run(ioc, execute(pool, get("/api/v1/b"), in(5s)));
    CHECK(r.ec == errc::cancelled);
    CHECK(server.count("GET", "/api/v1/b") == 0);
}

TEST_CASE("idle connections past the idle timeout are closed, not reused", "[transport]") {
    test_server server({});
    net::io_context ioc;
    shop::pool_options opts;
    opts.idle_timeout = 100ms;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), {}, opts);
    REQUIRE_FALSE(run(ioc, execute(pool, get("/api/v1/a"), in(5s))).ec);
    REQUIRE_FALSE(run(ioc, execute(pool, get("/api/v1/b"), in(5s))).ec);
    CHECK(server.connections() == 1);
    std::this_thread::sleep_for(150ms);  // wall-clock age is what the pool measures here
    CHECK(pool->close_expired() == 1);
    CHECK(pool->stats().open == 0);
    CHECK(pool->stats().expired == 1);
    REQUIRE_FALSE(run(ioc, execute(pool, get("/api/v1/c"), in(5s))).ec);
    CHECK(server.connections() == 2);
}

TEST_CASE("a graceful close is bounded", "[transport][tls]") {
    test_server server({.tls = true});
    net::io_context ioc;
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url(), trust_test_ca());
    auto const t0 = steady::now();
    auto closed = run(ioc, [&]() -> net::awaitable<bool> {
        auto acquired = co_await acquire(pool, in(5s));
        if (acquired.ec) co_return false;
        auto closed = co_await acquired.lease.async_close(net::as_tuple(net::use_awaitable));
        co_return !std::get<0>(closed) && !acquired.lease.is_open();
    }());
    CHECK(closed);
    CHECK(ms_since(t0) < 1000 + testtime::slack.count());  // tls_shutdown 1 s, plus slack
    CHECK(pool->stats().open == 0);
}

// ---------------------------------------------------------------------------------------
// Allocation count of the hot path (a GET on a warm keep-alive connection), counted on
// the calling thread only (the server runs on its own thread). Sanitizer builds keep
// their own allocator (and its new/delete mismatch checks), so nothing is counted there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SHOP_TEST_COUNTS_ALLOCATIONS 0
#else
#define SHOP_TEST_COUNTS_ALLOCATIONS 1
#endif
namespace {
thread_local std::size_t thread_allocations = 0;
}
#if SHOP_TEST_COUNTS_ALLOCATIONS
// The whole non-aligned family is replaced, so every pointer goes back where it came from;
// out of line, so that the compiler does not pair malloc/free with new/delete at call sites.
[[gnu::noinline]] void* operator new(std::size_t n) {
    ++thread_allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) { return ::operator new(n); }
[[gnu::noinline]] void* operator new(std::size_t n, std::nothrow_t const&) noexcept {
    ++thread_allocations;
    return std::malloc(n ? n : 1);
}
[[gnu::noinline]] void* operator new[](std::size_t n, std::nothrow_t const& t) noexcept { return ::operator new(n, t); }
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::nothrow_t const&) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::nothrow_t const&) noexcept { std::free(p); }
#endif

TEST_CASE("a request on a warm connection allocates little", "[transport][alloc]") {
    test_server server({});
    net::io_context ioc(1);
    auto pool = shop::connection_pool::create(ioc.get_executor(), server.base_url());
    shop::error_code ec;
    std::string why;
    auto creds = shop::header_block::make({{"X-API-Key", "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"}}, ec, why);
    constexpr int n = 200;
    std::size_t allocs = 0;
    int ok = 0;
    run(ioc, [&]() -> net::awaitable<int> {
        shop::http_request req = get("/api/v1/orders/status?trans_id=CX6DWMI");
        req.fixed_headers = creds;
        for (int i = 0; i < 10; ++i) (void)co_await execute(pool, req, in(5s));  // warm up
        auto const before = thread_allocations;
        for (int i = 0; i < n; ++i) ok += !(co_await execute(pool, req, in(5s))).ec;
        allocs = thread_allocations - before;
        co_return 0;
    }());
    CHECK(ok == n);
    if (!SHOP_TEST_COUNTS_ALLOCATIONS) return;
    double const per_request = double(allocs) / n;
    WARN("allocations per request: " << per_request);
    CHECK(per_request <= 8);  // measured 5.7: the caller's request copy, body and Content-Type included
}
