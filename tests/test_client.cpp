// shop::client against the simulator: every endpoint, every error code the client can meet,
// completion tokens, cancellation, concurrency over a small pool, TLS.
#include "client_support.hpp"

#include <shop/shop.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <future>
#include <numeric>
#include <set>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using shop::errc;
using shop::money;
using simtest::config_for;
using simtest::run;
using simtest::running_sim;

namespace {

/// The error an operation failed with, thrown by the default token as shop::error (fails
/// the test if it succeeded or threw anything else).
struct error_info {
    shop::error_code code;
    shop::diagnostics diag;
};
template <class T>
error_info failure(asio::io_context& io, asio::awaitable<T> aw) {
    try {
        run(io, std::move(aw));
    } catch (shop::error const& e) {
        return {e.code(), e.diag()};
    }
    FAIL("the operation succeeded");
    return {};
}

shop::testing::account_spec account(std::string key_tail) {
    shop::testing::account_spec a;
    a.key = "sk_live_" + std::string(32 - key_tail.size(), '0') + key_tail;
    a.secret = "sk_secret_" + std::string(64 - key_tail.size(), '1') + key_tail;
    a.balance = money::from_vnd(1'000'000);
    a.total_deposited = a.balance;
    a.user_id = 50 + static_cast<std::int64_t>(key_tail.size());
    return a;
}

} // namespace

TEST_CASE("client: every endpoint against the simulator") {
    running_sim sim;
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));

    auto info = run(io, c.account_info());
    CHECK(info.api_key.rate_limit == 1'000'000); // test_options() lifts the per-minute limit
    CHECK(info.api_key.permissions.size() == 6);
    CHECK(info.meta.request_id.rfind("req_", 0) == 0);
    CHECK(info.meta.timestamp > 0);

    auto before = run(io, c.balance());
    CHECK(before.balance.current == money::from_vnd(500'000'000));
    CHECK(before.balance.currency == "VND");

    auto cats = run(io, c.list_categories({.include_children = true, .include_products = true}));
    CHECK(cats.total >= 4);
    std::set<std::int64_t> cat_ids;
    std::function<void(const std::vector<shop::category>&)> collect = [&](auto const& v) {
        for (auto const& x : v) {
            cat_ids.insert(x.id);
            collect(x.children);
        }
    };
    collect(cats.categories);
    for (auto id : {1, 3, 5, 14}) CHECK(cat_ids.count(id));

    auto products = run(io, c.list_products({.category_id = 5}));
    bool saw_29 = false;
    for (auto const& p : products.products)
        if (p.id == 29) {
            saw_29 = true;
            REQUIRE(p.plans.size() == 2);
            CHECK(p.plans[1].fields.size() == 2);
        }
    CHECK(saw_29);
    auto searched = run(io, c.list_products({.search = "Figma"}));
    REQUIRE(searched.products.size() == 1);
    CHECK(searched.products[0].id == 21);
    auto every = run(io, c.all_products({.limit = 2}));
    std::set<std::int64_t> product_ids;
    for (auto const& p : every) product_ids.insert(p.id);
    CHECK(product_ids.size() == every.size());
    CHECK(product_ids.count(10));
    CHECK(product_ids.count(90));

    auto placed = run(io, c.create_order({.items = {{.plan_id = 900, .quantity = 3}}}));
    REQUIRE(placed.orders.size() == 1);
    auto const& o = placed.orders[0];
    CHECK(o.status == shop::order_status::kind::completed);
    CHECK(o.unit_price == money::from_vnd(10000));
    CHECK(o.final_amount == money::from_vnd(30000));
    CHECK(placed.summary.total_amount == money::from_vnd(30000));
    CHECK(placed.meta.http_status == 201);

    auto after = run(io, c.balance());
    CHECK(before.balance.current - after.balance.current == placed.summary.total_amount);
    CHECK(after.balance.current == placed.summary.new_balance);

    auto st = run(io, c.order_status(o.trans_id));
    CHECK(st.order.trans_id == o.trans_id);
    CHECK(st.order.status.is_terminal());
    CHECK(st.delivery.items.size() == 3);
    CHECK(st.delivery.expected_count == 3);
    auto by_id = run(io, c.order_status_by_id(o.order_id));
    CHECK(by_id.order.trans_id == o.trans_id);
    CHECK(by_id.delivery.items == st.delivery.items);

    // A plan with a required field, the fields echoed back; a Vietnamese value survives.
    auto p18 = run(io, c.create_order({.items = {{.plan_id = 18, .fields = {{"email_dang_nhap", "ngọc+1@ví dụ.vn"}}}}}));
    auto st18 = run(io, c.order_status(p18.orders[0].trans_id));
    REQUIRE(st18.order.fields_data.size() == 1);
    CHECK(st18.order.fields_data[0].second == "ngọc+1@ví dụ.vn");

    auto listed = run(io, c.list_orders({.limit = 1}));
    REQUIRE(listed.orders.size() == 1);
    CHECK(listed.orders[0].trans_id == p18.orders[0].trans_id); // newest first
    CHECK(listed.page.total == 2);
    auto all = run(io, c.all_orders({.limit = 1}));
    CHECK(all.size() == 2);

    // A coupon that does not apply only warns.
    auto warned = run(io, c.create_order({.items = {{.plan_id = 900}}, .coupon_code = "HETHAN"}));
    REQUIRE(warned.warnings.size() == 1);
    CHECK(warned.warnings[0].code == "COUPON_SKIPPED");
    CHECK(warned.summary.total_amount == money::from_vnd(10000));
    // A percent coupon discounts.
    auto discounted = run(io, c.create_order({.items = {{.plan_id = 900, .quantity = 2}}, .coupon_code = "GIAM10"}));
    CHECK(discounted.summary.total_amount == money::from_vnd(18000));
}

TEST_CASE("client: error codes with diagnostics") {
    running_sim sim;
    auto& st = sim->state();
    asio::io_context io;
    auto base = sim->base_url();
    shop::client c(io.get_executor(), config_for(base));

    SECTION("order rejections") {
        auto e = failure(io, c.create_order({.items = {{.plan_id = 777777}}}));
        CHECK(e.code == errc::cart_error);
        CHECK(e.diag.server_code == "CART_ERROR");
        CHECK(e.diag.http_status == 400);
        CHECK(e.diag.endpoint == "orders/create");
        CHECK(e.diag.request_id.rfind("req_", 0) == 0);
        CHECK_FALSE(e.diag.message.empty());
        CHECK(failure(io, c.create_order({.items = {{.plan_id = 903}}})).code == errc::cart_error); // out of stock
        CHECK(failure(io, c.create_order({.items = {{.plan_id = 18}}})).code == errc::cart_error);  // missing field
        st.set_balance(simtest::demo_key, money::from_vnd(5));
        CHECK(failure(io, c.create_order({.items = {{.plan_id = 900}}})).code == errc::insufficient_balance);
        auto nf = failure(io, c.order_status("NOSUCHORDER"));
        CHECK(nf.code == errc::order_not_found);
        CHECK(nf.diag.http_status == 404);
    }
    SECTION("checked before sending") {
        CHECK(failure(io, c.create_order({})).code == errc::invalid_argument);
        CHECK(failure(io, c.create_order({.items = {{.plan_id = 900, .quantity = 0}}})).code == errc::invalid_argument);
        CHECK(failure(io, c.create_order({.items = std::vector<shop::order_item>(21, {.plan_id = 900})})).code ==
              errc::invalid_argument);
        CHECK(failure(io, c.order_status("")).code == errc::invalid_argument);
        CHECK(failure(io, c.order_status(std::string(51, 'A'))).code == errc::invalid_argument);
        CHECK_THROWS_AS(shop::client(io.get_executor(), config_for(base, "sk_live_short", simtest::demo_secret)), shop::error);
        CHECK_THROWS_AS(shop::client(io.get_executor(), config_for(base, simtest::demo_key, "x")), shop::error);
        CHECK_THROWS_AS(shop::client(io.get_executor(), config_for("ftp://example.com/api")), shop::error);
        try {
            shop::client bad(io.get_executor(), config_for(base, simtest::demo_key, simtest::demo_secret + "\r\nX: y"));
            FAIL("accepted a secret with CR/LF");
        } catch (const shop::error& e) {
            CHECK(e.code() == errc::invalid_argument);
            CHECK(std::string(e.what()).find(simtest::demo_secret) == std::string::npos); // no secret printed
        }
    }
    SECTION("key check failures, classified by error_code") {
        auto a = account("a1");
        st.add_account(a);
        auto client_for = [&](std::string key, std::string secret) {
            return shop::client(io.get_executor(), config_for(base, std::move(key), std::move(secret)));
        };
        CHECK(failure(io, client_for("sk_live_" + std::string(32, 'f'), a.secret).balance()).code == errc::invalid_api_key);
        CHECK(failure(io, client_for(a.key, "sk_secret_" + std::string(64, 'e')).balance()).code == errc::invalid_api_secret);
        st.modify_account(a.key, [](auto& s) { s.permissions = shop::testing::perm_account_info; });
        auto denied = failure(io, client_for(a.key, a.secret).balance());
        CHECK(denied.code == errc::permission_denied);
        CHECK(denied.diag.http_status == 403);
        st.modify_account(a.key, [](auto& s) { s.ip_allow = {"10.9.9.9"}; });
        auto ip = failure(io, client_for(a.key, a.secret).account_info());
        CHECK(ip.code == errc::ip_not_allowed);
        CHECK(ip.diag.http_status == 401); // deployed: 401, not the documented 403
        st.modify_account(a.key, [](auto& s) { s.ip_allow.clear(); s.banned = true; });
        CHECK(failure(io, client_for(a.key, a.secret).account_info()).code == errc::user_banned);
        st.modify_account(a.key, [](auto& s) { s.banned = false; s.disabled = true; });
        CHECK(failure(io, client_for(a.key, a.secret).account_info()).code == errc::disabled_api_key);
        st.modify_account(a.key, [](auto& s) {
            s.disabled = false;
            s.expires_at = std::chrono::system_clock::now() - 1h;
        });
        CHECK(failure(io, client_for(a.key, a.secret).account_info()).code == errc::expired_api_key);
        st.set_api_enabled(false);
        CHECK(failure(io, c.account_info()).code == errc::api_disabled);
        st.set_api_enabled(true);
    }
}

TEST_CASE("client: rate and daily limits as the deployed server sends them") {
    auto o = simtest::test_options();
    o.rate_limit_override = 0; // each key's own limits
    running_sim sim(o);
    auto& st = sim->state();
    asio::io_context io;
    auto base = sim->base_url();
    auto a = account("b22");
    a.rate_limit = 2;
    a.daily_limit = 4;
    st.add_account(a);
    auto cfg = config_for(base, a.key, a.secret);
    cfg.retry.max_attempts = 1;
    cfg.retry.retry_rate_limited = false;
    cfg.limiter.window = 100ms; // the cool-down after the refusal below lasts one window
    cfg.limiter.safety_margin = 0ms;
    shop::client limited(io.get_executor(), cfg);
    run(io, limited.account_info());
    run(io, limited.account_info());
    auto rl = failure(io, limited.account_info());
    CHECK(rl.code == errc::rate_limit_exceeded);
    CHECK(rl.diag.http_status == 401);
    st.modify_account(a.key, [](auto& s) { s.rate_limit = 1000; });
    run(io, limited.account_info()); // the 4th of the day (the refused one counted)
    auto dl = failure(io, limited.account_info());
    CHECK(dl.code == errc::daily_limit_exceeded);
    // From now on the client refuses by itself, sending nothing.
    auto before = st.stats().requests[static_cast<std::size_t>(shop::testing::endpoint::account_info)];
    CHECK(failure(io, limited.account_info()).code == errc::daily_limit_exceeded);
    CHECK(st.stats().requests[static_cast<std::size_t>(shop::testing::endpoint::account_info)] == before);
}

TEST_CASE("client: documented mode variants classify the same way") {
    auto o = simtest::test_options();
    o.mode = shop::testing::api_mode::documented;
    running_sim sim(o);
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    auto placed = run(io, c.create_order({.items = {{.plan_id = 900}}}));
    CHECK(placed.meta.http_status == 200);
    auto nf = failure(io, c.create_order({.items = {{.plan_id = 777777}}}));
    CHECK(nf.code == errc::product_not_found);
    CHECK(nf.diag.http_status == 404);
    CHECK(failure(io, c.create_order({.items = {{.plan_id = 903}}})).code == errc::out_of_stock);
}

TEST_CASE("client: list filters survive the deployed server's HTTP 500") {
    auto o = simtest::test_options();
    o.quirk_list_filter_500 = true;
    o.processing_after = 0ms;
    o.completed_after = 0ms;
    running_sim sim(o);
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    run(io, c.create_order({.items = {{.plan_id = 900}}}));
    auto manual = run(io, c.create_order({.items = {{.plan_id = 904}}}));
    run(io, c.create_order({.items = {{.plan_id = 900}}}));
    auto pending = run(io, c.list_orders({.status = "pending"}));
    CHECK(pending.filtered_locally);
    REQUIRE(pending.orders.size() == 1);
    CHECK(pending.orders[0].trans_id == manual.orders[0].trans_id);
    auto today = run(io, c.all_orders({.status = "completed", .from_date = "2000-01-01", .to_date = "2999-12-31"}));
    CHECK(today.size() == 2);
}

TEST_CASE("client: arguments outside the spec's bounds are refused before anything is sent") {
    running_sim sim;
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    auto const requests = [&] {
        auto st = sim->state().stats();
        return std::accumulate(st.requests.begin(), st.requests.end(), std::uint64_t{0});
    };
    auto before = requests();
    auto refused = [&](auto aw, std::string_view says) {
        auto e = failure(io, std::move(aw));
        CHECK(e.code == errc::invalid_argument);
        CHECK(e.diag.message.find(says) != std::string::npos);
    };
    refused(c.list_orders({.page = 0}), "page");
    refused(c.list_orders({.limit = 101}), "limit");
    refused(c.list_orders({.limit = -1}), "limit");
    refused(c.list_orders({.from_date = "2026-1-1"}), "YYYY-MM-DD");
    refused(c.list_orders({.to_date = "2026-01-01\r\nX: y"}), "YYYY-MM-DD");
    refused(c.all_orders({.limit = 500}), "limit");
    refused(c.list_products({.category_id = 0}), "category_id");
    refused(c.list_products({.limit = 1000}), "limit");
    refused(c.order_status(std::string(51, 'X')), "trans_id");
    refused(c.order_status_by_id(0), "order_id");
    refused(c.create_order({.items = {{.plan_id = 900, .quantity = 0}}}), "quantity");
    refused(c.create_order({.items = {{.plan_id = 900, .quantity = 1000001}}}), "quantity");
    refused(c.create_order({.items = {{.plan_id = -1}}}), "plan_id");
    shop::create_order_request many;
    for (int i = 0; i < 21; ++i) many.items.push_back({.plan_id = 900});
    refused(c.create_order(many), "20 items");
    refused(c.create_order({}), "at least one item");
    CHECK(requests() == before);
    // A CR, LF or NUL in a value bound for the query is encoded, never sent raw.
    std::string const hostile("a\r\nX-Evil: 1\0b", 14);
    auto r = run(io, c.list_products({.search = hostile}));
    CHECK(r.products.empty());
}

TEST_CASE("client: walks end at the last page, and stop when pages repeat") {
    SECTION("an honest listing: every order once, across pages") {
        running_sim sim;
        asio::io_context io;
        shop::client c(io.get_executor(), config_for(sim->base_url()));
        for (int i = 0; i < 3; ++i) {
            shop::create_order_request req;
            for (int k = 0; k < 20; ++k) req.items.push_back({.plan_id = 900});
            run(io, c.create_order(req));
        }
        auto before = sim->state().stats().requests[static_cast<std::size_t>(shop::testing::endpoint::orders_list)];
        auto all = run(io, c.all_orders({.limit = 25}));
        CHECK(all.size() == 60);
        auto pages = sim->state().stats().requests[static_cast<std::size_t>(shop::testing::endpoint::orders_list)] - before;
        CHECK(pages == 3);  // 25 + 25 + 10: the third says it is the last
    }
    SECTION("a server whose pages repeat with has_more set: two stale pages end the walk") {
        auto o = simtest::test_options();
        o.quirk_list_pages_repeat = true;
        running_sim sim(o);
        asio::io_context io;
        shop::client c(io.get_executor(), config_for(sim->base_url()));
        shop::create_order_request req;
        for (int k = 0; k < 5; ++k) req.items.push_back({.plan_id = 900});
        run(io, c.create_order(req));
        auto const list_requests = [&] {
            return sim->state().stats().requests[static_cast<std::size_t>(shop::testing::endpoint::orders_list)];
        };
        auto before = list_requests();
        shop::diagnostics diag;
        std::optional<std::tuple<shop::error_code, std::vector<shop::order_info>>> got;
        c.all_orders({}, diag, [&](shop::error_code ec, std::vector<shop::order_info> v) { got.emplace(ec, std::move(v)); });
        REQUIRE(testtime::run_until(io, [&] { return got.has_value(); }));
        CHECK(std::get<0>(*got) == errc::bad_response);
        CHECK(std::get<1>(*got).size() == 5);  // what was read is kept
        CHECK(diag.endpoint == "orders/list");
        CHECK(diag.message.find("brought nothing new") != std::string::npos);
        CHECK(list_requests() - before == 3);  // page 1, then two stale pages

        std::optional<std::tuple<shop::error_code, std::vector<shop::product>>> products;
        c.all_products({}, diag, [&](shop::error_code ec, std::vector<shop::product> v) { products.emplace(ec, std::move(v)); });
        REQUIRE(testtime::run_until(io, [&] { return products.has_value(); }));
        CHECK(std::get<0>(*products) == errc::bad_response);
        CHECK_FALSE(std::get<1>(*products).empty());
        CHECK(diag.endpoint == "products/list");
    }
}

TEST_CASE("client: completion tokens other than use_awaitable") {
    running_sim sim;
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    std::thread runner;

    SECTION("callbacks: void(error_code, Result), diagnostics beside the code") {
        std::optional<shop::balance_result> ok;
        std::optional<shop::error_code> bad;
        shop::diagnostics diag;
        c.balance([&](shop::error_code ec, shop::balance_result r) {
            REQUIRE_FALSE(ec);
            ok = std::move(r);
        });
        c.order_status("MISSING", diag, [&](shop::error_code ec, shop::order_status_result) { bad = ec; });
        REQUIRE(testtime::run_until(io, [&] { return ok && bad; }));
        CHECK(ok->balance.current == money::from_vnd(500'000'000));
        CHECK(*bad == errc::order_not_found);
        CHECK(diag.server_code == "ORDER_NOT_FOUND");
        CHECK(diag.http_status == 404);
        CHECK(diag.endpoint == "orders/status");
        CHECK(diag.request_id.rfind("req_", 0) == 0);
        CHECK_FALSE(diag.message.empty());
    }
    SECTION("as_tuple and redirect_error in a coroutine: no exception") {
        auto tuple = run(io, [&]() -> asio::awaitable<std::tuple<shop::error_code, shop::order_status_result>> {
            co_return co_await c.order_status("MISSING", asio::as_tuple(asio::use_awaitable));
        }());
        CHECK(std::get<0>(tuple) == errc::order_not_found);
        auto redirected = run(io, [&]() -> asio::awaitable<std::pair<shop::error_code, std::string>> {
            shop::error_code ec;
            shop::diagnostics d;
            co_await c.order_status("MISSING", d, asio::redirect_error(asio::use_awaitable, ec));
            auto b = co_await c.balance(asio::redirect_error(asio::use_awaitable, ec));
            co_return std::make_pair(ec, d.server_code + "|" + b.balance.currency);
        }());
        CHECK_FALSE(redirected.first);  // the second call succeeded and cleared it
        CHECK(redirected.second == "ORDER_NOT_FOUND|VND");
    }
    SECTION("deferred: nothing is sent until it is launched") {
        auto op = c.account_info(asio::deferred);
        io.run_for(50ms);
        auto idx = static_cast<std::size_t>(shop::testing::endpoint::account_info);
        CHECK(sim->state().stats().requests[idx] == 0);
        std::optional<shop::account_info_result> info;
        std::move(op)([&](shop::error_code ec, shop::account_info_result r) {
            REQUIRE_FALSE(ec);
            info = std::move(r);
        });
        REQUIRE(testtime::run_until(io, [&] { return info.has_value(); }));
        CHECK(info->api_key.daily_limit == 10000);
        CHECK(sim->state().stats().requests[idx] == 1);
    }
    SECTION("deferred: launched after the client that made it is gone") {
        // The operation holds what it needs of the client: a temporary with() may make it.
        auto op = [&] {
            shop::client other = c.with(shop::call_options{.timeout = 5s});
            return other.balance(asio::deferred);
        }();
        std::optional<shop::balance_result> got;
        std::move(op)([&](shop::error_code ec, shop::balance_result r) {
            REQUIRE_FALSE(ec);
            got = std::move(r);
        });
        REQUIRE(testtime::run_until(io, [&] { return got.has_value(); }));
        CHECK(got->balance.currency == "VND");
    }
    SECTION("a handler that throws: the exception leaves run(), the operation is over") {
        c.balance([](shop::error_code, shop::balance_result) { throw std::runtime_error("from the handler"); });
        bool thrown = false;
        try {
            testtime::run_until(io, [] { return false; }, 10s);
        } catch (std::runtime_error const& e) {
            thrown = std::string(e.what()) == "from the handler";
        }
        CHECK(thrown);
        // Nothing of the operation is left behind (the sanitizer build checks for leaks),
        // and the client goes on.
        io.restart();
        std::optional<shop::error_code> next;
        c.balance([&](shop::error_code ec, shop::balance_result) { next = ec; });
        REQUIRE(testtime::run_until(io, [&] { return next.has_value(); }));
        CHECK_FALSE(*next);
    }
    SECTION("a request_log that throws changes nothing the call reports") {
        auto cfg = config_for(sim->base_url());
        int logged = 0;
        cfg.request_log = [&](shop::request_log_entry const&) {
            ++logged;
            throw std::runtime_error("log full");
        };
        shop::client logging(io.get_executor(), cfg);
        std::optional<shop::error_code> got;
        logging.balance([&](shop::error_code ec, shop::balance_result) { got = ec; });
        REQUIRE(testtime::run_until(io, [&] { return got.has_value(); }));
        CHECK_FALSE(*got);
        CHECK(logged == 1);
    }
    SECTION("coroutines on a strand: with_diagnostics(use_awaitable_t<Strand>), and deferred") {
        using strand_type = asio::strand<asio::io_context::executor_type>;
        auto strand = asio::make_strand(io.get_executor());
        std::optional<std::string> seen;
        asio::co_spawn(
            strand,
            [&]() -> asio::awaitable<void, strand_type> {
                auto token = shop::with_diagnostics(asio::use_awaitable_t<strand_type>{});
                auto b = co_await c.balance(token);
                std::string text = b.balance.currency;
                try {
                    co_await c.order_status("MISSING", token);
                } catch (shop::error const& e) {
                    text += "|" + e.diag().server_code;
                }
                // Since Boost 1.80 an awaitable of any executor co_awaits a deferred
                // operation: the error comes as system_error, the diagnostics beside it.
                shop::diagnostics d;
                try {
                    co_await c.order_status("MISSING", d, asio::deferred);
                } catch (boost::system::system_error const& e) {
                    text += "|" + std::to_string(e.code() == errc::order_not_found) + "|" + d.server_code;
                }
                auto [ec, r] = co_await c.order_status("MISSING", d, asio::as_tuple(asio::deferred));
                text += "|" + ec.message();
                seen = text;
            },
            asio::detached);
        REQUIRE(testtime::run_until(io, [&] { return seen.has_value(); }));
        CHECK(*seen == "VND|ORDER_NOT_FOUND|1|ORDER_NOT_FOUND|order not found");
    }
    SECTION("use_future from another thread; with_diagnostics for the diagnostics") {
        auto guard = asio::make_work_guard(io);
        runner = std::thread([&] { io.run(); });
        auto f = c.balance(asio::use_future);
        REQUIRE(f.wait_for(10s) == std::future_status::ready);
        CHECK(f.get().balance.currency == "VND");
        auto g = c.order_status("MISSING", asio::use_future);
        REQUIRE(g.wait_for(10s) == std::future_status::ready);
        try {
            g.get();
            FAIL("no exception");
        } catch (const boost::system::system_error& e) {
            CHECK(e.code() == errc::order_not_found);
        }
        auto h = c.order_status("MISSING", shop::with_diagnostics(asio::use_future));
        REQUIRE(h.wait_for(10s) == std::future_status::ready);
        try {
            h.get();
            FAIL("no exception");
        } catch (const shop::error& e) {
            CHECK(e.code() == errc::order_not_found);
            CHECK(e.diag().http_status == 404);
            CHECK(e.diag().server_code == "ORDER_NOT_FOUND");
        }
        guard.reset();
        io.stop();
        runner.join();
    }
}

TEST_CASE("client: cancellation mid-request leaves the pool healthy") {
    auto o = simtest::test_options();
    // The server sits on every balance request far longer than the test may take: a
    // cancellation that waited for the answer could not pass the bound below.
    o.faults = {"account/balance:latency=1"};
    o.latency = 20s;
    running_sim sim(o);
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    cfg.pool.max_connections = 2;
    shop::client c(io.get_executor(), cfg);
    using namespace asio::experimental::awaitable_operators;

    auto started = std::chrono::steady_clock::now();
    auto raced = run(io, [&]() -> asio::awaitable<int> {
        asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
        auto r = co_await (c.balance() || t.async_wait(asio::use_awaitable));
        co_return static_cast<int>(r.index());
    }());
    CHECK(raced == 1); // the timer won, the request was cancelled
    CHECK(std::chrono::steady_clock::now() - started < 100ms + testtime::slack);

    // A cancellation signal on a callback: completes with errc::cancelled.
    asio::cancellation_signal sig;
    std::optional<shop::error_code> cancelled;
    c.balance(asio::bind_cancellation_slot(sig.slot(), [&](shop::error_code ec, shop::balance_result) { cancelled = ec; }));
    io.restart();
    io.run_for(100ms);
    sig.emit(asio::cancellation_type::terminal);
    REQUIRE(testtime::run_until(io, [&] { return cancelled.has_value(); }));
    CHECK(*cancelled == errc::cancelled);

    // The pool is usable and in step: fast requests succeed, nothing is left busy.
    for (int i = 0; i < 5; ++i) CHECK(run(io, c.account_info()).api_key.daily_limit == 10000);
    auto stats = c.pool()->stats();
    CHECK(stats.busy == 0);
    CHECK(stats.waiting == 0);
    CHECK(stats.open <= 2);
}

TEST_CASE("client: 1,000 concurrent requests over a 16-connection pool") {
    running_sim sim;
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    cfg.pool.max_connections = 16;
    shop::client c(io.get_executor(), cfg);
    int ok = 0, failed = 0;
    for (int i = 0; i < 1000; ++i)
        c.order_status_by_id(1 + i % 3, [&](shop::error_code ec, shop::order_status_result) {
            // No order exists yet: every answer is ORDER_NOT_FOUND, a complete exchange.
            ec == errc::order_not_found ? ++ok : ++failed;
        });
    for (int i = 0; i < 20; ++i)
        c.balance([&](shop::error_code ec, shop::balance_result) { ec ? ++failed : ++ok; });
    io.run_for(60s);
    CHECK(ok == 1020);
    CHECK(failed == 0);
    auto s = c.pool()->stats();
    CHECK(s.peak_open <= 16);
    CHECK(s.busy == 0);
}

TEST_CASE("client: a thread pool executor, several threads, one client") {
    running_sim sim;
    asio::thread_pool pool(4);
    shop::client c(pool.get_executor(), config_for(sim->base_url()));
    std::vector<std::future<shop::create_order_result>> futures;
    for (int i = 0; i < 40; ++i) futures.push_back(c.create_order({.items = {{.plan_id = 900}}}, asio::use_future));
    std::set<std::string> ids;
    for (auto& f : futures) {
        REQUIRE(f.wait_for(20s) == std::future_status::ready);
        ids.insert(f.get().orders.at(0).trans_id);
    }
    CHECK(ids.size() == 40);
    pool.join();
    CHECK(sim->state().balance(simtest::demo_key) == money::from_vnd(500'000'000 - 40 * 10000));
}

TEST_CASE("client: TLS to the simulator with a trusted CA") {
    auto o = simtest::test_options();
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->use_certificate_chain_file(std::string(SHOP_TEST_DATA_DIR) + "/certs/server.pem");
    ctx->use_private_key_file(std::string(SHOP_TEST_DATA_DIR) + "/certs/server.key", asio::ssl::context::pem);
    o.tls = ctx;
    o.host = "localhost";
    running_sim sim(o);
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    REQUIRE(cfg.base_url.rfind("https://localhost:", 0) == 0);
    cfg.tls.use_system_roots = false;
    cfg.tls.ca_file = std::string(SHOP_TEST_DATA_DIR) + "/certs/ca.pem";
    shop::client trusted(io.get_executor(), cfg);
    CHECK(run(io, trusted.balance()).balance.currency == "VND");

    cfg.tls.ca_file.clear(); // the system's roots do not trust the test certificate
    cfg.tls.use_system_roots = true;
    shop::client untrusted(io.get_executor(), cfg);
    auto e = failure(io, untrusted.balance());
    CHECK(e.code == errc::tls_verification_failed);
}

TEST_CASE("client: never resends a create whose answer was lost") {
    auto o = simtest::test_options();
    o.faults = {"orders/create:close-after-commit=every:1"};
    running_sim sim(o);
    asio::io_context io;
    shop::client c(io.get_executor(), config_for(sim->base_url()));
    auto e = failure(io, c.create_order({.items = {{.plan_id = 900}}}));
    CHECK(e.code == errc::outcome_unknown);
    CHECK(sim->state().orders().size() == 1); // placed exactly once, never resent
    sim->faults().clear();
    // Other kinds of lost answers for a create: truncated and malformed bodies, a CDN page.
    for (auto spec : {"orders/create:truncated-body=every:1", "orders/create:malformed-json=every:1",
                      "orders/create:html-502=every:1", "orders/create:reset-mid-response=every:1"}) {
        sim->faults().add(shop::testing::fault_plan::parse(spec, 0ms, 0ms));
        auto lost = failure(io, c.create_order({.items = {{.plan_id = 900}}}));
        INFO(spec);
        CHECK(lost.code == errc::outcome_unknown);
        sim->faults().clear();
    }
    // A create that never left (nothing listening) fails plainly and may be retried.
    auto port = sim->port();
    sim.shutdown();
    shop::client gone(io.get_executor(), config_for("http://127.0.0.1:" + std::to_string(port) + "/api/v1"));
    auto cf = failure(io, gone.with({.retry = shop::retry_options{.max_attempts = 2, .initial_backoff = 10ms}})
                              .create_order({.items = {{.plan_id = 900}}}));
    CHECK(cf.code == errc::connect_failed);
}

TEST_CASE("client: reads are retried through faults") {
    auto o = simtest::test_options();
    o.faults = {"account/balance:html-502=every:2", "account/balance:close-before-read=every:3"};
    running_sim sim(o);
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    cfg.retry.initial_backoff = 5ms;
    cfg.retry.max_attempts = 4;
    shop::client c(io.get_executor(), cfg);
    for (int i = 0; i < 10; ++i) CHECK(run(io, c.balance()).balance.currency == "VND");
}

namespace {

struct paced_run {
    int ok = 0, failed = 0, rate_limited = 0;
    std::vector<std::chrono::steady_clock::time_point> done_at;
};

/// `total` account_info calls from `workers` coroutines sharing one client.
paced_run run_paced(asio::io_context& io, shop::client& c, int total, int workers) {
    paced_run out;
    int next = 0;
    for (int w = 0; w < workers; ++w)
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
                while (next < total) {
                    ++next;
                    auto r = co_await c.account_info(asio::as_tuple(asio::use_awaitable));
                    auto const ec = std::get<0>(r);
                    if (!ec) ++out.ok;
                    else if (ec == errc::rate_limit_exceeded) ++out.rate_limited;
                    else ++out.failed;
                    out.done_at.push_back(std::chrono::steady_clock::now());
                }
            },
            asio::detached);
    io.restart();
    io.run_for(120s);
    return out;
}

} // namespace

TEST_CASE("limiter: 100 requests from 64 coroutines under a 20/2 s server limit") {
    auto o = simtest::test_options();
    o.rate_limit_override = 20;
    o.rate_window = 2s;
    running_sim sim(o);
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    cfg.limiter.requests_per_window = 20;
    cfg.limiter.window = 2s;
    // The server counts whole seconds (ts >= now - 2), so its window spans up to 3 s; the
    // margin covers that second and 100 ms of jitter.
    cfg.limiter.safety_margin = 1100ms;
    shop::client c(io.get_executor(), cfg);
    auto r = run_paced(io, c, 100, 64);
    // What is exact: every request answered, none refused by the server. The share of the
    // server's rate the limiter achieves is a benchmark figure (bench_limiter, "paced").
    CHECK(r.ok == 100);
    CHECK(r.failed == 0);
    CHECK(r.rate_limited == 0);
    CHECK(sim->state().stats().rate_limited == 0);
    REQUIRE(r.done_at.size() == 100);
    double seconds = std::chrono::duration<double>(r.done_at.back() - r.done_at.front()).count();
    WARN("paced: the last 80 requests at " << 80.0 / seconds << "/s; the server allows " << 20.0 / 3.0 << "/s");
}

TEST_CASE("limiter: a client set higher than the server recovers through the cool-down") {
    auto o = simtest::test_options();
    o.rate_limit_override = 20;
    o.rate_window = 2s;
    running_sim sim(o);
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    cfg.limiter.requests_per_window = 40; // twice what the server allows
    cfg.limiter.window = 2s;
    cfg.limiter.safety_margin = 1100ms;
    shop::client c(io.get_executor(), cfg);
    auto r = run_paced(io, c, 100, 32);
    CHECK(r.ok == 100);
    CHECK(r.failed == 0);
    CHECK(r.rate_limited == 0); // every refusal was absorbed by a cool-down and a retry
    auto refused = sim->state().stats().rate_limited;
    CHECK(refused > 0);   // the server did say no…
    CHECK(refused <= 40); // …once, for one burst: the limiter then halved its rate
}

TEST_CASE("limiter: a wait for a slot ends at the call's own bound (retry.max_total)") {
    running_sim sim;
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    cfg.limiter.requests_per_window = 1;  // the second call waits a minute for its slot…
    cfg.limiter.window = 60s;
    cfg.retry.max_total = 1s;             // …unless its own bound ends the wait first
    shop::client c(io.get_executor(), cfg);
    run(io, c.balance());
    auto const t0 = testtime::steady::now();
    auto e = failure(io, c.balance());
    CHECK(e.code == errc::timeout);
    CHECK(e.diag.message.find("rate limiter") != std::string::npos);
    CHECK(testtime::ms_since(t0) >= 900);
    CHECK(testtime::ms_since(t0) < 1000 + testtime::slack.count());
    // The limiter's own bound (max_wait) still reads as a local refusal.
    cfg.retry.max_total = 0ms;
    cfg.limiter.max_wait = 500ms;
    shop::client d(io.get_executor(), cfg);
    run(io, d.balance());
    CHECK(failure(io, d.balance()).code == errc::rate_limited_locally);
}

TEST_CASE("limiter: sync_limits adopts the server's numbers") {
    auto o = simtest::test_options();
    o.rate_limit_override = 0;
    running_sim sim(o);
    asio::io_context io;
    auto cfg = config_for(sim->base_url());
    cfg.limiter.requests_per_window = 1000;
    cfg.limiter.daily_limit = 0;
    shop::client c(io.get_executor(), cfg);
    run(io, c.balance());
    auto info = run(io, c.sync_limits());
    CHECK(info.api_key.rate_limit == 60);
    CHECK(info.usage_today.total_requests >= 1);
    std::optional<shop::rate_limiter::stats_snapshot> s;
    c.limiter()->async_stats([&](shop::rate_limiter::stats_snapshot x) { s = x; });
    io.restart();
    io.run_for(1s);
    REQUIRE(s);
    CHECK(s->used_today >= info.usage_today.total_requests);
}

TEST_CASE("client: several keys share one pool, each with its own credentials and limiter") {
    running_sim sim;
    auto second = account("c333");
    second.balance = money::from_vnd(777);
    sim->state().add_account(second);
    asio::io_context io;
    shop::pool_options po;
    po.max_connections = 2;
    auto pool = shop::connection_pool::create(io.get_executor(), sim->base_url(), {}, po);
    shop::client first(pool, config_for(sim->base_url()));
    shop::client other(pool, config_for(sim->base_url(), second.key, second.secret));
    CHECK(first.limiter() != other.limiter());
    for (int i = 0; i < 5; ++i) {
        CHECK(run(io, first.balance()).balance.current == money::from_vnd(500'000'000));
        CHECK(run(io, other.balance()).balance.current == money::from_vnd(777));
    }
    auto s = pool->stats();
    CHECK(s.opened == 1); // one keep-alive connection served both keys in turn
    CHECK(s.reused >= 9);
    // A pool serves one origin only.
    CHECK_THROWS_AS(shop::client(pool, config_for("http://127.0.0.1:1/api/v1")), shop::error);
}

// Exceptions made in this process, counted where every `throw` starts (not under the
// sanitizers, which intercept the same machinery).
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#include <dlfcn.h>
namespace {
std::atomic<std::size_t> exceptions_made{0};
}
extern "C" void* __cxa_allocate_exception(std::size_t size) noexcept {
    ++exceptions_made;
    using real_fn = void* (*)(std::size_t) noexcept;
    static auto real = reinterpret_cast<real_fn>(dlsym(RTLD_NEXT, "__cxa_allocate_exception"));
    return real(size);
}
#define SHOP_TEST_COUNTS_EXCEPTIONS 1
#else
#define SHOP_TEST_COUNTS_EXCEPTIONS 0
#endif

TEST_CASE("client: an outage is error codes, not exceptions: failures travel as values") {
    running_sim sim;
    asio::io_context io;
    shop::client live(io.get_executor(), config_for(sim->base_url()));
    // A port nobody listens on: every request fails to connect, and is retried.
    auto down_cfg = config_for("http://127.0.0.1:1/api/v1");
    down_cfg.retry.initial_backoff = 1ms;
    down_cfg.retry.max_backoff = 2ms;
    shop::client down(io.get_executor(), down_cfg);
#if SHOP_TEST_COUNTS_EXCEPTIONS
    auto const before = exceptions_made.load();
#endif
    int refused = 0, unreachable = 0;
    shop::diagnostics d1, d2;
    for (int i = 0; i < 200; ++i) {
        live.order_status("MISSING", d1, [&](shop::error_code ec, shop::order_status_result) {
            refused += ec == errc::order_not_found;
        });
        down.balance(d2, [&](shop::error_code ec, shop::balance_result) { unreachable += ec == errc::connect_failed; });
    }
    REQUIRE(testtime::run_until(io, [&] { return refused + unreachable == 400; }, 60s));
    CHECK(d2.message.find("127.0.0.1") != std::string::npos);
#if SHOP_TEST_COUNTS_EXCEPTIONS
    CHECK(exceptions_made.load() == before);  // 400 failures (1,000+ attempts), not one exception
    // The user's edge does throw, once: the default token.
    CHECK_THROWS_AS(run(io, live.order_status("MISSING")), shop::error);
    CHECK(exceptions_made.load() > before);
#endif
}
