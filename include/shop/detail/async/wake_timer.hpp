// A sleep that others can cut short: the coroutines of the status poller and the bulk placer
// sleep until their next due time or until a state change wakes them. Strand-bound: sleep
// and wake run on the same strand.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace shop::detail {

class wake_timer {
public:
    explicit wake_timer(boost::asio::any_io_executor ex) : timer_(std::move(ex)) {}

    bool sleeping() const noexcept { return sleeping_; }

    /// Ends the current sleep early, if there is one.
    void wake() {
        if (sleeping_) timer_.cancel();
    }

    /// Sleeps until `until` or wake(); false when the sleeping coroutine was cancelled.
    boost::asio::awaitable<bool> sleep_until(std::chrono::steady_clock::time_point until) {
        namespace net = boost::asio;
        timer_.expires_at(until);
        sleeping_ = true;
        auto waited = co_await timer_.async_wait(net::as_tuple(net::use_awaitable));
        (void)waited;
        sleeping_ = false;
        auto cs = co_await net::this_coro::cancellation_state;
        co_return cs.cancelled() == net::cancellation_type::none;
    }

private:
    boost::asio::steady_timer timer_;
    bool sleeping_ = false;
};

} // namespace shop::detail
