// The coroutine type the library's operations are written in. One operation (a client call,
// a pool exchange) is one chain of these frames, started once and driven by the completions
// of the Asio operations it awaits: no co_spawn, no strand of its own, frames recycled by
// frame_memory.
//
//   task<error_code> step(...)      lazily started; `co_await step(...)` runs it to its end
//   io_call<Sig>                    awaits an Asio operation, its handler bound to an executor
//   detached                        a self-destroying root, started by start()
//
// Failures travel as values (error_code + diagnostics); an exception escaping a frame (only
// ever an allocation failure) is carried to whoever awaits it and rethrown there.
#pragma once

#include <shop/detail/async/frame_memory.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace shop::detail {

/// Frames of the library's coroutines come from frame_memory.
struct recycled_frame {
    static void* operator new(std::size_t size) { return frame_memory::allocate(size); }
    static void operator delete(void* p, std::size_t size) noexcept { frame_memory::deallocate(p, size); }
};

template <class T>
class task;

namespace task_detail {

struct promise_base : recycled_frame {
    std::coroutine_handle<> continuation;
    std::exception_ptr failure;

    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        template <class Promise>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
            // Symmetric transfer back to whoever awaited this frame: no stack growth.
            return h.promise().continuation;
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { failure = std::current_exception(); }
};

template <class T>
struct promise : promise_base {
    std::optional<T> value;
    task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) {
        value.emplace(std::forward<U>(v));
    }
};

template <>
struct promise<void> : promise_base {
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
};

} // namespace task_detail

/// A lazily started coroutine returning T, awaited once by one other coroutine.
template <class T>
class [[nodiscard]] task {
public:
    using promise_type = task_detail::promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;

    task() noexcept = default;
    explicit task(handle_type h) noexcept : h_(h) {}
    task(task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            if (h_) h_.destroy();
            h_ = std::exchange(other.h_, {});
        }
        return *this;
    }
    task(task const&) = delete;
    task& operator=(task const&) = delete;
    ~task() {
        if (h_) h_.destroy();
    }

    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        h_.promise().continuation = awaiting;
        return h_;
    }
    T await_resume() {
        auto& p = h_.promise();
        if (p.failure) std::rethrow_exception(p.failure);
        if constexpr (!std::is_void_v<T>) return std::move(*p.value);
    }

private:
    handle_type h_;
};

template <class T>
task<T> task_detail::promise<T>::get_return_object() noexcept {
    return task<T>(std::coroutine_handle<promise<T>>::from_promise(*this));
}
inline task<void> task_detail::promise<void>::get_return_object() noexcept {
    return task<void>(std::coroutine_handle<promise<void>>::from_promise(*this));
}

namespace task_detail {
/// A root's last step, left for whoever resumed the chain on this thread: the root moves
/// its handler out, frees its frame, then calls the handler (an exception the handler
/// throws then leaves run() with no frame left behind, as Asio's own operations do).
struct after_resume {
    void (*fn)(void*) = nullptr;
    void* arg = nullptr;
};
inline thread_local after_resume pending_after_resume;

/// Resumes `h` and then runs what its root left to do (see after_resume).
inline void resume_chain(std::coroutine_handle<> h) {
    h.resume();
    if (auto next = std::exchange(pending_after_resume, {}); next.fn) next.fn(next.arg);
}
} // namespace task_detail

/// A root coroutine: runs from start() to its end and frees itself. Whatever it owes a
/// caller (a completion handler) it delivers itself, or leaves to be delivered once its
/// frame is gone (finish_after_resume).
class detached {
public:
    struct promise_type : recycled_frame {
        detached get_return_object() noexcept {
            return detached(std::coroutine_handle<promise_type>::from_promise(*this));
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        // A root's body catches everything its steps throw; what is left (an allocation
        // failure while reporting) has nowhere to go but the thread running the executor.
        void unhandled_exception() { throw; }
    };

    detached(detached&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    detached(detached const&) = delete;
    ~detached() {
        if (h_) h_.destroy();  // never started
    }
    /// Runs the root until its first suspension (or its end).
    void start() && { task_detail::resume_chain(std::exchange(h_, {})); }

private:
    explicit detached(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

/// The last step of a root: `co_await finish_after_resume<Make>{&make}` suspends the root
/// for good; as soon as the resumption in progress returns, `make()` builds the completion
/// off the frame (moving what it needs out of it), the frame is destroyed, and the
/// completion called. Built there, not in the frame: the frame then holds the result once,
/// not also a copy inside the completion (a frame per request in flight).
template <class Make>
struct finish_after_resume {
    Make* make;
    std::coroutine_handle<> frame{};

    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept {
        frame = h;
        task_detail::pending_after_resume = {&run, this};
    }
    void await_resume() const noexcept {}

private:
    static void run(void* me) {
        auto* self = static_cast<finish_after_resume*>(me);
        auto frame = self->frame;
        auto last = (*self->make)();
        frame.destroy();  // `self` and `make` lived in the frame
        std::move(last)();
    }
};

/// Awaits one Asio asynchronous operation from a task. `initiate(handler)` starts it; the
/// handler is bound to `ex`, so the task resumes on that executor (a connection's strand,
/// the client's executor). Completion arguments come back as a tuple.
///
///     auto write = io<void(error_code, std::size_t)>(strand, [&](auto h) {
///         boost::asio::async_write(socket, buffer, std::move(h)); });
///     auto [ec, n] = co_await write;
///
/// Keep the call a named object (not a temporary inside the co_await expression): GCC 12
/// mishandles temporaries with destructors there.
template <class Signature, class Executor, class Initiate>
class io_call;

template <class... Args, class Executor, class Initiate>
class io_call<void(Args...), Executor, Initiate> {
public:
    io_call(Executor ex, Initiate initiate) : ex_(std::move(ex)), initiate_(std::move(initiate)) {}
    io_call(io_call const&) = delete;
    io_call& operator=(io_call const&) = delete;

    bool await_ready() const noexcept { return false; }
    // The task always suspends; the handler resumes it, so the task goes on inside the
    // handler's invocation: in the strand's context when `ex` is a strand. The handler may
    // run before this returns (inline, by a dispatch, or on another thread): nothing here
    // touches the awaiter after the initiation.
    void await_suspend(std::coroutine_handle<> h) {
        handle_ = h;
        initiate_(boost::asio::bind_executor(ex_, resumer{this}));
    }
    std::tuple<Args...> await_resume() { return std::move(*results_); }

private:
    struct resumer {
        io_call* self;
        template <class... A>
        void operator()(A&&... a) {
            self->results_.emplace(std::forward<A>(a)...);
            task_detail::resume_chain(self->handle_);
        }
    };

    Executor ex_;
    Initiate initiate_;
    std::coroutine_handle<> handle_;
    std::optional<std::tuple<Args...>> results_;
};

template <class Signature, class Executor, class Initiate>
io_call<Signature, Executor, Initiate> io(Executor ex, Initiate initiate) {
    return io_call<Signature, Executor, Initiate>(std::move(ex), std::move(initiate));
}

/// Moves the task onto `ex` (a strand): it goes on inside a handler run there, at once when
/// the calling thread may run it (dispatch).
template <class Executor>
auto enter(Executor const& ex) {
    return io<void()>(ex, [](auto handler) { boost::asio::dispatch(std::move(handler)); });
}
} // namespace shop::detail
