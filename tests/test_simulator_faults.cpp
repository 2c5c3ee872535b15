// Fault injection of the simulator: each fault observable through raw HTTP, seeds and
// every:N, per-endpoint rules, the admin area untouched, and connection bounds.
#include "simulator_support.hpp"

using namespace simtest;

namespace {

std::string str(json::value const& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }

simulator_options with_faults(std::vector<std::string> faults) {
    auto o = test_options();
    o.faults = std::move(faults);
    return o;
}

using testtime::ms_since;

} // namespace

TEST_CASE("fault specs: NAME=PROB, NAME=every:N, ENDPOINT:NAME=PROB") {
    auto r = fault_plan::parse("orders/create:close-after-commit=0.05");
    CHECK(r.kind == fault_kind::close_after_commit);
    REQUIRE(r.only);
    CHECK(*r.only == endpoint::orders_create);
    CHECK(r.probability == 0.05);
    CHECK(r.every == 0);
    CHECK(r.to_string() == "orders/create:close-after-commit=0.05");
    auto e = fault_plan::parse("html-502=every:3");
    CHECK(e.kind == fault_kind::html_502);
    CHECK_FALSE(e.only);
    CHECK(e.every == 3);
    CHECK(e.to_string() == "html-502=every:3");
    auto l = fault_plan::parse("latency", std::chrono::milliseconds(200), std::chrono::milliseconds(50));
    CHECK(l.probability == 1.0);
    CHECK(l.latency == std::chrono::milliseconds(200));
    CHECK(l.jitter == std::chrono::milliseconds(50));
    CHECK(fault_plan::parse("/account/balance:no-pipelining=1").only == endpoint::account_balance);
    for (std::size_t i = 0; i < fault_kind_count; ++i) {
        auto k = static_cast<fault_kind>(i);
        CHECK(fault_plan::parse(std::string(fault_name(k)) + "=0.5").kind == k);
    }
    for (auto bad : {"bogus=1", "html-502=2", "html-502=-0.1", "html-502=every:0", "html-502=every:x", "html-502=abc",
                     "nowhere:html-502=1", "_sim:html-502=1", "html-502="})
        CHECK_THROWS_AS(fault_plan::parse(bad), std::invalid_argument);
    CHECK(parse_latency("250:40") == std::make_pair(std::chrono::milliseconds(250), std::chrono::milliseconds(40)));
    CHECK(parse_latency("7").second == std::chrono::milliseconds(0));
    CHECK_THROWS_AS(parse_latency("fast"), std::invalid_argument);
}

TEST_CASE("probabilistic faults are reproducible for a seed; every:N counts per rule") {
    auto sequence = [](std::uint64_t seed) {
        fault_plan p(seed);
        p.add("account/balance:html-502=0.3");
        std::vector<bool> v;
        for (int i = 0; i < 1000; ++i) v.push_back(p.decide(endpoint::account_balance).has(fault_kind::html_502));
        CHECK_FALSE(p.decide(endpoint::account_info)); // limited to account/balance
        return v;
    };
    auto a = sequence(42), b = sequence(42), c = sequence(43);
    CHECK(a == b);
    CHECK(a != c);
    auto fired = std::count(a.begin(), a.end(), true);
    CHECK(fired > 200);
    CHECK(fired < 400);

    fault_plan p;
    p.add("orders/create:checkout-error=every:2");
    p.add("latency=every:3");
    p.set_latency(std::chrono::milliseconds(10), std::chrono::milliseconds(0));
    std::vector<int> pattern;
    for (int i = 0; i < 6; ++i) {
        auto d = p.decide(endpoint::orders_create);
        pattern.push_back(d.has(fault_kind::checkout_error) * 1 + d.has(fault_kind::latency) * 2);
    }
    CHECK(pattern == std::vector<int>{0, 1, 2, 1, 0, 3});
    p.clear();
    CHECK_FALSE(p.decide(endpoint::orders_create));

    // The same seed through the server gives the same answers.
    auto statuses = [](std::uint64_t seed) {
        auto o = with_faults({"account/balance:html-502=0.5"});
        o.fault_seed = seed;
        running_sim sim(o);
        client cl(sim->port());
        std::vector<unsigned> v;
        for (int i = 0; i < 24; ++i) v.push_back(cl.get("account/balance").status);
        return v;
    };
    auto s1 = statuses(7);
    CHECK(s1 == statuses(7));
    CHECK(std::count(s1.begin(), s1.end(), 502u) > 0);
    CHECK(std::count(s1.begin(), s1.end(), 200u) > 0);
}

TEST_CASE("latency: fixed + jitter, limited to one endpoint or on everything") {
    auto o = with_faults({"orders/status:latency=1"});
    o.latency = std::chrono::milliseconds(1500);
    o.latency_jitter = std::chrono::milliseconds(50);
    running_sim sim(o);
    client c(sim->port());
    auto t = str(c.post("orders/create", create_body(900)).data().at("orders").as_array()[0].at("trans_id"));
    auto t0 = std::chrono::steady_clock::now();
    CHECK(c.get("orders/status?trans_id=" + t).status == 200);
    auto slow = ms_since(t0);
    CHECK(slow >= 1500);
    CHECK(slow < 1550 + testtime::slack.count());
    t0 = std::chrono::steady_clock::now();
    CHECK(c.get("account/balance").status == 200);
    CHECK(ms_since(t0) < 1500);  // not delayed (fired() below is the exact count)
    CHECK(sim->faults().fired(fault_kind::latency) == 1);

    auto everything = test_options();
    everything.latency = std::chrono::milliseconds(120);
    running_sim all(everything);
    client d(all->port());
    t0 = std::chrono::steady_clock::now();
    CHECK(d.get("categories/list").status == 200);
    CHECK(ms_since(t0) >= 120);
}

TEST_CASE("close-before-read: nothing processed, no answer") {
    running_sim sim(with_faults({"orders/create:close-before-read=1"}));
    client c(sim->port());
    auto r = c.post("orders/create", create_body(900));
    CHECK(r.ec);
    CHECK(r.ec != net::error::timed_out);
    CHECK(r.status == 0);
    CHECK(sim->state().orders().empty());
    CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000));
    CHECK(sim->state().stats().requests[static_cast<std::size_t>(endpoint::orders_create)] == 0);
    CHECK(sim->faults().fired(fault_kind::close_before_read) == 1);
    CHECK(once(sim->port(), "GET", api_path("account/balance")).status == 200);
}

TEST_CASE("close-after-commit: the order is placed and paid, the answer is lost") {
    running_sim sim(with_faults({"orders/create:close-after-commit=1"}));
    client c(sim->port());
    auto r = c.post("orders/create", create_body(900, 3));
    CHECK(r.ec);
    CHECK(r.ec != net::error::timed_out);
    auto orders = sim->state().orders();
    REQUIRE(orders.size() == 1);
    CHECK(orders[0].quantity == 3);
    CHECK(orders[0].status == order_status::completed);
    CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - 30'000));
    client admin(sim->port());
    auto listed = admin.admin("GET", "orders");
    REQUIRE(listed.status == 200);
    CHECK(listed.data().at("orders").as_array().size() == 1);
    CHECK(admin.get("account/balance").status == 200); // other endpoints unaffected
    CHECK(sim->faults().fired(fault_kind::close_after_commit) == 1);
}

TEST_CASE("reset-mid-response: part of the answer, then RST") {
    running_sim sim(with_faults({"account/balance:reset-mid-response=1"}));
    client c(sim->port());
    REQUIRE_FALSE(c.send(make_request("GET", api_path("account/balance"))));
    boost::system::error_code ec;
    auto got = c.read_all(ec, 10s);
    CHECK(ec == net::error::connection_reset);
    if (!got.empty()) CHECK(got.starts_with("HTTP/1.1 200 OK"));
    CHECK(got.find("\r\n0\r\n\r\n") == std::string::npos);
    CHECK(sim->faults().fired(fault_kind::reset_mid_response) == 1);
}

TEST_CASE("truncated-body: headers and half the body, then FIN") {
    running_sim sim(with_faults({"account/balance:truncated-body=1"}));
    {
        client c(sim->port());
        auto r = c.get("account/balance");
        CHECK(r.ec);
        CHECK(r.ec != net::error::timed_out);
    }
    client c(sim->port());
    REQUIRE_FALSE(c.send(make_request("GET", api_path("account/balance"))));
    boost::system::error_code ec;
    auto got = c.read_all(ec, 10s);
    CHECK(ec == net::error::eof);
    CHECK(got.starts_with("HTTP/1.1 200 OK"));
    CHECK(got.find("Transfer-Encoding: chunked") != std::string::npos);
    CHECK(got.find("{\"success\":true") != std::string::npos);
    CHECK(got.find("\r\n0\r\n\r\n") == std::string::npos);
    CHECK(sim->faults().fired(fault_kind::truncated_body) == 2);
}

TEST_CASE("slow-drip: the whole answer, in small pieces, slowly") {
    running_sim sim(with_faults({"account/info:slow-drip=1"}));
    client c(sim->port(), 10s);
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.get("account/info");
    auto took = ms_since(t0);
    REQUIRE(r.status == 200);
    CHECK(r.success());
    CHECK(took >= 500);
    CHECK(took < 2000 + testtime::slack.count());  // at most 40 pieces 50 ms apart
    t0 = std::chrono::steady_clock::now();
    CHECK(c.get("account/balance").status == 200);
    CHECK(ms_since(t0) < 2000);  // not dripped (fired() below is the exact count)
    CHECK(sim->faults().fired(fault_kind::slow_drip) == 1);
}

TEST_CASE("checkout-error: creates fail with HTTP 500 and commit nothing; other endpoints unaffected") {
    running_sim sim(with_faults({"checkout-error=1"}));
    client c(sim->port());
    auto r = c.post("orders/create", create_body(902, 5));
    CHECK(r.status == 500);
    CHECK(r.error_code() == "CHECKOUT_ERROR");
    CHECK(str(r.json.at("request_id")).starts_with("req_"));
    CHECK(sim->state().orders().empty());
    CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000));
    CHECK(sim->state().stock(902) == 100);
    CHECK(c.post("orders/create", create_body(903)).error_code() == "CART_ERROR"); // validation still first
    CHECK(c.get("account/balance").status == 200);
    CHECK(c.get("orders/list").status == 200);
    CHECK(sim->faults().fired(fault_kind::checkout_error) == 2);
}

TEST_CASE("malformed-json: processed, but the body does not parse") {
    running_sim sim(with_faults({"account/balance:malformed-json=1", "orders/create:malformed-json=1"}));
    client c(sim->port());
    auto r = c.get("account/balance");
    CHECK(r.status == 200);
    CHECK(r.chunked);
    CHECK(r.json.is_null());
    CHECK(r.body.starts_with("<br />"));
    auto created = c.post("orders/create", create_body(900));
    CHECK(created.status == 201);
    CHECK(created.json.is_null());
    CHECK(sim->state().orders().size() == 1);
    CHECK(c.get("account/info").success()); // same connection still usable
}

TEST_CASE("html-502: a CDN page on every Nth request, nothing processed") {
    running_sim sim(with_faults({"account/balance:html-502=every:3", "orders/create:html-502=1"}));
    client c(sim->port());
    std::vector<unsigned> statuses;
    for (int i = 0; i < 6; ++i) {
        auto r = c.get("account/balance");
        statuses.push_back(r.status);
        if (r.status == 502) {
            CHECK(r.header(http::field::content_type) == "text/html");
            CHECK(r.body.find("502 Bad Gateway") != std::string::npos);
            CHECK(r.json.is_null());
        }
    }
    CHECK(statuses == std::vector<unsigned>{200, 200, 502, 200, 200, 502});
    CHECK(sim->state().stats().requests[static_cast<std::size_t>(endpoint::account_balance)] == 4);
    CHECK(c.post("orders/create", create_body(900)).status == 502);
    CHECK(sim->state().orders().empty());
    CHECK(sim->faults().fired(fault_kind::html_502) == 3);
}

TEST_CASE("no-pipelining: a second request before the first answer closes the connection") {
    running_sim sim(with_faults({"no-pipelining=1"}));
    client c(sim->port());
    CHECK(c.get("account/balance").status == 200);
    CHECK(c.get("account/info").status == 200); // one at a time is fine
    REQUIRE_FALSE(c.send(make_request("GET", api_path("account/balance")) + make_request("POST", api_path("orders/create"), create_body(900))));
    boost::system::error_code ec;
    auto got = c.read_all(ec, 10s);
    CHECK(got.empty());
    CHECK(ec != net::error::timed_out);
    CHECK(sim->state().orders().empty());
    CHECK(sim->faults().fired(fault_kind::no_pipelining) == 1);
    CHECK(sim->state().stats().requests[static_cast<std::size_t>(endpoint::account_balance)] == 1);
}

TEST_CASE("faults never touch the admin area, and are managed at run time") {
    running_sim sim(with_faults({"html-502=1", "close-before-read=0"}));
    client c(sim->port());
    CHECK(c.get("account/balance").status == 502);
    auto stats = c.admin("GET", "stats");
    REQUIRE(stats.status == 200);
    CHECK(stats.data().at("faults").at("html-502").as_int64() == 1);
    auto rules = c.admin("GET", "faults");
    CHECK(rules.data().at("rules").as_array().size() == 2);
    sim->faults().clear();
    CHECK(c.get("account/balance").status == 200);
    sim->faults().add("account/balance:malformed-json=every:2");
    CHECK(c.get("account/balance").success());
    CHECK_FALSE(c.get("account/balance").success());
    auto set = c.admin("POST", "faults", R"({"clear":true,"latency":"100:0","seed":5,"add":["account/info:latency=1"]})");
    REQUIRE(set.status == 200);
    CHECK(set.data().at("latency_ms").as_int64() == 100);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(c.get("account/info").status == 200);
    CHECK(ms_since(t0) >= 100);
    CHECK(c.admin("POST", "faults", R"({"latency":"slow"})").status == 400);
}

TEST_CASE("idle, silent and slow clients are disconnected") {
    auto o = test_options();
    o.idle_timeout = 300ms;
    o.read_timeout = 300ms;
    running_sim sim(o);
    boost::system::error_code ec;
    {
        client silent(sim->port());
        auto t0 = std::chrono::steady_clock::now();
        silent.read_all(ec, 10s);
        CHECK(ec == net::error::eof);
        CHECK(ms_since(t0) < 300 + testtime::slack.count());
    }
    {
        client slowloris(sim->port());
        slowloris.send("GET /api/v1/account/balance HTTP/1.1\r\nHost: x\r\n");
        auto t0 = std::chrono::steady_clock::now();
        slowloris.read_all(ec, 10s);
        CHECK(ec != net::error::timed_out);
        CHECK(ms_since(t0) < 300 + testtime::slack.count());
    }
    {
        client body(sim->port());
        body.send("POST /api/v1/orders/create HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"items\":");
        auto t0 = std::chrono::steady_clock::now();
        body.read_all(ec, 10s);
        CHECK(ec != net::error::timed_out);
        CHECK(ms_since(t0) < 300 + testtime::slack.count());
    }
    {
        client keep(sim->port());
        CHECK(keep.get("account/balance").status == 200);
        auto t0 = std::chrono::steady_clock::now();
        keep.read_all(ec, 10s);
        CHECK(ec == net::error::eof);
        CHECK(ms_since(t0) < 300 + testtime::slack.count());
    }
    CHECK(sim->state().orders().empty());
}
