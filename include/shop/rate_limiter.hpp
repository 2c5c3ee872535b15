// A strand-guarded client-side rate limiter that keeps an API key under the server's
// per-minute and per-day limits. Shareable by every client that uses the same key.
#pragma once

#include <shop/detail/rate_window.hpp>
#include <shop/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>

namespace shop {

/// Limiter settings. Defaults match a key as the shops issue it (60/minute, 10,000/day).
struct limiter_options {
    /// Requests allowed per rolling window. 0 turns the window off; the daily limit and the
    /// cool-down after a server refusal still apply.
    std::uint32_t requests_per_window = 60;
    std::chrono::milliseconds window = std::chrono::seconds(60);
    /// Added to the window: the server checks with one-second timestamps at its receive time,
    /// and the network adds jitter, so an exact 60.000 s would be refused now and then.
    std::chrono::milliseconds safety_margin = std::chrono::seconds(1);
    /// Requests allowed per server day; 0 = no daily bound.
    std::uint32_t daily_limit = 10000;
    /// The server's time zone; its day starts at local midnight (Vietnam: UTC+7).
    std::chrono::seconds server_utc_offset = std::chrono::hours(7);
    /// Longest an acquire waits for a slot before errc::rate_limited_locally; 0 = unbounded
    /// here (the request's own total deadline still bounds it).
    std::chrono::milliseconds max_wait = std::chrono::minutes(5);
};

/// Who waits first: order creation is never starved by status polling.
enum class request_priority { high, low };

class rate_limiter : public std::enable_shared_from_this<rate_limiter> {
    struct private_tag {};

public:
    using executor_type = boost::asio::any_io_executor;
    using clock = std::chrono::steady_clock;

    /// Counters, read from the strand's point of view (a snapshot).
    struct stats_snapshot {
        std::uint64_t granted = 0, /** times the limiter had to sleep */ waited = 0, timed_out = 0, cancelled = 0, cooldowns = 0;
        std::uint32_t used_today = 0;
        std::size_t waiting = 0;
    };

    /// A limiter counting in `store`, or in memory (this process only) when null.
    static std::shared_ptr<rate_limiter> create(executor_type ex, limiter_options opts = {},
                                                std::unique_ptr<window_store> store = nullptr) {
        if (!store)
            store = std::make_unique<detail::rate_window>(opts.requests_per_window, opts.window, opts.safety_margin,
                                                          opts.daily_limit);
        return std::make_shared<rate_limiter>(private_tag{}, std::move(ex), opts, std::move(store));
    }

    rate_limiter(private_tag, executor_type ex, limiter_options opts, std::unique_ptr<window_store> store)
        : strand_(boost::asio::make_strand(ex)), opts_(opts), window_(std::move(store)), timer_(strand_) {}

    const limiter_options& options() const noexcept { return opts_; }

    /// Waits for a slot and counts the request as sent. Completes with an empty error_code,
    /// errc::daily_limit_exceeded (at once, until the server's midnight),
    /// errc::rate_limited_locally (max_wait passed) or errc::cancelled. Supports terminal,
    /// partial and total cancellation (a cancelled waiter has taken no slot).
    template <class Token>
    auto async_acquire(request_priority priority, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code)>(
            [self = shared_from_this()](auto handler, request_priority p) {
                self->initiate(std::move(handler), p);
            },
            token, priority);
    }

    /// The server still said RATE_LIMIT_EXCEEDED: send nothing for a full window.
    void on_rate_limited() {
        boost::asio::dispatch(strand_, [self = shared_from_this()] {
            self->window_->penalize(clock::now());
            ++self->stats_.cooldowns;
            self->pump();
        });
    }

    /// The server said DAILY_LIMIT_EXCEEDED: refuse at once until the server's midnight.
    void on_daily_limited() {
        boost::asio::dispatch(strand_, [self = shared_from_this()] {
            self->window_->exhaust_day(self->today());
            self->pump();
        });
    }

    /// Adopt the server's numbers, e.g. from /account/info (rate_limit, daily_limit and
    /// api_usage_today.total_requests).
    void adopt(std::uint32_t requests_per_minute, std::uint32_t daily_limit, std::uint32_t used_today) {
        boost::asio::dispatch(strand_, [self = shared_from_this(), requests_per_minute, daily_limit, used_today] {
            self->opts_.requests_per_window = requests_per_minute;
            self->opts_.window = std::chrono::seconds(60);
            self->opts_.daily_limit = daily_limit;
            self->window_->adopt(requests_per_minute, self->opts_.window, self->opts_.safety_margin, daily_limit,
                                used_today, self->today());
            self->pump();
        });
    }

    /// A snapshot of the counters, delivered through `token` as void(stats_snapshot).
    template <class Token>
    auto async_stats(Token&& token) {
        return boost::asio::async_initiate<Token, void(stats_snapshot)>(
            [self = shared_from_this()](auto handler) {
                boost::asio::dispatch(self->strand_, [self, h = std::move(handler)]() mutable {
                    auto s = self->stats_;
                    s.used_today = self->window_->used_today();
                    s.waiting = self->high_.size() + self->low_.size();
                    auto ex = boost::asio::get_associated_executor(h, self->strand_.get_inner_executor());
                    boost::asio::post(ex, boost::asio::append(std::move(h), s));
                });
            },
            token);
    }

private:
    /// A waiting handler, type-erased, completed by posting to its own executor (which is
    /// kept busy meanwhile, so its io_context does not run out of work).
    struct completion_base {
        virtual ~completion_base() = default;
        virtual void complete(error_code ec) = 0;
    };
    template <class Handler>
    struct completion : completion_base {
        Handler handler;
        decltype(boost::asio::prefer(boost::asio::get_associated_executor(std::declval<Handler&>(), std::declval<executor_type>()),
                                     boost::asio::execution::outstanding_work.tracked)) work;
        completion(Handler&& h, const executor_type& fallback)
            : handler(std::move(h)),
              work(boost::asio::prefer(boost::asio::get_associated_executor(handler, fallback),
                                       boost::asio::execution::outstanding_work.tracked)) {}
        void complete(error_code ec) override {
            auto ex = std::move(work);
            boost::asio::post(ex, boost::asio::append(std::move(handler), ec));
        }
    };
    using handler_type = std::unique_ptr<completion_base>;

    struct waiter {
        std::uint64_t id;
        handler_type handler;
        boost::asio::cancellation_slot slot;
        clock::time_point deadline;
    };

    std::int64_t today() const {
        return detail::server_day(std::chrono::system_clock::now(), opts_.server_utc_offset);
    }

    template <class Handler>
    void initiate(Handler&& handler, request_priority p) {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
        if (slot.is_connected()) {
            std::weak_ptr<rate_limiter> weak = shared_from_this();
            slot.assign([weak, id](boost::asio::cancellation_type) {
                if (auto self = weak.lock())
                    boost::asio::dispatch(self->strand_, [self, id] { self->cancel_waiter(id); });
            });
        }
        handler_type erased = std::make_unique<completion<std::decay_t<Handler>>>(std::forward<Handler>(handler),
                                                                                  strand_.get_inner_executor());
        boost::asio::dispatch(strand_, [self = shared_from_this(), id, p, slot, h = std::move(erased)]() mutable {
            auto deadline = self->opts_.max_wait.count() > 0 ? clock::now() + self->opts_.max_wait : clock::time_point::max();
            auto& queue = p == request_priority::high ? self->high_ : self->low_;
            queue.push_back(waiter{id, std::move(h), slot, deadline});
            self->pump();
        });
    }

    void complete(waiter& w, error_code ec) {
        if (w.slot.is_connected()) w.slot.clear();
        w.handler->complete(ec);
    }

    void cancel_waiter(std::uint64_t id) {
        for (auto* q : {&high_, &low_})
            for (auto it = q->begin(); it != q->end(); ++it)
                if (it->id == id) {
                    ++stats_.cancelled;
                    waiter w = std::move(*it);
                    q->erase(it);
                    complete(w, make_error_code(errc::cancelled));
                    pump();
                    return;
                }
    }

    /// Grants what the window allows, in priority then FIFO order, and arms the timer for
    /// the next possible grant or the next waiter's deadline.
    void pump() {
        auto now = clock::now();
        auto day = today();
        clock::time_point wake = clock::time_point::max();
        while (!high_.empty() || !low_.empty()) {
            auto& q = high_.empty() ? low_ : high_;
            auto decision = window_->try_acquire(now, day);
            if (decision.verdict == window_decision::kind::granted) {
                ++stats_.granted;
                complete(q.front(), {});
                q.pop_front();
                continue;
            }
            if (decision.verdict == window_decision::kind::daily_exhausted) {
                for (auto* dq : {&high_, &low_}) {
                    for (auto& w : *dq) complete(w, make_error_code(errc::daily_limit_exceeded));
                    dq->clear();
                }
                break;
            }
            wake = decision.not_before;
            break;
        }
        // Waiters past their bound give up; the earliest remaining deadline also wakes us.
        for (auto* q : {&high_, &low_})
            for (auto it = q->begin(); it != q->end();) {
                if (it->deadline <= now) {
                    ++stats_.timed_out;
                    complete(*it, make_error_code(errc::rate_limited_locally));
                    it = q->erase(it);
                } else {
                    wake = std::min(wake, it->deadline);
                    ++it;
                }
            }
        if ((high_.empty() && low_.empty()) || wake == clock::time_point::max()) {
            if (armed_) timer_.cancel();
            armed_ = false;
            return;
        }
        if (armed_ && armed_for_ == wake) return;
        armed_ = true;
        armed_for_ = wake;
        ++stats_.waited;
        timer_.expires_at(wake);
        timer_.async_wait([self = shared_from_this()](error_code ec) {
            if (ec == boost::asio::error::operation_aborted) return;
            self->armed_ = false;
            self->pump();
        });
    }

    boost::asio::strand<executor_type> strand_;
    limiter_options opts_;
    std::unique_ptr<window_store> window_;
    boost::asio::steady_timer timer_;
    bool armed_ = false;
    clock::time_point armed_for_{};
    std::deque<waiter> high_, low_;
    std::atomic<std::uint64_t> next_id_{1};
    stats_snapshot stats_;
};

} // namespace shop
