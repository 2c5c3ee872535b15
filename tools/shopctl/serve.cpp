// shopctl serve: runs the simulator standalone.
#include "commands.hpp"
#include "rate_limit.hpp"

#include <shop/testing/simulator.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <fmt/core.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shopctl {
namespace {

struct serve_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    unsigned threads = 1;
    std::string catalog;
    std::string tls_cert;
    std::string tls_key;
    std::string mode = "deployed";
    std::string rate_limit;
    std::uint32_t daily_limit = 0;
    std::vector<std::string> faults;
    std::vector<std::string> quirks;
    std::string latency;
    std::uint64_t fault_seed = 1;
    std::string admin_token;
    double utc_offset_hours = 7;
    std::int64_t processing_after_ms = 2000;
    std::int64_t completed_after_ms = 5000;
    std::size_t max_body = 1 << 20;
};

int run_serve(serve_options const& so) {
    namespace net = boost::asio;
    using namespace shop::testing;
    simulator_options o;
    o.host = so.host;
    o.port = so.port;
    o.mode = so.mode == "documented" ? api_mode::documented : api_mode::deployed;
    for (auto const& q : so.quirks) {
        if (q == "list-filter-500") o.quirk_list_filter_500 = true;
        else if (q == "double-discount") o.quirk_double_discount = true;
        else if (q == "list-pages-repeat") o.quirk_list_pages_repeat = true;
        else {
            fmt::print(stderr, "shopctl serve: unknown quirk '{}' (list-filter-500, double-discount, list-pages-repeat)\n", q);
            return exit_usage;
        }
    }
    if (!so.rate_limit.empty()) {
        auto spec = parse_rate_limit(so.rate_limit);
        if (!spec) {
            fmt::print(stderr, "shopctl serve: --rate-limit must be off, N or N/SECONDS (N up to 4294967295, "
                               "SECONDS up to 86400), got '{}'\n", so.rate_limit);
            return exit_usage;
        }
        // off: the most a window can count, which no run reaches.
        o.rate_limit_override = spec->off ? UINT32_MAX : spec->requests;
        o.rate_window = spec->window;
    }
    o.daily_limit_override = so.daily_limit;
    if (so.utc_offset_hours < -14 || so.utc_offset_hours > 14) {
        fmt::print(stderr, "shopctl serve: --utc-offset must be within -14..14 hours\n");
        return exit_usage;
    }
    o.utc_offset = std::chrono::seconds(static_cast<std::int64_t>(so.utc_offset_hours * 3600));
    if (so.processing_after_ms < 0 || so.completed_after_ms < 0) {
        fmt::print(stderr, "shopctl serve: --processing-after/--completed-after must not be negative\n");
        return exit_usage;
    }
    o.processing_after = std::chrono::milliseconds(so.processing_after_ms);
    o.completed_after = std::chrono::milliseconds(so.completed_after_ms);
    o.admin_token = so.admin_token;
    o.catalog_file = so.catalog;
    o.fault_seed = so.fault_seed;
    o.faults = so.faults;
    o.max_body = so.max_body;
    try {
        if (!so.latency.empty()) std::tie(o.latency, o.latency_jitter) = parse_latency(so.latency);
        if (so.tls_cert.empty() != so.tls_key.empty()) {
            fmt::print(stderr, "shopctl serve: --tls-cert and --tls-key go together\n");
            return exit_usage;
        }
        if (!so.tls_cert.empty()) {
            auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
            ctx->use_certificate_chain_file(so.tls_cert);
            ctx->use_private_key_file(so.tls_key, net::ssl::context::pem);
            o.tls = ctx;
        }
    } catch (std::exception const& e) {
        fmt::print(stderr, "shopctl serve: {}\n", e.what());
        return exit_usage;
    }

    unsigned threads = so.threads == 0 ? 1 : so.threads;
    net::io_context ioc(static_cast<int>(threads));
    std::unique_ptr<simulator> sim;
    try {
        sim = std::make_unique<simulator>(ioc.get_executor(), o);
    } catch (std::exception const& e) {
        fmt::print(stderr, "shopctl serve: {}\n", e.what());
        return exit_usage;
    }
    // The base URL first, alone on its line, so that scripts can read it.
    fmt::print("{}\n", sim->base_url());
    std::fflush(stdout);
    fmt::print(stderr, "shopctl serve: {} mode, {} thread(s), admin area {}, {} fault rule(s); Ctrl-C stops\n",
               so.mode, threads, o.admin_token.empty() ? "off" : "on (/_sim/, header X-Sim-Admin)",
               sim->faults().rules().size());

    // Stop on SIGINT/SIGTERM; if some connection does not let go within 3 s, stop the
    // io_context anyway.
    std::mutex m;
    std::condition_variable cv;
    bool stopping = false, finished = false;
    std::thread guard([&] {
        std::unique_lock lk(m);
        cv.wait(lk, [&] { return stopping || finished; });
        if (!finished && !cv.wait_for(lk, std::chrono::seconds(3), [&] { return finished; })) ioc.stop();
    });
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int) {
        if (ec) return;
        {
            std::lock_guard lk(m);
            stopping = true;
        }
        cv.notify_all();
        sim->stop();
    });

    std::vector<std::thread> workers;
    for (unsigned i = 1; i < threads; ++i) workers.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& w : workers) w.join();
    {
        std::lock_guard lk(m);
        finished = true;
    }
    cv.notify_all();
    guard.join();
    fmt::print(stderr, "shopctl serve: stopped\n");
    return exit_ok;
}

} // namespace

void add_serve_command(CLI::App& app, int& rc) {
    auto so = std::make_shared<serve_options>();
    auto* cmd = app.add_subcommand("serve", "Run the Shop API simulator; prints its base URL as the first line");
    cmd->add_option("--host", so->host, "Address to listen on")->capture_default_str();
    cmd->add_option("--port", so->port, "Port (0 picks a free one)")->capture_default_str();
    cmd->add_option("--threads", so->threads, "Threads running the server")->capture_default_str()->check(CLI::Range(1u, 256u));
    cmd->add_option("--catalog", so->catalog, "JSON catalog file (default: the demo catalog)")->check(CLI::ExistingFile);
    cmd->add_option("--tls-cert", so->tls_cert, "PEM certificate chain: serve HTTPS")->check(CLI::ExistingFile);
    cmd->add_option("--tls-key", so->tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
    cmd->add_option("--mode", so->mode, "deployed (what the real server does) or documented")
        ->capture_default_str()
        ->check(CLI::IsMember({"deployed", "documented"}));
    cmd->add_option("--quirk", so->quirks, "Enable a known server bug: list-filter-500, double-discount; or a hostile listing: list-pages-repeat (repeatable)");
    cmd->add_option("--rate-limit", so->rate_limit, "Requests per window for every key: N or N/SECONDS (e.g. 20/2), or off");
    cmd->add_option("--daily-limit", so->daily_limit, "Requests per local day for every key (0: the account's)");
    cmd->add_option("--utc-offset", so->utc_offset_hours, "Server-local time zone in hours")->capture_default_str();
    cmd->add_option("--processing-after", so->processing_after_ms,
                    "Non-instant orders become processing after MS (0: by hand only)")
        ->capture_default_str();
    cmd->add_option("--completed-after", so->completed_after_ms,
                    "Non-instant orders complete after MS (0: by hand only)")
        ->capture_default_str();
    cmd->add_option("--fault", so->faults,
                    "Fault rule [ENDPOINT:]NAME=PROB or NAME=every:N (repeatable); names: latency, close-before-read, "
                    "close-after-commit, reset-mid-response, slow-drip, checkout-error, malformed-json, "
                    "truncated-body, html-502, no-pipelining");
    cmd->add_option("--fault-seed", so->fault_seed, "Seed of probabilistic faults")->capture_default_str();
    cmd->add_option("--latency", so->latency, "Latency of the latency fault: MS[:JITTER_MS] (alone: every request)");
    cmd->add_option("--admin-token", so->admin_token, "Enable /_sim/ with header X-Sim-Admin: TOKEN");
    cmd->add_option("--max-body", so->max_body, "Largest request body in bytes")->capture_default_str();
    cmd->callback([so, &rc] { rc = run_serve(*so); });
}

} // namespace shopctl
