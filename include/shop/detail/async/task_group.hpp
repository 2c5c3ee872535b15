// The skeleton the status poller and the bulk placer share: N coroutines on one strand, each
// with a sleep others can cut short and its own cancellation signal, and a join that waits
// for all of them and turns the awaiting operation's cancellation into stopping every member.
// Strand-bound: every member function runs on the group's strand.
#pragma once

#include <shop/detail/async/wake_timer.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <vector>

namespace shop::detail {

class task_group {
public:
    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;

    struct member {
        explicit member(strand_type const& s) : timer(s) {}
        wake_timer timer;  // its sleep; cut short by wake_all() (or wake_idle() when idle)
        bool idle = false; // asleep because nothing was there to do (woken by wake_idle())
        bool running = false;
        boost::asio::cancellation_signal stop;
    };

    explicit task_group(strand_type strand) : strand_(std::move(strand)), all_done_(strand_) {}

    /// Makes `n` members (before start).
    void resize(std::size_t n) {
        while (members_.size() < n) members_.push_back(std::make_unique<member>(strand_));
    }
    std::size_t size() const noexcept { return members_.size(); }
    member& operator[](std::size_t i) { return *members_[i]; }

    /// Runs member i's body. `keep_alive` owns what the body works on: held until it ends.
    /// Only an allocation failure escapes a body: it is rethrown, ending the run.
    void spawn(std::size_t i, boost::asio::awaitable<void> body, std::shared_ptr<void> keep_alive) {
        namespace net = boost::asio;
        auto& m = *members_[i];
        m.running = true;
        ++running_;
        all_done_.expires_at(std::chrono::steady_clock::time_point::max());
        net::co_spawn(strand_, std::move(body),
                      net::bind_cancellation_slot(m.stop.slot(),
                                                  net::bind_executor(strand_, [this, i, keep = std::move(keep_alive)](std::exception_ptr e) {
                                                      members_[i]->running = false;
                                                      if (e) std::rethrow_exception(e);
                                                      if (--running_ == 0) all_done_.cancel();
                                                      wake_all();
                                                  })));
    }

    /// Ends every member's sleep: state changed, work may be due, or the run may be over.
    void wake_all() {
        for (auto& m : members_) m->timer.wake();
    }
    /// Ends the sleep of the members idle for lack of work.
    void wake_idle() {
        for (auto& m : members_)
            if (m->idle) m->timer.wake();
    }
    /// Terminal cancellation of every running member.
    void stop_all() {
        for (auto& m : members_)
            if (m->running) m->stop.emit(boost::asio::cancellation_type::terminal);
    }

    std::size_t running() const noexcept { return running_; }

    /// Waits until every member ended. When the awaiting coroutine is cancelled meanwhile,
    /// `on_cancel` runs (it should stop the members) and the wait goes on.
    boost::asio::awaitable<void> join(std::function<void()> on_cancel) {
        namespace net = boost::asio;
        while (running_ > 0) {
            // Checked before each wait too: a cancellation that came while the caller awaited
            // something that ignores it (a journal's fsync) is only recorded in its state.
            auto cs = co_await net::this_coro::cancellation_state;
            if (cs.cancelled() != net::cancellation_type::none) {
                on_cancel();
                co_await net::this_coro::reset_cancellation_state();
            }
            if (running_ == 0) break;
            auto waited = co_await all_done_.async_wait(net::as_tuple(net::use_awaitable));
            (void)waited;
        }
    }

private:
    strand_type strand_;
    boost::asio::steady_timer all_done_;
    std::vector<std::unique_ptr<member>> members_;
    std::size_t running_ = 0;
};

} // namespace shop::detail
