// The library's async building blocks, without sockets: frame recycling, tasks awaiting
// tasks and Asio operations, the cancellation point, and an operation's root (no inline
// completion, the handler's executor, the caller's diagnostics, cancellation routed to the
// step that waits).
#include "timing.hpp"

#include <shop/detail/async/frame_memory.hpp>
#include <shop/detail/async/operation.hpp>
#include <shop/detail/async/task.hpp>
#include <shop/detail/async/task_group.hpp>

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using shop::error_code;
using shop::errc;
namespace detail = shop::detail;

namespace {

detail::task<int> answer(int x) { co_return x * 2; }

detail::task<int> chain(int depth) {
    if (depth == 0) co_return 1;
    int below = co_await chain(depth - 1);
    co_return below + 1;
}

detail::task<void> throws() {
    throw std::runtime_error("out of memory, say");
    co_return;
}

detail::task<std::string> sleep_then(asio::any_io_executor ex, std::chrono::milliseconds d, std::string what) {
    asio::steady_timer timer(ex, d);
    auto wait = detail::io<void(error_code)>(ex, [&](auto h) { timer.async_wait(std::move(h)); });
    auto [ec] = co_await wait;
    co_return ec ? ec.message() : what;
}

/// Runs `t` as a root on `io` and returns its value.
template <class T>
T drive(asio::io_context& io, detail::task<T> t) {
    std::optional<T> out;
    auto root = [](detail::task<T> inner, std::optional<T>& result) -> detail::detached {
        result.emplace(co_await inner);
    }(std::move(t), out);
    std::move(root).start();
    REQUIRE(testtime::run_until(io, [&] { return out.has_value(); }));
    return std::move(*out);
}

/// A test operation: waits on a timer it arms for cancellation, then reports.
detail::task<error_code> timed_step(detail::op_context& ctx, std::string& out, asio::any_io_executor ex,
                                     std::chrono::milliseconds d) {
    asio::steady_timer timer(ex, d);
    auto wait = detail::io<void(error_code)>(ex, [&](auto h) {
        bool const started = ctx.cancel.arm_with(
            [](void* t, std::uint64_t) { static_cast<asio::steady_timer*>(t)->cancel(); }, &timer,
            [&] { timer.async_wait(std::move(h)); });
        if (!started) asio::post(asio::append(std::move(h), asio::error::operation_aborted));
    });
    auto waited = co_await wait;  // expiry or cancellation: the cancel point tells which
    (void)waited;
    ctx.cancel.disarm();
    if (ctx.cancel.requested()) {
        ctx.diag.message = "cancelled while waiting";
        co_return make_error_code(errc::cancelled);
    }
    out = "waited";
    co_return error_code{};
}

template <class Token>
auto async_timed(asio::any_io_executor ex, std::chrono::milliseconds d, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::string)>(
        [](auto handler, shop::diagnostics* diag, asio::any_io_executor ex, std::chrono::milliseconds d) {
            detail::start_operation<std::string>(
                ex, detail::op_handler<std::string>(std::move(handler)), diag,
                [ex, d](detail::op_context& ctx, std::string& out) { return timed_step(ctx, out, ex, d); });
        },
        token, static_cast<shop::diagnostics*>(nullptr), std::move(ex), d);
}

/// An operation that fails at once, before any wait.
template <class Token>
auto async_refused(asio::any_io_executor ex, shop::diagnostics& diag, Token&& token) {
    return asio::async_initiate<Token, void(error_code, int)>(
        [](auto handler, shop::diagnostics* d, asio::any_io_executor ex) {
            detail::start_operation<int>(ex, detail::op_handler<int>(std::move(handler)), d,
                                         [](detail::op_context& ctx, int&) -> detail::task<error_code> {
                                             ctx.diag.message = "refused before anything was sent";
                                             co_return make_error_code(errc::invalid_argument);
                                         });
        },
        token, &diag, std::move(ex));
}

} // namespace

TEST_CASE("frame_memory: a freed frame is reused for the next of its size class") {
    void* a = detail::frame_memory::allocate(200);
    detail::frame_memory::deallocate(a, 200);
    void* b = detail::frame_memory::allocate(250);  // same 64-byte class (193..256)
    CHECK(b == a);
    void* c = detail::frame_memory::allocate(250);
    CHECK(c != b);
    detail::frame_memory::deallocate(b, 250);
    detail::frame_memory::deallocate(c, 250);
    void* big = detail::frame_memory::allocate(1 << 20);  // beyond the classes: plain new
    detail::frame_memory::deallocate(big, 1 << 20);
}

TEST_CASE("task: values, chains and failures travel to the awaiting task") {
    asio::io_context io;
    CHECK(drive(io, answer(21)) == 42);
    CHECK(drive(io, chain(1000)) == 1001);  // symmetric transfer: no stack growth
    auto caught = [](std::optional<std::string>& out) -> detail::detached {
        try {
            co_await throws();
        } catch (std::exception const& e) {
            out = e.what();
        }
    };
    std::optional<std::string> what;
    caught(what).start();
    REQUIRE(what);
    CHECK(*what == "out of memory, say");
}

TEST_CASE("io_call: a task awaits an Asio operation and resumes on the given executor") {
    asio::io_context io;
    CHECK(drive(io, sleep_then(io.get_executor(), 10ms, "timer fired")) == "timer fired");
    // On a strand: the task goes on inside the strand's handler.
    auto strand = asio::make_strand(io.get_executor());
    auto on_strand = [](asio::any_io_executor s) -> detail::task<bool> {
        auto hop = detail::enter(s);
        co_await hop;
        co_return s.target<asio::strand<asio::io_context::executor_type>>()->running_in_this_thread();
    };
    CHECK(drive(io, on_strand(strand)));
}

TEST_CASE("cancel_point: an interruption reaches only the step that is armed") {
    detail::cancel_point cp;
    int hits = 0;
    auto bump = [](void* p, std::uint64_t) { ++*static_cast<int*>(p); };
    CHECK(cp.arm(bump, &hits));
    cp.disarm();
    cp.request(asio::cancellation_type::total);  // not offered: nothing happens
    CHECK_FALSE(cp.requested());
    CHECK(cp.arm(bump, &hits));
    cp.request(asio::cancellation_type::partial);
    CHECK(hits == 1);
    CHECK(cp.requested());
    cp.disarm();
    cp.request(asio::cancellation_type::terminal);
    CHECK(hits == 1);  // nothing armed
    CHECK_FALSE(cp.arm(bump, &hits));  // too late: the next step must not start
    bool started = false;
    CHECK_FALSE(cp.arm_with(bump, &hits, [&] { started = true; }));
    CHECK_FALSE(started);
}

TEST_CASE("operation: never completes inside its initiating function, on the handler's executor") {
    asio::io_context io;
    shop::diagnostics diag;
    diag.message = "left over from an earlier call";
    std::optional<error_code> got;
    async_refused(io.get_executor(), diag, [&](error_code ec, int) { got = ec; });
    CHECK_FALSE(got);  // posted, not called from within async_refused
    REQUIRE(testtime::run_until(io, [&] { return got.has_value(); }));
    CHECK(*got == errc::invalid_argument);
    CHECK(diag.message == "refused before anything was sent");

    // A handler bound to a strand runs in that strand.
    auto strand = asio::make_strand(io.get_executor());
    std::optional<bool> in_strand;
    async_timed(io.get_executor(), 5ms, asio::bind_executor(strand, [&](error_code ec, std::string v) {
                    CHECK_FALSE(ec);
                    CHECK(v == "waited");
                    in_strand = strand.running_in_this_thread();
                }));
    REQUIRE(testtime::run_until(io, [&] { return in_strand.has_value(); }));
    CHECK(*in_strand);
}

TEST_CASE("operation: the caller's cancellation reaches the waiting step") {
    asio::io_context io;
    asio::cancellation_signal sig;
    std::optional<error_code> got;
    auto const t0 = testtime::steady::now();
    async_timed(io.get_executor(), 60s, asio::bind_cancellation_slot(sig.slot(), [&](error_code ec, std::string) { got = ec; }));
    asio::steady_timer t(io, 20ms);
    t.async_wait([&](auto) { sig.emit(asio::cancellation_type::terminal); });
    REQUIRE(testtime::run_until(io, [&] { return got.has_value(); }));
    CHECK(*got == errc::cancelled);
    CHECK(testtime::ms_since(t0) < 20 + testtime::slack.count());  // not the 60 s wait

    // Cancelled before the step: it is never armed, never waits, and ends at once.
    std::optional<error_code> second;
    shop::diagnostics diag;
    detail::start_operation<std::string>(
        io.get_executor(), detail::op_handler<std::string>([&](error_code ec, std::string) { second = ec; }), &diag,
        [ex = io.get_executor()](detail::op_context& ctx, std::string& out) {
            ctx.cancel.request(asio::cancellation_type::terminal);
            return timed_step(ctx, out, ex, 60s);
        });
    REQUIRE(testtime::run_until(io, [&] { return second.has_value(); }, 5s));
    CHECK(*second == errc::cancelled);
    CHECK(diag.message == "cancelled while waiting");
}

TEST_CASE("operation: completes on a thread pool, the handler keeps its executor's work") {
    asio::thread_pool pool(3);
    std::atomic<int> done{0};
    for (int i = 0; i < 200; ++i)
        async_timed(pool.get_executor(), 1ms, [&](error_code ec, std::string v) {
            if (!ec && v == "waited") ++done;
        });
    pool.join();  // returns only once every operation has completed
    CHECK(done == 200);
}

namespace {

asio::awaitable<void> sleep_an_hour(detail::task_group& group, std::size_t i, int& ended) {
    co_await asio::this_coro::throw_if_cancelled(false);  // as the group's users do
    co_await group[i].timer.sleep_until(std::chrono::steady_clock::now() + 1h);
    ++ended;
}

// Spawns the members, is cancelled while it awaits nothing that listens (as while a journal's
// fsync runs on its thread), then joins.
asio::awaitable<void> spawn_cancel_join(detail::task_group& group, asio::cancellation_signal& cancel, int& ended,
                                        bool& stopped) {
    co_await asio::this_coro::throw_if_cancelled(false);
    for (std::size_t i = 0; i < group.size(); ++i) group.spawn(i, sleep_an_hour(group, i, ended), nullptr);
    cancel.emit(asio::cancellation_type::terminal);
    co_await group.join([&] {
        stopped = true;
        group.stop_all();
    });
}

} // namespace

TEST_CASE("task_group: a cancellation that came before the join still stops every member") {
    asio::io_context io;
    detail::task_group group(detail::task_group::strand_type(asio::any_io_executor(io.get_executor())));
    group.resize(2);
    asio::cancellation_signal cancel;
    int ended = 0;
    bool stopped = false, done = false;
    asio::co_spawn(io, spawn_cancel_join(group, cancel, ended, stopped),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                       CHECK_FALSE(e);
                       done = true;
                   }));
    io.run_for(10s);  // an hour's sleep when the cancellation is lost
    CHECK(done);
    CHECK(stopped);
    CHECK(ended == 2);
    CHECK(group.running() == 0);
}
