// The limiter's bookkeeping, free of I/O and clocks: a rolling window of send times, a
// per-server-day counter and a cool-down. Time is always passed in, so it is tested with
// made-up time points and no sleeps.
#pragma once

#include <shop/window_store.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

namespace shop::detail {

/// Index of the server's calendar day: days since the epoch in the server's time zone
/// (the deployed shops count the daily limit from local midnight, UTC+7).
inline std::int64_t server_day(std::chrono::system_clock::time_point now, std::chrono::seconds utc_offset) {
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()) + utc_offset;
    auto days = secs.count() / 86400;
    if (secs.count() < 0 && secs.count() % 86400 != 0) --days;
    return days;
}

/// The next server midnight after `now`, as a system_clock time.
inline std::chrono::system_clock::time_point next_server_midnight(std::chrono::system_clock::time_point now,
                                                                  std::chrono::seconds utc_offset) {
    auto day = server_day(now, utc_offset);
    return std::chrono::system_clock::time_point(std::chrono::seconds((day + 1) * 86400) - utc_offset);
}

using window_decision = shop::window_decision;

/// Guarantees at most `limit` sends in any interval of length `window + margin`, and at
/// most `daily_limit` sends per server day. Every granted send counts, whatever its fate.
/// A limit of 0 turns the window off (the day and the cool-downs still apply).
class rate_window final : public window_store {
public:

    rate_window(std::uint32_t limit, duration window, duration margin, std::uint32_t daily_limit)
        : limit_(limit), span_(window + margin), daily_limit_(daily_limit) {}

    /// Decides and, when granted, records the send.
    window_decision try_acquire(time_point now, std::int64_t day) override {
        roll_day(day);
        if (exhausted_day_ == day_ || (daily_limit_ && used_today_ >= daily_limit_))
            return {window_decision::kind::daily_exhausted, {}};
        if (now < cooldown_until_) return {window_decision::kind::wait, cooldown_until_};
        if (limit_ != 0) {
            drop_expired(now);
            if (sends_.size() >= limit_) return {window_decision::kind::wait, sends_.front() + span_};
            sends_.push_back(now);
        }
        ++used_today_;
        return {};
    }

    /// The server refused for the rate limit: nothing goes out for a full window, and the
    /// key's real limit is evidently lower than ours (a changed key, another process using
    /// it), so the rate is halved until adopt() restores the server's numbers. Refusals
    /// arriving during the cool-down belong to the same burst and change nothing more.
    void penalize(time_point now) override {
        if (now < cooldown_until_) return;
        if (limit_ > 1) limit_ /= 2;
        cooldown_until_ = now + span_;
        sends_.clear();
    }

    /// The server says the day is used up: refuse until the day changes.
    void exhaust_day(std::int64_t day) override {
        roll_day(day);
        exhausted_day_ = day;
    }

    /// Adopt the server's numbers (from /account/info). `used_today` is the server's count
    /// for today; the local count never goes below it.
    void adopt(std::uint32_t limit, duration window, duration margin, std::uint32_t daily_limit,
               std::uint32_t used_today, std::int64_t day) override {
        limit_ = limit;
        span_ = window + margin;
        daily_limit_ = daily_limit;
        roll_day(day);
        used_today_ = std::max(used_today_, used_today);
        while (sends_.size() > limit_) sends_.pop_front();
    }

    std::uint32_t limit() const noexcept { return limit_; }
    duration span() const noexcept { return span_; }
    std::uint32_t daily_limit() const noexcept { return daily_limit_; }
    std::uint32_t used_today() const noexcept override { return used_today_; }
    time_point cooldown_until() const noexcept { return cooldown_until_; }
    /// Sends inside the current window (as of the last call).
    std::size_t in_window() const noexcept { return sends_.size(); }

private:
    void roll_day(std::int64_t day) {
        if (day != day_) {
            day_ = day;
            used_today_ = 0;
        }
    }
    void drop_expired(time_point now) {
        while (!sends_.empty() && now - sends_.front() >= span_) sends_.pop_front();
    }

    std::uint32_t limit_;
    duration span_;
    std::uint32_t daily_limit_;
    std::deque<time_point> sends_; ///< at most `limit_` most recent sends, oldest first
    time_point cooldown_until_{};
    std::int64_t day_ = INT64_MIN;
    std::int64_t exhausted_day_ = INT64_MIN;
    std::uint32_t used_today_ = 0;
};

} // namespace shop::detail
