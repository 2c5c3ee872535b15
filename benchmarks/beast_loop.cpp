// bench_beast: the floor under shop-bench. A plain Boost.Beast coroutine loop: one
// connection per worker (no pool), the request serialised once, a reused read buffer, the
// answer read into a string body and only its status checked (no limiter, no typed parsing,
// no retries). What shop-bench spends beyond this is the library's own overhead.
//
//   bench_beast --url 'http://127.0.0.1:8080/api/v1/orders/status?trans_id=T' --connections 64 --duration 10 --json
#include "bench_report.hpp"

#include <CLI/CLI.hpp>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/url.hpp>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using bench::clock_type;
using namespace std::chrono_literals;

namespace {

struct options {
    std::string url;
    std::string api_key, api_secret;
    std::string method = "GET";
    std::string body;
    unsigned connections = 64;
    double duration = 10;
    double warmup = 1;
    bool json = false;
};

struct shared_state {
    std::atomic<bool> recording{false};
    std::atomic<bool> stopping{false};
};

struct worker_stats {
    std::uint64_t requests = 0;
    std::map<std::string, std::uint64_t> errors;
    bench::latency_histogram latency = bench::make_latency_histogram();
};

asio::awaitable<void> worker(tcp::endpoint ep, std::string const& wire, shared_state& st, worker_stats& w) {
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    bool connected = false;
    while (!st.stopping.load(std::memory_order_relaxed)) {
        bool const counted = st.recording.load(std::memory_order_relaxed);
        auto const t0 = clock_type::now();
        beast::error_code ec;
        if (!connected) {
            std::tie(ec) = co_await stream.async_connect(ep, asio::as_tuple(asio::use_awaitable));
            connected = !ec;
            buf.clear();
        }
        if (!ec) std::tie(ec, std::ignore) = co_await asio::async_write(stream, asio::buffer(wire), asio::as_tuple(asio::use_awaitable));
        if (!ec) {
            res = {};
            std::tie(ec, std::ignore) = co_await http::async_read(stream, buf, res, asio::as_tuple(asio::use_awaitable));
        }
        bool const ok = !ec && res.result_int() < 300;
        if (ec || !res.keep_alive()) {
            stream.socket().close(ec);
            connected = false;
        }
        if (!counted || !st.recording.load(std::memory_order_relaxed)) continue;
        if (ok) {
            ++w.requests;
            w.latency(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
        } else {
            ++w.errors[ec ? ec.message() : "HTTP " + std::to_string(res.result_int())];
        }
    }
}

int run(options const& o) {
    boost::system::result<boost::urls::url_view> u = boost::urls::parse_uri(o.url);
    if (!u || u->scheme() != "http" || u->host().empty()) {
        std::fprintf(stderr, "bench_beast: --url must be an http:// URL\n");
        return 2;
    }
    std::string const port = u->has_port() ? std::string(u->port()) : "80";
    std::string target = std::string(u->encoded_path());
    if (u->has_query()) target += "?" + std::string(u->encoded_query());
    std::string wire = o.method + " " + target + " HTTP/1.1\r\nHost: " + std::string(u->encoded_host()) +
                       (u->has_port() ? ":" + port : "") + "\r\nUser-Agent: bench_beast\r\nAccept: application/json\r\n";
    if (!o.api_key.empty()) wire += "X-API-Key: " + o.api_key + "\r\nX-API-Secret: " + o.api_secret + "\r\n";
    if (!o.body.empty() || o.method == "POST")
        wire += "Content-Type: application/json\r\nContent-Length: " + std::to_string(o.body.size()) + "\r\n";
    wire += "\r\n" + o.body;

    asio::io_context io(1);
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto resolved = resolver.resolve(std::string(u->encoded_host()), port, ec);
    if (ec || resolved.empty()) {
        std::fprintf(stderr, "bench_beast: cannot resolve %s\n", std::string(u->encoded_host()).c_str());
        return 2;
    }
    tcp::endpoint const ep = *resolved.begin();

    shared_state st;
    std::vector<worker_stats> stats(o.connections);
    auto const rss_before = bench::rss_bytes();
    for (unsigned i = 0; i < o.connections; ++i) asio::co_spawn(io, worker(ep, wire, st, stats[i]), asio::detached);
    std::thread runner([&] { io.run(); });

    std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
    double const cpu0 = bench::cpu_seconds();
    auto const t0 = clock_type::now();
    st.recording = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.duration));
    st.recording = false;
    auto const t1 = clock_type::now();
    double const cpu1 = bench::cpu_seconds();
    st.stopping = true;
    io.stop();
    runner.join();

    bench::report r;
    r.client = "beast-loop";
    r.workload = o.method == "POST" ? "create" : "status";
    r.url = o.url;
    r.connections = r.concurrency = o.connections;
    r.seconds = std::chrono::duration<double>(t1 - t0).count();
    r.cpu = cpu1 - cpu0;
    r.peak_rss = bench::peak_rss_bytes();
    r.rss_before = rss_before;
    r.max_in_flight = o.connections;
    for (auto& w : stats) {
        r.requests += w.requests;
        for (auto const& [what, n] : w.errors) r.errors[what] += n;
        r.latency += w.latency;
    }
    bench::print_text(o.json ? stderr : stdout, r);
    if (o.json) std::printf("%s\n", bench::to_json(r).c_str());
    return r.requests ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"bench_beast: a plain Beast keep-alive loop, the floor under shop-bench"};
    app.add_option("--url", o.url, "full URL, query included")->required();
    app.add_option("--api-key", o.api_key)->envname("SHOP_API_KEY");
    app.add_option("--api-secret", o.api_secret)->envname("SHOP_API_SECRET");
    app.add_option("--method", o.method)->default_val("GET");
    app.add_option("--body", o.body, "request body (POST)");
    app.add_option("--connections", o.connections)->default_val(64)->check(CLI::Range(1u, 100000u));
    app.add_option("--duration", o.duration)->default_val(10)->check(CLI::PositiveNumber);
    app.add_option("--warmup", o.warmup)->default_val(1)->check(CLI::NonNegativeNumber);
    app.add_flag("--json", o.json);
    CLI11_PARSE(app, argc, argv);
    return run(o);
}
