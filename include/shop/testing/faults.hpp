// Fault injection plan: which faults fire on which requests (by probability with a seeded
// generator, or on every Nth request), per endpoint or for all, and how often each fired.
//
// The faults (applied by server.hpp; the Shop API endpoints only, never /_sim/):
//   latency             wait `latency` + uniform [0, jitter] before processing the request.
//   close-before-read   close the connection once the request header is read: nothing is
//                       processed, no answer.
//   close-after-commit  process the request (a create commits and pays) and close without
//                       answering: the double-order trap.
//   reset-mid-response  write about half of the response, then reset the connection (RST).
//   slow-drip           send the response in ~20-byte pieces every 50 ms (at most 40 pieces,
//                       so a large body gets larger pieces: ~2 s in all).
//   checkout-error      orders/create answers HTTP 500 CHECKOUT_ERROR after validating,
//                       committing nothing; other endpoints are unaffected.
//   malformed-json      process normally, but the body is a PHP warning followed by the JSON
//                       cut by its last byte (the HTTP framing stays correct).
//   truncated-body      process normally, send the headers and half the body, then close
//                       (FIN): the chunked body never ends.
//   html-502            answer an HTML 502 page as a CDN front end does; nothing processed.
//   no-pipelining       if another request is already waiting when this one is to be
//                       answered, close the connection: neither is processed nor answered.
#pragma once

#include <shop/testing/endpoints.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shop::testing {

enum class fault_kind : std::uint8_t {
    latency,
    close_before_read,
    close_after_commit,
    reset_mid_response,
    slow_drip,
    checkout_error,
    malformed_json,
    truncated_body,
    html_502,
    no_pipelining,
};
inline constexpr std::size_t fault_kind_count = 10;

constexpr std::string_view fault_name(fault_kind k) noexcept {
    constexpr std::array<std::string_view, fault_kind_count> names{
        "latency",        "close-before-read", "close-after-commit", "reset-mid-response", "slow-drip",
        "checkout-error", "malformed-json",    "truncated-body",     "html-502",           "no-pipelining"};
    return names[static_cast<std::size_t>(k)];
}

constexpr std::optional<fault_kind> fault_from_name(std::string_view name) noexcept {
    for (std::size_t i = 0; i < fault_kind_count; ++i)
        if (fault_name(static_cast<fault_kind>(i)) == name) return static_cast<fault_kind>(i);
    return std::nullopt;
}

/// One rule: fire `kind` on matching requests with `probability`, or on every `every`th
/// matching request (the Nth, 2Nth, …) when `every` is non-zero.
struct fault_rule {
    fault_kind kind = fault_kind::latency;
    std::optional<endpoint> only;          ///< nullopt = every Shop API endpoint
    double probability = 1.0;
    std::uint64_t every = 0;
    std::chrono::milliseconds latency{0};  ///< latency rules: fixed part
    std::chrono::milliseconds jitter{0};   ///< latency rules: uniform extra in [0, jitter]

    /// The spec form: "orders/create:close-after-commit=0.05", "html-502=every:3".
    std::string to_string() const {
        std::string s;
        if (only) s += std::string(endpoint_name(*only)) + ":";
        s += fault_name(kind);
        s += '=';
        if (every) s += "every:" + std::to_string(every);
        else {
            char buf[32];
            auto r = std::to_chars(buf, buf + sizeof buf, probability);
            s.append(buf, r.ptr);
        }
        return s;
    }
};

/// The faults chosen for one request.
struct fault_decision {
    std::uint32_t bits = 0;
    std::chrono::milliseconds delay{0}; ///< total latency to add
    bool has(fault_kind k) const noexcept { return bits & (1u << static_cast<unsigned>(k)); }
    void set(fault_kind k) noexcept { bits |= 1u << static_cast<unsigned>(k); }
    explicit operator bool() const noexcept { return bits != 0; }
};

/// Parses "MS" or "MS:JITTER_MS".
inline std::pair<std::chrono::milliseconds, std::chrono::milliseconds> parse_latency(std::string_view s) {
    auto num = [&](std::string_view t) {
        long long v = -1;
        auto r = std::from_chars(t.data(), t.data() + t.size(), v);
        if (t.empty() || r.ec != std::errc{} || r.ptr != t.data() + t.size() || v < 0 || v > 600'000)
            throw std::invalid_argument("latency must be MS or MS:JITTER_MS (0..600000), got '" + std::string(s) + "'");
        return std::chrono::milliseconds(v);
    };
    auto colon = s.find(':');
    if (colon == std::string_view::npos) return {num(s), std::chrono::milliseconds(0)};
    return {num(s.substr(0, colon)), num(s.substr(colon + 1))};
}

class fault_plan {
public:
    explicit fault_plan(std::uint64_t seed = 1) : rng_(seed) {}
    fault_plan(fault_plan const&) = delete;
    fault_plan& operator=(fault_plan const&) = delete;

    /// Parses "[ENDPOINT:]NAME[=PROB|=every:N]" ("NAME" alone means probability 1).
    /// Latency rules take `latency`/`jitter`. Throws std::invalid_argument.
    static fault_rule parse(std::string_view spec, std::chrono::milliseconds latency = std::chrono::milliseconds(0),
                            std::chrono::milliseconds jitter = std::chrono::milliseconds(0)) {
        auto bad = [&](std::string_view why) {
            return std::invalid_argument("fault '" + std::string(spec) + "': " + std::string(why));
        };
        fault_rule r;
        auto eq = spec.find('=');
        std::string_view lhs = spec.substr(0, eq);
        std::string_view rhs = eq == std::string_view::npos ? std::string_view{} : spec.substr(eq + 1);
        auto colon = lhs.rfind(':');
        if (colon != std::string_view::npos) {
            auto ep = endpoint_from_name(lhs.substr(0, colon));
            if (!ep) throw bad("unknown endpoint (orders/create, orders/status, orders/list, products/list, "
                               "categories/list, account/balance, account/info)");
            r.only = *ep;
            lhs = lhs.substr(colon + 1);
        }
        auto kind = fault_from_name(lhs);
        if (!kind) throw bad("unknown fault (latency, close-before-read, close-after-commit, reset-mid-response, "
                             "slow-drip, checkout-error, malformed-json, truncated-body, html-502, no-pipelining)");
        r.kind = *kind;
        if (eq == std::string_view::npos) {
            r.probability = 1.0;
        } else if (rhs.starts_with("every:")) {
            auto n = rhs.substr(6);
            unsigned long long v = 0;
            auto res = std::from_chars(n.data(), n.data() + n.size(), v);
            if (n.empty() || res.ec != std::errc{} || res.ptr != n.data() + n.size() || v == 0)
                throw bad("every:N needs a positive integer N");
            r.every = v;
        } else {
            double p = -1;
            auto res = std::from_chars(rhs.data(), rhs.data() + rhs.size(), p);
            if (rhs.empty() || res.ec != std::errc{} || res.ptr != rhs.data() + rhs.size() || !(p >= 0 && p <= 1))
                throw bad("probability must be a number in [0, 1] or every:N");
            r.probability = p;
        }
        r.latency = latency;
        r.jitter = jitter;
        return r;
    }

    void add(fault_rule r) {
        std::lock_guard lk(mu_);
        rules_.push_back({r, 0});
        active_.store(true, std::memory_order_release);
    }
    /// Adds a rule in spec form; latency rules get the plan's default latency.
    void add(std::string_view spec) {
        auto [l, j] = latency();
        add(parse(spec, l, j));
    }
    /// Removes every rule (counters are kept).
    void clear() {
        std::lock_guard lk(mu_);
        rules_.clear();
        active_.store(false, std::memory_order_release);
    }
    /// Restarts the generator: the same seed and the same request sequence give the same faults.
    void reseed(std::uint64_t seed) {
        std::lock_guard lk(mu_);
        rng_.seed(seed);
        for (auto& r : rules_) r.seen = 0;
    }
    /// Default latency for latency rules added by spec (`--latency MS[:JITTER]`).
    void set_latency(std::chrono::milliseconds fixed, std::chrono::milliseconds jitter) {
        std::lock_guard lk(mu_);
        latency_ = fixed;
        jitter_ = jitter;
    }
    std::pair<std::chrono::milliseconds, std::chrono::milliseconds> latency() const {
        std::lock_guard lk(mu_);
        return {latency_, jitter_};
    }
    std::vector<fault_rule> rules() const {
        std::lock_guard lk(mu_);
        std::vector<fault_rule> v;
        for (auto const& r : rules_) v.push_back(r.rule);
        return v;
    }

    /// Rolls every rule that applies to `e`, in the order they were added.
    fault_decision decide(endpoint e) {
        fault_decision d;
        if (!active_.load(std::memory_order_acquire)) return d;
        std::lock_guard lk(mu_);
        for (auto& r : rules_) {
            if (r.rule.only && *r.rule.only != e) continue;
            bool fire;
            if (r.rule.every) fire = ++r.seen % r.rule.every == 0;
            else fire = r.rule.probability >= 1.0 || uniform() < r.rule.probability;
            if (!fire) continue;
            d.set(r.rule.kind);
            if (r.rule.kind == fault_kind::latency) {
                auto j = r.rule.jitter.count() > 0 ? static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(r.rule.jitter.count() + 1)) : 0;
                d.delay += r.rule.latency + std::chrono::milliseconds(j);
            }
        }
        return d;
    }

    /// Counts a fault that was actually applied.
    void record(fault_kind k) noexcept { fired_[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed); }
    std::uint64_t fired(fault_kind k) const noexcept { return fired_[static_cast<std::size_t>(k)].load(std::memory_order_relaxed); }
    std::array<std::uint64_t, fault_kind_count> fired() const noexcept {
        std::array<std::uint64_t, fault_kind_count> a{};
        for (std::size_t i = 0; i < fault_kind_count; ++i) a[i] = fired_[i].load(std::memory_order_relaxed);
        return a;
    }

private:
    struct rule_state {
        fault_rule rule;
        std::uint64_t seen;
    };
    // 53 random bits: the same values on every standard library, unlike the distributions.
    double uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

    mutable std::mutex mu_;
    std::mt19937_64 rng_;
    std::vector<rule_state> rules_;
    std::atomic<bool> active_{false};
    std::chrono::milliseconds latency_{0}, jitter_{0};
    std::array<std::atomic<std::uint64_t>, fault_kind_count> fired_{};
};

} // namespace shop::testing
