// The simulator through raw HTTP: every endpoint and error code, both modes, coupons and
// quirks, the order lifecycle and daily/rate windows on a fake clock, concurrency, admin
// area, catalog files, TLS and clean shutdown.
#include "simulator_support.hpp"

#include <cstdio>
#include <fstream>
#include <latch>
#include <map>
#include <regex>
#include <set>

#include <unistd.h>

using namespace simtest;

namespace {

std::string str(json::value const& v) { return v.is_string() ? std::string(v.as_string()) : json::serialize(v); }
std::int64_t num(json::value const& v) {
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64()) return static_cast<std::int64_t>(v.as_uint64());
    FAIL("not an integer: " << json::serialize(v));
    return 0;
}
json::object const& obj(json::value const& v) { return v.as_object(); }

/// A settable clock shared with the simulator.
struct fake_clock {
    std::shared_ptr<std::atomic<std::int64_t>> ms = std::make_shared<std::atomic<std::int64_t>>(0);
    explicit fake_clock(std::chrono::system_clock::time_point start) { set(start); }
    void set(std::chrono::system_clock::time_point t) {
        ms->store(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
    }
    void advance(std::chrono::milliseconds d) { ms->fetch_add(d.count()); }
    std::function<std::chrono::system_clock::time_point()> fn() const {
        return [m = ms] { return std::chrono::system_clock::time_point(std::chrono::milliseconds(m->load())); };
    }
};

/// 2026-02-02 15:23:14 in Vietnam (UTC+7), the documentation's example time.
std::chrono::system_clock::time_point doc_time() {
    using namespace std::chrono;
    return system_clock::time_point(sys_days{year{2026} / 2 / 2} + hours{8} + minutes{23} + seconds{14});
}

void check_envelope(response const& r) {
    REQUIRE(r.json.is_object());
    CHECK(obj(r.json).contains("timestamp"));
    CHECK(r.json.at("timestamp").is_int64());
    CHECK(str(r.json.at("request_id")).starts_with("req_"));
    if (r.success()) CHECK(r.data().at("execution_time").is_number());
    else CHECK_FALSE(str(r.json.at("message")).empty());
}

account_spec extra_account(std::string key_suffix) {
    account_spec a;
    a.key = "sk_live_" + std::string(32 - key_suffix.size(), '0') + key_suffix;
    a.secret = "sk_secret_" + std::string(64 - key_suffix.size(), '0') + key_suffix;
    a.balance = money::from_vnd(1'000'000);
    a.user_id = 2;
    a.username = "user2";
    return a;
}

std::vector<std::pair<std::string, std::string>> creds(account_spec const& a) {
    return {{"X-API-Key", a.key}, {"X-API-Secret", a.secret}};
}

} // namespace

TEST_CASE("products/list serves every plan the documentation mentions") {
    running_sim sim;
    client c(sim->port());
    auto r = c.get("products/list?limit=100");
    REQUIRE(r.status == 200);
    check_envelope(r);
    auto const& products = r.data().at("products").as_array();
    std::map<std::int64_t, json::object const*> plans;
    std::set<std::int64_t> ids;
    for (auto const& p : products) {
        ids.insert(num(p.at("id")));
        for (auto const& pl : p.at("plans").as_array()) plans[num(pl.at("id"))] = &pl.as_object();
    }
    CHECK(ids == std::set<std::int64_t>{10, 12, 21, 29, 90});
    for (auto id : {5, 18, 19, 319, 320, 900, 901, 902, 903, 904, 905}) CHECK(plans.count(id));

    auto const& adobe = products[0].as_object();
    CHECK(num(adobe.at("id")) == 29);
    CHECK(str(adobe.at("slug")) == "key-adobe-creative-cloud-all-apps");
    CHECK(num(adobe.at("category").at("id")) == 5);
    CHECK(adobe.at("categories").as_array().size() == 2);
    CHECK(adobe.at("categories").as_array()[1].at("image").is_null());
    CHECK(num(adobe.at("min_price")) == 375000);
    CHECK(num(adobe.at("max_price")) == 1650000);
    CHECK(adobe.at("rating").as_double() == 4.5);

    auto const& p319 = *plans[319];
    CHECK(num(p319.at("price")) == 375000);
    CHECK(num(p319.at("sale_price")) == 0);
    CHECK(num(p319.at("final_price")) == 375000);
    CHECK(p319.at("is_instant") == true);
    CHECK(str(p319.at("duration_type")) == "month");
    CHECK(num(p319.at("stock_count")) == 50);
    CHECK(p319.at("in_stock") == true);
    CHECK(p319.at("fields").as_array().empty());
    auto const& p320 = *plans[320];
    CHECK(p320.at("is_instant") == false);
    CHECK(num(p320.at("stock_count")) == 0);
    CHECK(p320.at("in_stock") == true);
    REQUIRE(p320.at("fields").as_array().size() == 2);
    CHECK(str(p320.at("fields").as_array()[1].at("key")) == "mat_khau");
    CHECK(str(p320.at("fields").as_array()[1].at("type")) == "password");
    CHECK(str(plans[18]->at("fields").as_array()[0].at("key")) == "email_dang_nhap");
    CHECK(plans[18]->at("fields").as_array()[0].at("required") == true);
    CHECK(num(plans[19]->at("final_price")) == 400000);
    CHECK(plans[5]->at("duration_value").is_null());
    CHECK(plans[901]->at("price").as_double() == 10000.5);
    CHECK(num(plans[900]->at("stock_count")) >= 1'000'000);
    CHECK(num(plans[903]->at("stock_count")) == 0);
    CHECK(plans[903]->at("in_stock") == false);

    SECTION("paging, category filter and search") {
        auto page = c.get("products/list?limit=2&page=3");
        CHECK(page.data().at("products").as_array().size() == 1);
        auto const& pg = page.data().at("pagination");
        CHECK(num(pg.at("current_page")) == 3);
        CHECK(num(pg.at("per_page")) == 2);
        CHECK(num(pg.at("total")) == 5);
        CHECK(num(pg.at("total_pages")) == 3);
        CHECK(pg.at("has_more") == false);
        CHECK(num(c.get("products/list").data().at("pagination").at("per_page")) == 10);
        auto cat = c.get("products/list?category_id=14");
        std::set<std::int64_t> in14;
        for (auto const& p : cat.data().at("products").as_array()) in14.insert(num(p.at("id")));
        CHECK(in14 == std::set<std::int64_t>{10, 29});
        auto found = c.get("products/list?search=FIGMA");
        REQUIRE(found.data().at("products").as_array().size() == 1);
        CHECK(num(found.data().at("products").as_array()[0].at("id")) == 21);
    }
}

TEST_CASE("categories/list: order, parent filter, children and product counts") {
    running_sim sim;
    client c(sim->port());
    auto r = c.get("categories/list");
    REQUIRE(r.status == 200);
    check_envelope(r);
    std::vector<std::int64_t> order;
    for (auto const& cat : r.data().at("categories").as_array()) order.push_back(num(cat.at("id")));
    CHECK(order == std::vector<std::int64_t>{3, 5, 14, 1});
    CHECK(num(r.data().at("total")) == 4);
    CHECK_FALSE(obj(r.data().at("categories").as_array()[0]).contains("children"));

    auto kids = c.get("categories/list?parent_id=1&include_children=1&include_products=1");
    auto const& cats = kids.data().at("categories").as_array();
    REQUIRE(cats.size() == 2);
    CHECK(num(cats[0].at("id")) == 3);
    CHECK(num(cats[1].at("id")) == 5);
    CHECK(num(cats[1].at("product_count")) == 2);
    CHECK(cats[1].at("children").as_array().empty());
    auto tree = c.get("categories/list?include_children=1");
    for (auto const& cat : tree.data().at("categories").as_array())
        if (num(cat.at("id")) == 1) CHECK(cat.at("children").as_array().size() == 2);
    auto top = c.get("categories/list?parent_id=0");
    CHECK(num(top.data().at("total")) == 2);
}

TEST_CASE("account/balance and account/info") {
    auto o = test_options();
    o.rate_limit_override = 0; // report the account's own limits
    running_sim sim(o);
    client c(sim->port());
    auto b = c.get("account/balance");
    REQUIRE(b.status == 200);
    check_envelope(b);
    CHECK(num(b.data().at("user").at("id")) == 1);
    CHECK(str(b.data().at("user").at("username")) == "admin");
    CHECK(num(b.data().at("balance").at("current")) == 500'000'000);
    CHECK(str(b.data().at("balance").at("currency")) == "VND");
    CHECK(str(b.data().at("balance").at("formatted")) == "500.000.000\xC4\x91");

    auto i = c.get("account/info");
    REQUIRE(i.status == 200);
    check_envelope(i);
    auto const& key = i.data().at("api_key");
    CHECK(key.at("permissions").as_array().size() == 6);
    CHECK(str(key.at("permissions").as_array()[0]) == "orders.create");
    CHECK(num(key.at("rate_limit")) == 60);
    CHECK(num(key.at("daily_limit")) == 10000);
    CHECK(key.at("expires_at").is_null());
    CHECK(str(key.at("created_at")) == "2026-02-02 14:53:35");
    auto const& usage = i.data().at("api_usage_today");
    CHECK(str(usage.at("period")) == "day");
    CHECK(std::regex_match(str(usage.at("start_time")), std::regex(R"(\d{4}-\d\d-\d\d 00:00:00)")));
    CHECK(num(usage.at("total_requests")) == 1);
    CHECK(num(usage.at("success_requests")) == 1);
    CHECK(num(usage.at("success_rate")) == 100);
    CHECK(num(i.data().at("user").at("balance")) == 500'000'000);
    CHECK(i.data().at("user").at("created_at").is_null());
    CHECK(num(i.data().at("orders_summary").at("total")) == 0);
}

TEST_CASE("orders/create delivers instant plans at once, with the deployed money formats") {
    running_sim sim;
    client c(sim->port());
    auto r = c.post("orders/create", create_body(19, 2));
    REQUIRE(r.status == 201);
    check_envelope(r);
    CHECK_FALSE(str(r.json.at("message")).empty());
    auto const& orders = r.data().at("orders").as_array();
    REQUIRE(orders.size() == 1);
    auto const& o = orders[0];
    CHECK(num(o.at("product_id")) == 21);
    CHECK(str(o.at("product_name")) == "S\u1EA3n ph\u1EA9m Figma");
    CHECK(num(o.at("plan_id")) == 19);
    CHECK(num(o.at("quantity")) == 2);
    CHECK(o.at("unit_price").is_string());
    CHECK(str(o.at("unit_price")) == "400000.00");
    CHECK(o.at("total").is_int64());
    CHECK(num(o.at("total")) == 800000);
    CHECK(num(o.at("discount")) == 0);
    CHECK(num(o.at("final_amount")) == 800000);
    CHECK(str(o.at("status")) == "completed");
    std::string trans_id = str(o.at("trans_id"));
    CHECK(trans_id.size() == 7);
    auto const& s = r.data().at("summary");
    CHECK(num(s.at("orders_count")) == 1);
    CHECK(num(s.at("original_total")) == 800000);
    CHECK(num(s.at("discount_amount")) == 0);
    CHECK(s.at("coupon_code").is_null());
    CHECK(num(s.at("total_amount")) == 800000);
    CHECK(num(s.at("new_balance")) == 499'200'000);
    CHECK_FALSE(obj(r.data()).contains("warnings"));
    CHECK(sim->state().balance(demo_key) == money::from_vnd(499'200'000));

    auto st = c.get("orders/status?trans_id=" + trans_id);
    REQUIRE(st.status == 200);
    check_envelope(st);
    auto const& order = st.data().at("order");
    CHECK(num(order.at("id")) == num(o.at("order_id")));
    CHECK(num(order.at("user_id")) == 1);
    CHECK(str(order.at("product").at("slug")) == "san-pham-figma");
    CHECK(order.at("plan").at("is_instant") == true);
    CHECK(num(order.at("total_price")) == 1'600'000);
    CHECK(num(order.at("sale_price")) == 400000);
    CHECK(num(order.at("discount_amount")) == 0);
    CHECK(order.at("coupon_code").is_null());
    CHECK(num(order.at("final_amount")) == 800000);
    CHECK(order.at("fields_data").is_array());
    CHECK(order.at("fields_data").as_array().empty());
    CHECK(str(order.at("payment_status")) == "paid");
    CHECK(str(order.at("order_source")) == "api");
    CHECK(std::regex_match(str(order.at("created_at")), std::regex(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")));
    auto const& delivery = st.data().at("delivery");
    REQUIRE(delivery.at("items").as_array().size() == 2);
    CHECK(str(delivery.at("items").as_array()[0]) == "Account: user@mail.com | Pass: abc123");
    CHECK(str(delivery.at("items").as_array()[1]) == "Account: user2@mail.com | Pass: xyz789");
    CHECK(num(delivery.at("delivered_count")) == 2);
    CHECK(num(delivery.at("expected_count")) == 2);

    auto by_id = c.get("orders/status?order_id=" + std::to_string(num(o.at("order_id"))));
    REQUIRE(by_id.status == 200);
    CHECK(str(by_id.data().at("order").at("trans_id")) == trans_id);
    auto by_post = c.post("orders/status", R"({"trans_id":")" + trans_id + "\"}");
    REQUIRE(by_post.status == 200);
    CHECK(str(by_post.data().at("order").at("trans_id")) == trans_id);

    SECTION("required fields are kept as an object") {
        auto f = c.post("orders/create", create_body(18, 1, R"("fields":{"email_dang_nhap":"user@example.com"})"));
        REQUIRE(f.status == 201);
        CHECK(num(f.data().at("summary").at("total_amount")) == 100000);
        auto t = str(f.data().at("orders").as_array()[0].at("trans_id"));
        auto fs = c.get("orders/status?trans_id=" + t);
        CHECK(str(fs.data().at("order").at("fields_data").at("email_dang_nhap")) == "user@example.com");
    }
    SECTION("fractional amounts print as decimals") {
        auto f = c.post("orders/create", create_body(901, 1));
        REQUIRE(f.status == 201);
        auto const& fo = f.data().at("orders").as_array()[0];
        CHECK(str(fo.at("unit_price")) == "10000.50");
        CHECK(fo.at("total").as_double() == 10000.5);
        CHECK(amount(f.data().at("summary").at("new_balance")) == money::parse("499189999.5"));
    }
    SECTION("several items give one order each") {
        auto f = c.post("orders/create", R"({"items":[{"plan_id":900},{"plan_id":5,"quantity":2}]})");
        REQUIRE(f.status == 201);
        CHECK(f.data().at("orders").as_array().size() == 2);
        CHECK(num(f.data().at("summary").at("orders_count")) == 2);
        CHECK(num(f.data().at("summary").at("total_amount")) == 10000 + 1'500'000);
        CHECK(sim->state().stock(5) == 498);
    }
}

TEST_CASE("orders/create refusals commit nothing (deployed mode)") {
    running_sim sim;
    client c(sim->port());
    auto expect = [&](std::string const& body, unsigned status, std::string const& code) {
        auto r = c.post("orders/create", body);
        INFO(body << " -> " << r.body);
        CHECK(r.status == status);
        CHECK(r.error_code() == code);
        check_envelope(r);
        return r;
    };
    expect("{not json", 400, "INVALID_JSON");
    expect("[1,2]", 400, "INVALID_JSON");
    expect("{}", 400, "ITEMS_REQUIRED");
    expect(R"({"items":[]})", 400, "ITEMS_REQUIRED");
    auto unknown = expect(create_body(99999), 400, "CART_ERROR");
    CHECK(str(unknown.json.at("message")).find("99999") != std::string::npos);
    expect(create_body(903), 400, "CART_ERROR");
    expect(create_body(319, 51), 400, "CART_ERROR");
    expect(create_body(18), 400, "CART_ERROR");
    auto field = expect(create_body(320, 1, R"("fields":{"email":"a@b.c"})"), 400, "CART_ERROR");
    // Like the deployed server: the product and the field's label, not its key.
    CHECK(str(field.json.at("message")).find("Vui l\u00F2ng nh\u1EADp M\u1EADt kh\u1EA9u") != std::string::npos);
    expect(create_body(900, 0), 400, "CART_ERROR");
    expect(create_body(900, 1'000'001), 400, "CART_ERROR");
    expect(R"({"items":[{"plan_id":900,"quantity":"abc"}]})", 400, "CART_ERROR");
    expect(R"({"items":[{"quantity":1}]})", 400, "CART_ERROR");
    std::string many = R"({"items":[)";
    for (int i = 0; i < 21; ++i) many += std::string(i ? "," : "") + R"({"plan_id":900})";
    expect(many + "]}", 400, "CART_ERROR");
    sim->state().set_balance(demo_key, money::from_vnd(1000));
    expect(create_body(5), 400, "INSUFFICIENT_BALANCE");
    CHECK(sim->state().balance(demo_key) == money::from_vnd(1000));
    CHECK(sim->state().orders().empty());
    CHECK(sim->state().stock(5) == 500);
    CHECK(sim->state().stock(319) == 50);

    // Wrong method: 405 before authentication.
    auto m = once(sim->port(), "GET", api_path("orders/create"), {}, {}, false);
    CHECK(m.status == 405);
    CHECK(m.error_code() == "METHOD_NOT_ALLOWED");
    CHECK(c.request("DELETE", api_path("account/balance")).status == 405);
    CHECK(c.request("POST", api_path("products/list"), "{}").error_code() == "METHOD_NOT_ALLOWED");
    // Numeric strings and integral floats are accepted as PHP casts them.
    sim->state().set_balance(demo_key, money::from_vnd(1'000'000));
    auto cast = c.post("orders/create", R"({"items":[{"plan_id":"900","quantity":2.0}]})");
    CHECK(cast.status == 201);
}

TEST_CASE("the key check answers every refusal with 401, in the deployed order") {
    running_sim sim;
    auto& st = sim->state();
    auto port = sim->port();
    auto code_of = [&](std::vector<std::pair<std::string, std::string>> headers, std::string path = "account/balance") {
        auto r = once(port, "GET", api_path(path), {}, headers, false);
        check_envelope(r);
        return std::make_pair(r.status, r.error_code());
    };
    using result = std::pair<unsigned, std::string>;
    CHECK(code_of({}) == result{401, "INVALID_API_KEY"});
    CHECK(code_of({{"X-API-Key", "sk_live_short"}, {"X-API-Secret", demo_secret}}) == result{401, "INVALID_API_KEY"});
    CHECK(code_of({{"X-API-Key", "sk_live_" + std::string(32, 'f')}, {"X-API-Secret", demo_secret}}) ==
          result{401, "INVALID_API_KEY"});
    CHECK(code_of({{"X-API-Key", demo_key}}) == result{401, "INVALID_API_SECRET"});
    CHECK(code_of({{"X-API-Key", demo_key}, {"X-API-Secret", "sk_secret_" + std::string(64, 'f')}}) ==
          result{401, "INVALID_API_SECRET"});

    auto legacy = extra_account("1");
    legacy.key = std::string(32, 'k');
    legacy.secret = std::string(64, 's');
    st.add_account(legacy);
    CHECK(code_of(creds(legacy)) == result{200, ""});

    auto disabled = extra_account("2");
    disabled.disabled = true;
    disabled.expires_at = std::chrono::system_clock::now() - std::chrono::hours(1);
    st.add_account(disabled);
    auto wrong_secret = creds(disabled);
    wrong_secret[1].second = "sk_secret_" + std::string(64, '9');
    // Disabled is reported before expiry and before the secret is checked.
    CHECK(code_of(wrong_secret) == result{401, std::string(shop::server_code_name(shop::errc::disabled_api_key))});

    auto expired = extra_account("3");
    expired.expires_at = std::chrono::system_clock::now() - std::chrono::hours(1);
    st.add_account(expired);
    CHECK(code_of(creds(expired)) == result{401, "EXPIRED_API_KEY"});

    auto banned = extra_account("4");
    banned.banned = true;
    st.add_account(banned);
    CHECK(code_of(creds(banned)) == result{401, "USER_BANNED"});

    auto fenced = extra_account("5");
    fenced.ip_allow = {"10.1.2.3"};
    st.add_account(fenced);
    CHECK(code_of(creds(fenced)) == result{401, "IP_NOT_ALLOWED"});
    st.modify_account(fenced.key, [](account_spec& a) { a.ip_allow.push_back("127.0.0.1"); });
    CHECK(code_of(creds(fenced)) == result{200, ""});

    auto reader = extra_account("6");
    reader.permissions = perm_products_list;
    st.add_account(reader);
    CHECK(code_of(creds(reader), "products/list") == result{200, ""});
    CHECK(code_of(creds(reader), "orders/list") == result{403, "PERMISSION_DENIED"});
    CHECK(code_of(creds(reader), "account/balance") == result{403, "PERMISSION_DENIED"});
    CHECK(code_of(creds(reader), "account/info") == result{200, ""}); // deployed: no permission check
    auto denied = once(port, "POST", api_path("orders/create"), create_body(900), creds(reader), false);
    CHECK(denied.error_code() == "PERMISSION_DENIED");

    st.set_api_enabled(false);
    CHECK(code_of({{"X-API-Key", demo_key}, {"X-API-Secret", demo_secret}}) == result{401, "API_DISABLED"});
    CHECK(code_of({}) == result{401, "INVALID_API_KEY"});
    st.set_api_enabled(true);

    auto nowhere = once(port, "GET", "/api/v1/orders/nothing");
    CHECK(nowhere.status == 404);
    CHECK(nowhere.error_code() == "ENDPOINT_NOT_FOUND");
    check_envelope(nowhere);
    CHECK(once(port, "GET", "/").error_code() == "ENDPOINT_NOT_FOUND");
    CHECK(once(port, "GET", "/api/v2/account/balance").error_code() == "ENDPOINT_NOT_FOUND");
    CHECK(sim->state().stats().auth_failed >= 10);
}

TEST_CASE("documented mode speaks the documentation's codes") {
    auto o = test_options();
    o.mode = simulator_options::api_mode::documented;
    o.rate_limit_override = 3;
    running_sim sim(o);
    auto fenced = extra_account("7");
    fenced.ip_allow = {"10.1.2.3"};
    sim->state().add_account(fenced);
    auto reader = extra_account("8");
    reader.permissions = perm_products_list;
    sim->state().add_account(reader);
    auto port = sim->port();

    auto created = once(port, "POST", api_path("orders/create"), create_body(900));
    CHECK(created.status == 200);
    CHECK(created.success());
    auto unknown = once(port, "POST", api_path("orders/create"), create_body(4242));
    CHECK(unknown.status == 404);
    CHECK(unknown.error_code() == "PRODUCT_NOT_FOUND");
    auto sold_out = once(port, "POST", api_path("orders/create"), create_body(903));
    CHECK(sold_out.status == 400);
    CHECK(sold_out.error_code() == "OUT_OF_STOCK");
    auto limited = once(port, "GET", api_path("account/balance"));
    CHECK(limited.status == 429);
    CHECK(limited.error_code() == "RATE_LIMIT_EXCEEDED");
    auto ip = once(port, "GET", api_path("account/balance"), {}, creds(fenced), false);
    CHECK(ip.status == 403);
    CHECK(ip.error_code() == "IP_NOT_ALLOWED");
    auto info = once(port, "GET", api_path("account/info"), {}, creds(reader), false);
    CHECK(info.status == 403);
    CHECK(info.error_code() == "PERMISSION_DENIED");
    auto list = once(port, "GET", api_path("orders/list"), {}, creds(reader), false);
    CHECK(list.error_code() == "PERMISSION_DENIED");

    auto o2 = test_options();
    o2.mode = simulator_options::api_mode::documented;
    running_sim sim2(o2);
    CHECK(num(once(sim2->port(), "GET", api_path("orders/list")).data().at("pagination").at("per_page")) == 20);
}

TEST_CASE("orders/status refusals") {
    running_sim sim;
    client c(sim->port());
    auto r = c.get("orders/status");
    CHECK(r.status == 400);
    CHECK(r.error_code() == "PARAMS_REQUIRED");
    CHECK(c.get("orders/status?trans_id=").error_code() == "PARAMS_REQUIRED");
    CHECK(c.get("orders/status?trans_id=" + std::string(51, 'A')).error_code() == "PARAMS_REQUIRED");
    auto missing = c.get("orders/status?trans_id=NOPE123");
    CHECK(missing.status == 404);
    CHECK(missing.error_code() == "ORDER_NOT_FOUND");
    CHECK(c.get("orders/status?order_id=99").error_code() == "ORDER_NOT_FOUND");
    CHECK(c.post("orders/status", "{broken").error_code() == "INVALID_JSON");

    // Another user's order is not found.
    auto created = c.post("orders/create", create_body(900));
    auto t = str(created.data().at("orders").as_array()[0].at("trans_id"));
    auto other = extra_account("9");
    sim->state().add_account(other);
    auto foreign = c.request("GET", api_path("orders/status?trans_id=" + t), {}, creds(other), false);
    CHECK(foreign.status == 404);
    CHECK(foreign.error_code() == "ORDER_NOT_FOUND");
}

TEST_CASE("orders/list: newest first, offset paging, filters, list-filter-500 quirk") {
    auto o = test_options();
    SECTION("filters work without the quirk") {
        running_sim sim(o);
        client c(sim->port());
        for (int i = 0; i < 3; ++i) REQUIRE(c.post("orders/create", create_body(900)).status == 201);
        auto r = c.get("orders/list");
        REQUIRE(r.status == 200);
        check_envelope(r);
        auto const& orders = r.data().at("orders").as_array();
        REQUIRE(orders.size() == 3);
        CHECK(num(orders[0].at("id")) == 3);
        CHECK(num(orders[2].at("id")) == 1);
        CHECK(num(orders[0].at("product").at("id")) == 90);
        CHECK(num(orders[0].at("plan").at("id")) == 900);
        CHECK(num(orders[0].at("total_price")) == 10000);
        CHECK(str(orders[0].at("payment_status")) == "paid");
        auto const& pg = r.data().at("pagination");
        CHECK(num(pg.at("per_page")) == 10);
        CHECK(num(pg.at("total")) == 3);
        CHECK(num(pg.at("total_pages")) == 1);
        CHECK(pg.at("has_more") == false);

        auto p1 = c.get("orders/list?limit=2&page=1");
        CHECK(p1.data().at("orders").as_array().size() == 2);
        CHECK(p1.data().at("pagination").at("has_more") == true);
        auto p2 = c.get("orders/list?limit=2&page=2");
        REQUIRE(p2.data().at("orders").as_array().size() == 1);
        CHECK(num(p2.data().at("orders").as_array()[0].at("id")) == 1);
        CHECK(num(c.get("orders/list?limit=500").data().at("pagination").at("per_page")) == 100);

        CHECK(num(c.get("orders/list?status=completed").data().at("pagination").at("total")) == 3);
        CHECK(num(c.get("orders/list?status=pending").data().at("pagination").at("total")) == 0);
        CHECK(num(c.get("orders/list?status=bogus").data().at("pagination").at("total")) == 3);
        CHECK(num(c.get("orders/list?to_date=2000-01-01").data().at("pagination").at("total")) == 0);
        auto today = format_local(std::chrono::system_clock::now(), std::chrono::hours(7)).substr(0, 10);
        CHECK(num(c.get("orders/list?from_date=" + today + "&to_date=" + today).data().at("pagination").at("total")) == 3);
    }
    SECTION("with the quirk a filter gives HTTP 500 and an empty HTML body") {
        o.quirk_list_filter_500 = true;
        running_sim sim(o);
        client c(sim->port());
        REQUIRE(c.post("orders/create", create_body(900)).status == 201);
        auto bad = c.get("orders/list?status=completed");
        CHECK(bad.status == 500);
        CHECK(bad.body.empty());
        CHECK(bad.header(http::field::content_type).starts_with("text/html"));
        CHECK(c.get("orders/list?from_date=2026-01-01").status == 500);
        CHECK(c.get("orders/list?status=bogus").status == 200); // an unknown status is ignored
        CHECK(c.get("orders/list").status == 200);
    }
}

TEST_CASE("coupons: percent, fixed, skipped with a warning, double-discount quirk") {
    auto o = test_options();
    SECTION("deployed arithmetic") {
        running_sim sim(o);
        client c(sim->port());
        auto r = c.post("orders/create", create_body(5, 2, {}, "giam10"));
        REQUIRE(r.status == 201);
        auto const& ord = r.data().at("orders").as_array()[0];
        CHECK(num(ord.at("total")) == 1'500'000);
        CHECK(num(ord.at("discount")) == 150'000);
        CHECK(num(ord.at("final_amount")) == 1'350'000);
        CHECK(str(r.data().at("summary").at("coupon_code")) == "GIAM10");
        CHECK(num(r.data().at("summary").at("total_amount")) == 1'350'000);
        CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - 1'350'000));
        auto st = c.get("orders/status?trans_id=" + str(ord.at("trans_id")));
        CHECK(num(st.data().at("order").at("total_price")) == 1'500'000);
        CHECK(num(st.data().at("order").at("discount_amount")) == 150'000);
        CHECK(str(st.data().at("order").at("coupon_code")) == "GIAM10");

        auto fixed = c.post("orders/create", create_body(319, 1, {}, "GIAM50K"));
        CHECK(num(fixed.data().at("summary").at("total_amount")) == 325'000);

        for (std::string code : {"KHONGCO", "HETHAN", "HETLUOT"}) {
            auto skipped = c.post("orders/create", create_body(900, 1, {}, code));
            INFO(code);
            REQUIRE(skipped.status == 201);
            auto const& w = skipped.data().at("warnings").as_array();
            REQUIRE(w.size() == 1);
            CHECK(str(w[0].at("code")) == "COUPON_SKIPPED");
            CHECK(num(skipped.data().at("summary").at("discount_amount")) == 0);
            CHECK(skipped.data().at("summary").at("coupon_code").is_null());
            CHECK(num(skipped.data().at("summary").at("total_amount")) == 10000);
        }
    }
    SECTION("double-discount quirk: the charge gets the percentage twice") {
        o.quirk_double_discount = true;
        running_sim sim(o);
        client c(sim->port());
        auto r = c.post("orders/create", create_body(5, 2, {}, "GIAM10"));
        REQUIRE(r.status == 201);
        auto const& ord = r.data().at("orders").as_array()[0];
        CHECK(num(ord.at("final_amount")) == 1'350'000);
        CHECK(num(r.data().at("summary").at("discount_amount")) == 150'000);
        CHECK(num(r.data().at("summary").at("total_amount")) == 1'215'000);
        CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - 1'215'000));
        // A fixed coupon is not affected.
        auto fixed = c.post("orders/create", create_body(319, 1, {}, "GIAM50K"));
        CHECK(num(fixed.data().at("summary").at("total_amount")) == 325'000);
        // A refund returns what was charged.
        REQUIRE(sim->state().refund(str(ord.at("trans_id"))) == transition_result::ok);
        CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - 325'000));
    }
}

TEST_CASE("non-instant orders follow the schedule on a fake clock, or are moved by hand") {
    fake_clock clk(doc_time());
    auto o = test_options();
    o.clock = clk.fn();
    SECTION("pending -> processing -> completed") {
        running_sim sim(o);
        client c(sim->port());
        auto r = c.post("orders/create", create_body(320, 1, R"("fields":{"email":"me@x.vn","mat_khau":"p@ss"})"));
        REQUIRE(r.status == 201);
        CHECK(str(r.data().at("orders").as_array()[0].at("status")) == "pending");
        CHECK(r.json.at("timestamp").as_int64() ==
              std::chrono::duration_cast<std::chrono::seconds>(doc_time().time_since_epoch()).count());
        auto t = str(r.data().at("orders").as_array()[0].at("trans_id"));
        auto status = [&] { return c.get("orders/status?trans_id=" + t); };
        auto s0 = status();
        CHECK(str(s0.data().at("order").at("status")) == "pending");
        CHECK(str(s0.data().at("order").at("created_at")) == "2026-02-02 15:23:14");
        CHECK(s0.data().at("delivery").at("items").as_array().empty());
        CHECK(num(s0.data().at("delivery").at("delivered_count")) == 0);
        CHECK(num(s0.data().at("delivery").at("expected_count")) == 1);
        CHECK(str(s0.data().at("order").at("fields_data").at("mat_khau")) == "p@ss");
        clk.advance(2s);
        CHECK(str(status().data().at("order").at("status")) == "processing");
        auto info = c.get("account/info");
        CHECK(num(info.data().at("orders_summary").at("pending")) == 1);
        clk.advance(3s);
        auto s2 = status();
        CHECK(str(s2.data().at("order").at("status")) == "completed");
        CHECK(str(s2.data().at("order").at("updated_at")) == "2026-02-02 15:23:19");
        REQUIRE(s2.data().at("delivery").at("items").as_array().size() == 1);
        CHECK(str(s2.data().at("delivery").at("items").as_array()[0]).starts_with("Account: "));
        CHECK(num(c.get("account/info").data().at("orders_summary").at("completed")) == 1);
    }
    SECTION("schedule off: complete, cancel and refund by hand") {
        o.processing_after = 0ms;
        o.completed_after = 0ms;
        running_sim sim(o);
        client c(sim->port());
        std::vector<std::string> ids;
        for (int i = 0; i < 3; ++i) {
            auto r = c.post("orders/create", create_body(904, 2));
            REQUIRE(r.status == 201);
            ids.push_back(str(r.data().at("orders").as_array()[0].at("trans_id")));
        }
        CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - 3 * 50'000));
        clk.advance(std::chrono::hours(48));
        CHECK(sim->state().order(ids[0])->status == order_status::pending);

        auto done = c.admin("POST", "orders/" + ids[0] + "/complete");
        REQUIRE(done.status == 200);
        CHECK(str(done.data().at("status")) == "completed");
        auto s = c.get("orders/status?trans_id=" + ids[0]);
        CHECK(s.data().at("delivery").at("items").as_array().size() == 2);
        auto items = sim->state().delivery_items(*sim->state().order(ids[0]));
        CHECK(items.size() == 2);
        CHECK(items[0] != items[1]);

        CHECK(c.admin("POST", "orders/" + ids[1] + "/cancel").status == 200);
        CHECK(sim->state().order(ids[1])->status == order_status::cancelled);
        CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - 3 * 50'000)); // cancel keeps the money
        auto refunded = c.admin("POST", "orders/" + ids[1] + "/refund");
        REQUIRE(refunded.status == 200);
        CHECK(num(refunded.data().at("balance")) == 500'000'000 - 2 * 50'000);
        auto rs = c.get("orders/status?trans_id=" + ids[1]);
        CHECK(str(rs.data().at("order").at("status")) == "refunded");
        CHECK(str(rs.data().at("order").at("payment_status")) == "refunded");

        auto again = c.admin("POST", "orders/" + ids[1] + "/refund");
        CHECK(again.status == 409);
        CHECK(again.error_code() == "INVALID_STATE");
        CHECK(c.admin("POST", "orders/" + ids[1] + "/complete").status == 409);
        CHECK(c.admin("POST", "orders/NOSUCH1/complete").error_code() == "ORDER_NOT_FOUND");
        CHECK(c.admin("POST", "orders/" + ids[2] + "/explode").error_code() == "ENDPOINT_NOT_FOUND");

        CHECK(sim->state().refund(ids[0]) == transition_result::ok); // a completed order can be refunded
        CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - 50'000));
        CHECK(sim->state().complete(ids[2]) == transition_result::ok);
        CHECK(sim->state().cancel(ids[2]) == transition_result::invalid_state);
        CHECK(sim->state().complete("NOSUCH1") == transition_result::not_found);
    }
}

TEST_CASE("daily limit counts from local midnight (UTC+7), refused requests included") {
    using namespace std::chrono;
    // 23:59:58 in Vietnam.
    fake_clock clk(system_clock::time_point(sys_days{year{2026} / 2 / 2} + hours{16} + minutes{59} + seconds{58}));
    auto o = test_options();
    o.clock = clk.fn();
    o.daily_limit_override = 3;
    running_sim sim(o);
    client c(sim->port());
    for (int i = 0; i < 3; ++i) CHECK(c.get("account/balance").status == 200);
    auto refused = c.get("account/balance");
    CHECK(refused.status == 401);
    CHECK(refused.error_code() == "DAILY_LIMIT_EXCEEDED");
    CHECK(c.get("account/info").error_code() == "DAILY_LIMIT_EXCEEDED");
    clk.advance(1s); // 23:59:59: still the same day
    CHECK(c.get("account/balance").error_code() == "DAILY_LIMIT_EXCEEDED");
    clk.advance(1s); // midnight in Vietnam
    auto info = c.get("account/info");
    REQUIRE(info.status == 200);
    CHECK(str(info.data().at("api_usage_today").at("start_time")) == "2026-02-03 00:00:00");
    CHECK(num(info.data().at("api_usage_today").at("total_requests")) == 0);
    CHECK(num(info.data().at("api_key").at("daily_limit")) == 3);
    CHECK(sim->state().stats().daily_limited == 3);

    SECTION("another offset moves midnight") {
        auto o2 = o;
        o2.utc_offset = 0s;
        clk.set(system_clock::time_point(sys_days{year{2026} / 2 / 2} + hours{23} + minutes{59} + seconds{59}));
        running_sim utc(o2);
        client u(utc->port());
        for (int i = 0; i < 3; ++i) CHECK(u.get("account/balance").status == 200);
        CHECK(u.get("account/balance").error_code() == "DAILY_LIMIT_EXCEEDED");
        clk.advance(1s);
        CHECK(u.get("account/balance").status == 200);
    }
}

TEST_CASE("rate window: one-second timestamps, refused requests count too") {
    using namespace std::chrono;
    fake_clock clk(system_clock::time_point(seconds(1'800'000'000)));
    auto o = test_options();
    o.clock = clk.fn();
    o.rate_limit_override = 5;
    o.rate_window = 2s;
    running_sim sim(o);
    client c(sim->port());
    auto ok = [&] { return c.get("account/balance").status == 200; };
    CHECK(ok());
    CHECK(ok());
    CHECK(ok());
    clk.advance(2s);
    CHECK(ok());
    CHECK(ok());
    auto r = c.get("account/balance");
    CHECK(r.status == 401);
    CHECK(r.error_code() == "RATE_LIMIT_EXCEEDED");
    CHECK_FALSE(r.headers.count("Retry-After"));
    CHECK_FALSE(ok());
    // One second later the first three have left the window; the two refused ones have not,
    // so only one request fits.
    clk.advance(1s);
    CHECK(ok());
    CHECK_FALSE(ok());
    clk.advance(3s);
    CHECK(ok());
    CHECK(sim->state().stats().rate_limited == 3);
    // Every rejected request reached the key check and is logged for the day too.
    auto info = c.get("account/info");
    CHECK(num(info.data().at("api_usage_today").at("failed_requests")) == 3);
}

TEST_CASE("rate window through the real clock (--rate-limit 3/1)") {
    auto o = test_options();
    o.rate_limit_override = 3;
    o.rate_window = 1s;
    running_sim sim(o);
    client c(sim->port());
    int refused = 0;
    for (int i = 0; i < 4; ++i) refused += c.get("account/balance").error_code() == "RATE_LIMIT_EXCEEDED";
    CHECK(refused >= 1); // at most two distinct seconds fit 4 requests: the 4th is refused
    std::this_thread::sleep_for(2100ms);
    CHECK(c.get("account/balance").status == 200);
}

TEST_CASE("concurrent creates: balance and stock stay exact, no item sold twice") {
    constexpr int clients = 240;
    auto run_all = [&](running_sim& sim, auto body_of) {
        std::vector<response> out(clients);
        std::latch start(clients);
        std::vector<std::thread> threads;
        for (int i = 0; i < clients; ++i)
            threads.emplace_back([&, i] {
                client c(sim->port(), 20s);
                start.arrive_and_wait();
                out[i] = c.post("orders/create", body_of(i));
            });
        for (auto& t : threads) t.join();
        return out;
    };
    auto unique_items = [](running_sim& sim) {
        std::set<std::string> items;
        std::size_t total = 0;
        for (auto const& o : sim->state().orders()) {
            for (auto& s : sim->state().delivery_items(o)) {
                items.insert(s);
                ++total;
            }
        }
        CHECK(items.size() == total);
        return total;
    };
    SECTION("limited balance") {
        running_sim sim(test_options(), 2);
        sim->state().set_balance(demo_key, money::from_vnd(80 * 50'000));
        auto out = run_all(sim, [](int) { return create_body(902, 1); });
        int created = 0, broke = 0;
        for (auto const& r : out) {
            created += r.status == 201;
            broke += r.error_code() == "INSUFFICIENT_BALANCE";
        }
        CHECK(created == 80);
        CHECK(broke == clients - 80);
        CHECK(sim->state().balance(demo_key) == money{});
        CHECK(sim->state().stock(902) == 20);
        CHECK(unique_items(sim) == 80);
    }
    SECTION("limited stock, mixed quantities") {
        running_sim sim(test_options(), 2);
        auto out = run_all(sim, [](int i) { return create_body(902, 1 + i % 3); });
        std::int64_t sold = 0;
        int created = 0;
        for (auto const& r : out) {
            if (r.status == 201) {
                ++created;
                sold += num(r.data().at("orders").as_array()[0].at("quantity"));
            } else {
                CHECK(r.error_code() == "CART_ERROR");
            }
        }
        CHECK(created > 30);
        CHECK(sold + static_cast<std::int64_t>(sim->state().stock(902)) == 100);
        CHECK(sim->state().stock(902) < 3);
        CHECK(sim->state().balance(demo_key) == money::from_vnd(500'000'000 - sold * 50'000));
        CHECK(static_cast<std::int64_t>(unique_items(sim)) == sold);
        CHECK(sim->state().stats().orders_created == static_cast<std::uint64_t>(created));
    }
}

TEST_CASE("pipelined requests are answered in order") {
    running_sim sim;
    client c(sim->port());
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i)
        ids.push_back(str(c.post("orders/create", create_body(900)).data().at("orders").as_array()[0].at("trans_id")));
    std::string batch;
    for (int i = 4; i >= 0; --i) batch += make_request("GET", api_path("orders/status?trans_id=" + ids[i]));
    batch += make_request("GET", api_path("account/balance"));
    batch += make_request("POST", api_path("orders/create"), create_body(900));
    batch += make_request("GET", api_path("products/list?limit=1"));
    REQUIRE_FALSE(c.send(batch));
    for (int i = 4; i >= 0; --i) {
        auto r = c.read();
        REQUIRE_FALSE(r.ec);
        CHECK(str(r.data().at("order").at("trans_id")) == ids[i]);
    }
    CHECK(c.read().data().at("balance").is_object());
    CHECK(c.read().status == 201);
    CHECK(c.read().data().at("products").as_array().size() == 1);
}

TEST_CASE("wire habits of the deployed stack") {
    running_sim sim;
    client c(sim->port());
    auto r = c.get("account/balance");
    CHECK(r.chunked);
    CHECK(r.header(http::field::transfer_encoding) == "chunked");
    CHECK(r.header(http::field::content_length).empty());
    CHECK(r.header(http::field::connection) == "keep-alive");
    CHECK(r.header(http::field::content_type) == "application/json; charset=utf-8");
    CHECK(r.header(http::field::set_cookie).starts_with("PHPSESSID="));
    CHECK(r.header(http::field::cache_control).find("no-cache") != std::string::npos);
    CHECK(r.header(http::field::pragma) == "no-cache");
    CHECK_FALSE(r.header(http::field::date).empty());
    auto again = c.get("account/balance"); // keep-alive: same connection
    CHECK(again.status == 200);
    CHECK(again.header(http::field::set_cookie) != r.header(http::field::set_cookie));

    auto closing = c.get("account/balance", {{"Connection", "close"}});
    CHECK(closing.status == 200);
    CHECK(closing.header(http::field::connection) == "close");
    boost::system::error_code ec;
    auto rest = c.read_all(ec, 2s);
    CHECK(rest.empty());
    CHECK(ec == net::error::eof);

    client old(sim->port());
    auto req = make_request("GET", api_path("account/balance"));
    req.replace(req.find("HTTP/1.1"), 8, "HTTP/1.0");
    old.send(req);
    auto r10 = old.read();
    CHECK(r10.status == 200);
    old.read_all(ec, 2s);
    CHECK(ec == net::error::eof);
}

TEST_CASE("malformed requests get an answer, never a crash") {
    auto o = test_options();
    o.max_body = 1024;
    running_sim sim(o);
    auto port = sim->port();
    {
        client c(port);
        c.send("THIS IS NOT HTTP\r\n\r\n");
        auto r = c.read();
        CHECK(r.status == 400);
    }
    {
        client c(port);
        std::string big = create_body(900);
        big.insert(big.size() - 1, ",\"pad\":\"" + std::string(4000, 'x') + "\"");
        auto r = c.post("orders/create", big);
        CHECK(r.status == 413);
        CHECK(r.error_code() == "REQUEST_TOO_LARGE");
        check_envelope(r);
        CHECK(r.header(http::field::connection) == "close");
    }
    {
        client c(port);
        auto r = c.get("account/balance", {{"X-Padding", std::string(20000, 'p')}});
        CHECK(r.status == 413);
        CHECK(r.error_code() == "REQUEST_TOO_LARGE");
    }
    {
        client c(port);
        auto r = c.request("POST", api_path("orders/create"), "items=1", {{"Content-Type", "text/plain"}});
        CHECK(r.error_code() == "INVALID_JSON");
    }
    CHECK(sim->state().orders().empty());
    CHECK(once(port, "GET", api_path("account/balance")).status == 200);
}

TEST_CASE("admin area: token required, never reachable with shop credentials") {
    running_sim sim;
    client c(sim->port());
    CHECK(c.request("GET", "/_sim/stats").error_code() == "PERMISSION_DENIED"); // shop credentials only
    CHECK(c.request("GET", "/_sim/stats", {}, {{"X-Sim-Admin", "wrong"}}, false).status == 403);
    CHECK(c.request("GET", "/_sim/stats", {}, {}, false).status == 403);
    auto o = test_options();
    o.admin_token.clear();
    running_sim closed(o);
    auto none = once(closed->port(), "GET", "/_sim/stats", {}, {{"X-Sim-Admin", ""}}, false);
    CHECK(none.status == 404);
    CHECK(none.error_code() == "ENDPOINT_NOT_FOUND");

    REQUIRE(c.post("orders/create", create_body(18, 1, R"("fields":{"email_dang_nhap":"a@b.vn"})")).status == 201);
    c.get("account/balance");
    c.get("nothing/here");
    auto stats = c.admin("GET", "stats");
    REQUIRE(stats.status == 200);
    check_envelope(stats);
    CHECK(num(stats.data().at("requests").at("orders/create")) == 1);
    CHECK(num(stats.data().at("requests").at("account/balance")) == 1);
    CHECK(num(stats.data().at("requests").at("other")) == 1);
    CHECK(num(stats.data().at("orders_created")) == 1);
    CHECK(num(stats.data().at("rate_limited")) == 0);
    CHECK(num(stats.data().at("daily_limited")) == 0);
    CHECK(stats.data().at("faults").at("html-502").is_number());

    auto orders = c.admin("GET", "orders?items=1");
    REQUIRE(orders.status == 200);
    auto const& list = orders.data().at("orders").as_array();
    REQUIRE(list.size() == 1);
    CHECK(num(list[0].at("plan_id")) == 18);
    CHECK(num(list[0].at("quantity")) == 1);
    CHECK(str(list[0].at("fields_data").at("email_dang_nhap")) == "a@b.vn");
    CHECK(str(list[0].at("status")) == "completed");
    CHECK(num(list[0].at("final_amount")) == 100000);
    CHECK(list[0].at("items").as_array().size() == 1);

    auto set = c.admin("POST", "balance", R"({"balance": 12345})");
    CHECK(num(set.data().at("balance")) == 12345);
    auto add = c.admin("POST", "balance", R"({"api_key":")" + demo_key + R"(","add": "0.5"})");
    CHECK(add.data().at("balance").as_double() == 12345.5);
    CHECK(c.admin("POST", "balance", R"({"api_key":"nobody","balance":1})").status == 404);
    CHECK(c.admin("POST", "balance", "{}").status == 400);
    CHECK(c.admin("GET", "balance").status == 405);

    auto f = c.admin("POST", "faults", R"({"add":["account/balance:html-502=1"]})");
    REQUIRE(f.status == 200);
    CHECK(str(f.data().at("rules").as_array()[0]) == "account/balance:html-502=1");
    CHECK(c.get("account/balance").status == 502);
    CHECK(c.get("account/info").status == 200);
    CHECK(c.admin("POST", "faults", R"({"add":["nonsense=1"]})").status == 400);
    CHECK(c.admin("POST", "faults", R"({"clear":true})").data().at("rules").as_array().empty());
    CHECK(c.get("account/balance").status == 200);
    CHECK(num(c.admin("GET", "stats").data().at("faults").at("html-502")) == 1);
}

TEST_CASE("a JSON catalog file replaces the demo catalog") {
    auto path = std::string("/tmp/shop_sim_catalog_") + std::to_string(::getpid()) + ".json";
    {
        std::ofstream f(path);
        f << R"({
          "categories": [{"id": 7, "name": "Phần mềm", "slug": "phan-mem", "sort_order": 1}],
          "products": [{"id": 70, "name": "Office 365", "category_ids": [7], "rating": 4,
            "plans": [{"id": 700, "name": "1 năm", "price": "120000.5", "sale_price": 99000,
                       "duration_type": "years", "duration_value": 1,
                       "stock": ["Account: a@o.vn | Pass: 1", "Account: b@o.vn | Pass: 2"], "generated_stock": 1,
                       "fields": [{"key": "note", "label": "Ghi chú", "required": false}]}]}],
          "coupons": [{"code": "OFF5", "type": "percent", "value": 5, "expires_at": "2099-01-01"}],
          "accounts": [{"key": "sk_live_00000000000000000000000000000abc",
                        "secret": "sk_secret_0000000000000000000000000000000000000000000000000000000000000abc",
                        "balance": 1000000, "rate_limit": 100, "permissions": ["orders.create", "orders.status", "products.list"]}]
        })";
    }
    auto o = test_options();
    o.catalog_file = path;
    running_sim sim(o);
    std::vector<std::pair<std::string, std::string>> h{
        {"X-API-Key", "sk_live_00000000000000000000000000000abc"},
        {"X-API-Secret", "sk_secret_0000000000000000000000000000000000000000000000000000000000000abc"}};
    client c(sim->port());
    auto p = c.request("GET", api_path("products/list"), {}, h, false);
    REQUIRE(p.status == 200);
    REQUIRE(p.data().at("products").as_array().size() == 1);
    auto const& plan = p.data().at("products").as_array()[0].at("plans").as_array()[0];
    CHECK(plan.at("price").as_double() == 120000.5);
    CHECK(num(plan.at("final_price")) == 99000);
    CHECK(num(plan.at("stock_count")) == 3);
    CHECK(plan.at("fields").as_array()[0].at("required") == false);
    CHECK(c.get("account/balance").error_code() == "INVALID_API_KEY"); // the demo account is gone
    auto r = c.request("POST", api_path("orders/create"), create_body(700, 2, {}, "off5"), h, false);
    REQUIRE(r.status == 201);
    CHECK(num(r.data().at("summary").at("total_amount")) == 188100);
    auto t = str(r.data().at("orders").as_array()[0].at("trans_id"));
    auto s = c.request("GET", api_path("orders/status?trans_id=" + t), {}, h, false);
    CHECK(str(s.data().at("delivery").at("items").as_array()[1]) == "Account: b@o.vn | Pass: 2");
    CHECK(c.request("GET", api_path("orders/list"), {}, h, false).error_code() == "PERMISSION_DENIED");
    std::remove(path.c_str());

    auto bad = [](std::string const& text) {
        try {
            (void)catalog::from_json(json::parse(text));
        } catch (std::invalid_argument const& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK(bad(R"({"products":[{"id":1,"name":"x","plans":[{"id":2,"name":"y"}]}]})").find("products[0].plans[0].price") !=
          std::string::npos);
    CHECK(bad(R"({"products":[{"id":1,"name":"x","plans":[{"id":2,"name":"y","price":1},{"id":2,"name":"z","price":1}]}]})")
              .find("duplicate plan id 2") != std::string::npos);
    CHECK(bad(R"({"products":[{"id":1,"name":"x","category_ids":[9]}]})").find("unknown category 9") != std::string::npos);
    CHECK(bad(R"({"coupons":[{"code":"A","type":"half","value":1}]})").find("coupons[0].type") != std::string::npos);
    CHECK(bad(R"([])").find("must be an object") != std::string::npos);
    CHECK_THROWS_AS(catalog::load("/nonexistent/catalog.json"), std::invalid_argument);
    auto o2 = test_options();
    o2.catalog_file = "/nonexistent/catalog.json";
    net::io_context ioc;
    CHECK_THROWS_AS(simulator(ioc.get_executor(), o2), std::invalid_argument);
}

TEST_CASE("store logic without sockets") {
    fake_clock clk(doc_time());
    store_options so;
    so.clock = clk.fn();
    so.rate_limit_override = 1000;
    store st(catalog::demo(), so);
    auto who = st.authenticate(demo_api_key, demo_api_secret, "127.0.0.1");
    REQUIRE(who.ok());
    CHECK(who.counted);
    CHECK(key_format_ok(std::string(32, 'x')));
    CHECK_FALSE(key_format_ok("sk_test_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"));
    CHECK(secret_format_ok(demo_api_secret));

    // A failing line anywhere leaves everything untouched.
    std::vector<cart_line> lines{{902, 10, {}}, {903, 1, {}}};
    auto r = st.create_order(who, lines, "GIAM10");
    CHECK(r.failure == create_failure::out_of_stock);
    CHECK(st.stock(902) == 100);
    CHECK(st.balance(demo_api_key) == money::from_vnd(500'000'000));
    lines = {{902, 60, {}}, {902, 50, {}}}; // together more than the stock
    CHECK(st.create_order(who, lines, "").failure == create_failure::out_of_stock);
    lines = {{902, 60, {}}, {902, 40, {}}};
    auto ok = st.create_order(who, lines, "", /*fail_checkout=*/true);
    CHECK(ok.failure == create_failure::checkout_error);
    CHECK(st.stock(902) == 100);
    ok = st.create_order(who, lines, "GIAM50K");
    REQUIRE(ok.ok());
    CHECK(st.stock(902) == 0);
    CHECK(ok.orders[1].stock_start == 60);
    CHECK(ok.discount_amount == money::from_vnd(50'000));
    CHECK(ok.total_amount == money::from_vnd(100 * 50'000 - 50'000));
    CHECK(st.sold(90) == 100);
    CHECK(detail::percent_of(money::from_hundredths(1000050), 1000) == money::from_hundredths(100005));
    CHECK(st.stats().orders_created == 2);
}

TEST_CASE("TLS with the test certificates") {
    auto tls = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
    tls->use_certificate_chain_file(SHOP_TEST_DATA_DIR "/certs/server.pem");
    tls->use_private_key_file(SHOP_TEST_DATA_DIR "/certs/server.key", net::ssl::context::pem);
    auto o = test_options();
    o.tls = tls;
    running_sim sim(o);
    CHECK(sim->base_url() == "https://127.0.0.1:" + std::to_string(sim->port()) + "/api/v1");

    net::io_context ioc;
    net::ssl::context ctx(net::ssl::context::tls_client);
    ctx.load_verify_file(SHOP_TEST_DATA_DIR "/certs/ca.pem");
    ctx.set_verify_mode(net::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    stream.set_verify_callback(net::ssl::host_name_verification("127.0.0.1"));
    std::vector<unsigned> statuses;
    std::exception_ptr failure;
    bool finished = false;
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
            auto& tcp_layer = beast::get_lowest_layer(stream);
            tcp_layer.expires_after(5s);
            co_await tcp_layer.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), sim->port()), net::use_awaitable);
            co_await stream.async_handshake(net::ssl::stream_base::client, net::use_awaitable);
            std::string two = make_request("GET", api_path("account/balance")) + make_request("GET", api_path("orders/list"));
            co_await net::async_write(stream, net::buffer(two), net::use_awaitable);
            beast::flat_buffer b;
            for (int i = 0; i < 2; ++i) {
                http::response<http::string_body> res;
                co_await http::async_read(stream, b, res, net::use_awaitable);
                statuses.push_back(res.result_int());
            }
        },
        [&](std::exception_ptr e) {
            failure = e;
            finished = true;
        });
    ioc.run_for(10s);
    REQUIRE(finished);
    CHECK_FALSE(failure);
    CHECK(statuses == std::vector<unsigned>{200, 200});
}

TEST_CASE("stop() ends every connection and the io_context runs out of work") {
    auto o = test_options();
    o.faults = {"account/info:slow-drip=1"};
    running_sim sim(o, 2);
    client idle(sim->port());
    REQUIRE(idle.get("account/balance").status == 200);
    client dripping(sim->port());
    dripping.send(make_request("GET", api_path("account/info")));
    std::this_thread::sleep_for(100ms);
    CHECK(sim.shutdown(3s));  // ended by itself within its bound: nothing waited for the drip
    boost::system::error_code ec;
    idle.read_all(ec, 2s);
    CHECK(ec != net::error::timed_out);
    CHECK(sim->base_url() == "http://127.0.0.1:" + std::to_string(sim->port()) + "/api/v1");
}

TEST_CASE("far-away dates in list filters neither overflow nor break the filter") {
    using namespace simtest;
    running_sim sim;
    auto placed = once(sim->port(), "POST", api_path("orders/create"), create_body(900));
    REQUIRE(placed.status == 201);
    auto far = once(sim->port(), "GET", api_path("orders/list?from_date=1000-01-01&to_date=9999-12-31"));
    REQUIRE(far.status == 200);
    CHECK(json::parse(far.body).at("data").at("orders").as_array().size() == 1);
    auto future = once(sim->port(), "GET", api_path("orders/list?from_date=2999-01-01"));
    REQUIRE(future.status == 200);
    CHECK(json::parse(future.body).at("data").at("orders").as_array().empty());
}
