// A strand-guarded client-side rate limiter that keeps an API key under the server's
// per-minute and per-day limits. Shareable by every client that uses the same key.
#pragma once

#include <shop/config.hpp>
#include <shop/detail/protocol/rate_window.hpp>
#include <shop/error.hpp>
#include <shop/window_store.hpp>
#include <shop/with_diagnostics.hpp>

#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>

namespace shop {

namespace detail {
struct client_access;
}

class rate_limiter : public std::enable_shared_from_this<rate_limiter> {
    struct private_tag {};

public:
    using executor_type = boost::asio::any_io_executor;
    using clock = std::chrono::steady_clock;

    /// Counters, read from the strand's point of view (a snapshot).
    struct stats_snapshot {
        std::uint64_t granted = 0, /** times the limiter had to sleep */ waited = 0, timed_out = 0, cancelled = 0,
                                   cooldowns = 0;
        std::uint32_t used_today = 0;
        std::size_t waiting = 0;
    };

    /// A limiter counting in `store`, or in memory (this process only) when null.
    static std::shared_ptr<rate_limiter> create(executor_type ex, limiter_options opts = {},
                                                std::unique_ptr<window_store> store = nullptr) {
        bool const in_memory = !store;
        if (!store)
            store = std::make_unique<detail::rate_window>(opts.requests_per_window, opts.window, opts.safety_margin,
                                                          opts.daily_limit);
        auto lim = std::make_shared<rate_limiter>(private_tag{}, std::move(ex), opts, std::move(store));
        // Nothing to count or wait for: no window, no daily limit, the bookkeeping our own.
        lim->unlimited_ = in_memory && opts.requests_per_window == 0 && opts.daily_limit == 0;
        return lim;
    }

    rate_limiter(private_tag, executor_type ex, limiter_options opts, std::unique_ptr<window_store> store)
        : strand_(boost::asio::make_strand(ex)), opts_(opts), window_(std::move(store)), timer_(strand_) {}

    const limiter_options& options() const noexcept { return opts_; }

    /// True while the limiter has nothing to count or wait for (no window, no daily limit,
    /// and the server has never refused): a caller may skip async_acquire altogether. It
    /// turns false for good after a server refusal or adopt().
    bool unlimited() const noexcept { return unlimited_.load(std::memory_order_acquire); }

    /// Waits for a slot and counts the request as sent. Completion: void(error_code): empty,
    /// errc::daily_limit_exceeded (at once, until the server's midnight),
    /// errc::rate_limited_locally (max_wait passed) or errc::cancelled. Supports terminal,
    /// partial and total cancellation (a cancelled waiter has taken no slot).
    template <class Token = default_token>
    auto async_acquire(request_priority priority, Token&& token = {}) {
        return boost::asio::async_initiate<Token, void(error_code)>(acquire_init{shared_from_this()}, token,
                                                                    static_cast<diagnostics*>(nullptr), priority);
    }

    /// The server still said RATE_LIMIT_EXCEEDED: send nothing for a full window.
    void on_rate_limited() {
        unlimited_ = false;
        boost::asio::dispatch(strand_, [self = shared_from_this()] {
            self->window_->penalize(clock::now());
            ++self->stats_.cooldowns;
            self->pump();
        });
    }

    /// The server said DAILY_LIMIT_EXCEEDED: refuse at once until the server's midnight.
    void on_daily_limited() {
        unlimited_ = false;
        boost::asio::dispatch(strand_, [self = shared_from_this()] {
            self->window_->exhaust_day(self->today());
            self->pump();
        });
    }

    /// Adopt the server's numbers, e.g. from /account/info (rate_limit, daily_limit and
    /// api_usage_today.total_requests).
    void adopt(std::uint32_t requests_per_minute, std::uint32_t daily_limit, std::uint32_t used_today) {
        unlimited_ = false;
        boost::asio::dispatch(strand_, [self = shared_from_this(), requests_per_minute, daily_limit, used_today] {
            self->opts_.requests_per_window = requests_per_minute;
            self->opts_.window = std::chrono::seconds(60);
            self->opts_.daily_limit = daily_limit;
            self->window_->adopt(requests_per_minute, self->opts_.window, self->opts_.safety_margin, daily_limit,
                                used_today, self->today());
            self->pump();
        });
    }

    /// A snapshot of the counters. Completion: void(stats_snapshot).
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
    using handler_type = boost::asio::any_completion_handler<void(error_code)>;

    // A waiting acquirer: its handler, type-erased, and outstanding work on the handler's
    // executor (so that its io_context does not run out of work while it waits). Held by
    // shared_ptr: any_completion_handler is never move-assigned (Boost 1.81 recurses there).
    struct waiter {
        waiter(handler_type&& h, boost::asio::any_completion_executor w, diagnostics* d, clock::time_point dl)
            : handler(std::move(h)), work(std::move(w)), diag(d), deadline(dl) {}
        handler_type handler;
        boost::asio::any_completion_executor work;
        diagnostics* diag;
        clock::time_point deadline;
        bool done = false;
    };
    using waiter_ptr = std::shared_ptr<waiter>;

    // Holds the limiter itself: with a deferred token the wait starts later.
    struct acquire_init {
        std::shared_ptr<rate_limiter> self;
        template <class Handler>
        void operator()(Handler&& handler, diagnostics* diag, request_priority p) const {
            self->initiate(handler_type(std::forward<Handler>(handler)), diag, p);
        }
    };

    std::int64_t today() const {
        return detail::server_day(std::chrono::system_clock::now(), opts_.server_utc_offset);
    }

    // `bound`: the caller's own deadline, besides max_wait (the earlier one applies).
    void initiate(handler_type handler, diagnostics* diag, request_priority p, std::weak_ptr<waiter>* ticket = nullptr,
                  clock::time_point bound = clock::time_point::max()) {
        namespace net = boost::asio;
        auto work = net::prefer(net::get_associated_executor(handler, strand_.get_inner_executor()),
                                net::execution::outstanding_work.tracked);
        auto slot = net::get_associated_cancellation_slot(handler);
        auto w = std::make_shared<waiter>(std::move(handler), std::move(work), diag, clock::time_point::max());
        if (ticket) *ticket = w;
        if (slot.is_connected()) {
            std::weak_ptr<waiter> weak = w;
            slot.assign([self = shared_from_this(), weak](net::cancellation_type) {
                net::dispatch(self->strand_, [self, weak] {
                    if (auto w = weak.lock()) self->cancel_waiter(w);
                });
            });
        }
        net::dispatch(strand_, [self = shared_from_this(), w = std::move(w), p, bound]() mutable {
            w->deadline = std::min(bound, self->opts_.max_wait.count() > 0 ? clock::now() + self->opts_.max_wait
                                                                            : clock::time_point::max());
            auto& queue = p == request_priority::high ? self->high_ : self->low_;
            queue.push_back(std::move(w));
            self->pump();
        });
    }

    // On the strand. The waiter's slot is cleared before its handler is posted: the slot
    // lives inside the caller's cancellation state.
    void complete(waiter& w, error_code ec) {
        namespace net = boost::asio;
        if (w.done) return;
        w.done = true;
        if (ec && w.diag) {
            w.diag->endpoint.clear();
            w.diag->message = ec == errc::daily_limit_exceeded
                                  ? "daily request limit reached; refused locally until the server's midnight"
                                  : ec.message();
        }
        net::get_associated_cancellation_slot(w.handler).clear();
        auto work = std::move(w.work);
        net::post(strand_.get_inner_executor(), net::append(std::move(w.handler), ec));
    }

    // The library's own operations (the client) cancel a wait through its ticket, from
    // any thread, instead of a cancellation slot.
    friend class client;
    friend struct detail::client_access;
    using ticket = std::weak_ptr<waiter>;
    /// A wait past `bound` ends with errc::rate_limited_locally, as one past max_wait.
    template <class Handler>
    void acquire_with_ticket(request_priority p, diagnostics* diag, ticket& t, clock::time_point bound,
                             Handler&& handler) {
        initiate(handler_type(std::forward<Handler>(handler)), diag, p, &t, bound);
    }
    void cancel(ticket const& t) {
        boost::asio::dispatch(strand_, [self = shared_from_this(), t] {
            if (auto w = t.lock()) self->cancel_waiter(w);
        });
    }

    void cancel_waiter(waiter_ptr const& w) {
        for (auto* q : {&high_, &low_})
            for (auto it = q->begin(); it != q->end(); ++it)
                if (*it == w) {
                    ++stats_.cancelled;
                    q->erase(it);
                    complete(*w, make_error_code(errc::cancelled));
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
                auto w = std::move(q.front());
                q.pop_front();
                complete(*w, {});
                continue;
            }
            if (decision.verdict == window_decision::kind::daily_exhausted) {
                for (auto* dq : {&high_, &low_}) {
                    for (auto& w : *dq) complete(*w, make_error_code(errc::daily_limit_exceeded));
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
                if ((*it)->deadline <= now) {
                    ++stats_.timed_out;
                    complete(**it, make_error_code(errc::rate_limited_locally));
                    it = q->erase(it);
                } else {
                    wake = std::min(wake, (*it)->deadline);
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
    std::deque<waiter_ptr> high_, low_;
    stats_snapshot stats_;
    std::atomic<bool> unlimited_{false};
};

} // namespace shop
