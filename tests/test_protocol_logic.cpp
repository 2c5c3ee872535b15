// I/O-free protocol logic: pipelining queue, poll schedule, reconciliation of lost creates.
#include <shop/detail/pipeline_queue.hpp>
#include <shop/detail/poll_schedule.hpp>
#include <shop/detail/reconcile.hpp>

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

TEST_CASE("parse_server_time: server-local time to unix seconds") {
    // 2026-02-02 15:23:14 in UTC+7 is 08:23:14 UTC.
    CHECK(parse_server_time("2026-02-02 15:23:14", 7h) == 1770020594);
    CHECK(parse_server_time("2026-02-02 15:23:14", 0h) == 1770020594 + 7 * 3600);
    CHECK_FALSE(parse_server_time("2026-02-30 10:00:00", 7h));
    CHECK_FALSE(parse_server_time("yesterday", 7h));
    CHECK_FALSE(parse_server_time("2026-02-02T15:23", 7h));
}

TEST_CASE("match_lost_attempt: adopts the one unclaimed match, refuses to guess") {
    lost_attempt a;
    a.plan_id = 18;
    a.quantity = 1;
    a.fields = {{"email_dang_nhap", "u7@example.com"}};
    a.not_before = 1000;
    auto cand = [](std::int64_t id, std::string t, std::int64_t plan, std::int64_t created,
                   std::optional<shop::field_list> f) {
        order_candidate c;
        c.id = id;
        c.trans_id = std::move(t);
        c.plan_id = plan;
        c.quantity = 1;
        c.created = created;
        c.fields = std::move(f);
        return c;
    };
    std::vector<order_candidate> orders{
        cand(5, "OLD", 18, 900, shop::field_list{{"email_dang_nhap", "u7@example.com"}}), // before the attempt
        cand(6, "OTHER", 19, 1001, std::nullopt),                                         // other plan
        cand(7, "MINE", 18, 1002, std::nullopt),                                          // fields unknown
        cand(8, "TWIN", 18, 1003, shop::field_list{{"email_dang_nhap", "u8@example.com"}}),
    };
    auto v = match_lost_attempt(a, orders, {});
    REQUIRE(v.verdict == match_verdict::kind::need_fields);
    CHECK(v.need == std::vector<std::string>{"MINE"});
    orders[2].fields = shop::field_list{{"email_dang_nhap", "u7@example.com"}};
    v = match_lost_attempt(a, orders, {});
    REQUIRE(v.verdict == match_verdict::kind::adopt);
    CHECK(v.trans_id == "MINE");
    // Claimed by another item: not ours.
    CHECK(match_lost_attempt(a, orders, {"MINE"}).verdict == match_verdict::kind::none);
    // Two equal unclaimed orders: never guess.
    orders[3].fields = orders[2].fields;
    CHECK(match_lost_attempt(a, orders, {}).verdict == match_verdict::kind::ambiguous);
    // A known amount must agree exactly.
    a.expected_amount = shop::money::from_vnd(10);
    orders[2].final_amount = shop::money::from_vnd(10);
    orders[3].final_amount = shop::money::from_vnd(11);
    v = match_lost_attempt(a, orders, {});
    CHECK(v.verdict == match_verdict::kind::adopt);
    CHECK(v.trans_id == "MINE");
}

TEST_CASE("same_fields and twin_key ignore order, nothing else") {
    shop::field_list a{{"a", "1"}, {"b", "2"}}, b{{"b", "2"}, {"a", "1"}}, c{{"a", "1"}, {"b", "3"}};
    CHECK(same_fields(a, b));
    CHECK_FALSE(same_fields(a, c));
    CHECK(twin_key(1, 2, a) == twin_key(1, 2, b));
    CHECK(twin_key(1, 2, a) != twin_key(1, 2, c));
    CHECK(twin_key(1, 2, a) != twin_key(1, 3, a));
    CHECK(twin_key(1, 2, {{"a", "1\x1e" "b"}}) != twin_key(1, 2, {{"a", "1"}, {"b", ""}}));
}
