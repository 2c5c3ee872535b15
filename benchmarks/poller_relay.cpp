// bench_poller: what pipelining gains over a real round trip. The kernel here has no netem,
// so a loopback TCP relay (tests/tcp_relay.hpp) holds every chunk 10 ms in each direction
// between the status poller and the in-process simulator (20 ms round trip). ORDERS
// statuses of instant orders over 2 connections, client limiter off, depth 16 against
// depth 1, RUNS times alternating. Prints each run, the medians and the ratio of the
// medians, and checks the target: depth 16 at least 8x faster (exit status 1 when missed).
//
// Status reads only (poll_options::use_listing off): pipelining is what this measures;
// `watch` measures the listing.
//
// `watch`: watching on a budget. ORDERS (200) manual orders the simulator moves to
// processing after 1 s and completed after 3 s, watched until delivered at the default
// intervals (1 s, ×1.5) over a direct loopback connection, with listing pages where they are
// cheaper and with status reads only, RUNS times alternating. Prints the requests the shop
// received (statuses and pages) per order, and checks the target: at most 1.5 with the
// listing (exit status 1 when missed).
//
//     build/bin/bench_poller [RUNS=3] [ORDERS=1000]
//     build/bin/bench_poller watch [RUNS=3] [ORDERS=200]
#include "../tests/tcp_relay.hpp"

#include <shop/shop.hpp>
#include <shop/status_poller.hpp>
#include <shop/testing/simulator.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

shop::client_config config_for(std::string base_url) {
    shop::client_config cfg;
    cfg.base_url = std::move(base_url);
    cfg.api_key = std::string(shop::testing::demo_api_key);
    cfg.api_secret = std::string(shop::testing::demo_api_secret);
    cfg.limiter.requests_per_window = 0;
    cfg.timeouts.total = 30s;
    return cfg;
}

template <class T>
T run(asio::io_context& io, asio::awaitable<T> aw) {
    T out{};
    std::exception_ptr ep;
    asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
        ep = e;
        out = std::move(v);
    });
    io.restart();
    io.run();
    if (ep) std::rethrow_exception(ep);
    return out;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// Seconds to poll every id once to its terminal status at `depth`; exits on any failure.
double timed_poll(asio::io_context& io, std::string const& base_url, std::vector<std::string> const& ids,
                  std::size_t depth) {
    shop::client c(io.get_executor(), config_for(base_url));
    shop::status_poller poller(c, {.connections = 2, .pipeline_depth = depth, .use_listing = false, .deadline = 120s});
    auto t0 = clock_type::now();
    auto results = run(io, poller.async_poll(ids, {}));
    double const seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    for (auto const& r : results)
        if (!r.terminal) {
            std::fprintf(stderr, "order %s did not reach a terminal status: %s\n", r.trans_id.c_str(),
                         r.diag.to_string().c_str());
            std::exit(2);
        }
    return seconds;
}

struct watch_figures {
    double seconds = 0;
    std::uint64_t requests = 0, pages = 0;
};

// Places `orders` manual orders on a fresh simulator and watches them until delivered.
watch_figures watch_run(std::size_t orders, bool listing) {
    shop::testing::simulator_options so;
    so.rate_limit_override = 100'000'000;
    so.daily_limit_override = 100'000'000;
    so.processing_after = 1s;
    so.completed_after = 3s;
    asio::io_context server_io;
    shop::testing::simulator sim(server_io.get_executor(), so);
    std::thread server([&] { server_io.run(); });
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim.base_url()));
    std::vector<std::string> ids;
    while (ids.size() < orders) {
        shop::create_order_request req;
        for (std::size_t i = 0; i < 20 && ids.size() + req.items.size() < orders; ++i) req.items.push_back({.plan_id = 904});
        auto placed = run(io, c.create_order(req));
        for (auto& o : placed.orders) ids.push_back(o.trans_id);
    }
    auto count = [&] {
        auto st = sim.state().stats();
        return st.requests[static_cast<std::size_t>(shop::testing::endpoint::orders_status)] +
               st.requests[static_cast<std::size_t>(shop::testing::endpoint::orders_list)];
    };
    auto const before = count();
    shop::status_poller poller(c, {.use_listing = listing, .deadline = 120s});
    auto t0 = clock_type::now();
    auto results = run(io, poller.async_poll(ids, {}));
    watch_figures f;
    f.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
    f.requests = count() - before;
    f.pages = poller.stats().list_pages_read;
    for (auto const& r : results)
        if (!r.terminal || !r.last || r.last->delivery.items.empty()) {
            std::fprintf(stderr, "order %s was not delivered: %s\n", r.trans_id.c_str(), r.diag.to_string().c_str());
            std::exit(2);
        }
    sim.stop();
    server.join();
    return f;
}

int watch_main(int runs, std::size_t orders) {
    std::printf("| run | listing: requests | per order | pages | s | status only: requests | per order | s |\n"
                "|---|---|---|---|---|---|---|---|\n");
    std::vector<double> with, without;
    for (int i = 0; i < runs; ++i) {
        watch_figures a, b;
        if (i % 2 == 0) {
            a = watch_run(orders, true);
            b = watch_run(orders, false);
        } else {
            b = watch_run(orders, false);
            a = watch_run(orders, true);
        }
        double const pa = static_cast<double>(a.requests) / static_cast<double>(orders);
        double const pb = static_cast<double>(b.requests) / static_cast<double>(orders);
        with.push_back(pa);
        without.push_back(pb);
        std::printf("| %d | %llu | %.2f | %llu | %.1f | %llu | %.2f | %.1f |\n", i + 1,
                    static_cast<unsigned long long>(a.requests), pa, static_cast<unsigned long long>(a.pages), a.seconds,
                    static_cast<unsigned long long>(b.requests), pb, b.seconds);
        std::fflush(stdout);
    }
    bool const met = median(with) <= 1.5;
    std::printf("\n%zu manual orders watched until delivered: median %.2f requests per order with the listing, %.2f "
                "with status reads only (target <= 1.5: %s)\n",
                orders, median(with), median(without), met ? "met" : "MISSED");
    return met ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "watch") {
        int const runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
        std::size_t const orders = argc > 3 ? static_cast<std::size_t>(std::max(1, std::atoi(argv[3]))) : 200;
        return watch_main(runs, orders);
    }
    int const runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 3;
    std::size_t const orders = argc > 2 ? static_cast<std::size_t>(std::max(1, std::atoi(argv[2]))) : 1000;

    shop::testing::simulator_options so;
    so.rate_limit_override = 100'000'000;
    so.daily_limit_override = 100'000'000;
    asio::io_context server_io;
    shop::testing::simulator sim(server_io.get_executor(), so);
    std::thread server([&] { server_io.run(); });

    asio::io_context io;
    std::vector<std::string> ids;
    {
        shop::client direct(io.get_executor(), config_for(sim.base_url()));
        while (ids.size() < orders) {
            shop::create_order_request req;
            for (std::size_t i = 0; i < 20 && ids.size() + req.items.size() < orders; ++i)
                req.items.push_back({.plan_id = 900});
            auto placed = run(io, direct.create_order(req));
            for (auto& o : placed.orders) ids.push_back(o.trans_id);
        }
    }

    std::vector<double> deep, shallow;
    std::printf("| run | depth 1 (s) | depth 16 (s) | ratio |\n|---|---|---|---|\n");
    for (int i = 0; i < runs; ++i) {
        simtest::tcp_relay relay(sim.port(), 10ms, 600s);
        // Alternate which goes first, so a slow phase of the machine does not favour one.
        double d1 = 0, d16 = 0;
        if (i % 2 == 0) {
            d16 = timed_poll(io, relay.base_url(), ids, 16);
            d1 = timed_poll(io, relay.base_url(), ids, 1);
        } else {
            d1 = timed_poll(io, relay.base_url(), ids, 1);
            d16 = timed_poll(io, relay.base_url(), ids, 16);
        }
        deep.push_back(d16);
        shallow.push_back(d1);
        std::printf("| %d | %.3f | %.3f | %.1fx |\n", i + 1, d1, d16, d1 / d16);
        std::fflush(stdout);
    }
    double const ratio = median(shallow) / median(deep);
    bool const met = ratio >= 8.0;
    std::printf("\n%zu statuses, 2 connections, 20 ms round trip: median depth 1 %.3f s, depth 16 %.3f s, "
                "ratio %.1fx (target >= 8x: %s)\n",
                ids.size(), median(shallow), median(deep), ratio, met ? "met" : "MISSED");
    sim.stop();
    server.join();
    return met ? 0 : 1;
}
