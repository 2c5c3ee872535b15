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
#include <string>
#include <vector>

namespace shopctl {

/// "N/SECONDS" or "N" (per 60 s) into the limiter's settings; false when malformed.
inline bool parse_rate_limit(const std::string& text, shop::limiter_options& out) {
    auto slash = text.find('/');
    try {
        std::size_t used = 0;
        long n = std::stol(text.substr(0, slash), &used);
        if (used != text.substr(0, slash).size() || n < 1 || n > 100000) return false;
        long seconds = 60;
        if (slash != std::string::npos) {
            std::string rest = text.substr(slash + 1);
            seconds = std::stol(rest, &used);
            if (used != rest.size() || seconds < 1 || seconds > 86400) return false;
        }
        out.requests_per_window = static_cast<std::uint32_t>(n);
        out.window = std::chrono::seconds(seconds);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

/// `--field KEY=VALUE` options into fields; false (after saying which) when one is malformed.
inline bool parse_fields(const std::vector<std::string>& options, shop::field_list& out) {
    for (auto const& f : options) {
        auto eq = f.find('=');
        if (eq == std::string::npos || eq == 0) {
            fmt::print(stderr, "error: --field expects KEY=VALUE, got '{}'\n", f);
            return false;
        }
        out.emplace_back(f.substr(0, eq), f.substr(eq + 1));
    }
    return true;
}

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

/// Runs `body` with a client built from `g`; returns the process exit code.
inline int run_client(const global_options& g, std::function<boost::asio::awaitable<void>(shop::client&)> body) {
    if (g.api_key.empty() || g.api_secret.empty()) {
        fmt::print(stderr, "error: --api-key and --api-secret (or SHOP_API_KEY, SHOP_API_SECRET) are required\n");
        return exit_usage;
    }
    auto cfg = make_client_config(g);
    const bool fixed_rate = !g.rate_limit.empty();
    if (fixed_rate && !parse_rate_limit(g.rate_limit, cfg.limiter)) {
        fmt::print(stderr, "error: --rate-limit expects N or N/SECONDS, got '{}'\n", g.rate_limit);
        return exit_usage;
    }
    boost::asio::io_context io;
    int rc = exit_ok;
    try {
        shop::client client(io.get_executor(), cfg);
        auto run = [&]() -> boost::asio::awaitable<void> {
            // Start from the key's real limits and today's usage, unless told otherwise.
            if (!fixed_rate) co_await client.sync_limits();
            co_await body(client);
        };
        boost::asio::co_spawn(io, run(), [&](std::exception_ptr ep) {
            if (ep) rc = report_exception(ep);
        });
        io.run();
    } catch (...) {
        rc = report_exception(std::current_exception());
    }
    return rc;
}

} // namespace shopctl
