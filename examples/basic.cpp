// The README's example: list, buy, read the delivery. Runs against the simulator when
// SHOP_BASE_URL points at one (scripts/demo uses the same library path).
#include <shop/shop.hpp>

#include <boost/asio.hpp>

#include <cstdlib>
#include <iostream>

namespace asio = boost::asio;

asio::awaitable<void> buy(shop::client& c) {
    shop::product_list_query query{.search = "Adobe"};
    auto products = co_await c.list_products(query);
    std::cout << products.products.size() << " product(s) found\n";
    shop::create_order_request order{.items = {{.plan_id = 319, .quantity = 1}}};
    auto placed = co_await c.create_order(std::move(order));
    auto status = co_await c.order_status(placed.orders.at(0).trans_id);
    for (auto const& item : status.delivery.items) std::cout << item << '\n';
}

int main() {
    auto env = [](const char* name) {
        const char* v = std::getenv(name);
        return std::string(v ? v : "");
    };
    try {
        asio::io_context io;
        shop::client c(io.get_executor(), {.base_url = env("SHOP_BASE_URL").empty() ? "https://www.cloneviammo.com/api/v1"
                                                                                    : env("SHOP_BASE_URL"),
                                           .api_key = env("SHOP_API_KEY"),
                                           .api_secret = env("SHOP_API_SECRET")});
        int rc = 0;
        asio::co_spawn(io, buy(c), [&](std::exception_ptr ep) {
            try {
                if (ep) std::rethrow_exception(ep);
            } catch (const shop::error& e) {  // the default token throws the diagnostics
                std::cerr << e.diag().to_string() << '\n';
                rc = 1;
            }
        });
        io.run();
        return rc;
    } catch (const shop::error& e) {
        std::cerr << e.what() << '\n';
        return 2;
    }
}
