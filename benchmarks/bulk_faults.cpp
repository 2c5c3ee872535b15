// bench_bulk: the bulk acceptance scenario as a measurement. 2,000 orders with distinct
// fields (plan 905) against the in-process simulator in three settings, RUNS times each
// (alternating, a new simulator and seed per run): clean; 0–2 ms latency jitter only; and
// the jitter plus 5% close-after-commit, 5% close-before-read and 2% CHECKOUT_ERROR. For every run: wall time,
// orders/s, creates sent, lost answers adopted, resends, reconciliation passes, outcome
// unknown, duplicates in the simulator's records, and whether the balance adds up. Prints
// the medians and the time ratios (faulty/jitter is what reconciliation costs).
//
//     build/bin/bench_bulk [RUNS=5] [ORDERS=2000] [CONCURRENCY=16]
#include <shop/bulk_placer.hpp>
#include <shop/shop.hpp>
#include <shop/testing/simulator.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

struct run_figures {
    double seconds = 0;
    std::size_t placed = 0, rejected = 0, unknown = 0, creates = 0, adopted = 0, resent = 0, passes = 0;
    std::size_t duplicates = 0, disagree = 0;
    bool balance_ok = false;
};

enum class setting { clean, jitter, faulty };
constexpr const char* setting_name(setting s) { return s == setting::clean ? "clean" : s == setting::jitter ? "jitter" : "faults"; }

run_figures one_run(setting mode, std::uint64_t seed, std::size_t orders, std::size_t concurrency) {
    shop::testing::simulator_options so;
    so.rate_limit_override = 100'000'000;
    so.daily_limit_override = 100'000'000;
    so.fault_seed = seed;
    if (mode == setting::faulty)
        so.faults = {"orders/create:close-after-commit=0.05", "orders/create:close-before-read=0.05",
                     "orders/create:checkout-error=0.02"};
    if (mode != setting::clean) so.latency_jitter = 2ms;
    asio::io_context server_io;
    shop::testing::simulator sim(server_io.get_executor(), so);
    std::vector<std::thread> server_threads;
    for (int i = 0; i < 2; ++i) server_threads.emplace_back([&] { server_io.run(); });

    asio::io_context io;
    shop::client_config cfg;
    cfg.base_url = sim.base_url();
    cfg.api_key = std::string(shop::testing::demo_api_key);
    cfg.api_secret = std::string(shop::testing::demo_api_secret);
    cfg.limiter.requests_per_window = 0;
    cfg.timeouts.total = 10s;
    shop::client client(io.get_executor(), cfg);
    auto const start = *sim.state().balance(shop::testing::demo_api_key);

    std::vector<shop::bulk_item> items;
    for (std::size_t i = 0; i < orders; ++i)
        items.push_back({.plan_id = 905, .fields = {{"tai_khoan", "bench-" + std::to_string(i)}}});
    shop::bulk_placer placer(client, {.concurrency = concurrency, .settle = 20ms, .pass_interval = 50ms});
    shop::bulk_report report;
    shop::error_code failure;
    shop::diagnostics why;
    auto t0 = std::chrono::steady_clock::now();
    placer.async_place(items, {}, why, [&](shop::error_code ec, shop::bulk_report r) {
        failure = ec;
        report = std::move(r);
    });
    io.run_for(10min);
    run_figures f;
    f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
    std::map<std::string, std::vector<std::string>> by_field;  // field → trans_ids
    shop::money charged;
    for (auto const& o : sim.state().orders()) {
        by_field[o.fields_data.empty() ? std::string() : o.fields_data.front().second].push_back(o.trans_id);
        charged += o.charged;
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
    }
    auto balance = *sim.state().balance(shop::testing::demo_api_key);
    f.balance_ok = balance == start - charged && (f.unknown > 0 || balance == start - report.charged_total);
    return f;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    std::size_t runs = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 5;
    std::size_t orders = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 2000;
    std::size_t concurrency = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 16;
    if (runs == 0 || orders == 0 || concurrency == 0) {
        std::fprintf(stderr, "usage: bench_bulk [RUNS] [ORDERS] [CONCURRENCY]\n");
        return 2;
    }
    std::printf("%zu orders, concurrency %zu, %zu runs of each setting (alternating)\n\n", orders, concurrency, runs);
    std::printf("| run | setting | s | orders/s | placed | rejected | unknown | creates | adopted | resent | passes | duplicates | disagree | balance |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::map<setting, std::vector<double>> seconds;
    std::vector<double> faulty_unknown;
    bool all_ok = true;
    for (std::size_t r = 0; r < runs; ++r) {
        for (setting mode : {setting::clean, setting::jitter, setting::faulty}) {
            auto f = one_run(mode, 1000 + r, orders, concurrency);
            seconds[mode].push_back(f.seconds);
            if (mode == setting::faulty) faulty_unknown.push_back(static_cast<double>(f.unknown));
            all_ok = all_ok && f.duplicates == 0 && f.disagree == 0 && f.balance_ok &&
                     f.unknown * 200 <= orders;  // at most 0.5 %
            std::printf("| %zu | %s | %.3f | %.0f | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %zu | %s |\n", r + 1,
                        setting_name(mode), f.seconds, static_cast<double>(f.placed) / f.seconds, f.placed, f.rejected,
                        f.unknown, f.creates, f.adopted, f.resent, f.passes, f.duplicates, f.disagree,
                        f.balance_ok ? "adds up" : "MISMATCH");
            std::fflush(stdout);
        }
    }
    double mc = median(seconds[setting::clean]), mj = median(seconds[setting::jitter]), mf = median(seconds[setting::faulty]);
    auto rate = [&](double s) { return static_cast<double>(orders) / s; };
    std::printf("\nmedians: clean %.3f s (%.0f orders/s), jitter %.3f s (%.0f orders/s), faults %.3f s (%.0f orders/s); "
                "faults/jitter %.2f, faults/clean %.2f; median unknown with faults %.0f\n",
                mc, rate(mc), mj, rate(mj), mf, rate(mf), mf / mj, mf / mc, median(faulty_unknown));
    std::printf("never twice, states agree, balance adds up, unknown <= 0.5%%: %s\n", all_ok ? "yes" : "NO");
    return all_ok ? 0 : 1;
}
