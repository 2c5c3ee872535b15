// A long run (the status poller's, the bulk placer's) as one operation: its body is an
// asio::awaitable spawned once per run on the run's strand; its completion is the
// operation's `void(error_code, R)`, delivered on the handler's executor with the caller's
// cancellation slot routed to the body and outstanding work kept on the handler's executor
// meanwhile. (The per-request path does not spawn: see async/operation.hpp.)
#pragma once

#include <shop/detail/async/operation.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>

#include <exception>
#include <utility>

namespace shop::detail {

template <class R, class Executor, class Handler>
void spawn_run(Executor const& ex, Handler&& handler, diagnostics* diag,
               boost::asio::awaitable<outcome<R>, boost::asio::any_io_executor> body) {
    namespace net = boost::asio;
    (void)diag;  // the body writes the diagnostics itself
    op_handler<R> h(std::forward<Handler>(handler));
    auto slot = net::get_associated_cancellation_slot(h);
    auto work = net::prefer(net::get_associated_executor(h, ex), net::execution::outstanding_work.tracked);
    net::any_io_executor io(ex);
    net::co_spawn(ex, std::move(body),
                  net::bind_cancellation_slot(
                      slot, [h = std::move(h), work = std::move(work), io](std::exception_ptr e, outcome<R> r) mutable {
                          // Only an allocation failure escapes a run's body: it goes out of run().
                          if (e) std::rethrow_exception(e);
                          // co_spawn never completes inside the initiating function: dispatch,
                          // onto the handler's executor, where the caller emits; the slot is
                          // cleared there, not on the run's strand.
                          auto hex = net::get_associated_executor(h, io);
                          net::dispatch(net::bind_executor(
                              hex, [h = std::move(h), r = std::move(r), work = std::move(work)]() mutable {
                                  net::get_associated_cancellation_slot(h).clear();
                                  auto w = std::move(work);  // released once the handler returns
                                  std::move(h)(r.ec, std::move(r.value));
                              }));
                      }));
}

} // namespace shop::detail
