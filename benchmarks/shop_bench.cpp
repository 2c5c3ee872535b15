// shop-bench: what the client's own request path costs. Runs a workload through shop::client
// against a shop (--base-url) or an in-process simulator, and reports requests/s, latency
// percentiles, CPU per 1,000 requests, peak RSS and errors by code (benchmarks/README.md).
//
//   shop-bench status --connections 64 --concurrency 64 --duration 10
//   shop-bench status --pipeline-depth 16 --connections 8 --duration 10
//   shop-bench create --count 20000 --json
//   shop-bench status --base-url http://127.0.0.1:8080/api/v1 --trans-id T123 --json
//
// Workloads: `status` (GET /orders/status of real trans_ids: a few orders are placed first,
// or --trans-id is polled), `create` (POST /orders/create, one item of --plan), `mixed`
// (every tenth operation of a worker a create, the rest status reads). --concurrency
// workers each keep one operation in flight, driven by plain completion handlers (the
// leanest way to use the client: a request in flight costs only the client's memory) or,
// with --driver coroutines, each by a use_awaitable coroutine (as most callers write it;
// its frame, with room for the awaited result, is the caller's, about 3 KB a worker); with
// --pipeline-depth D > 1 (status only) each
// of --connections workers leases a pooled connection and keeps D requests pipelined on it,
// through the status poller's machinery (connection lease, pipeline_queue, the client's
// status request and answer reading), every request through the limiter when it is on.
#include "bench_report.hpp"

#include <shop/shop.hpp>
#include <shop/connection_pool.hpp>
#include <shop/detail/poll/pipeline_queue.hpp>
#include <shop/detail/status_requests.hpp>
#include <shop/testing/simulator.hpp>

#include <CLI/CLI.hpp>

#include <boost/asio.hpp>

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using bench::clock_type;

namespace {

struct options {
    std::string workload = "status";
    std::string base_url;
    std::string api_key, api_secret;
    std::vector<std::string> trans_ids;
    unsigned connections = 64;
    unsigned concurrency = 0;  // 0: as many as connections
    unsigned pipeline_depth = 1;
    double duration = 10;
    bool duration_given = false;
    std::uint64_t count = 0;
    unsigned threads = 1;
    std::string limiter = "off";
    std::string rate_limit;  // N/SECONDS for --limiter on; default: so high it never waits
    double warmup = 1;
    double timeout = 30;
    std::int64_t plan = 900;
    unsigned place = 16;  // orders placed first for the status workload
    std::string driver = "callbacks";  // or "coroutines" (depth 1)
    bool json = false;
    bool progress = true;
    // the in-process simulator
    unsigned server_threads = 1;
    std::vector<std::string> faults;
    unsigned latency_ms = 0;
};

/// Counters and latencies of one thread (each touched by its thread only, merged at the end).
/// One per thread, not per worker: 10,000 workers would bring 10,000 histograms of 2,000
/// bins into the memory figure of 10,000 requests in flight.
struct thread_stats {
    std::uint64_t requests = 0;
    std::map<std::string, std::uint64_t> errors;
    bench::latency_histogram latency = bench::make_latency_histogram();
};

/// The running thread's counters (set when it starts running the client's io_context).
thread_local thread_stats* local_stats = nullptr;

std::string error_name(shop::error_code const& ec) {
    if (ec.category() == shop::error_category()) {
        auto server = shop::server_code_name(static_cast<shop::errc>(ec.value()));
        if (!server.empty()) return std::string(server);
    }
    return ec.category().name() + std::string(": ") + ec.message();
}

/// Shared by every worker: the phases of the run, and how many operations are in flight.
struct run_control {
    std::atomic<bool> recording{false};
    std::atomic<bool> stopping{false};
    std::atomic<std::uint64_t> completed{0};  // in the measured window, errors included
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::int64_t> in_flight{0};
    std::atomic<std::int64_t> max_in_flight{0};
    std::uint64_t count_limit = 0;  // 0: by time
    std::atomic<bool> count_reached{false};

    void started() {
        auto n = in_flight.fetch_add(1, std::memory_order_relaxed) + 1;
        auto m = max_in_flight.load(std::memory_order_relaxed);
        while (n > m && !max_in_flight.compare_exchange_weak(m, n, std::memory_order_relaxed)) {
        }
    }
    void finished() { in_flight.fetch_sub(1, std::memory_order_relaxed); }

    /// Records one finished operation that started at `t0` (when the window was open).
    void record(clock_type::time_point t0, bool counted, shop::error_code const& ec) {
        if (!counted || !recording.load(std::memory_order_relaxed)) return;
        auto& w = *local_stats;
        if (ec == shop::errc::cancelled && stopping.load(std::memory_order_relaxed)) return;  // cut off by the end
        auto const done = completed.fetch_add(1, std::memory_order_relaxed) + 1;
        if (count_limit && done >= count_limit) count_reached = true;
        if (count_limit && done > count_limit) return;  // exactly --count operations are measured
        auto const us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
        if (ec) {
            ++w.errors[error_name(ec)];
            errors.fetch_add(1, std::memory_order_relaxed);
        } else {
            ++w.requests;
            w.latency(us);
        }
    }
    bool stop_now() const { return stopping.load(std::memory_order_relaxed) || count_reached.load(std::memory_order_relaxed); }
};

/// The operation a depth-1 worker runs, by the workload and the worker's turn.
enum class op_kind { status, create };

op_kind kind_of(options const& o, std::size_t turn) {
    if (o.workload == "create" || (o.workload == "mixed" && turn % 10 == 9)) return op_kind::create;
    return op_kind::status;
}

asio::awaitable<void> one_at_a_time(shop::client& c, options const& o, run_control& ctl,
                                    std::vector<std::string> const& ids, std::size_t first) {
    shop::create_order_request create;
    create.items.push_back({.plan_id = o.plan, .quantity = 1});
    std::size_t turn = first;
    while (!ctl.stop_now()) {
        op_kind const kind = kind_of(o, turn);
        bool const counted = ctl.recording.load(std::memory_order_relaxed);
        auto const t0 = clock_type::now();
        ctl.started();
        shop::error_code ec;
        if (kind == op_kind::status) {
            auto r = co_await c.order_status(ids[turn % ids.size()], asio::as_tuple(asio::use_awaitable));
            ec = std::get<0>(r);
        } else {
            auto r = co_await c.create_order(create, asio::as_tuple(asio::use_awaitable));
            ec = std::get<0>(r);
        }
        ctl.finished();
        ctl.record(t0, counted, ec);
        ++turn;
    }
}

/// A depth-1 worker driven by completion handlers: no frame of its own while its request is
/// in flight. The client never calls a handler inside the call that started the operation,
/// so next() does not recurse.
struct callback_worker {
    shop::client* c;
    options const* o;
    run_control* ctl;
    std::vector<std::string> const* ids;
    shop::create_order_request const* create;
    std::size_t turn;
    clock_type::time_point t0{};
    bool counted = false;

    void next() {
        if (ctl->stop_now()) return;
        op_kind const kind = kind_of(*o, turn);
        counted = ctl->recording.load(std::memory_order_relaxed);
        t0 = clock_type::now();
        ctl->started();
        if (kind == op_kind::status)
            c->order_status((*ids)[turn % ids->size()], [this](shop::error_code ec, shop::order_status_result) { done(ec); });
        else
            c->create_order(*create, [this](shop::error_code ec, shop::create_order_result) { done(ec); });
    }
    void done(shop::error_code ec) {
        ctl->finished();
        ctl->record(t0, counted, ec);
        ++turn;
        next();
    }
};

/// One connection with `depth` status requests pipelined on it, as the status poller drives
/// its connections: lease, queue + flush, read FIFO, re-lease at depth 1 after trouble.
asio::awaitable<void> pipelined(shop::client& c, options const& o, run_control& ctl,
                                std::vector<std::string> const& ids, std::size_t first) {
    struct sent {
        clock_type::time_point at;
        bool counted;
    };
    shop::detail::pipeline_queue<sent> q(o.pipeline_depth);
    shop::connection_lease lease;
    shop::http_response resp;
    shop::http_request req;
    shop::diagnostics diag;
    shop::order_status_result status;
    std::size_t turn = first;
    auto const timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000));
    auto trouble = [&](shop::error_code ec) {
        for (auto const& s : q.on_failure()) {
            ctl.finished();
            ctl.record(s.at, s.counted, ec);
        }
        lease.mark_broken();
        lease.release();
    };
    while (!(ctl.stop_now() && q.idle())) {
        if (!lease) {
            auto got = co_await c.pool()->async_acquire(clock_type::now() + timeout, false, asio::as_tuple(asio::use_awaitable));
            if (std::get<0>(got)) {
                ctl.record(clock_type::now(), ctl.recording.load(), std::get<0>(got));
                if (ctl.stop_now()) break;
                continue;
            }
            lease = std::move(std::get<1>(got));
        }
        while (q.can_write() && !ctl.stop_now()) {
            if (!c.limiter()->unlimited()) {
                auto acquired = co_await c.limiter()->async_acquire(shop::request_priority::low,
                                                                   asio::as_tuple(asio::use_awaitable));
                if (std::get<0>(acquired)) {
                    ctl.record(clock_type::now(), ctl.recording.load(), std::get<0>(acquired));
                    break;
                }
            }
            if (auto ec = shop::detail::status_requests::make(c, ids[turn++ % ids.size()], req, diag)) {
                ctl.record(clock_type::now(), ctl.recording.load(), ec);
                break;
            }
            if (auto ec = lease.queue(req)) {
                trouble(ec);
                break;
            }
            ctl.started();
            q.on_written({clock_type::now(), ctl.recording.load(std::memory_order_relaxed)});
        }
        if (!lease) continue;
        if (lease.queued() > 0) {
            auto flushed = co_await lease.async_flush(clock_type::now() + timeout, asio::as_tuple(asio::use_awaitable));
            if (std::get<0>(flushed)) {
                trouble(std::get<0>(flushed));
                continue;
            }
        }
        if (q.idle()) continue;
        auto read = co_await lease.async_read_response(resp, clock_type::now() + timeout, asio::as_tuple(asio::use_awaitable));
        if (std::get<0>(read)) {
            trouble(std::get<0>(read));
            continue;
        }
        auto answered = q.on_response();
        ctl.finished();
        auto const ec = shop::detail::status_requests::read(c, resp, status, diag);
        ctl.record(answered.id.at, answered.id.counted, ec);
    }
    lease.release();
}

/// CPU seconds a thread has used (its own CPU clock, read from another thread).
double thread_cpu_seconds(std::thread& t) {
    clockid_t id;
    if (pthread_getcpuclockid(t.native_handle(), &id) != 0) return 0;
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// Places `n` orders of `plan` (20 per create) and returns their trans_ids.
std::vector<std::string> place_orders(shop::client& c, asio::io_context& io, std::int64_t plan, unsigned n) {
    std::vector<std::string> ids;
    std::string failure;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            while (ids.size() < n) {
                shop::create_order_request req;
                for (std::size_t i = 0; i < 20 && ids.size() + req.items.size() < n; ++i)
                    req.items.push_back({.plan_id = plan, .quantity = 1});
                shop::diagnostics diag;
                auto r = co_await c.create_order(req, diag, asio::as_tuple(asio::use_awaitable));
                if (std::get<0>(r)) {
                    failure = diag.to_string();
                    co_return;
                }
                for (auto& o : std::get<1>(r).orders) ids.push_back(o.trans_id);
            }
        },
        asio::detached);
    io.restart();
    io.run();
    if (!failure.empty()) {
        std::fprintf(stderr, "shop-bench: placing the orders to poll failed: %s\n", failure.c_str());
        std::exit(3);
    }
    return ids;
}

int run(options o) {
    if (o.workload != "status" && o.workload != "create" && o.workload != "mixed") {
        std::fprintf(stderr, "shop-bench: unknown workload '%s' (status, create, mixed)\n", o.workload.c_str());
        return 2;
    }
    if (o.pipeline_depth > 1 && o.workload != "status") {
        std::fprintf(stderr, "shop-bench: --pipeline-depth applies to the status workload only\n");
        return 2;
    }
    if (o.concurrency == 0) o.concurrency = o.pipeline_depth > 1 ? o.connections * o.pipeline_depth : o.connections;
    if (o.pipeline_depth > 1) o.concurrency = o.connections * o.pipeline_depth;

    // The in-process simulator, on threads of its own, when no shop is given.
    std::unique_ptr<asio::io_context> server_io;
    std::unique_ptr<shop::testing::simulator> sim;
    std::vector<std::thread> server_threads;
    if (o.base_url.empty()) {
        shop::testing::simulator_options so;
        so.rate_limit_override = 1'000'000'000;
        so.daily_limit_override = 1'000'000'000;
        so.faults = o.faults;
        so.latency = std::chrono::milliseconds(o.latency_ms);
        server_io = std::make_unique<asio::io_context>();
        try {
            sim = std::make_unique<shop::testing::simulator>(server_io->get_executor(), so);
        } catch (std::exception const& e) {
            std::fprintf(stderr, "shop-bench: the simulator did not start: %s\n", e.what());
            return 2;
        }
        // Enough money for any run (plan 900 costs 10,000 VND an order).
        sim->state().set_balance(shop::testing::demo_api_key, shop::money::from_vnd(1'000'000'000'000));
        for (unsigned i = 0; i < std::max(1u, o.server_threads); ++i)
            server_threads.emplace_back([&] { server_io->run(); });
        o.base_url = sim->base_url();
        if (o.api_key.empty()) o.api_key = std::string(shop::testing::demo_api_key);
        if (o.api_secret.empty()) o.api_secret = std::string(shop::testing::demo_api_secret);
    }
    auto stop_server = [&] {
        if (sim) sim->stop();
        for (auto& t : server_threads) t.join();
        server_threads.clear();
    };

    shop::client_config cfg;
    cfg.base_url = o.base_url;
    cfg.api_key = o.api_key;
    cfg.api_secret = o.api_secret;
    cfg.pool.max_connections = o.connections;
    cfg.pool.user_agent = "shop-bench/0.1";
    auto const timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000));
    cfg.timeouts.total = timeout;
    cfg.pool.wait_timeout = timeout;
    cfg.retry.max_attempts = 1;  // measure requests, not retries
    if (o.limiter == "on") {
        // By default so high it never waits: what is measured is the limiter's own cost.
        cfg.limiter.requests_per_window = 1'000'000'000;
        cfg.limiter.window = 1s;
        cfg.limiter.safety_margin = 0ms;
        cfg.limiter.daily_limit = 0;
        if (!o.rate_limit.empty()) {
            auto slash = o.rate_limit.find('/');
            cfg.limiter.requests_per_window = static_cast<std::uint32_t>(std::stoul(o.rate_limit.substr(0, slash)));
            cfg.limiter.window = std::chrono::seconds(slash == std::string::npos ? 60 : std::stol(o.rate_limit.substr(slash + 1)));
            cfg.limiter.safety_margin = 1s;
        }
    } else if (o.limiter == "off") {
        cfg.limiter.requests_per_window = 0;
        cfg.limiter.daily_limit = 0;
    } else {
        std::fprintf(stderr, "shop-bench: --limiter is on or off\n");
        stop_server();
        return 2;
    }

    int rc = 0;
    {
        asio::io_context io(static_cast<int>(o.threads));
        std::optional<shop::client> client;
        try {
            client.emplace(io.get_executor(), cfg);
        } catch (shop::error const& e) {
            std::fprintf(stderr, "shop-bench: %s\n", e.diag().to_string().c_str());
            stop_server();
            return 2;
        }
        auto& c = *client;

        std::vector<std::string> ids = o.trans_ids;
        if (o.workload != "create" && ids.empty()) ids = place_orders(c, io, o.plan, std::max(1u, o.place));

        run_control ctl;
        ctl.count_limit = o.count;
        unsigned const workers = o.pipeline_depth > 1 ? o.connections : o.concurrency;
        unsigned const threads = std::max(1u, o.threads);
        std::vector<thread_stats> stats(threads + 1);  // the client threads', then this one's
        local_stats = &stats.back();
        auto const rss_before = bench::rss_bytes();
        shop::create_order_request create;
        create.items.push_back({.plan_id = o.plan, .quantity = 1});
        std::vector<callback_worker> by_callbacks;
        if (o.pipeline_depth == 1 && o.driver == "callbacks") {
            by_callbacks.reserve(workers);  // their addresses are in the handlers
            for (unsigned i = 0; i < workers; ++i) by_callbacks.push_back({&c, &o, &ctl, &ids, &create, i});
            for (auto& w : by_callbacks) asio::post(io, [&w] { w.next(); });
        } else {
            for (unsigned i = 0; i < workers; ++i)
                asio::co_spawn(io,
                               o.pipeline_depth > 1 ? pipelined(c, o, ctl, ids, i * 7) : one_at_a_time(c, o, ctl, ids, i),
                               asio::detached);
        }
        io.restart();
        // The threads stay until the end even when every worker is done (at --count): their
        // CPU clocks are read after the window.
        auto keep_running = asio::make_work_guard(io);
        std::vector<std::thread> client_threads;
        for (unsigned i = 0; i < threads; ++i)
            client_threads.emplace_back([&, i] {
                local_stats = &stats[i];
                io.run();
            });
        auto cpu_of_clients = [&] {
            double s = 0;
            for (auto& t : client_threads) s += thread_cpu_seconds(t);
            return s;
        };

        std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
        double const cpu0 = cpu_of_clients();
        auto const t0 = clock_type::now();
        ctl.recording = true;
        // With --count alone the run ends at the count (within an hour); with --duration
        // (or neither) at the time; with both at whichever comes first.
        double const time_bound = o.count && !o.duration_given ? 3600.0 : o.duration;
        bench::progress_line progress(o.progress && time_bound > 3);
        double last_shown = 0;
        for (;;) {
            std::this_thread::sleep_for(10ms);
            double const elapsed = std::chrono::duration<double>(clock_type::now() - t0).count();
            if (ctl.count_reached || elapsed >= time_bound) break;
            if (elapsed - last_shown >= 1.0) {
                last_shown = elapsed;
                progress.update(elapsed, time_bound, ctl.completed.load(), ctl.errors.load());
            }
        }
        ctl.recording = false;
        auto const t1 = clock_type::now();
        double const cpu1 = cpu_of_clients();
        progress.done();
        ctl.stopping = true;
        // What is still in flight is cut off: cancel the pool's connections so it ends now.
        auto const left = ctl.in_flight.load();
        c.pool()->close();
        keep_running.reset();
        for (auto& t : client_threads) t.join();

        bench::report r;
        r.client = "shop-bench";
        r.workload = o.workload;
        r.url = o.base_url;
        r.connections = o.connections;
        r.concurrency = o.concurrency;
        r.pipeline_depth = o.pipeline_depth;
        r.threads = o.threads;
        r.limiter = o.limiter == "on";
        r.driver = o.pipeline_depth > 1 ? "coroutines" : o.driver;
        r.seconds = std::chrono::duration<double>(t1 - t0).count();
        r.cpu = cpu1 - cpu0;
        r.peak_rss = bench::peak_rss_bytes();
        r.rss_before = rss_before;
        r.max_in_flight = static_cast<std::uint64_t>(ctl.max_in_flight.load());
        r.cancelled = static_cast<std::uint64_t>(std::max<std::int64_t>(left, 0));
        for (auto& w : stats) {
            r.requests += w.requests;
            for (auto const& [what, n] : w.errors) r.errors[what] += n;
            r.latency += w.latency;
        }
        bench::print_text(o.json ? stderr : stdout, r);
        if (o.json) std::printf("%s\n", bench::to_json(r).c_str());
        if (r.requests == 0) rc = 1;
    }
    stop_server();
    return rc;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"shop-bench: throughput, latency, CPU and memory of shop::client"};
    app.add_option("workload", o.workload, "status, create or mixed")->default_val("status");
    app.add_option("--base-url", o.base_url, "the shop's API base URL (default: an in-process simulator)")
        ->envname("SHOP_BASE_URL");
    app.add_option("--api-key", o.api_key, "API key (default with the simulator: its demo key)")->envname("SHOP_API_KEY");
    app.add_option("--api-secret", o.api_secret, "API secret")->envname("SHOP_API_SECRET");
    app.add_option("--trans-id", o.trans_ids, "poll this order (repeatable) instead of placing orders first");
    app.add_option("--connections", o.connections, "pooled connections")->default_val(64)->check(CLI::Range(1u, 100000u));
    app.add_option("--concurrency", o.concurrency, "operations in flight (default: --connections)")
        ->check(CLI::Range(0u, 10000000u));
    app.add_option("--pipeline-depth", o.pipeline_depth, "status requests pipelined per connection")
        ->default_val(1)
        ->check(CLI::Range(1u, 1024u));
    auto* duration = app.add_option("--duration", o.duration, "seconds measured")->default_val(10)->check(CLI::PositiveNumber);
    app.add_option("--count", o.count, "operations measured (instead of --duration)");
    app.add_option("--threads", o.threads, "client threads")->default_val(1)->check(CLI::Range(1u, 256u));
    app.add_option("--limiter", o.limiter, "the client's rate limiter: on or off")->default_val("off");
    app.add_option("--rate-limit", o.rate_limit, "with --limiter on: N/SECONDS (default: never waits)");
    app.add_option("--warmup", o.warmup, "seconds run before measuring")->default_val(1)->check(CLI::NonNegativeNumber);
    app.add_option("--timeout", o.timeout, "seconds per request (and per pool wait)")->default_val(30)->check(CLI::PositiveNumber);
    app.add_option("--plan", o.plan, "plan ordered by create and mixed")->default_val(900);
    app.add_option("--place", o.place, "orders placed first for status polling")->default_val(16);
    app.add_option("--driver", o.driver, "depth-1 workers: callbacks (completion handlers) or coroutines (use_awaitable)")
        ->default_val("callbacks")
        ->check(CLI::IsMember({"callbacks", "coroutines"}));
    app.add_flag("--json", o.json, "one JSON object on stdout (the text report goes to stderr)");
    app.add_flag("!--no-progress", o.progress, "no progress line on a terminal");
    app.add_option("--server-threads", o.server_threads, "threads of the in-process simulator")->default_val(1);
    app.add_option("--fault", o.faults, "fault rule of the in-process simulator (as shopctl serve --fault)");
    app.add_option("--latency", o.latency_ms, "latency of the in-process simulator's latency faults (ms)");
    CLI11_PARSE(app, argc, argv);
    o.duration_given = duration->count() > 0;
    return run(o);
}
