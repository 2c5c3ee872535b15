// The seed's example responses and the deployed server's variants parse to the right values.
#include <shop/detail/protocol/parse.hpp>
#include <shop/json.hpp>

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace shop;

namespace {

std::string read_data(const std::string& name) {
    std::ifstream in(std::string(SHOP_TEST_DATA_DIR) + "/responses/" + name, std::ios::binary);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

template <class Result>
Result parse_ok(std::string_view body, unsigned status = 200) {
    auto env = detail::read_envelope(status, "application/json; charset=utf-8", body, "test");
    INFO(env.diag.to_string());
    REQUIRE_FALSE(env.ec);
    Result r;
    detail::parse_data(env.data(), r);
    r.meta = std::move(env.meta);
    return r;
}

} // namespace

TEST_CASE("seed: create order example") {
    auto r = parse_ok<create_order_result>(read_data("seed_create.json"));
    REQUIRE(r.orders.size() == 1);
    CHECK(r.orders[0].trans_id == "ORD1703750400ABC");
    CHECK(r.orders[0].product_name == "Sản phẩm Premium");
    CHECK(r.orders[0].status == order_status::kind::completed);
    CHECK(r.orders[0].total == money::from_vnd(100000));
    CHECK(r.orders[0].final_amount == money::from_vnd(100000)); // documented example has only total
    CHECK(r.summary.total_amount == money::from_vnd(100000));
    CHECK(r.summary.new_balance == money::from_vnd(400000));
    CHECK(r.summary.orders_count == 1);
    CHECK(r.meta.message == "Đơn hàng đã được tạo thành công");
}

TEST_CASE("seed: order status example") {
    auto r = parse_ok<order_status_result>(read_data("seed_status.json"));
    CHECK(r.meta.request_id == "req_69805f15a5ed77.94324321");
    CHECK(r.meta.timestamp == 1770020629);
    CHECK(r.meta.execution_time == Approx(0.0238));
    CHECK(r.order.id == 36);
    CHECK(r.order.trans_id == "PO8153690");
    REQUIRE(r.order.product);
    CHECK(r.order.product->id == 21);
    REQUIRE(r.order.plan);
    CHECK(r.order.plan->id == 19);
    CHECK(r.order.plan->is_instant == true);
    CHECK(r.order.quantity == 2);
    CHECK(r.order.total_price == money::from_vnd(1600000));
    CHECK(r.order.final_amount == money::from_vnd(400000));
    CHECK_FALSE(r.order.coupon_code);
    CHECK(r.order.fields_data.empty());
    CHECK(r.order.status.is_terminal());
    CHECK(r.order.payment_status == "paid");
    CHECK(r.order.created_at == std::optional<std::string>("2026-02-02 15:23:14"));
    REQUIRE(r.delivery.items.size() == 2);
    CHECK(r.delivery.items[1] == "Account: user2@mail.com | Pass: xyz789");
    CHECK(r.delivery.delivered_count == 2);
    CHECK(r.delivery.expected_count == 2);
}

TEST_CASE("seed: order list example") {
    auto r = parse_ok<order_list_result>(read_data("seed_list.json"));
    REQUIRE(r.orders.size() == 1);
    CHECK(r.orders[0].id == 1234);
    CHECK(r.orders[0].plan->id == 5);
    CHECK_FALSE(r.orders[0].plan->is_instant);
    CHECK(r.orders[0].final_amount == money::from_vnd(1350000));
    CHECK_FALSE(r.orders[0].updated_at);
    CHECK(r.page.total == 45);
    CHECK(r.page.total_pages == 3);
    CHECK(r.page.has_more);
}

TEST_CASE("seed: products example") {
    auto r = parse_ok<product_list_result>(read_data("seed_products.json"));
    REQUIRE(r.products.size() == 1);
    auto const& p = r.products[0];
    CHECK(p.id == 29);
    REQUIRE(p.category);
    CHECK(p.category->id == 5);
    REQUIRE(p.categories.size() == 2);
    CHECK(p.categories[1].id == 14);
    CHECK(p.categories[1].image.empty()); // null image
    CHECK(p.min_price == money::from_vnd(375000));
    CHECK(p.rating == Approx(4.5));
    REQUIRE(p.plans.size() == 2);
    CHECK(p.plans[0].id == 319);
    CHECK(p.plans[0].duration.type == "month");
    CHECK(p.plans[0].duration.value == 1);
    CHECK(p.plans[0].is_instant);
    CHECK(p.plans[1].id == 320);
    REQUIRE(p.plans[1].fields.size() == 2);
    CHECK(p.plans[1].fields[1].key == "mat_khau");
    CHECK(p.plans[1].fields[1].type == "password");
    CHECK(p.plans[1].fields[1].required);
    CHECK(r.page.per_page == 10);
}

TEST_CASE("seed: categories, balance, account info") {
    auto c = parse_ok<category_list_result>(read_data("seed_categories.json"));
    REQUIRE(c.categories.size() == 3);
    CHECK(c.categories[0].id == 3);
    CHECK(c.categories[0].parent_id == 1);
    CHECK(c.categories[2].sort_order == 0);
    CHECK(c.total == 15);

    auto b = parse_ok<balance_result>(read_data("seed_balance.json"));
    CHECK(b.user.username == "admin");
    CHECK(b.balance.current == money::from_vnd(93537500));
    CHECK(b.balance.currency == "VND");
    CHECK(b.balance.formatted == "93.537.500đ");

    auto a = parse_ok<account_info_result>(read_data("seed_account_info.json"));
    CHECK(a.user.balance == money::from_vnd(93537500));
    CHECK_FALSE(a.user.created_at);
    CHECK(a.api_key.permissions.size() == 6);
    CHECK(a.api_key.rate_limit == 60);
    CHECK(a.api_key.daily_limit == 10000);
    CHECK_FALSE(a.api_key.expires_at);
    CHECK(a.usage_today.total_requests == 5);
    CHECK(a.usage_today.success_rate == Approx(100));
    REQUIRE(a.orders_summary.size() == 3);
    CHECK(a.orders_summary[1] == std::pair<std::string, std::int64_t>{"pending", 3});
}

TEST_CASE("seed: error example classifies by error_code") {
    auto env = detail::read_envelope(400, "application/json", read_data("seed_error.json"), "orders/create");
    CHECK(env.ec == errc::insufficient_balance);
    CHECK(env.diag.server_code == "INSUFFICIENT_BALANCE");
    CHECK(env.diag.message == "Số dư không đủ để thanh toán");
    CHECK(env.diag.http_status == 400);
    CHECK(env.diag.endpoint == "orders/create");
}

TEST_CASE("deployed variants: lenient numbers, fields_data, nulls, unknown values") {
    auto r = parse_ok<create_order_result>(R"({"success":true,"timestamp":1770020629,"request_id":"req_x",
      "data":{"orders":[{"order_id":"77","trans_id":"CX6DWMI","product_id":29,"product_name":"Adobe",
        "plan_id":319,"plan_name":"1 tháng","quantity":2,"unit_price":"45000.00","total":90000.0,
        "discount":4500.5,"final_amount":"85499.50","status":"pending"}],
       "summary":{"orders_count":1,"original_total":90000,"discount_amount":4500.5,"coupon_code":"SALE5",
        "total_amount":81224.53,"new_balance":499918775.47},
       "warnings":[{"code":"COUPON_SKIPPED","message":"Mã giảm giá không hợp lệ"}],"execution_time":0.01}})",
                                             201);
    REQUIRE(r.orders.size() == 1);
    auto const& o = r.orders[0];
    CHECK(o.order_id == 77);
    CHECK(o.unit_price == money::from_vnd(45000));
    CHECK(o.total == money::from_vnd(90000));
    CHECK(o.discount.hundredths() == 450050);
    CHECK(o.final_amount.hundredths() == 8549950);
    CHECK(r.summary.total_amount.hundredths() == 8122453);
    CHECK(r.summary.new_balance.hundredths() == 49991877547);
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].code == "COUPON_SKIPPED");
    CHECK(r.meta.http_status == 201);

    auto s = parse_ok<order_status_result>(R"({"success":true,"data":{"order":{"id":5,"trans_id":"T1",
      "product":null,"plan":null,"quantity":"3","total_price":"400000.0","final_amount":400000.0,
      "fields_data":{"email":"a@b.c","note":"Xin chào & #1"},"status":"on_hold","created_at":null},
      "delivery":{"items":[],"delivered_count":0,"expected_count":3}}})");
    CHECK_FALSE(s.order.product);
    CHECK_FALSE(s.order.plan);
    CHECK(s.order.quantity == 3);
    CHECK(s.order.total_price == money::from_vnd(400000));
    CHECK(s.order.final_amount == money::from_vnd(400000));
    REQUIRE(s.order.fields_data.size() == 2);
    CHECK(s.order.fields_data[1].second == "Xin chào & #1");
    CHECK(s.order.status == order_status::kind::unknown);
    CHECK(s.order.status.raw == "on_hold");
    CHECK_FALSE(s.order.status.is_terminal());
    CHECK_FALSE(s.order.created_at);

    auto l = parse_ok<order_list_result>(R"({"success":true,"data":{"orders":[],
      "pagination":{"current_page":"2","per_page":10,"total":11,"total_pages":2.0,"has_more":false}}})");
    CHECK(l.page.current_page == 2);
    CHECK(l.page.total_pages == 2);
    CHECK_FALSE(l.page.has_more);

    auto p = parse_ok<product_list_result>(R"({"success":true,"data":{"products":[{"id":1,"plans":[
      {"id":9,"price":100,"duration_type":"weeks","duration_value":null,"is_instant":1,"in_stock":"1"}]}]}})");
    REQUIRE(p.products[0].plans.size() == 1);
    CHECK(p.products[0].plans[0].duration.type == "weeks");
    CHECK_FALSE(p.products[0].plans[0].duration.value);
    CHECK(p.products[0].plans[0].is_instant);
    CHECK(p.products[0].plans[0].in_stock);
    CHECK_FALSE(p.products[0].category);
}

TEST_CASE("envelope: every kind of broken answer gets a clear error") {
    // The deployed list-filter bug: HTTP 500, empty text/html body.
    auto e1 = detail::read_envelope(500, "text/html", "", "orders/list");
    CHECK(e1.ec == errc::http_error);
    CHECK(e1.diag.http_status == 500);
    // A CDN's 502 page.
    auto e2 = detail::read_envelope(502, "text/html", "<html><body>502 Bad Gateway</body></html>", "account/balance");
    CHECK(e2.ec == errc::http_error);
    CHECK(e2.diag.message.find("502") != std::string::npos);
    // Truncated or malformed JSON with a 200.
    auto e3 = detail::read_envelope(200, "application/json", R"({"success":true,"data":{"ord)", "orders/status");
    CHECK(e3.ec == errc::bad_response);
    auto e4 = detail::read_envelope(200, "application/json", R"({"data":{}})", "orders/status");
    CHECK(e4.ec == errc::bad_response);
    auto e5 = detail::read_envelope(200, "application/json", R"({"success":true})", "orders/status");
    CHECK(e5.ec == errc::bad_response);
    auto e6 = detail::read_envelope(200, "application/json", "[1,2]", "orders/status");
    CHECK(e6.ec == errc::bad_response);
    // An unknown error code is kept, not rejected; classification ignores the HTTP status.
    auto e7 = detail::read_envelope(418, "application/json",
                                    R"({"success":false,"message":"m","request_id":"req_9","data":{"error_code":"NEW_THING"}})",
                                    "orders/create");
    CHECK(e7.ec == errc::unknown_server_error);
    CHECK(e7.diag.server_code == "NEW_THING");
    CHECK(e7.diag.request_id == "req_9");
    auto e8 = detail::read_envelope(401, "application/json",
                                    R"({"success":false,"message":"x","data":{"error_code":"RATE_LIMIT_EXCEEDED"}})", "x");
    auto e9 = detail::read_envelope(429, "application/json",
                                    R"({"success":false,"message":"x","data":{"error_code":"RATE_LIMIT_EXCEEDED"}})", "x");
    CHECK(e8.ec == errc::rate_limit_exceeded);
    CHECK(e9.ec == e8.ec);
}

TEST_CASE("typed results round-trip through JSON with the API's field names") {
    auto wrap = [](std::string const& data) { return R"({"success":true,"data":)" + data + "}"; };
    auto original = read_data("seed_status.json");
    auto r = parse_ok<order_status_result>(original);
    auto text = to_json(r);
    auto j = boost::json::parse(text);
    CHECK(j.at("order").at("fields_data").is_array());
    CHECK(j.at("order").at("total_price").as_int64() == 1600000);
    CHECK(j.at("delivery").at("items").as_array().size() == 2);
    auto again = parse_ok<order_status_result>(wrap(text));
    CHECK(again.order.trans_id == r.order.trans_id);
    CHECK(again.order.final_amount == r.order.final_amount);
    CHECK(again.delivery.items == r.delivery.items);

    auto p = parse_ok<product_list_result>(read_data("seed_products.json"));
    auto p2 = parse_ok<product_list_result>(wrap(to_json(p)));
    CHECK(p2.products[0].plans[1].fields[0].key == "email");
    CHECK(p2.products[0].max_price == money::from_vnd(1650000));

    auto c = parse_ok<create_order_result>(read_data("seed_create.json"));
    auto cj = boost::json::parse(to_json(c));
    CHECK(cj.at("orders").as_array()[0].at("unit_price").as_string() == "0.00");
    CHECK(cj.at("summary").at("new_balance").as_int64() == 400000);
}

TEST_CASE("money is written back exactly as the server writes it, never in exponent form") {
    // Plan 901's price in the demo catalog: an order of it answered with these amounts.
    create_order_result r;
    created_order o;
    o.trans_id = "PO1";
    o.unit_price = *money::parse("30001.5");
    o.total = o.final_amount = *money::parse("30001.5");
    r.orders.push_back(o);
    r.summary.orders_count = 1;
    r.summary.original_total = r.summary.total_amount = *money::parse("30001.5");
    r.summary.new_balance = *money::parse("499969998.5");
    auto const text = to_json(r);
    CHECK(text.find(R"("total":30001.5,)") != std::string::npos);
    CHECK(text.find(R"("new_balance":499969998.5})") != std::string::npos);
    CHECK(text.find(R"("unit_price":"30001.50")") != std::string::npos);
    bool exponent = false;  // a digit followed by e or E
    for (std::size_t i = 0; i + 1 < text.size(); ++i)
        exponent |= text[i] >= '0' && text[i] <= '9' && (text[i + 1] == 'e' || text[i + 1] == 'E');
    CHECK_FALSE(exponent);

    std::string out;
    json_writer w(out);
    w.begin_array()
        .amount(money::from_hundredths(-1250))
        .amount(money::from_hundredths(5))
        .amount(money::from_hundredths(10))
        .amount(money::from_hundredths(INT64_MIN))
        .amount(money::from_vnd(90000000000000))
        .end_array();
    CHECK(out == "[-12.5,0.05,0.1,-92233720368547758.08,90000000000000]");
    // Beyond a double's exact range (2^53 hundredths) the digits are still the money's own.
    auto big = *money::parse("9007199254740993.01");
    std::string big_text;
    json_writer(big_text).amount(big);
    CHECK(big_text == "9007199254740993.01");
}

TEST_CASE("a money amount that is there but unreadable is a broken answer, not 0") {
    auto answer = [](std::string const& current) {
        shop::http_response resp;
        resp.status = 200;
        resp.content_type = "application/json";
        resp.body = R"({"success":true,"request_id":"req_1","data":{"balance":{"current":)" + current +
                    R"(,"total_deposited":5}}})";
        return resp;
    };
    {
        // Beyond a double: refused by the JSON parser itself, or by the money reader.
        balance_result r;
        shop::diagnostics diag;
        CHECK(detail::read_answer(answer("1e999"), "account/balance", r, diag, false) == errc::bad_response);
    }
    for (std::string bad : {"123456789012345678901234567890", "92233720368547759", "-92233720368547759",
                            R"("12,5")", "true", "[1]"}) {
        INFO(bad);
        balance_result r;
        shop::diagnostics diag;
        CHECK(detail::read_answer(answer(bad), "account/balance", r, diag, false) == errc::bad_response);
        CHECK(diag.message == "the answer's current is not an amount of money");
        CHECK(diag.request_id == "req_1");
        CHECK(diag.endpoint == "account/balance");
    }
    // Absent, null and "" still read as 0 (the server leaves some amounts out); the next
    // answer on the thread is not blamed for an earlier one.
    for (std::string fine : {"null", R"("")", "0", R"("45000.50")", "92233720368547758"}) {
        INFO(fine);
        balance_result r;
        shop::diagnostics diag;
        CHECK_FALSE(detail::read_answer(answer(fine), "account/balance", r, diag, false));
        CHECK(r.balance.total_deposited == money::from_vnd(5));
    }
}

TEST_CASE("answers are read in a per-thread arena: typed results own their strings") {
    order_status_result first, second;
    shop::diagnostics diag;
    shop::http_response resp;
    resp.status = 200;
    resp.content_type = "application/json";
    resp.body = read_data("seed_status.json");
    REQUIRE_FALSE(detail::read_answer(resp, "orders/status", first, diag, false));
    CHECK(first.meta.raw_json.empty());  // kept only when asked
    // The next answer reuses the arena; the first result is untouched by it.
    resp.body = R"({"success":true,"data":{"order":{"id":7,"trans_id":"OTHER","status":"pending","fields_data":{"k":"v"}}}})";
    REQUIRE_FALSE(detail::read_answer(resp, "orders/status", second, diag, true));
    CHECK(first.order.trans_id == "PO8153690");
    CHECK(first.delivery.items.size() == 2);
    CHECK(second.order.trans_id == "OTHER");
    CHECK(second.order.fields_data == shop::field_list{{"k", "v"}});
    CHECK(second.meta.raw_json == resp.body);
    // A failure fills the diagnostics, whatever an earlier answer left there.
    resp.status = 404;
    resp.body = R"({"success":false,"message":"no","request_id":"req_x","data":{"error_code":"ORDER_NOT_FOUND"}})";
    CHECK(detail::read_answer(resp, "orders/status", second, diag, false) == errc::order_not_found);
    CHECK(diag.server_code == "ORDER_NOT_FOUND");
    CHECK(diag.request_id == "req_x");
    CHECK(diag.http_status == 404);
    // JSON nested deeper than the parser allows is a broken answer, not a crash.
    resp.status = 200;
    resp.body = std::string(100000, '[') + std::string(100000, ']');
    CHECK(detail::read_answer(resp, "orders/status", second, diag, false) == errc::bad_response);
}
