// Runs one client command: builds the client from the global options, runs the body on an
// io_context, and turns any failure into a report and an exit code.
#pragma once

#include "commands.hpp"
#include "item_args.hpp"
#include "output.hpp"
#include "rate_limit.hpp"

#include <shop/client.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace shopctl {

/// `--field` options into fields; false after saying which one is malformed.
inline bool read_fields(const std::vector<std::string>& options, shop::field_list& out) {
    std::string bad;
    if (parse_fields(options, out, bad)) return true;
    fmt::print(stderr, "error: --field expects KEY=VALUE, got '{}'\n", bad);
    return false;
}

inline shop::client_config make_client_config(const global_options& g) {
    shop::client_config cfg;
    cfg.base_url = g.base_url;
    cfg.api_key = g.api_key;
    cfg.api_secret = g.api_secret;
    cfg.tls.ca_file = g.ca_file;
    // --timeout bounds each call with its retries and its wait for the limiter (and, in
    // run_client, a whole one-shot command).
    cfg.timeouts.total = std::chrono::milliseconds(static_cast<std::int64_t>(g.timeout_seconds * 1000));
    cfg.retry.max_total = cfg.timeouts.total;
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

/// How far --timeout reaches in run_client.
enum class command_bound {
    /// The whole command: the start-up read of the key's limits, every call and its retries
    /// (one-shot commands: balance, order, status without --wait, …).
    whole,
    /// Each call with its retries; the run has bounds of its own (bulk, status --wait).
    per_call,
};

/// Runs `body` with a client built from `g`; returns the process exit code.
inline int run_client(const global_options& g, std::function<boost::asio::awaitable<void>(shop::client&)> body,
                      command_bound bound = command_bound::whole) {
    namespace net = boost::asio;
    if (g.api_key.empty() || g.api_secret.empty()) {
        fmt::print(stderr, "error: --api-key and --api-secret (or SHOP_API_KEY, SHOP_API_SECRET) are required\n");
        return exit_usage;
    }
    auto cfg = make_client_config(g);
    const bool fixed_rate = !g.rate_limit.empty();
    if (fixed_rate) {
        auto spec = parse_rate_limit(g.rate_limit);
        if (!spec) {
            fmt::print(stderr, "error: --rate-limit expects off, N or N/SECONDS (N up to 4294967295, "
                               "SECONDS up to 86400), got '{}'\n", g.rate_limit);
            return exit_usage;
        }
        // off: no window and no daily bound, so the limiter is skipped altogether.
        cfg.limiter.requests_per_window = spec->off ? 0 : spec->requests;
        cfg.limiter.window = spec->window;
        if (spec->off) cfg.limiter.daily_limit = 0;
    }
    net::io_context io;
    int rc = exit_ok;
    try {
        shop::client client(io.get_executor(), cfg);
        auto run = [&]() -> net::awaitable<void> {
            // Start from the key's real limits and today's usage, unless told otherwise.
            if (!fixed_rate) co_await client.sync_limits();
            co_await body(client);
        };
        // The command's deadline cancels whatever call is under way; the call ends as a
        // cancellation says (a create that may have left is still "outcome unknown").
        net::cancellation_signal stop;
        net::steady_timer deadline(io);
        bool timed_out = false;
        net::co_spawn(io, run(), net::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr ep) {
                          deadline.cancel();
                          if (ep) rc = timed_out ? report_timeout(ep, g.timeout_seconds) : report_exception(ep);
                      }));
        if (bound == command_bound::whole) {
            deadline.expires_after(cfg.timeouts.total);
            deadline.async_wait([&](boost::system::error_code ec) {
                if (ec) return;
                timed_out = true;
                stop.emit(net::cancellation_type::terminal);
            });
        }
        io.run();
    } catch (...) {
        rc = report_exception(std::current_exception());
    }
    return rc;
}

} // namespace shopctl
