// bench_bulk: the bulk acceptance scenario as a measurement. 2,000 orders with distinct
// fields (plan 905) against the in-process simulator in three settings, RUNS times each
// (alternating, a new simulator and seed per run): clean; 0–2 ms latency jitter only; and
// the jitter plus 5% close-after-commit, 5% close-before-read and 2% CHECKOUT_ERROR. For every run: wall time,
// orders/s, creates sent, lost answers adopted, resends, reconciliation passes, outcome
// unknown, duplicates in the simulator's records, and whether the balance adds up. Prints
// the medians and the time ratios (faulty/jitter is what reconciliation costs).
//
// `beside`: the same account used by another spender during the run. ORDERS (500) orders of
// plan 905 with distinct fields, 16 in flight, settle 2 s, 8% close-after-commit and 4%
// close-before-read on creates, while a second client (its own thread and connections)
// places FOREIGN (200) orders, 10 ms apart: of plan 900 in one setting, of plan 905 with
// other fields in the other. Lost items are proven unplaced by the listing or the balance;
// the table counts which.
//
// Both send one item per create (batch 1), so that every fault costs one item.
//
// `limit`: bulk at the rate limit, before and after batching. The simulator refuses beyond
// LIMIT (300) requests per 60 s and the client's limiter keeps to the same; 5%
// close-after-commit and 5% close-before-read on creates; ORDERS (1,000) orders with
// distinct fields, 4 creates in flight, settle 2 s; one item per create, then twenty. Adds
// the requests the shop received (all endpoints), per placed order, and its refusals.
//
//     build/bin/bench_bulk [RUNS=5] [ORDERS=2000] [CONCURRENCY=16]
//     build/bin/bench_bulk beside [RUNS=3] [ORDERS=500] [FOREIGN=200]
//     build/bin/bench_bulk limit [RUNS=1] [ORDERS=1000] [LIMIT=300]
#include <shop/bulk_placer.hpp>
#include <shop/shop.hpp>
#include <shop/testing/simulator.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct run_figures {
    double seconds = 0;
    std::size_t placed = 0, rejected = 0, unknown = 0, creates = 0, adopted = 0, resent = 0, passes = 0;
    std::size_t duplicates = 0, disagree = 0;
    std::size_t by_listing = 0, by_balance = 0, by_both = 0;  // what proved the resent items unplaced
    std::size_t foreign = 0;                                   // the other spender's orders on the server
    std::size_t requests = 0, refused = 0;                     // received by the shop; refused for the rate limit
    bool balance_ok = false;
};

struct scenario {
    std::string name;
    std::vector<std::string> faults;
    bool jitter = false;
    std::size_t orders = 2000, concurrency = 16;
    std::chrono::milliseconds settle = 20ms, pass_interval = 50ms;
    std::size_t foreign = 0;          // orders the other spender places during the run
    std::int64_t foreign_plan = 900;  // 905: the run's plan, with other fields
    std::size_t batch = 1;            // items per create
    std::uint32_t limit = 0;          // requests per 60 s, shop and client (0: none)
};

shop::client_config config_for(std::string const& base_url, std::uint32_t limit = 0) {
    shop::client_config cfg;
    cfg.base_url = base_url;
    cfg.api_key = std::string(shop::testing::demo_api_key);
    cfg.api_secret = std::string(shop::testing::demo_api_secret);
    cfg.limiter.requests_per_window = limit;
    // At the limit a create may wait most of a window for its slot.
    cfg.timeouts.total = limit ? 120s : 10s;
    return cfg;
}

// The other spender: `n` creates, 10 ms apart, on its own thread and client, from the start
// of the run; their answers do not matter (lost or not, the orders are its business).
void spend_beside(std::string const& base_url, scenario const& sc, std::atomic<bool> const& stop) {
    asio::io_context io;
    shop::client other(io.get_executor(), config_for(base_url));
    asio::steady_timer pause(io);
    std::size_t sent = 0;
    std::function<void()> next = [&] {
        if (sent == sc.foreign || stop.load()) return;
        shop::create_order_request req;
        shop::field_list fields;
        if (sc.foreign_plan == 905) fields = {{"tai_khoan", "foreign-" + std::to_string(sent)}};
        req.items.push_back({sc.foreign_plan, 1, std::move(fields)});
        ++sent;
        other.create_order(req, [&](shop::error_code, shop::create_order_result) {
            pause.expires_after(10ms);
            pause.async_wait([&](shop::error_code) { next(); });
        });
    };
    next();
    io.run();
}

run_figures one_run(scenario const& sc, std::uint64_t seed) {
    shop::testing::simulator_options so;
    so.rate_limit_override = sc.limit ? sc.limit : 100'000'000;
    so.daily_limit_override = 100'000'000;
    so.fault_seed = seed;
    so.faults = sc.faults;
    if (sc.jitter) so.latency_jitter = 2ms;
    asio::io_context server_io;
    shop::testing::simulator sim(server_io.get_executor(), so);
    std::vector<std::thread> server_threads;
    for (int i = 0; i < 2; ++i) server_threads.emplace_back([&] { server_io.run(); });

    asio::io_context io;
    shop::client client(io.get_executor(), config_for(sim.base_url(), sc.limit));
    auto const start = *sim.state().balance(shop::testing::demo_api_key);

    std::vector<shop::bulk_item> items;
    std::set<std::string> ours;
    for (std::size_t i = 0; i < sc.orders; ++i) {
        items.push_back({.plan_id = 905, .fields = {{"tai_khoan", "bench-" + std::to_string(i)}}});
        ours.insert(items.back().fields.front().second);
    }
    shop::bulk_placer placer(
        client, {.concurrency = sc.concurrency, .batch = sc.batch, .settle = sc.settle, .pass_interval = sc.pass_interval});
    shop::bulk_report report;
    shop::error_code failure;
    shop::diagnostics why;
    std::atomic<bool> stop_spending{false};
    std::thread spender;
    auto t0 = std::chrono::steady_clock::now();
    if (sc.foreign) spender = std::thread([&] { spend_beside(sim.base_url(), sc, stop_spending); });
    placer.async_place(items, {}, why, [&](shop::error_code ec, shop::bulk_report r) {
        failure = ec;
        report = std::move(r);
    });
    io.run_for(60min);
    run_figures f;
    f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop_spending = true;
    if (spender.joinable()) spender.join();
    sim.stop();
    for (auto& t : server_threads) t.join();
    if (failure) {
        std::fprintf(stderr, "run failed: %s: %s\n", failure.message().c_str(), why.to_string().c_str());
        std::exit(1);
    }

    f.placed = report.placed;
    f.rejected = report.rejected;
    f.unknown = report.unknown;
    f.creates = report.creates_sent;
    f.adopted = report.adopted;
    f.resent = report.resent;
    f.passes = report.reconcile_passes;
    std::map<std::string, std::vector<std::string>> by_field;  // field → trans_ids (this run's items)
    shop::money charged, foreign_charged;
    for (auto const& o : sim.state().orders()) {
        charged += o.charged;
        std::string field = o.fields_data.empty() ? std::string() : o.fields_data.front().second;
        if (!ours.count(field)) {
            ++f.foreign;
            foreign_charged += o.charged;
            continue;
        }
        by_field[field].push_back(o.trans_id);
    }
    for (auto const& [k, ids] : by_field)
        if (ids.size() > 1) ++f.duplicates;
    for (std::size_t i = 0; i < items.size(); ++i) {
        auto const& r = report.items[i];
        auto it = by_field.find(items[i].fields.front().second);
        bool const exists = it != by_field.end();
        if (r.outcome == shop::bulk_outcome::placed ? (!exists || it->second.front() != r.trans_id)
                                                    : (r.outcome != shop::bulk_outcome::unknown && exists))
            ++f.disagree;
        f.by_listing += r.proof == shop::absence_proof::listing;
        f.by_balance += r.proof == shop::absence_proof::balance;
        f.by_both += r.proof == shop::absence_proof::both;
    }
    auto const stats = sim.state().stats();
    for (auto n : stats.requests) f.requests += n;
    f.refused = stats.rate_limited;
    auto balance = *sim.state().balance(shop::testing::demo_api_key);
    f.balance_ok = balance == start - charged &&
                   (f.unknown > 0 || balance == start - report.charged_total - foreign_charged);
    return f;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

std::size_t arg(int argc, char** argv, int i, std::size_t def) {
    return argc > i ? std::strtoul(argv[i], nullptr, 10) : def;
}

// Runs every scenario RUNS times, alternating; prints a row per run and the medians. True
// when every run kept the rules: never twice, states agree, balance adds up, unknown <= 0.5%.
bool run_all(std::vector<scenario> const& scenarios, std::size_t runs, bool with_proofs, bool with_requests = false) {
    std::printf("| run | setting | s | orders/s | placed | rejected | unknown | creates | adopted | resent |%s%s passes | "
                "duplicates | disagree | balance |\n",
                with_proofs ? " foreign orders | proof listing / balance / both |" : "",
                with_requests ? " requests | per order | refused |" : "");
    std::printf("|---|---|---|---|---|---|---|---|---|---|%s%s---|---|---|---|\n", with_proofs ? "---|---|" : "",
                with_requests ? "---|---|---|" : "");
    std::map<std::string, std::vector<double>> seconds, unknown;
    bool all_ok = true;
    for (std::size_t r = 0; r < runs; ++r) {
        for (auto const& sc : scenarios) {
            auto f = one_run(sc, 1000 + r);
            seconds[sc.name].push_back(f.seconds);
            unknown[sc.name].push_back(static_cast<double>(f.unknown));
            all_ok = all_ok && f.duplicates == 0 && f.disagree == 0 && f.balance_ok && f.unknown * 200 <= sc.orders;
            std::string proofs;
            if (with_proofs)
                proofs = " " + std::to_string(f.foreign) + " | " + std::to_string(f.by_listing) + " / " +
                         std::to_string(f.by_balance) + " / " + std::to_string(f.by_both) + " |";
            if (with_requests) {
                char buf[96];
                std::snprintf(buf, sizeof buf, " %zu | %.3f | %zu |", f.requests,
                              static_cast<double>(f.requests) / static_cast<double>(std::max<std::size_t>(1, f.placed)), f.refused);
                proofs += buf;
                all_ok = all_ok && f.refused == 0;
            }
            std::printf("| %zu | %s | %.3f | %.0f | %zu | %zu | %zu | %zu | %zu | %zu |%s %zu | %zu | %zu | %s |\n", r + 1,
                        sc.name.c_str(), f.seconds, static_cast<double>(f.placed) / f.seconds, f.placed, f.rejected,
                        f.unknown, f.creates, f.adopted, f.resent, proofs.c_str(), f.passes, f.duplicates, f.disagree,
                        f.balance_ok ? "adds up" : "MISMATCH");
            std::fflush(stdout);
        }
    }
    std::printf("\nmedians:");
    for (auto const& sc : scenarios)
        std::printf(" %s %.3f s (%.0f orders/s, unknown %.0f);", sc.name.c_str(), median(seconds[sc.name]),
                    static_cast<double>(sc.orders) / median(seconds[sc.name]), median(unknown[sc.name]));
    std::printf("\n");
    if (!with_proofs && scenarios.size() == 3) {
        double mc = median(seconds["clean"]), mj = median(seconds["jitter"]), mf = median(seconds["faults"]);
        std::printf("faults/jitter %.2f, faults/clean %.2f\n", mf / mj, mf / mc);
    }
    std::printf("never twice, states agree, balance adds up, unknown <= 0.5%%%s: %s\n",
                with_requests ? ", no request refused" : "", all_ok ? "yes" : "NO");
    return all_ok;
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "beside") {
        std::size_t runs = arg(argc, argv, 2, 3), orders = arg(argc, argv, 3, 500), foreign = arg(argc, argv, 4, 200);
        if (runs == 0 || orders == 0) {
            std::fprintf(stderr, "usage: bench_bulk beside [RUNS] [ORDERS] [FOREIGN]\n");
            return 2;
        }
        scenario base{.faults = {"orders/create:close-after-commit=0.08", "orders/create:close-before-read=0.04"},
                      .orders = orders, .settle = 2s, .pass_interval = 1s, .foreign = foreign};
        auto other_plan = base, same_plan = base;
        other_plan.name = "beside, plan 900";
        same_plan.name = "beside, plan 905";
        same_plan.foreign_plan = 905;
        std::printf("%zu orders (16 in flight, settle 2 s) beside %zu orders of another spender, %zu runs of each "
                    "setting (alternating)\n\n", orders, foreign, runs);
        return run_all({other_plan, same_plan}, runs, true) ? 0 : 1;
    }
    if (argc > 1 && std::string_view(argv[1]) == "limit") {
        std::size_t runs = arg(argc, argv, 2, 1), orders = arg(argc, argv, 3, 1000), limit = arg(argc, argv, 4, 300);
        if (runs == 0 || orders == 0 || limit == 0) {
            std::fprintf(stderr, "usage: bench_bulk limit [RUNS] [ORDERS] [LIMIT]\n");
            return 2;
        }
        scenario single{.name = "batch 1",
                        .faults = {"orders/create:close-after-commit=0.05", "orders/create:close-before-read=0.05"},
                        .orders = orders, .concurrency = 4, .settle = 2s, .pass_interval = 1s,
                        .limit = static_cast<std::uint32_t>(limit)};
        auto batched = single;
        batched.name = "batch 20";
        batched.batch = 20;
        std::printf("%zu orders at %zu requests per 60 s (4 creates in flight, settle 2 s, 5%% close-after-commit, "
                    "5%% close-before-read), %zu runs of each setting (alternating)\n\n", orders, limit, runs);
        return run_all({single, batched}, runs, false, true) ? 0 : 1;
    }
    std::size_t runs = arg(argc, argv, 1, 5), orders = arg(argc, argv, 2, 2000), concurrency = arg(argc, argv, 3, 16);
    if (runs == 0 || orders == 0 || concurrency == 0) {
        std::fprintf(stderr, "usage: bench_bulk [RUNS] [ORDERS] [CONCURRENCY] | bench_bulk beside [RUNS] [ORDERS] [FOREIGN]\n");
        return 2;
    }
    std::printf("%zu orders, concurrency %zu, %zu runs of each setting (alternating)\n\n", orders, concurrency, runs);
    scenario clean{.name = "clean", .orders = orders, .concurrency = concurrency};
    scenario jitter = clean, faulty = clean;
    jitter.name = "jitter";
    jitter.jitter = true;
    faulty.name = "faults";
    faulty.jitter = true;
    faulty.faults = {"orders/create:close-after-commit=0.05", "orders/create:close-before-read=0.05",
                     "orders/create:checkout-error=0.02"};
    return run_all({clean, jitter, faulty}, runs, false) ? 0 : 1;
}
