// Test support for the simulator tests: a simulator running on its own threads, and a tiny
// raw HTTP/1.1 client whose every operation is bounded (so that a broken server fails a
// test instead of hanging it).
#pragma once

#include "timing.hpp"

#include <shop/testing/simulator.hpp>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace simtest {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using shop::money;
using namespace shop::testing;

inline std::string const demo_key(demo_api_key);
inline std::string const demo_secret(demo_api_secret);
inline std::string const admin_token = "test-admin-token";

/// Options most tests start from: admin area on, the per-minute limit out of the way.
inline simulator_options test_options() {
    simulator_options o;
    o.admin_token = admin_token;
    o.rate_limit_override = 1'000'000;
    return o;
}

/// A simulator on its own io_context and threads.
class running_sim {
public:
    explicit running_sim(simulator_options o = test_options(), int threads = 1)
        : sim_(std::make_unique<simulator>(ioc_.get_executor(), std::move(o))) {
        for (int i = 0; i < threads; ++i)
            threads_.emplace_back([this] {
                ioc_.run();
                ++finished_;
            });
    }
    ~running_sim() { shutdown(); }

    /// stop() and wait (bounded) until the io_context has no work left; true if it ended by
    /// itself, false if it had to be forced.
    bool shutdown(std::chrono::milliseconds bound = 5s) {
        if (threads_.empty()) return clean_;
        sim_->stop();
        auto until = std::chrono::steady_clock::now() + bound;
        while (finished_.load() < static_cast<int>(threads_.size()) && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(5ms);
        clean_ = finished_.load() == static_cast<int>(threads_.size());
        if (!clean_) ioc_.stop();
        for (auto& t : threads_) t.join();
        threads_.clear();
        return clean_;
    }

    simulator* operator->() { return sim_.get(); }
    simulator& operator*() { return *sim_; }

private:
    net::io_context ioc_;
    std::unique_ptr<simulator> sim_;
    std::vector<std::thread> threads_;
    std::atomic<int> finished_{0};
    bool clean_ = true;
};

struct response {
    boost::system::error_code ec; ///< set when no complete response was read
    unsigned status = 0;
    http::fields headers;
    std::string body;
    bool chunked = false;
    json::value json;             ///< null when the body is not JSON

    std::string header(http::field f) const { return std::string(headers[f]); }
    std::string header(std::string_view name) const { return std::string(headers[beast::string_view(name.data(), name.size())]); }
    bool success() const { return json.is_object() && json.as_object().contains("success") && json.at("success") == true; }
    json::value const& data() const { return json.at("data"); }
    std::string error_code() const {
        if (!json.is_object()) return {};
        auto d = json.as_object().if_contains("data");
        if (!d || !d->is_object()) return {};
        auto c = d->as_object().if_contains("error_code");
        return c && c->is_string() ? std::string(c->as_string()) : std::string();
    }
};

/// A raw HTTP/1.1 request as bytes. Auth headers are the demo account's unless `auth` is false.
inline std::string make_request(std::string_view method, std::string_view target, std::string_view body = {},
                                std::vector<std::pair<std::string, std::string>> const& headers = {},
                                bool auth = true) {
    std::string r;
    r += method;
    r += ' ';
    r += target;
    r += " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: simtest\r\nAccept: application/json\r\n";
    if (auth) r += "X-API-Key: " + demo_key + "\r\nX-API-Secret: " + demo_secret + "\r\n";
    for (auto const& [k, v] : headers) r += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST") {
        r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    }
    r += "\r\n";
    r += body;
    return r;
}

inline std::string api_path(std::string_view p) { return "/api/v1/" + std::string(p); }

/// One keep-alive connection; every operation gives up after `timeout`.
class client {
public:
    explicit client(std::uint16_t port, std::chrono::milliseconds timeout = 5s) : sock_(ioc_), timeout_(timeout) {
        boost::system::error_code ec;
        bool done = false;
        sock_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](auto e) {
            ec = e;
            done = true;
        });
        run(done, ec);
        if (ec) throw boost::system::system_error(ec, "connect");
    }

    boost::system::error_code send(std::string_view bytes) {
        boost::system::error_code ec;
        bool done = false;
        net::async_write(sock_, net::buffer(bytes), [&](auto e, std::size_t) {
            ec = e;
            done = true;
        });
        run(done, ec);
        return ec;
    }

    response read() {
        response r;
        http::response_parser<http::string_body> p;
        p.body_limit(256u << 20);
        bool done = false;
        http::async_read(sock_, buf_, p, [&](auto e, std::size_t) {
            r.ec = e;
            done = true;
        });
        run(done, r.ec);
        if (r.ec) return r;
        r.chunked = p.chunked();
        auto msg = p.release();
        r.status = msg.result_int();
        r.headers = msg.base();
        r.body = std::move(msg.body());
        boost::system::error_code jec;
        r.json = json::parse(r.body, jec);
        if (jec) r.json = nullptr;
        return r;
    }

    /// Reads whatever arrives until EOF/error or `bound`; the error that ended it in `ec`.
    std::string read_all(boost::system::error_code& ec, std::chrono::milliseconds bound = 5s) {
        std::string out(static_cast<char const*>(buf_.data().data()), buf_.size());
        buf_.consume(buf_.size());
        auto until = std::chrono::steady_clock::now() + bound;
        for (;;) {
            char tmp[4096];
            std::size_t n = 0;
            bool done = false;
            ec = {};
            sock_.async_read_some(net::buffer(tmp), [&](auto e, std::size_t k) {
                ec = e;
                n = k;
                done = true;
            });
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            run(done, ec, std::max(left, 1ms));
            out.append(tmp, n);
            if (ec) return out;
        }
    }

    /// Sends one request and reads its response.
    response request(std::string_view method, std::string_view target, std::string_view body = {},
                     std::vector<std::pair<std::string, std::string>> const& headers = {}, bool auth = true) {
        if (auto ec = send(make_request(method, target, body, headers, auth))) {
            response r;
            r.ec = ec;
            return r;
        }
        return read();
    }
    response get(std::string_view path, std::vector<std::pair<std::string, std::string>> const& headers = {}) {
        return request("GET", api_path(path), {}, headers);
    }
    response post(std::string_view path, std::string_view body,
                  std::vector<std::pair<std::string, std::string>> const& headers = {}) {
        return request("POST", api_path(path), body, headers);
    }
    response admin(std::string_view method, std::string_view path, std::string_view body = {}) {
        return request(method, "/_sim/" + std::string(path), body, {{"X-Sim-Admin", admin_token}}, false);
    }

    tcp::socket& socket() { return sock_; }

private:
    void run(bool& done, boost::system::error_code& ec, std::chrono::milliseconds bound = std::chrono::milliseconds(0)) {
        ioc_.restart();
        ioc_.run_for(bound.count() > 0 ? bound : timeout_);
        if (!done) {
            boost::system::error_code ignored;
            sock_.cancel(ignored);
            ioc_.restart();
            ioc_.run();
            ec = net::error::timed_out;
        }
    }

    net::io_context ioc_;
    tcp::socket sock_;
    beast::flat_buffer buf_;
    std::chrono::milliseconds timeout_;
};

/// One request on a fresh connection.
inline response once(std::uint16_t port, std::string_view method, std::string_view target, std::string_view body = {},
                     std::vector<std::pair<std::string, std::string>> const& headers = {}, bool auth = true) {
    client c(port);
    return c.request(method, target, body, headers, auth);
}

inline money amount(json::value const& v) {
    if (v.is_int64()) return money::from_vnd(v.as_int64());
    if (v.is_uint64()) return money::from_vnd(static_cast<std::int64_t>(v.as_uint64()));
    if (v.is_double()) return *money::from_double(v.as_double());
    if (v.is_string()) return *money::parse(v.as_string());
    FAIL("not an amount: " << json::serialize(v));
    return {};
}

/// A create body for one item.
inline std::string create_body(std::int64_t plan_id, std::int64_t quantity = 1, std::string const& extra_item = {},
                               std::string const& coupon = {}) {
    std::string b = R"({"items":[{"plan_id":)" + std::to_string(plan_id) + R"(,"quantity":)" + std::to_string(quantity);
    if (!extra_item.empty()) b += "," + extra_item;
    b += "}]";
    if (!coupon.empty()) b += R"(,"coupon_code":")" + coupon + "\"";
    b += "}";
    return b;
}

} // namespace simtest
