// shop::status_poller against the simulator: terminal statuses, updates, unknown orders,
// pipelining trouble (no-pipelining, close-before-read), deadline, stopping one order,
// cancelling the run, and pipelining over a 20 ms round trip (tcp_relay).
#include "client_support.hpp"
#include "tcp_relay.hpp"

#include <shop/shop.hpp>
#include <shop/status_poller.hpp>

#include <functional>
#include <iostream>
#include <map>
#include <set>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using shop::errc;
using simtest::config_for;
using simtest::run;
using simtest::running_sim;
using shop::testing::endpoint;
using shop::testing::fault_kind;

namespace {

using clock_type = std::chrono::steady_clock;

/// Places `n` orders of `plan` (20 per create: one order per line).
std::vector<std::string> place(asio::io_context& io, shop::client& c, std::size_t n, std::int64_t plan) {
    std::vector<std::string> ids;
    while (ids.size() < n) {
        shop::create_order_request req;
        auto lines = std::min<std::size_t>(20, n - ids.size());
        for (std::size_t i = 0; i < lines; ++i) req.items.push_back({.plan_id = plan});
        auto r = run(io, c.create_order(req));
        for (auto& o : r.orders) ids.push_back(o.trans_id);
    }
    REQUIRE(ids.size() == n);
    return ids;
}

struct poll_run {
    std::vector<shop::poll_result> results;
    std::map<std::string, std::vector<std::string>> updates;  // trans_id → statuses seen
    std::chrono::milliseconds elapsed{0};
};

poll_run poll(asio::io_context& io, shop::status_poller& poller, std::vector<std::string> ids,
              std::chrono::seconds bound = 30s, std::function<void(const shop::poll_result&)> hook = {}) {
    poll_run out;
    auto t0 = clock_type::now();
    shop::error_code failed;
    bool done = false;
    poller.async_poll(
        std::move(ids),
        [&](const shop::poll_result& r) {
            out.updates[r.trans_id].push_back(r.last ? r.last->order.status.raw : std::string("error"));
            if (hook) hook(r);
        },
        [&](shop::error_code ec, std::vector<shop::poll_result> v) {
            failed = ec;
            out.results = std::move(v);
            done = true;
        });
    io.restart();
    auto deadline = clock_type::now() + bound;
    while (!done && io.run_one_until(deadline)) {
    }
    REQUIRE(done);
    REQUIRE_FALSE(failed);
    out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
    return out;
}

/// Each answer counted once: per-order polls add up to the answers matched, and the server
/// processed at least that many status requests.
void check_counts(running_sim& sim, std::uint64_t status_before, const poll_run& r, const shop::poll_stats& s) {
    std::size_t polls = 0;
    std::set<std::string> seen;
    for (auto const& x : r.results) {
        if (!seen.insert(x.trans_id).second) continue;  // a duplicate input shares its result
        polls += x.polls;
        if (x.last) CHECK(x.last->order.trans_id == x.trans_id);
    }
    CHECK(polls + s.abandoned == s.responses_read);
    auto served = sim->state().stats().requests[static_cast<std::size_t>(endpoint::orders_status)] - status_before;
    CHECK(served >= polls);
    CHECK(s.requests_written >= s.responses_read);
}

std::uint64_t status_count(running_sim& sim) {
    return sim->state().stats().requests[static_cast<std::size_t>(endpoint::orders_status)];
}

} // namespace

TEST_CASE("poller: every order reaches a terminal status, updates delivered, input order kept") {
    auto o = simtest::test_options();
    // The shop delivers the slow orders by hand, once the poller has seen them pending: a
    // schedule on the wall clock would race a busy machine.
    o.processing_after = 0ms;
    o.completed_after = 0ms;
    running_sim sim(o);
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    auto ids = place(io, c, 300, 900);
    auto slow = place(io, c, 3, 904);
    auto deliver_when_seen = [&](const shop::poll_result& r) {
        if (r.last && r.last->order.status == shop::order_status::kind::pending)
            CHECK(sim->state().complete(r.trans_id) == shop::testing::transition_result::ok);
    };
    ids.insert(ids.begin() + 10, slow.begin(), slow.end());
    ids.push_back("NOSUCHORDER");
    ids.push_back(ids[0]);  // a duplicate shares the result
    ids.push_back("");      // malformed: never sent

    shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 16, .intervals = {100ms, 1.5, 400ms}, .deadline = 20s});
    auto before = status_count(sim);
    auto r = poll(io, poller, ids, 30s, deliver_when_seen);
    auto s = poller.stats();
    REQUIRE(r.results.size() == ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) CHECK(r.results[i].trans_id == ids[i]);
    for (std::size_t i = 0; i + 3 < ids.size(); ++i) {
        auto const& x = r.results[i];
        INFO(x.trans_id << " " << x.ec.message() << " " << x.diag.to_string());
        CHECK(x.terminal);
        CHECK_FALSE(x.ec);
        REQUIRE(x.last);
        CHECK(x.last->order.status == shop::order_status::kind::completed);
        CHECK(r.updates[x.trans_id].size() >= 1);
    }
    for (auto const& id : slow) {
        auto const& u = r.updates[id];
        CHECK(u.size() == 2);  // pending first, completed last
        CHECK(u.back() == "completed");
    }
    auto const& unknown = r.results[ids.size() - 3];
    CHECK(unknown.ec == errc::order_not_found);
    CHECK(unknown.polls == 1);  // not polled again
    CHECK_FALSE(unknown.terminal);
    CHECK(r.updates["NOSUCHORDER"].size() == 1);
    CHECK(r.results[ids.size() - 2].polls == r.results[0].polls);
    CHECK(r.results.back().ec == errc::invalid_argument);
    CHECK(r.results.back().polls == 0);
    CHECK(r.updates[""].size() == 1);
    CHECK(s.max_in_flight > 1);
    CHECK(s.connection_failures == 0);
    CHECK(s.requeued == 0);
    check_counts(sim, before, r, s);
    // Every request went through the limiter.
    bool got = false;
    shop::rate_limiter::stats_snapshot ls;
    c.limiter()->async_stats([&](shop::rate_limiter::stats_snapshot x) {
        ls = x;
        got = true;
    });
    io.restart();
    while (!got && io.run_one_for(1s)) {
    }
    REQUIRE(got);
    CHECK(ls.granted >= s.requests_written);
    WARN("poller: " << ids.size() << " orders, " << s.requests_written << " requests in " << r.elapsed.count() << " ms");
}

TEST_CASE("poller: one look at many orders (until_terminal off) reads each once, pipelined") {
    auto o = simtest::test_options();
    o.processing_after = 0ms;  // pending until the test says otherwise
    o.completed_after = 0ms;
    running_sim sim(o);
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    auto ids = place(io, c, 100, 904);  // manual plan: pending, never terminal by itself
    ids.push_back("NOSUCHORDER");
    shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 16, .intervals = {100ms, 1.5, 400ms},
                                   .until_terminal = false, .deadline = 20s});
    auto before = status_count(sim);
    auto r = poll(io, poller, ids);
    auto s = poller.stats();
    REQUIRE(r.results.size() == ids.size());
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
        auto const& x = r.results[i];
        INFO(x.trans_id << " " << x.ec.message());
        CHECK_FALSE(x.ec);
        CHECK_FALSE(x.terminal);  // pending, and reported as such
        CHECK(x.polls == 1);
        REQUIRE(x.last);
        CHECK(x.last->order.status == shop::order_status::kind::pending);
    }
    CHECK(r.results.back().ec == errc::order_not_found);
    CHECK(s.requests_written == ids.size());  // one request per order, none repeated
    CHECK(s.max_in_flight > 1);                // and pipelined
    check_counts(sim, before, r, s);
}

TEST_CASE("poller: pipelining trouble re-queues, falls back to depth 1, counts nothing twice") {
    SECTION("no-pipelining: the server closes when a second request waits") {
        running_sim sim;
        asio::io_context io;
        shop::client c(io.get_executor(), config_for(sim->base_url()));
        auto ids = place(io, c, 200, 900);
        sim->faults().add(shop::testing::fault_plan::parse("orders/status:no-pipelining=every:1", 0ms, 0ms));
        shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 16, .intervals = {100ms, 1.5, 400ms}, .deadline = 20s});
        auto before = status_count(sim);
        auto r = poll(io, poller, ids);
        auto s = poller.stats();
        for (auto const& x : r.results) {
            INFO(x.trans_id << " " << x.ec.message() << " " << x.diag.to_string());
            CHECK(x.terminal);
            CHECK(x.polls == 1);
        }
        CHECK(sim->faults().fired(fault_kind::no_pipelining) >= 1);
        CHECK(s.connection_failures >= 1);
        CHECK(s.degraded_workers >= 1);
        CHECK(s.requeued >= 1);
        check_counts(sim, before, r, s);
        WARN("no-pipelining: " << s.connection_failures << " connection failures, " << s.requeued << " re-queued, "
                               << s.degraded_workers << " workers at depth 1, " << r.elapsed.count() << " ms");
    }
    SECTION("close-before-read on 10% of status requests") {
        auto o = simtest::test_options();
        o.fault_seed = 11;
        running_sim sim(o);
        asio::io_context io;
        shop::client c(io.get_executor(), config_for(sim->base_url()));
        auto ids = place(io, c, 200, 900);
        sim->faults().add(shop::testing::fault_plan::parse("orders/status:close-before-read=0.1", 0ms, 0ms));
        shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 16, .intervals = {100ms, 1.5, 400ms}, .deadline = 20s});
        auto before = status_count(sim);
        auto r = poll(io, poller, ids);
        auto s = poller.stats();
        for (auto const& x : r.results) {
            INFO(x.trans_id << " " << x.ec.message() << " " << x.diag.to_string());
            CHECK(x.terminal);
            CHECK(x.polls == 1);
        }
        CHECK(sim->faults().fired(fault_kind::close_before_read) >= 1);
        CHECK(s.connection_failures >= 1);
        check_counts(sim, before, r, s);
    }
    SECTION("a stalled pipeline (no answer within read_timeout) counts as trouble") {
        auto o = simtest::test_options();
        // Stalls far longer than the test may take: the poller must give up on them.
        o.faults = {"orders/status:latency=every:60"};
        o.latency = 30s;
        running_sim sim(o);
        asio::io_context io;
        shop::client c(io.get_executor(), config_for(sim->base_url()));
        auto ids = place(io, c, 150, 900);
        shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 8, .deadline = 20s, .read_timeout = 300ms});
        auto before = status_count(sim);
        auto r = poll(io, poller, ids);
        auto s = poller.stats();
        for (auto const& x : r.results) {
            INFO(x.trans_id << " " << x.ec.message() << " " << x.diag.to_string());
            CHECK(x.terminal);
            CHECK(x.polls == 1);
        }
        CHECK(sim->faults().fired(fault_kind::latency) >= 1);
        CHECK(s.connection_failures >= 1);
        CHECK(s.requeued >= 1);
        CHECK(r.elapsed < 20s);  // never waited for a 30 s stall
        check_counts(sim, before, r, s);
    }
}

TEST_CASE("poller: an order that never completes ends at the deadline") {
    auto o = simtest::test_options();
    o.processing_after = 0ms;  // by hand only
    o.completed_after = 0ms;
    running_sim sim(o);
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    auto ids = place(io, c, 1, 904);
    auto done = place(io, c, 2, 900);
    ids.insert(ids.end(), done.begin(), done.end());
    shop::status_poller poller(c, {.intervals = {100ms, 1.5, 300ms}, .deadline = 1s});
    auto r = poll(io, poller, ids);
    CHECK(r.elapsed >= 900ms);
    CHECK(r.elapsed < 1s + testtime::slack);
    REQUIRE(r.results.size() == 3);
    CHECK_FALSE(r.results[0].terminal);
    CHECK(r.results[0].ec == errc::timeout);
    REQUIRE(r.results[0].last);
    CHECK(r.results[0].last->order.status == shop::order_status::kind::pending);
    CHECK(r.results[0].polls >= 3);
    CHECK(r.updates[ids[0]].size() == 1);  // the status never changed
    CHECK(r.results[1].terminal);
    CHECK(r.results[2].terminal);
}

TEST_CASE("poller: stopping one order abandons its request on the wire; cancelling the run closes connections") {
    SECTION("stop_watching while the request is on the wire") {
        auto o = simtest::test_options();
        o.faults = {"orders/status:latency=1"};
        o.latency = 100ms;
        running_sim sim(o);
        asio::io_context io;
        shop::client c(io.get_executor(), config_for(sim->base_url()));
        auto ids = place(io, c, 6, 900);
        // Status reads only (the listing would answer for these orders without a request on the wire).
        shop::status_poller poller(c, {.connections = 1, .pipeline_depth = 16, .use_listing = false, .deadline = 20s});
        asio::steady_timer t(io, 50ms);
        t.async_wait([&](auto) { poller.stop_watching(ids[0]); });
        auto before = status_count(sim);
        auto r = poll(io, poller, ids);
        auto s = poller.stats();
        CHECK(r.results[0].ec == errc::cancelled);
        CHECK(r.results[0].polls == 0);
        CHECK_FALSE(r.results[0].last);
        for (std::size_t i = 1; i < ids.size(); ++i) {
            CHECK(r.results[i].terminal);
            REQUIRE(r.results[i].last);
            CHECK(r.results[i].last->order.trans_id == ids[i]);  // the stream stayed in step
        }
        CHECK(s.abandoned == 1);
        CHECK(s.connection_failures == 0);
        check_counts(sim, before, r, s);
        CHECK(c.pool()->stats().idle == 1);  // the connection was in sync: parked
    }
    SECTION("terminal cancellation of the run") {
        auto o = simtest::test_options();
        o.processing_after = 0ms;
        o.completed_after = 0ms;
        o.faults = {"orders/status:latency=1"};
        o.latency = 30s;  // every answer comes after the test's bound: the cancel must not wait
        running_sim sim(o);
        asio::io_context io;
        shop::client c(io.get_executor(), config_for(sim->base_url()));
        auto ids = place(io, c, 40, 904);
        shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 4, .use_listing = false, .deadline = 30s});
        asio::cancellation_signal sig;
        asio::steady_timer t(io, 200ms);
        t.async_wait([&](auto) { sig.emit(asio::cancellation_type::terminal); });
        std::vector<shop::poll_result> results;
        bool done = false;
        auto t0 = clock_type::now();
        poller.async_poll(ids, {}, asio::bind_cancellation_slot(sig.slot(), [&](shop::error_code ec, std::vector<shop::poll_result> v) {
                              CHECK_FALSE(ec);
                              results = std::move(v);
                              done = true;
                          }));
        io.restart();
        while (!done && io.run_one_for(5s)) {
        }
        REQUIRE(done);
        CHECK(clock_type::now() - t0 < 200ms + testtime::slack);
        REQUIRE(results.size() == ids.size());
        for (auto const& x : results) {
            CHECK_FALSE(x.terminal);
            CHECK(x.ec == errc::cancelled);
        }
        auto ps = c.pool()->stats();
        CHECK(ps.busy == 0);
        CHECK(ps.idle == 0);  // requests were on the wire: closed, not parked
    }
}

TEST_CASE("poller: pipelined over a 20 ms round trip (tcp_relay), every answer once, in order") {
    // The gain of pipelining is a benchmark figure (bench_poller); here the same scenario,
    // smaller, with what is exact: every order answered once, by its own answer, nothing lost.
    running_sim sim;
    asio::io_context io;
    std::vector<std::string> ids;
    {
        shop::client direct(io.get_executor(), config_for(sim->base_url()));
        ids = place(io, direct, 200, 900);
    }
    simtest::tcp_relay relay(sim->port(), 10ms, 60s);
    auto before = status_count(sim);
    auto timed = [&](std::size_t depth) {
        shop::client c(io.get_executor(), config_for(relay.base_url()));
        shop::status_poller poller(c, {.connections = 2, .pipeline_depth = depth, .deadline = 60s});
        auto r = poll(io, poller, ids, 90s);
        auto s = poller.stats();
        REQUIRE(r.results.size() == ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) {
            CHECK(r.results[i].trans_id == ids[i]);
            CHECK(r.results[i].terminal);
            CHECK(r.results[i].polls == 1);
            REQUIRE(r.results[i].last);
            CHECK(r.results[i].last->order.trans_id == ids[i]);
        }
        CHECK(s.requests_written == ids.size());
        CHECK(s.responses_read == ids.size());
        CHECK(s.connection_failures == 0);
        if (depth > 1) CHECK(s.max_in_flight > 1);
        return r.elapsed;
    };
    auto deep = timed(16);
    auto shallow = timed(1);
    CHECK(status_count(sim) - before == 2 * ids.size());
    CHECK(sim->state().stats().rate_limited == 0);
    CHECK(relay.accepted() >= 4);
    WARN("over tcp_relay, 200 statuses, 2 connections: depth 1 " << shallow.count() << " ms, depth 16 "
                                                                 << deep.count() << " ms");
}

TEST_CASE("poller: watching on a budget learns statuses from listing pages, reads delivery items once") {
    // 200 manual orders the shop delivers later: each round, two listing pages tell every
    // order's status; only the completed ones are read by status, for their delivery items.
    auto o = simtest::test_options();
    o.processing_after = 300ms;
    o.completed_after = 900ms;
    running_sim sim(o);
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    auto ids = place(io, c, 200, 904);
    auto requests = [&] {
        auto s = sim->state().stats();
        return s.requests[static_cast<std::size_t>(endpoint::orders_status)] +
               s.requests[static_cast<std::size_t>(endpoint::orders_list)];
    };
    bool listing = true;
    SECTION("listing pages where cheaper") {}
    SECTION("one status read per due order") { listing = false; }
    shop::status_poller poller(c, {.intervals = {100ms, 1.5, 400ms}, .use_listing = listing, .deadline = 20s});
    auto before = requests();
    auto r = poll(io, poller, ids, 30s);
    auto const used = requests() - before;
    auto s = poller.stats();
    for (auto const& x : r.results) {
        INFO(x.trans_id << " " << x.diag.to_string());
        CHECK(x.terminal);
        REQUIRE(x.last);
        CHECK(x.last->order.status == shop::order_status::kind::completed);
        CHECK(x.last->delivery.delivered_count == x.last->delivery.expected_count);
        CHECK_FALSE(x.last->delivery.items.empty());
        CHECK(r.updates[x.trans_id].back() == "completed");
    }
    if (listing) {
        CHECK(s.list_pages_read > 0);
        CHECK(static_cast<double>(used) <= 1.5 * 200);
        for (auto const& x : r.results) CHECK(x.polls == 1);  // the delivery read only
    } else {
        CHECK(s.list_pages_read == 0);
    }
    WARN("watching 200 manual orders (listing " << (listing ? "on" : "off") << "): " << used << " requests, "
                                                  << s.list_pages_read << " pages");
}
