// The status poller's logic, free of I/O and clocks: the pipelining queue of one
// connection and the poll schedule, with made-up time.
#include <shop/detail/poll/listing_watch.hpp>
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

TEST_CASE("listing_watch: pages only when cheaper, walks while pages pay, ranks shift with new orders") {
    shop::detail::listing_watch w(100);
    auto ids = [](std::size_t from, std::size_t n) {
        std::vector<std::string> v;
        for (std::size_t i = from; i < from + n; ++i) v.push_back("O" + std::to_string(i));
        return v;
    };
    // One due order: one status read is never worse than a page.
    CHECK_FALSE(w.plan({"O1"}));
    // 200 orders never seen: assumed newest, the walk starts at page 1.
    auto due = ids(0, 200);
    REQUIRE(w.plan(due) == 1);
    w.begin_walk(due);
    // The listing, newest first: O0..O99 on page 1, O100..O199 on page 2.
    CHECK(w.on_page(1, 250, ids(0, 100)).size() == 100);
    CHECK(w.want_next_page(true));  // the rest may be on the next page: it found plenty
    CHECK(w.on_page(2, 250, ids(100, 100)).size() == 100);
    CHECK_FALSE(w.want_next_page(true));  // nothing left to look for
    CHECK(w.end_walk().empty());
    CHECK(w.estimate("O150") == 150);
    // 30 new orders since: every rank moves down by 30 once a page says so.
    w.begin_walk(ids(0, 200));
    auto fresh = ids(1000, 30);
    auto page1 = fresh;
    auto old = ids(0, 70);
    page1.insert(page1.end(), old.begin(), old.end());
    CHECK(w.on_page(1, 280, page1).size() == 70);
    CHECK(w.estimate("O150") == 150 + 30);
    CHECK(w.want_next_page(true));
    CHECK(w.on_page(2, 280, ids(70, 100)).size() == 100);
    CHECK(w.want_next_page(true));  // O170..O199 moved to page 3
    CHECK_FALSE(w.want_next_page(false));  // …unless the listing ends
    CHECK(w.on_page(3, 280, ids(170, 30)).size() == 30);
    CHECK(w.end_walk().empty());

    // Two orders side by side on page 2: one page instead of two reads, read from there.
    CHECK(w.plan({"O150", "O151"}) == 2);
    // Two orders pages apart: pages 1 to 3 cost more than two reads.
    CHECK_FALSE(w.plan({"O50", "O199"}));
}

TEST_CASE("listing_watch: orders not on the pages read get a lower bound and go to status reads") {
    shop::detail::listing_watch w(100);
    std::vector<std::string> due{"A", "B", "C", "D"};
    REQUIRE(w.plan(due) == 1);
    w.begin_walk(due);
    // Page 1 shows only A and B (C and D are older, or not this account's).
    std::vector<std::string> page1{"A", "X", "B"};
    CHECK(w.on_page(1, 500, page1) == std::vector<std::string>{"A", "B"});
    CHECK(w.want_next_page(true));  // the page found some: C and D may be next
    std::vector<std::string> page2{"Y", "Z"};
    CHECK(w.on_page(2, 500, page2).empty());
    CHECK_FALSE(w.want_next_page(true));  // a page that found nothing of theirs ends the walk
    CHECK(w.end_walk() == std::vector<std::string>{"C", "D"});
    CHECK(w.estimate("C") == 200);  // beyond the two pages read
    CHECK(w.estimate("A") == 0);
    // Next round: pages 1 to 3 for the four still cost less than four reads.
    CHECK(w.plan(due) == 1);
    // C and D alone: from page 3, where they can be at the earliest.
    CHECK(w.plan({"C", "D"}) == 3);
    w.forget("C");
    CHECK(w.estimate("C") == 0);
}
