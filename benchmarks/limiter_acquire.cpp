// Cost of a rate-limiter acquire that does not wait: the strand round trip plus the window
// bookkeeping, and the bookkeeping alone. Prints the median of several runs in ns.
#include <shop/detail/rate_window.hpp>
#include <shop/rate_limiter.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
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

} // namespace

int main(int argc, char** argv) {
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
