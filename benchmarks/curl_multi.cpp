// bench_curl: the same requests through libcurl's multi interface (Debian's libcurl), the
// way a C or C++ program without Asio would do it: --connections easy handles kept busy on
// one thread, keep-alive connections reused, each answer collected into a string and only
// its status checked.
//
//   bench_curl --url 'http://127.0.0.1:8080/api/v1/orders/status?trans_id=T' --connections 64 --duration 10 --json
#include "bench_report.hpp"

#include <CLI/CLI.hpp>

#include <curl/curl.h>

#include <cstdio>
#include <string>
#include <vector>

using bench::clock_type;

namespace {

struct options {
    std::string url;
    std::string api_key, api_secret;
    unsigned connections = 64;
    double duration = 10;
    double warmup = 1;
    bool json = false;
};

struct transfer {
    CURL* easy = nullptr;
    std::string body;
    clock_type::time_point started;
    bool counted = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<transfer*>(user)->body.append(data, size * n);
    return size * n;
}

int run(options const& o) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 2;
    CURLM* multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, static_cast<long>(o.connections));
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(o.connections));
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(o.connections));
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, "Accept: application/json");
    std::string key_header, secret_header;
    if (!o.api_key.empty()) {
        key_header = "X-API-Key: " + o.api_key;
        secret_header = "X-API-Secret: " + o.api_secret;
        headers = curl_slist_append(headers, key_header.c_str());
        headers = curl_slist_append(headers, secret_header.c_str());
    }

    std::vector<transfer> transfers(o.connections);
    auto start = [&](transfer& t, bool counted) {
        t.body.clear();
        t.started = clock_type::now();
        t.counted = counted;
        curl_multi_add_handle(multi, t.easy);
    };
    for (auto& t : transfers) {
        t.easy = curl_easy_init();
        curl_easy_setopt(t.easy, CURLOPT_URL, o.url.c_str());
        curl_easy_setopt(t.easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(t.easy, CURLOPT_USERAGENT, "bench_curl");
        curl_easy_setopt(t.easy, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(t.easy, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(t.easy, CURLOPT_PRIVATE, &t);
        curl_easy_setopt(t.easy, CURLOPT_TCP_KEEPALIVE, 0L);
        curl_easy_setopt(t.easy, CURLOPT_NOSIGNAL, 1L);
        t.body.reserve(4096);
    }

    bench::report r;
    r.client = "curl-multi";
    r.workload = "status";
    r.url = o.url;
    r.connections = r.concurrency = o.connections;
    r.max_in_flight = o.connections;
    r.rss_before = bench::rss_bytes();
    for (auto& t : transfers) start(t, false);

    auto const began = clock_type::now();
    auto const window_start = began + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.warmup));
    auto const window_end = window_start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.duration));
    bool recording = false;
    double cpu0 = 0;
    for (;;) {
        auto const now = clock_type::now();
        if (!recording && now >= window_start) {
            recording = true;
            cpu0 = bench::cpu_seconds();
        }
        if (now >= window_end) break;
        int running = 0;
        curl_multi_perform(multi, &running);
        int queued = 0;
        while (CURLMsg* m = curl_multi_info_read(multi, &queued)) {
            if (m->msg != CURLMSG_DONE) continue;
            transfer* t = nullptr;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            CURLcode const result = m->data.result;
            curl_multi_remove_handle(multi, m->easy_handle);
            if (t->counted && recording) {
                if (result == CURLE_OK && status < 300) {
                    ++r.requests;
                    r.latency(std::chrono::duration<double, std::micro>(clock_type::now() - t->started).count());
                } else {
                    ++r.errors[result != CURLE_OK ? curl_easy_strerror(result) : "HTTP " + std::to_string(status)];
                }
            }
            start(*t, recording);
        }
        curl_multi_poll(multi, nullptr, 0, 10, nullptr);
    }
    auto const t1 = clock_type::now();
    r.cpu = bench::cpu_seconds() - cpu0;
    r.seconds = std::chrono::duration<double>(t1 - window_start).count();
    r.peak_rss = bench::peak_rss_bytes();
    for (auto& t : transfers) {
        curl_multi_remove_handle(multi, t.easy);
        curl_easy_cleanup(t.easy);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    bench::print_text(o.json ? stderr : stdout, r);
    if (o.json) std::printf("%s\n", bench::to_json(r).c_str());
    return r.requests ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    options o;
    CLI::App app{"bench_curl: the same GETs through libcurl's multi interface"};
    app.add_option("--url", o.url, "full URL, query included")->required();
    app.add_option("--api-key", o.api_key)->envname("SHOP_API_KEY");
    app.add_option("--api-secret", o.api_secret)->envname("SHOP_API_SECRET");
    app.add_option("--connections", o.connections)->default_val(64)->check(CLI::Range(1u, 100000u));
    app.add_option("--duration", o.duration)->default_val(10)->check(CLI::PositiveNumber);
    app.add_option("--warmup", o.warmup)->default_val(1)->check(CLI::NonNegativeNumber);
    app.add_flag("--json", o.json);
    CLI11_PARSE(app, argc, argv);
    return run(o);
}
