// Where a rate limiter keeps its counts. The default is in memory, for one process
// (detail::rate_window); a fleet of processes sharing one key plugs in a shared store that
// makes the same decisions.
#pragma once

#include <chrono>
#include <cstdint>

namespace shop {

/// What the window says about sending one more request now.
struct window_decision {
    enum class kind { granted, wait, daily_exhausted } verdict = kind::granted;
    /// For `wait`: the earliest moment the request may go out.
    std::chrono::steady_clock::time_point not_before{};
};

/// The limiter's bookkeeping. Called only from the limiter's strand, so an implementation
/// needs no locking of its own for one limiter; calls should return quickly (a store that
/// talks to a server keeps a local lease of slots and refills it in the background).
class window_store {
public:
    using time_point = std::chrono::steady_clock::time_point;
    using duration = std::chrono::steady_clock::duration;

    virtual ~window_store() = default;
    /// Decides whether one request may go out now and, when granted, counts it.
    virtual window_decision try_acquire(time_point now, std::int64_t server_day) = 0;
    /// The server refused for the rate limit: quiet for a full window.
    virtual void penalize(time_point now) = 0;
    /// The server says the day's requests are used up.
    virtual void exhaust_day(std::int64_t server_day) = 0;
    /// Adopt the server's numbers (/account/info).
    virtual void adopt(std::uint32_t limit, duration window, duration margin, std::uint32_t daily_limit,
                       std::uint32_t used_today, std::int64_t server_day) = 0;
    /// Requests counted for the current server day.
    virtual std::uint32_t used_today() const = 0;
};

} // namespace shop
