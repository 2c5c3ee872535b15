// Runs one client command: builds the client from the global options, runs the body on an
// io_context, and turns any failure into a report and an exit code.
#pragma once

#include "commands.hpp"
#include "output.hpp"

#include <shop/client.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace shopctl {

inline shop::client_config make_client_config(const global_options& g) {
    shop::client_config cfg;
    cfg.base_url = g.base_url;
    cfg.api_key = g.api_key;
    cfg.api_secret = g.api_secret;
    cfg.tls.ca_file = g.ca_file;
    cfg.timeouts.total = std::chrono::milliseconds(static_cast<std::int64_t>(g.timeout_seconds * 1000));
    cfg.pool.user_agent = "shopctl/0.1";
    if (g.verbose)
        cfg.request_log = [](const shop::request_log_entry& e) {
            // The target carries no credentials; headers (key, secret) are never logged.
            fmt::print(stderr, "{} {} -> {} {:.1f} ms{}{}{}\n", e.method, e.target,
                       e.http_status ? std::to_string(e.http_status) : std::string("no response"),
                       e.elapsed.count() / 1000.0, e.request_id.empty() ? "" : " ", e.request_id,
                       e.ec ? " (" + e.ec.message() + ")" : std::string());
        };
    return cfg;
}

inline int report_exception(std::exception_ptr ep) {
    auto info = shop::error_of(ep);
    return report_error(info->code, info->diag);
}

/// Runs `body` with a client built from `g`; returns the process exit code.
inline int run_client(const global_options& g, std::function<boost::asio::awaitable<void>(shop::client&)> body) {
    if (g.api_key.empty() || g.api_secret.empty()) {
        fmt::print(stderr, "error: --api-key and --api-secret (or SHOP_API_KEY, SHOP_API_SECRET) are required\n");
        return exit_usage;
    }
    boost::asio::io_context io;
    int rc = exit_ok;
    try {
        shop::client client(io.get_executor(), make_client_config(g));
        boost::asio::co_spawn(io, body(client), [&](std::exception_ptr ep) {
            if (ep) rc = report_exception(ep);
        });
        io.run();
    } catch (...) {
        rc = report_exception(std::current_exception());
    }
    return rc;
}

} // namespace shopctl
