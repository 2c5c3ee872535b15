// The rate limiter: its I/O-free window with made-up time, then the strand-guarded Asio layer.
#include <shop/detail/protocol/rate_window.hpp>
#include <shop/rate_limiter.hpp>

#include "timing.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <thread>

using namespace std::chrono_literals;
using shop::detail::rate_window;
using shop::detail::window_decision;
using tp = std::chrono::steady_clock::time_point;

TEST_CASE("rate_window: at most N per window+margin, then waits for the oldest to expire") {
    rate_window w(3, 60s, 1s, 0);
    tp t0{};
    for (int i = 0; i < 3; ++i) CHECK(w.try_acquire(t0 + i * 1s, 0).verdict == window_decision::kind::granted);
    auto d = w.try_acquire(t0 + 10s, 0);
    REQUIRE(d.verdict == window_decision::kind::wait);
    CHECK(d.not_before == t0 + 61s);
    CHECK(w.try_acquire(t0 + 61s - 1ms, 0).verdict == window_decision::kind::wait);
    CHECK(w.try_acquire(t0 + 61s, 0).verdict == window_decision::kind::granted);
    CHECK(w.try_acquire(t0 + 61s, 0).verdict == window_decision::kind::wait);
    CHECK(w.try_acquire(t0 + 62s, 0).verdict == window_decision::kind::granted);
}

TEST_CASE("rate_window: daily limit per server day, refused until the day changes") {
    rate_window w(1000, 60s, 1s, 2);
    tp t{};
    CHECK(w.try_acquire(t, 100).verdict == window_decision::kind::granted);
    CHECK(w.try_acquire(t, 100).verdict == window_decision::kind::granted);
    CHECK(w.try_acquire(t, 100).verdict == window_decision::kind::daily_exhausted);
    CHECK(w.try_acquire(t + 1h, 101).verdict == window_decision::kind::granted);
    w.exhaust_day(101);
    CHECK(w.try_acquire(t + 2h, 101).verdict == window_decision::kind::daily_exhausted);
    CHECK(w.try_acquire(t + 3h, 102).verdict == window_decision::kind::granted);
}

TEST_CASE("rate_window: a server refusal means a full quiet window and half the rate") {
    rate_window w(6, 10s, 1s, 0);
    tp t{};
    CHECK(w.try_acquire(t, 0).verdict == window_decision::kind::granted);
    w.penalize(t + 2s);
    w.penalize(t + 2100ms); // the same burst's other refusals change nothing more
    CHECK(w.limit() == 3);
    auto d = w.try_acquire(t + 3s, 0);
    REQUIRE(d.verdict == window_decision::kind::wait);
    CHECK(d.not_before == t + 13s);
    for (int i = 0; i < 3; ++i) CHECK(w.try_acquire(t + 13s, 0).verdict == window_decision::kind::granted);
    CHECK(w.try_acquire(t + 13s, 0).verdict == window_decision::kind::wait);
    w.adopt(6, 10s, 1s, 0, 0, 0);
    CHECK(w.limit() == 6);
}

TEST_CASE("rate_window: adopting the server's numbers keeps today's usage") {
    rate_window w(60, 60s, 1s, 10000);
    tp t{};
    CHECK(w.try_acquire(t, 7).verdict == window_decision::kind::granted);
    w.adopt(2, 60s, 1s, 50, 49, 7);
    CHECK(w.used_today() == 49);
    CHECK(w.try_acquire(t + 1s, 7).verdict == window_decision::kind::granted);
    CHECK(w.try_acquire(t + 2s, 7).verdict == window_decision::kind::daily_exhausted);
}

TEST_CASE("server_day: midnight in UTC+7") {
    using sys = std::chrono::system_clock;
    // 2026-11-28 16:59:59 UTC is 23:59:59 in Vietnam; one second later is the next day there.
    sys::time_point before(std::chrono::seconds(1795885199));
    auto d0 = shop::detail::server_day(before, 7h);
    CHECK(shop::detail::server_day(before + 1s, 7h) == d0 + 1);
    CHECK(shop::detail::server_day(before, 0h) == shop::detail::server_day(before + 1s, 0h));
    CHECK(shop::detail::next_server_midnight(before, 7h) == before + 1s);
}

TEST_CASE("rate_window: randomized, no window of length W+margin ever holds more than N") {
    std::mt19937 rng(12345);
    for (int round = 0; round < 40; ++round) {
        std::uint32_t n = 1 + rng() % 30;
        auto window = std::chrono::milliseconds(100 + rng() % 5000);
        auto margin = std::chrono::milliseconds(rng() % 1000);
        rate_window w(n, window, margin, 0);
        std::vector<tp> sent;
        tp now{};
        for (int i = 0; i < 3000; ++i) {
            now += std::chrono::milliseconds(rng() % 200);
            auto d = w.try_acquire(now, 0);
            if (d.verdict == window_decision::kind::granted) {
                sent.push_back(now);
            } else {
                REQUIRE(d.verdict == window_decision::kind::wait);
                REQUIRE(d.not_before > now);
                if (rng() % 3 == 0) now = d.not_before; // sometimes wait exactly until allowed
                if (rng() % 50 == 0) w.penalize(now);
            }
        }
        // Every span [sent[i], sent[i] + W + margin) holds at most n sends.
        for (std::size_t i = 0; i < sent.size(); ++i) {
            auto end = std::lower_bound(sent.begin() + i, sent.end(), sent[i] + window + margin);
            REQUIRE(static_cast<std::uint32_t>(end - (sent.begin() + i)) <= n);
        }
        // Something was granted at all (how much of the allowed rate is reached is checked
        // against the simulator in test_client).
        REQUIRE(sent.size() > 0);
    }
}

namespace {
namespace asio = boost::asio;

shop::error_code acquire_sync(asio::io_context& io, std::shared_ptr<shop::rate_limiter> lim,
                              shop::request_priority p = shop::request_priority::high) {
    std::optional<shop::error_code> out;
    lim->async_acquire(p, [&](shop::error_code ec) { out = ec; });
    io.restart();
    while (!out && io.run_one_for(5s)) {
    }
    REQUIRE(out);
    return *out;
}

/// The in-memory window, recording the time of every grant it decides.
struct recording_store final : shop::window_store {
    explicit recording_store(shop::limiter_options const& o)
        : window(o.requests_per_window, o.window, o.safety_margin, o.daily_limit) {}
    shop::window_decision try_acquire(time_point now, std::int64_t day) override {
        auto d = window.try_acquire(now, day);
        if (d.verdict == shop::window_decision::kind::granted) granted_at.push_back(now);
        return d;
    }
    void penalize(time_point now) override { window.penalize(now); }
    void exhaust_day(std::int64_t day) override { window.exhaust_day(day); }
    void adopt(std::uint32_t limit, duration w, duration margin, std::uint32_t daily, std::uint32_t used,
               std::int64_t day) override {
        window.adopt(limit, w, margin, daily, used, day);
    }
    std::uint32_t used_today() const override { return window.used_today(); }

    rate_window window;
    std::vector<time_point> granted_at;  // written on the limiter's strand only
};

shop::rate_limiter::stats_snapshot stats_of(asio::io_context& io, std::shared_ptr<shop::rate_limiter> lim) {
    std::optional<shop::rate_limiter::stats_snapshot> s;
    lim->async_stats([&](shop::rate_limiter::stats_snapshot x) { s = x; });
    REQUIRE(testtime::run_until(io, [&] { return s.has_value(); }));
    return *s;
}
} // namespace

TEST_CASE("rate_limiter: grants within the limit at once, then waits for the window") {
    asio::io_context io;
    shop::limiter_options o;
    o.requests_per_window = 4;
    o.window = 300ms;
    o.safety_margin = 50ms;
    auto lim = shop::rate_limiter::create(io.get_executor(), o);
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 4; ++i) CHECK_FALSE(acquire_sync(io, lim));
    // Granted at once: the limiter never armed its timer (exact, whatever the machine's load).
    CHECK(stats_of(io, lim).waited == 0);
    CHECK_FALSE(acquire_sync(io, lim));
    CHECK(stats_of(io, lim).waited == 1);
    // A lower bound cannot be broken by a slow machine: the fifth waited out the window.
    CHECK(std::chrono::steady_clock::now() - start >= 350ms);
}

TEST_CASE("rate_limiter: high priority waiters go before low ones, FIFO within a class") {
    asio::io_context io;
    shop::limiter_options o;
    o.requests_per_window = 1;
    o.window = 40ms;
    o.safety_margin = 0ms;
    auto lim = shop::rate_limiter::create(io.get_executor(), o);
    CHECK_FALSE(acquire_sync(io, lim)); // uses the only slot
    std::vector<std::string> order;
    auto push = [&](std::string name, shop::request_priority p) {
        lim->async_acquire(p, [&order, name](shop::error_code ec) {
            REQUIRE_FALSE(ec);
            order.push_back(name);
        });
    };
    push("low1", shop::request_priority::low);
    push("low2", shop::request_priority::low);
    push("high1", shop::request_priority::high);
    push("high2", shop::request_priority::high);
    io.restart();
    io.run_for(2s);
    CHECK(order == std::vector<std::string>{"high1", "high2", "low1", "low2"});
}

TEST_CASE("rate_limiter: bounded wait, cancellation, daily limit and cool-down") {
    asio::io_context io;
    shop::limiter_options o;
    o.requests_per_window = 1;
    o.window = 10s;
    o.safety_margin = 0ms;
    o.max_wait = 50ms;
    o.daily_limit = 3;
    auto lim = shop::rate_limiter::create(io.get_executor(), o);
    CHECK_FALSE(acquire_sync(io, lim));
    auto t = std::chrono::steady_clock::now();
    CHECK(acquire_sync(io, lim) == shop::errc::rate_limited_locally);
    CHECK(std::chrono::steady_clock::now() - t < o.max_wait + testtime::slack);  // not the 10 s window

    // Cancellation through the handler's slot: the waiter takes no slot.
    asio::cancellation_signal sig;
    std::optional<shop::error_code> cancelled;
    lim->async_acquire(shop::request_priority::low,
                       asio::bind_cancellation_slot(sig.slot(), [&](shop::error_code ec) { cancelled = ec; }));
    io.restart();
    io.poll();
    sig.emit(asio::cancellation_type::terminal);
    REQUIRE(testtime::run_until(io, [&] { return cancelled.has_value(); }));
    CHECK(*cancelled == shop::errc::cancelled);

    lim->on_daily_limited();
    CHECK(acquire_sync(io, lim) == shop::errc::daily_limit_exceeded);

    auto s = stats_of(io, lim);
    CHECK(s.granted == 1);
    CHECK(s.cancelled == 1);
    CHECK(s.timed_out == 1);
    CHECK(s.waiting == 0);
}

TEST_CASE("rate_limiter: a server refusal pauses sends for a full window") {
    asio::io_context io;
    shop::limiter_options o;
    o.requests_per_window = 100;
    o.window = 200ms;
    o.safety_margin = 0ms;
    auto lim = shop::rate_limiter::create(io.get_executor(), o);
    CHECK_FALSE(acquire_sync(io, lim));
    lim->on_rate_limited();
    auto t = std::chrono::steady_clock::now();
    CHECK_FALSE(acquire_sync(io, lim));
    CHECK(std::chrono::steady_clock::now() - t >= 180ms);
}

TEST_CASE("rate_limiter: many threads, exact count, no window overrun") {
    asio::thread_pool pool(4);
    shop::limiter_options o;
    o.requests_per_window = 50;
    o.window = 100ms;
    o.safety_margin = 0ms;
    // The limiter's own grant decisions are recorded (on its strand): handlers run later,
    // by as much as a busy machine delays them, so their times prove nothing about the window.
    auto store = std::make_unique<recording_store>(o);
    auto& decisions = store->granted_at;
    auto lim = shop::rate_limiter::create(pool.get_executor(), o, std::move(store));
    std::mutex m;
    std::vector<std::chrono::steady_clock::time_point> grants;
    std::atomic<int> done{0}, failures{0};
    const int total = 400;
    for (int i = 0; i < total; ++i)
        asio::post(pool, [&, i] {
            lim->async_acquire(i % 2 ? shop::request_priority::low : shop::request_priority::high,
                               [&](shop::error_code ec) {
                                   // Catch2 assertions are not thread-safe: count, check later.
                                   if (ec) ++failures;
                                   std::lock_guard lk(m);
                                   grants.push_back(std::chrono::steady_clock::now());
                                   ++done;
                               });
        });
    auto until = std::chrono::steady_clock::now() + 20s;
    while (done < total && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
    pool.join();
    REQUIRE(done == total);
    CHECK(failures == 0);
    REQUIRE(grants.size() == total);
    REQUIRE(decisions.size() == total);
    // Decisions are made in time order on the strand: no window of 100 ms holds more than 50.
    REQUIRE(std::is_sorted(decisions.begin(), decisions.end()));
    for (std::size_t i = 0; i < decisions.size(); ++i) {
        auto end = std::lower_bound(decisions.begin() + i, decisions.end(), decisions[i] + o.window);
        REQUIRE(end - (decisions.begin() + i) <= 50);
    }
}
