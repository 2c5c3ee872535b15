// bench_limiter: the cost of a rate-limiter acquire that does not wait (the strand round
// trip plus the window bookkeeping, and the bookkeeping alone; medians of RUNS runs in ns),
// and with `paced`, the share of a server's allowed rate the limiter achieves: 200 requests
// from 64 coroutines against the simulator limited to 20 per 2 s (target: at least 95% of
// the server's effective rate and never above it; exit status 1 when missed).
//
//     build/bin/bench_limiter [RUNS=7]
//     build/bin/bench_limiter paced
#include <shop/client.hpp>
#include <shop/detail/protocol/rate_window.hpp>
#include <shop/rate_limiter.hpp>
#include <shop/testing/simulator.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// ns per async_acquire, chained one after another on a single-threaded io_context.
double async_acquire_ns(int n) {
    boost::asio::io_context io;
    shop::limiter_options o;
    o.requests_per_window = 2'000'000'000; // never waits
    o.daily_limit = 0;
    auto lim = shop::rate_limiter::create(io.get_executor(), o);
    int left = n;
    std::function<void(shop::error_code)> next = [&](shop::error_code ec) {
        if (ec) std::abort();
        if (--left > 0) lim->async_acquire(shop::request_priority::high, next);
    };
    auto t0 = clock_type::now();
    lim->async_acquire(shop::request_priority::high, next);
    io.run();
    return std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / n;
}

/// ns per rate_window::try_acquire that is granted (a full window, so the deque rolls).
double window_ns(int n) {
    shop::detail::rate_window w(60, std::chrono::milliseconds(1), std::chrono::milliseconds(0), 0);
    auto now = clock_type::now();
    auto t0 = clock_type::now();
    for (int i = 0; i < n; ++i) {
        now += std::chrono::microseconds(20); // 60 per ms allowed, 50 per ms sent
        if (w.try_acquire(now, 0).verdict != shop::detail::window_decision::kind::granted) std::abort();
    }
    return std::chrono::duration<double, std::nano>(clock_type::now() - t0).count() / n;
}

/// 200 account_info calls from 64 coroutines sharing one client, against a server allowing
/// 20 per 2 s. The server counts whole seconds (ts >= now - 2), so its window spans up to
/// 3 s: 20 per 3 s is the most it lets through. After the first burst of 20, the rate of the
/// remaining 180 is compared with that.
int paced() {
    using namespace std::chrono_literals;
    namespace asio = boost::asio;
    shop::testing::simulator_options so;
    so.rate_limit_override = 20;
    so.rate_window = 2s;
    asio::io_context server_io;
    shop::testing::simulator sim(server_io.get_executor(), so);
    std::thread server([&] { server_io.run(); });

    asio::io_context io;
    shop::client_config cfg;
    cfg.base_url = sim.base_url();
    cfg.api_key = std::string(shop::testing::demo_api_key);
    cfg.api_secret = std::string(shop::testing::demo_api_secret);
    cfg.limiter.requests_per_window = 20;
    cfg.limiter.window = 2s;
    cfg.limiter.safety_margin = 1100ms;  // the server's whole second plus 100 ms of jitter
    cfg.timeouts.total = 10s;
    shop::client c(io.get_executor(), cfg);
    int const total = 200;
    int next = 0, ok = 0, failed = 0;
    std::vector<clock_type::time_point> done_at;
    for (int w = 0; w < 64; ++w)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                while (next < total) {
                    ++next;
                    auto r = co_await c.account_info(asio::as_tuple(asio::use_awaitable));
                    std::get<0>(r) ? ++failed : ++ok;
                    done_at.push_back(clock_type::now());
                }
            },
            asio::detached);
    io.run_for(120s);
    auto const refused = sim.state().stats().rate_limited;
    sim.stop();
    server.join();
    double const seconds = std::chrono::duration<double>(done_at.back() - done_at.front()).count();
    double const achieved = 180.0 / seconds, allowed = 20.0 / 3.0;
    bool const met = ok == total && failed == 0 && refused == 0 && achieved >= 0.95 * allowed && achieved <= allowed * 1.01;
    std::printf("paced: %d ok, %d failed, %llu refused by the server; the last 180 at %.3f/s over %.1f s, the "
                "server allows %.3f/s: %.1f%% (target 95%%..101%%, no refusal: %s)\n",
                ok, failed, static_cast<unsigned long long>(refused), achieved, seconds, allowed,
                100.0 * achieved / allowed, met ? "met" : "MISSED");
    return met ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "paced") return paced();
    int runs = argc > 1 ? std::atoi(argv[1]) : 7;
    std::vector<double> a, w;
    for (int i = 0; i < runs; ++i) {
        a.push_back(async_acquire_ns(500'000));
        w.push_back(window_ns(5'000'000));
    }
    std::printf("async_acquire without waiting: median %.0f ns (min %.0f, max %.0f) over %d runs\n", median(a),
                *std::min_element(a.begin(), a.end()), *std::max_element(a.begin(), a.end()), runs);
    std::printf("rate_window::try_acquire alone: median %.1f ns (min %.1f, max %.1f)\n", median(w),
                *std::min_element(w.begin(), w.end()), *std::max_element(w.begin(), w.end()));
}
