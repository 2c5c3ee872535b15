// One asynchronous operation of the library from its start to its completion handler: the
// handler type-erased (asio::any_completion_handler), outstanding work on its executor, the
// caller's cancellation slot routed to whichever step is running, diagnostics written where
// the caller asked, and the completion delivered on the handler's own executor (posted
// when the operation ends before its initiating function has returned).
#pragma once

#include <shop/detail/async/task.hpp>
#include <shop/error.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <atomic>
#include <exception>
#include <new>
#include <cstdint>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <variant>
#include <utility>

namespace shop::detail {

/// The caller's cancellation, carried to the step that is running. A step that may wait
/// registers how to interrupt itself (arm) and withdraws that when it is over (disarm); a
/// request arriving between steps is seen by the next arm (and by requested()).
///
/// Thread safety: request() comes from the caller's side (any thread), arm/disarm from the
/// operation's; both hold the mutex, so an interruption never runs after its step withdrew.
class cancel_point {
public:
    using interrupt_fn = void (*)(void* target, std::uint64_t tag);

    void request(boost::asio::cancellation_type type) noexcept {
        using ct = boost::asio::cancellation_type;
        // Terminal and partial both end the operation; total is not offered (a cancelled
        // exchange may have had effects).
        if ((type & (ct::terminal | ct::partial)) == ct::none) return;
        std::lock_guard lock(mutex_);
        requested_.store(true, std::memory_order_release);
        if (fn_) fn_(target_, tag_);
    }

    bool requested() const noexcept { return requested_.load(std::memory_order_acquire); }

    /// Registers the interruption of the step about to wait; false (nothing registered) when
    /// cancellation was requested already.
    bool arm(interrupt_fn fn, void* target, std::uint64_t tag = 0) noexcept {
        std::lock_guard lock(mutex_);
        if (requested_.load(std::memory_order_relaxed)) return false;
        fn_ = fn;
        target_ = target;
        tag_ = tag;
        return true;
    }

    /// arm(), with `start` run under the same lock: an interruption can then never overlap
    /// the start of the wait it interrupts (a timer's async_wait, a limiter's queue). Not
    /// started (false) when cancellation was requested already.
    template <class Start>
    bool arm_with(interrupt_fn fn, void* target, Start&& start) {
        std::lock_guard lock(mutex_);
        if (requested_.load(std::memory_order_relaxed)) return false;
        fn_ = fn;
        target_ = target;
        tag_ = 0;
        std::forward<Start>(start)();
        return true;
    }

    void disarm() noexcept {
        std::lock_guard lock(mutex_);
        fn_ = nullptr;
        target_ = nullptr;
    }

private:
    std::mutex mutex_;
    std::atomic<bool> requested_{false};
    interrupt_fn fn_ = nullptr;
    void* target_ = nullptr;
    std::uint64_t tag_ = 0;
};

/// What every step of an operation can reach: its cancellation and its diagnostics.
struct op_context {
    explicit op_context(diagnostics* caller) noexcept : diag(caller ? *caller : own) {}
    op_context(op_context const&) = delete;
    op_context& operator=(op_context const&) = delete;

    cancel_point cancel;
    diagnostics own;
    diagnostics& diag;
};

/// An operation's outcome inside the library: an error_code (diagnostics are in the
/// op_context) and, on success, the value.
template <class T>
struct outcome {
    error_code ec;
    T value{};
};
template <>
struct outcome<void> {
    error_code ec;
};

namespace op_detail {
// The record of the initiating function running on this thread (null when none): a
// completion reached before it returns is posted, never delivered inline.
inline thread_local void const* initiating = nullptr;

struct initiation_record {
    void const* saved = initiating;
    initiation_record() noexcept { initiating = this; }
    ~initiation_record() { initiating = saved; }
    initiation_record(initiation_record const&) = delete;
    initiation_record& operator=(initiation_record const&) = delete;
};

template <class T>
struct signature_of {
    using type = void(error_code, T);
};
template <>
struct signature_of<void> {
    using type = void(error_code);
};
} // namespace op_detail

template <class T>
using op_signature = typename op_detail::signature_of<T>::type;

template <class T>
using op_handler = boost::asio::any_completion_handler<op_signature<T>>;

/// The body of an operation: fn(ctx, result, args...) (fn(ctx, args...) when there is no
/// result), its arguments kept in the operation's root frame, so the tasks may take them by
/// reference. A named type, not a lambda: the root's frame holds it, and compiled once
/// (SHOP_SEPARATE_COMPILATION) a lambda's type would have no linkage there.
template <class Fn, class... Args>
struct bound_call {
    Fn fn;
    std::tuple<Args...> args;
    template <class... Result>
    auto operator()(op_context& ctx, Result&... result) const {
        return std::apply([&](Args const&... a) { return fn(ctx, result..., a...); }, args);
    }
};

template <class Fn, class... Args>
bound_call<Fn, std::decay_t<Args>...> bind_call(Fn fn, Args&&... args) {
    return {fn, std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)};
}

/// What a root delivers once its frame is gone: the handler with its arguments, posted
/// when the operation ended inside its initiating function, else dispatched to the
/// handler's executor (called at once when the root runs there already).
template <class Done, class Executor>
struct delivery {
    Done done;
    Executor io_ex;
    bool post;
    void operator()() && {
        if (post) boost::asio::post(io_ex, std::move(done));
        else boost::asio::dispatch(io_ex, std::move(done));
    }
};

/// Maps what a step threw (a throwing request_log callback, an allocation failure) to an
/// error: nothing a step throws may leave an operation without its completion.
inline error_code error_from_exception(std::exception_ptr e, diagnostics& diag) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (std::bad_alloc const&) {
        return make_error_code(boost::system::errc::not_enough_memory);
    } catch (std::exception const& x) {
        try {
            diag.message = x.what();
        } catch (...) {
        }
    } catch (...) {
    }
    return errc::callback_failed;
}

/// The root of one operation. `body(ctx, result)` (`body(ctx)` for T = void) returns the
/// task<error_code> that does the work and writes the result where the root keeps it, so a
/// result is built once and moved only into the handler (non-template code, compiled once
/// with SHOP_SEPARATE_COMPILATION). The root itself is a small template over the caller's
/// handler, which it keeps as it is: its executor, slot and allocator are read without type
/// erasure (an any_completion_executor would cost allocations on every call in Boost 1.81).
///
/// The caller's cancellation slot is cleared on the handler's executor, where the caller
/// emits (never from a connection's strand on another thread while an emit runs), and the
/// handler is called only after the root's frame is gone.
template <class T, class Handler, class Body>
detached run_operation(boost::asio::any_io_executor io_ex, Handler handler, diagnostics* caller_diag, Body body) {
    namespace net = boost::asio;
    // Runs first, still inside start_operation (see there).
    void const* const my_initiation = op_detail::initiating;
    op_context ctx(caller_diag);
    ctx.diag = diagnostics{};  // the caller's object may hold an earlier operation's
    auto slot = net::get_associated_cancellation_slot(handler);
    if (slot.is_connected())
        slot.assign([&ctx](net::cancellation_type type) { ctx.cancel.request(type); });
    auto handler_ex = net::get_associated_executor(handler, io_ex);
    auto work = net::prefer(handler_ex, net::execution::outstanding_work.tracked);

    std::conditional_t<std::is_void_v<T>, std::monostate, T> value{};
    error_code ec;
    std::exception_ptr thrown;
    try {
        if constexpr (std::is_void_v<T>) {
            auto work_task = body(ctx);
            ec = co_await work_task;
        } else {
            auto work_task = body(ctx, value);
            ec = co_await work_task;
        }
    } catch (...) {
        thrown = std::current_exception();
    }
    if (thrown) ec = error_from_exception(std::move(thrown), ctx.diag);

    // Still inside the initiating function (or, harmlessly, inside a later one whose record
    // sits at the same stack address): post. Otherwise, when the caller can cancel, onto
    // the handler's executor before the slot is cleared.
    bool const post = op_detail::initiating == my_initiation;
    if (!post && slot.is_connected()) {
        auto hop = enter(handler_ex);
        co_await hop;
    }
    if (slot.is_connected()) slot.clear();
    (void)work;  // released with the frame, before the handler runs
    // The completion is built after the last resumption, off the frame (see there).
    auto make_last = [&] {
        if constexpr (std::is_void_v<T>) {
            return delivery<decltype(net::append(std::move(handler), ec)), net::any_io_executor>{
                net::append(std::move(handler), ec), std::move(io_ex), post};
        } else {
            return delivery<decltype(net::append(std::move(handler), ec, std::move(value))), net::any_io_executor>{
                net::append(std::move(handler), ec, std::move(value)), std::move(io_ex), post};
        }
    };
    finish_after_resume<decltype(make_last)> finish{&make_last};
    co_await finish;
}

/// Starts an operation: runs it up to its first wait (or its end) on the calling thread.
template <class T, class Handler, class Body>
void start_operation(boost::asio::any_io_executor io_ex, Handler&& handler, diagnostics* caller_diag, Body body) {
    auto root = run_operation<T, std::decay_t<Handler>>(std::move(io_ex), std::forward<Handler>(handler), caller_diag,
                                                         std::move(body));
    // The root notes this record's address first thing; it compares it with the thread's
    // current record when it completes.
    op_detail::initiation_record here;
    std::move(root).start();
}

} // namespace shop::detail
