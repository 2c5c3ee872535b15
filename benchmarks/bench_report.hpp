// What every client benchmark of this directory reports, measured the same way: requests and
// errors counted per error, latency in a log-scale Boost.Histogram (percentiles to within
// 1%), CPU seconds from getrusage over the measured window, and peak RSS. One JSON object per
// run, so that benchmarks/run.sh compares shop-bench, the plain Beast loop and the libcurl
// client line by line.
#pragma once

#include <boost/histogram.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace bench {

using clock_type = std::chrono::steady_clock;

/// Latency in microseconds: 2,000 log-spaced bins from 1 µs to 100 s (each ~0.9% wide),
/// plus under- and overflow.
inline auto make_latency_histogram() {
    using namespace boost::histogram;
    return make_histogram(axis::regular<double, axis::transform::log>(2000, 1.0, 1e8));
}
using latency_histogram = decltype(make_latency_histogram());

/// The value below which `q` (0..1) of the recorded latencies lie, interpolated in its bin.
inline double percentile(latency_histogram const& h, double q) {
    double total = 0;
    for (auto&& x : boost::histogram::indexed(h, boost::histogram::coverage::all)) total += *x;
    if (total == 0) return 0;
    double const target = q * total;
    double seen = 0;
    for (auto&& x : boost::histogram::indexed(h, boost::histogram::coverage::all)) {
        double const n = *x;
        if (n > 0 && seen + n >= target) {
            double const lo = x.bin().lower(), hi = x.bin().upper();
            if (!(lo > 0)) return hi;          // underflow bin: below 1 µs
            if (!(hi < 1e300)) return lo;      // overflow bin: above 100 s
            double const frac = (target - seen) / n;
            return lo * std::pow(hi / lo, frac);
        }
        seen += n;
    }
    return 0;
}

/// CPU seconds (user + system) of this process so far.
inline double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// Peak resident set of this process (bytes).
inline std::uint64_t peak_rss_bytes() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<std::uint64_t>(u.ru_maxrss) * 1024;
}

/// Resident set of this process now (bytes).
inline std::uint64_t rss_bytes() {
    std::ifstream in("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    in >> size >> resident;
    return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

/// One run's figures.
struct report {
    std::string client;    ///< "shop-bench", "beast-loop", "curl-multi"
    std::string workload;  ///< "status", "create", "mixed"
    std::string url;
    unsigned connections = 0, concurrency = 0, pipeline_depth = 1, threads = 1;
    bool limiter = false;
    std::string driver;       ///< shop-bench: how its workers call the client ("callbacks", "coroutines")
    double seconds = 0;       ///< the measured window
    std::uint64_t requests = 0;  ///< completed successfully in the window
    std::map<std::string, std::uint64_t> errors;  ///< by error, in the window
    std::uint64_t cancelled = 0;  ///< still in flight when the window closed
    double cpu = 0;               ///< CPU seconds in the window
    std::uint64_t peak_rss = 0;
    std::uint64_t rss_before = 0;  ///< resident set before the first request
    std::uint64_t max_in_flight = 0;
    latency_histogram latency = make_latency_histogram();

    std::uint64_t error_count() const {
        std::uint64_t n = 0;
        for (auto const& [what, count] : errors) n += count;
        return n;
    }
    double requests_per_second() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
    double cpu_per_1000() const { return requests ? cpu * 1000.0 / static_cast<double>(requests) : 0; }
};

inline std::string json_escape(std::string const& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

inline std::string to_json(report const& r) {
    auto num = [](double v) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.6g", v);
        return std::string(buf);
    };
    std::string errors = "{";
    for (auto const& [what, count] : r.errors) {
        if (errors.size() > 1) errors += ',';
        errors += "\"" + json_escape(what) + "\":" + std::to_string(count);
    }
    errors += "}";
    std::string s = "{";
    s += "\"client\":\"" + json_escape(r.client) + "\"";
    s += ",\"workload\":\"" + json_escape(r.workload) + "\"";
    s += ",\"url\":\"" + json_escape(r.url) + "\"";
    s += ",\"connections\":" + std::to_string(r.connections);
    s += ",\"concurrency\":" + std::to_string(r.concurrency);
    s += ",\"pipeline_depth\":" + std::to_string(r.pipeline_depth);
    s += ",\"threads\":" + std::to_string(r.threads);
    s += std::string(",\"limiter\":") + (r.limiter ? "true" : "false");
    if (!r.driver.empty()) s += ",\"driver\":\"" + json_escape(r.driver) + "\"";
    s += ",\"seconds\":" + num(r.seconds);
    s += ",\"requests\":" + std::to_string(r.requests);
    s += ",\"requests_per_second\":" + num(r.requests_per_second());
    s += ",\"latency_us\":{\"p50\":" + num(percentile(r.latency, 0.50)) + ",\"p90\":" +
         num(percentile(r.latency, 0.90)) + ",\"p99\":" + num(percentile(r.latency, 0.99)) +
         ",\"p999\":" + num(percentile(r.latency, 0.999)) + "}";
    s += ",\"cpu_seconds\":" + num(r.cpu);
    s += ",\"cpu_seconds_per_1000\":" + num(r.cpu_per_1000());
    s += ",\"errors\":" + std::to_string(r.error_count());
    s += ",\"errors_by_code\":" + errors;
    s += ",\"cancelled\":" + std::to_string(r.cancelled);
    s += ",\"max_in_flight\":" + std::to_string(r.max_in_flight);
    s += ",\"peak_rss_bytes\":" + std::to_string(r.peak_rss);
    s += ",\"rss_before_bytes\":" + std::to_string(r.rss_before);
    if (r.max_in_flight > 0 && r.peak_rss > r.rss_before)
        s += ",\"bytes_per_in_flight\":" +
             num(static_cast<double>(r.peak_rss - r.rss_before) / static_cast<double>(r.max_in_flight));
    s += "}";
    return s;
}

inline void print_text(std::FILE* out, report const& r) {
    std::fprintf(out, "%s %s against %s: %u connections, %u in flight, depth %u, %u thread(s), limiter %s%s%s\n",
                 r.client.c_str(), r.workload.c_str(), r.url.c_str(), r.connections, r.concurrency, r.pipeline_depth,
                 r.threads, r.limiter ? "on" : "off", r.driver.empty() ? "" : ", driven by ", r.driver.c_str());
    std::fprintf(out, "  %llu requests in %.2f s: %.0f requests/s\n", static_cast<unsigned long long>(r.requests),
                 r.seconds, r.requests_per_second());
    std::fprintf(out, "  latency p50 %.0f us, p90 %.0f us, p99 %.0f us, p99.9 %.0f us\n", percentile(r.latency, 0.5),
                 percentile(r.latency, 0.9), percentile(r.latency, 0.99), percentile(r.latency, 0.999));
    std::fprintf(out, "  CPU %.2f s: %.4f s per 1,000 requests\n", r.cpu, r.cpu_per_1000());
    std::fprintf(out, "  peak RSS %.1f MiB (%.1f MiB before the first request), at most %llu in flight",
                 static_cast<double>(r.peak_rss) / 1048576.0, static_cast<double>(r.rss_before) / 1048576.0,
                 static_cast<unsigned long long>(r.max_in_flight));
    if (r.max_in_flight > 0 && r.peak_rss > r.rss_before)
        std::fprintf(out, ": %.0f bytes per operation in flight",
                     static_cast<double>(r.peak_rss - r.rss_before) / static_cast<double>(r.max_in_flight));
    std::fprintf(out, "\n  errors %llu", static_cast<unsigned long long>(r.error_count()));
    for (auto const& [what, count] : r.errors)
        std::fprintf(out, "; %s: %llu", what.c_str(), static_cast<unsigned long long>(count));
    if (r.cancelled) std::fprintf(out, "; still in flight at the end (cancelled): %llu", static_cast<unsigned long long>(r.cancelled));
    std::fprintf(out, "\n");
}

/// A one-line progress report on a terminal, once a second.
class progress_line {
public:
    explicit progress_line(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
    void update(double elapsed, double total, std::uint64_t requests, std::uint64_t errors) {
        if (!enabled_) return;
        double const rate = elapsed > last_elapsed_ ? static_cast<double>(requests - last_requests_) / (elapsed - last_elapsed_) : 0;
        std::fprintf(stderr, "\r  %5.1f / %.0f s  %10llu requests  %8.0f req/s  %llu errors   ", elapsed, total,
                     static_cast<unsigned long long>(requests), rate, static_cast<unsigned long long>(errors));
        std::fflush(stderr);
        last_elapsed_ = elapsed;
        last_requests_ = requests;
        shown_ = true;
    }
    void done() {
        if (shown_) std::fprintf(stderr, "\r%78s\r", "");
    }

private:
    bool enabled_;
    bool shown_ = false;
    double last_elapsed_ = 0;
    std::uint64_t last_requests_ = 0;
};

} // namespace bench
