// The status poller's logic, free of I/O and clocks: the pipelining queue of one
// connection and the poll schedule, with made-up time.
#include <shop/detail/poll/pipeline_queue.hpp>
#include <shop/detail/poll/poll_schedule.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using namespace shop::detail;

TEST_CASE("pipeline_queue: FIFO, depth bound, abandoned responses discarded") {
    pipeline_queue<int> q(3);
    CHECK(q.can_write());
    q.on_written(1);
    q.on_written(2);
    q.on_written(3);
    CHECK_FALSE(q.can_write());
    CHECK(q.abandon(2));
    CHECK_FALSE(q.abandon(2));
    CHECK_FALSE(q.abandon(9));
    auto a = q.on_response();
    CHECK(a.id == 1);
    CHECK_FALSE(a.abandoned);
    CHECK(q.can_write());
    auto b = q.on_response();
    CHECK(b.id == 2);
    CHECK(b.abandoned);
    CHECK(q.on_response().id == 3);
    CHECK(q.idle());
    CHECK_FALSE(q.degraded());
}

TEST_CASE("pipeline_queue: trouble hands back the unanswered and falls back to depth 1") {
    pipeline_queue<std::string> q(16);
    for (int i = 0; i < 5; ++i) q.on_written("t" + std::to_string(i));
    CHECK(q.on_response().id == "t0");
    q.abandon("t3");
    auto back = q.on_failure();
    CHECK(back == std::vector<std::string>{"t1", "t2", "t4"});
    CHECK(q.idle());
    CHECK(q.depth() == 1);
    CHECK(q.degraded());
    q.on_written("t1");
    CHECK_FALSE(q.can_write());
}

TEST_CASE("poll_schedule: growing intervals, terminal orders leave, deadline ends it") {
    std::chrono::steady_clock::time_point t0{};
    poll_schedule s({100ms, 2.0, 350ms}, t0 + 2s);
    s.add("A", t0);
    s.add("B", t0);
    s.add("A", t0);
    CHECK(s.watching() == 2);
    auto due = s.take_due(t0, 10);
    CHECK(due == std::vector<std::string>{"A", "B"});
    CHECK(s.take_due(t0, 10).empty());
    s.on_polled("A", true, t0 + 10ms);
    s.on_polled("B", false, t0 + 10ms);
    CHECK(s.watching() == 1);
    CHECK(s.next_due() == t0 + 110ms);
    CHECK(s.take_due(t0 + 109ms, 10).empty());
    CHECK(s.take_due(t0 + 110ms, 10) == std::vector<std::string>{"B"});
    s.on_polled("B", false, t0 + 110ms); // next interval 200 ms
    CHECK(s.next_due() == t0 + 310ms);
    s.take_due(t0 + 310ms, 10);
    s.on_polled("B", false, t0 + 310ms); // 350 ms (capped)
    CHECK(s.next_due() == t0 + 660ms);
    s.take_due(t0 + 660ms, 10);
    s.on_requeue("B", t0 + 700ms); // the answer was lost: due again at once
    CHECK(s.next_due() == t0 + 700ms);
    s.take_due(t0 + 700ms, 10);
    s.on_polled("B", false, t0 + 1900ms);
    CHECK(s.next_due() == t0 + 2s); // never past the deadline
    s.take_due(t0 + 2s, 10);
    s.on_polled("B", false, t0 + 2s);
    CHECK(s.done());
    CHECK_FALSE(s.next_due());
}

TEST_CASE("poll_schedule: at most `max` at once, drop stops watching") {
    std::chrono::steady_clock::time_point t0{};
    poll_schedule s({}, t0 + 1h);
    for (int i = 0; i < 10; ++i) s.add("T" + std::to_string(i), t0);
    CHECK(s.take_due(t0, 4).size() == 4);
    s.drop("T9");
    CHECK(s.take_due(t0, 100).size() == 5);
    CHECK(s.watching() == 9);
}
