// A program built with SHOP_SEPARATE_COMPILATION: the client's code comes from src.cpp,
// compiled once; this unit sees only declarations. Against the in-process simulator: an
// endpoint, an API error with its diagnostics, a create, and a pipelined status poll (the
// lease path). Exit status 0 when everything holds.
#include <shop/client.hpp>
#include <shop/status_poller.hpp>
#include <shop/testing/simulator.hpp>

#include <boost/asio.hpp>

#include <cstdio>
#include <thread>

namespace asio = boost::asio;

#ifndef SHOP_SEPARATE_COMPILATION
#error "this test is built with SHOP_SEPARATE_COMPILATION"
#endif

int main() {
    asio::io_context server_io;
    shop::testing::simulator_options so;
    so.rate_limit_override = 1'000'000;
    shop::testing::simulator sim(server_io.get_executor(), so);
    std::thread server([&] { server_io.run(); });

    asio::io_context io;
    shop::client_config cfg;
    cfg.base_url = sim.base_url();
    cfg.api_key = std::string(shop::testing::demo_api_key);
    cfg.api_secret = std::string(shop::testing::demo_api_secret);
    shop::client c(io.get_executor(), cfg);
    int failures = 0;
    auto expect = [&](bool ok, char const* what) {
        if (!ok) {
            std::fprintf(stderr, "FAILED: %s\n", what);
            ++failures;
        }
    };
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto b = co_await c.balance();
            expect(b.balance.currency == "VND", "balance");
            shop::diagnostics d;
            auto [ec, s] = co_await c.order_status("MISSING", d, asio::as_tuple(asio::use_awaitable));
            expect(ec == shop::errc::order_not_found && d.http_status == 404, "order_not_found with diagnostics");
            shop::create_order_request req;
            for (int i = 0; i < 20; ++i) req.items.push_back({.plan_id = 900, .quantity = 1, .fields = {}});
            auto placed = co_await c.create_order(req);
            std::vector<std::string> ids;
            for (auto& o : placed.orders) ids.push_back(o.trans_id);
            shop::status_poller poller(c, {.connections = 2, .pipeline_depth = 8});
            auto results = co_await poller.async_poll(ids, {});
            std::size_t terminal = 0;
            for (auto& r : results) terminal += r.terminal;
            expect(terminal == 20, "20 orders polled to their terminal status");
        },
        [&](std::exception_ptr e) {
            if (e) {
                std::fprintf(stderr, "FAILED: an exception reached the edge\n");
                ++failures;
            }
        });
    io.run();
    sim.stop();
    server.join();
    std::printf("separate compilation: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
