// Test support for the client tests: a client configuration for the simulator's demo
// account, and running one awaitable to completion, bounded.
#pragma once

#include "simulator_support.hpp"

#include <shop/client.hpp>

#include <optional>

namespace simtest {

/// The demo account on `base_url`, the limiter out of the way (every request still passes
/// it), 10 s per request.
inline shop::client_config config_for(const std::string& base_url, std::string key = demo_key,
                                      std::string secret = demo_secret) {
    shop::client_config cfg;
    cfg.base_url = base_url;
    cfg.api_key = std::move(key);
    cfg.api_secret = std::move(secret);
    cfg.limiter.requests_per_window = 0;
    cfg.timeouts.total = 10s;
    return cfg;
}

/// Runs `aw` on `io` until it completes (bounded); rethrows its exception.
template <class T>
T run(net::io_context& io, net::awaitable<T> aw, std::chrono::seconds bound = 30s) {
    std::optional<T> out;
    std::exception_ptr ep;
    bool done = false;
    net::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T v) {
        ep = e;
        if (!e) out = std::move(v);
        done = true;
    });
    io.restart();
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (!done && io.run_one_until(deadline)) {
    }
    REQUIRE(done);
    if (ep) std::rethrow_exception(ep);
    return std::move(*out);
}

} // namespace simtest
