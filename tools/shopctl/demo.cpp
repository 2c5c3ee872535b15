// shopctl demo: starts the simulator in this process and walks through the API with the
// library, as a reseller's program would.
#include "commands.hpp"
#include "output.hpp"

#include <shop/shop.hpp>
#include <shop/testing/simulator.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <thread>

namespace shopctl {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

void step(std::string_view title) { fmt::print("\n== {} ==\n", title); }

asio::awaitable<void> walk_through(shop::client& c) {
    step("account (GET /account/info)");
    auto info = co_await c.sync_limits(); // also adopts the key's limits into the limiter
    fmt::print("user {} <{}>, key '{}' with {} permissions, {}/minute, {}/day\n", info.user.username, info.user.email,
               info.api_key.name, info.api_key.permissions.size(), info.api_key.rate_limit, info.api_key.daily_limit);

    step("balance (GET /account/balance)");
    auto start = co_await c.balance();
    fmt::print("{} {} ({})\n", start.balance.current.to_php_string(), start.balance.currency, start.balance.formatted);

    step("categories (GET /categories/list?include_children=1&include_products=1)");
    shop::category_list_query tree{.include_children = true, .include_products = true};
    auto cats = co_await c.list_categories(tree);
    table ct({"id", "name", "parent", "products"});
    for (auto const& cat : cats.categories)
        ct.add({std::to_string(cat.id), cat.name, std::to_string(cat.parent_id),
                cat.product_count ? std::to_string(*cat.product_count) : ""});
    ct.print();

    step("products (GET /products/list, every page)");
    shop::product_list_query two_per_page{.limit = 2};
    auto products = co_await c.all_products(two_per_page);
    table pt({"plan", "product / plan", "price", "instant", "stock", "fields"});
    for (auto const& p : products)
        for (auto const& pl : p.plans) {
            std::string fields;
            for (auto const& f : pl.fields) fields += (fields.empty() ? "" : ",") + f.key;
            pt.add({std::to_string(pl.id), p.name + " / " + pl.name, pl.final_price.to_php_string(),
                    pl.is_instant ? "yes" : "no", std::to_string(pl.stock_count), fields});
        }
    pt.print();

    shop::money charged;
    step("an instant order: plan 18, delivered at once (POST /orders/create)");
    // Arguments are built before co_await: GCC 12 mishandles temporaries with destructors
    // inside a co_await expression (rejects or destroys them twice).
    shop::create_order_request instant_request{.items = {{.plan_id = 18, .fields = {{"email_dang_nhap", "demo@example.com"}}}}};
    auto instant = co_await c.create_order(std::move(instant_request));
    charged += instant.summary.total_amount;
    auto const& o = instant.orders.at(0);
    fmt::print("{}: {} x {} = {} ({}), HTTP {}\n", o.trans_id, o.quantity, o.plan_name, o.final_amount.to_php_string(),
               o.status.raw, instant.meta.http_status);
    auto st = co_await c.order_status(o.trans_id);
    for (auto const& item : st.delivery.items) fmt::print("  delivered: {}\n", item);

    step("a coupon that does not apply warns, it does not fail");
    shop::create_order_request expired_coupon{.items = {{.plan_id = 900, .quantity = 2}}, .coupon_code = "HETHAN"};
    auto warned = co_await c.create_order(std::move(expired_coupon));
    charged += warned.summary.total_amount;
    for (auto const& w : warned.warnings) fmt::print("  warning {}: {}\n", w.code, w.message);
    shop::create_order_request ten_percent{.items = {{.plan_id = 900, .quantity = 2}}, .coupon_code = "GIAM10"};
    auto discounted = co_await c.create_order(std::move(ten_percent));
    charged += discounted.summary.total_amount;
    fmt::print("  GIAM10 on 2 x 10000: charged {}\n", discounted.summary.total_amount.to_php_string());

    step("a manual order: plan 904 goes pending -> processing -> completed");
    shop::create_order_request manual_request{.items = {{.plan_id = 904}}};
    auto manual = co_await c.create_order(std::move(manual_request));
    charged += manual.summary.total_amount;
    auto id = manual.orders.at(0).trans_id;
    std::string last;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < 100; ++i) {
        auto s = co_await c.order_status(id);
        if (s.order.status.raw != last) fmt::print("  {} is {}\n", id, last = s.order.status.raw);
        if (s.order.status.is_terminal()) {
            for (auto const& item : s.delivery.items) fmt::print("  delivered: {}\n", item);
            break;
        }
        timer.expires_after(200ms);
        co_await timer.async_wait(asio::use_awaitable);
    }

    step("errors carry error_code, message, HTTP status and request_id");
    try {
        shop::create_order_request sold_out{.items = {{.plan_id = 903}}};
        co_await c.create_order(std::move(sold_out));
    } catch (const shop::error& e) {
        fmt::print("  {}\n", e.diag().to_string());
    }

    step("orders (GET /orders/list, newest first)");
    shop::order_list_query newest{.limit = 10};
    auto listed = co_await c.list_orders(newest);
    table lt({"trans_id", "status", "plan", "qty", "amount", "created"});
    for (auto const& x : listed.orders)
        lt.add({x.trans_id, x.status.raw, x.plan ? x.plan->name : "(deleted)", std::to_string(x.quantity),
                x.final_amount.to_php_string(), x.created_at.value_or("")});
    lt.print();

    step("the balance agrees to the last xu");
    auto end = co_await c.balance();
    fmt::print("start {} - charged {} = {}; the server says {} -> {}\n", start.balance.current.to_php_string(),
               charged.to_php_string(), (start.balance.current - charged).to_php_string(),
               end.balance.current.to_php_string(),
               end.balance.current == start.balance.current - charged ? "OK" : "MISMATCH");
}

} // namespace

void add_demo_command(CLI::App& app, int& rc) {
    app.add_subcommand("demo", "start the simulator in-process and walk through the API")->callback([&rc] {
        asio::io_context server_io;
        shop::testing::simulator_options so;
        so.processing_after = 600ms;
        so.completed_after = 1500ms;
        shop::testing::simulator sim(server_io.get_executor(), so);
        std::thread server_thread([&] { server_io.run(); });
        fmt::print("simulator listening at {} (demo account, documented example key)\n", sim.base_url());

        asio::io_context io;
        shop::client_config cfg;
        cfg.base_url = sim.base_url();
        cfg.api_key = std::string(shop::testing::demo_api_key);
        cfg.api_secret = std::string(shop::testing::demo_api_secret);
        shop::client client(io.get_executor(), cfg);
        asio::co_spawn(io, walk_through(client), [&](std::exception_ptr ep) {
            if (!ep) return;
            auto e = shop::error_of(ep);
            rc = report_error(e->code, e->diag);
        });
        io.run();
        sim.stop();
        server_thread.join();
    });
}

} // namespace shopctl
