// When to try a request again, and how long to wait first. Three separate decisions, as in
// the better cloud SDKs: is the failure transient, may this request be sent again at all
// (idempotency), and how long to back off (exponential with full jitter).
#pragma once

#include <shop/config.hpp>
#include <shop/error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>

namespace shop {

/// Is this failure worth another try, were the request safe to resend?
/// Transport trouble, timeouts, 5xx and HTML pages from a front end, broken bodies and the
/// server's rate limit are; a verdict of the API (bad plan, no balance, auth) is not.
inline bool is_transient(const error_code& ec, unsigned http_status, const retry_options& opts = {}) {
    if (ec.category() != error_category()) return false;
    switch (static_cast<errc>(ec.value())) {
    case errc::timeout:
    case errc::connection_closed:
    case errc::connect_failed:
    case errc::tls_handshake_failed:
    case errc::http_error:
    case errc::bad_response:
    case errc::pool_exhausted:
        return true;
    case errc::rate_limit_exceeded:
        return opts.retry_rate_limited;
    case errc::unknown_server_error:
        return http_status >= 500;
    default:
        return false;
    }
}

/// API verdicts given before anything was done (authentication, limits, validation of the
/// cart, the balance check): a create refused with one of them placed nothing. Any other
/// answer to a create (CHECKOUT_ERROR, an unknown error code) may have acted.
inline bool refused_before_acting(const error_code& ec) noexcept {
    if (ec.category() != error_category()) return false;
    switch (static_cast<errc>(ec.value())) {
    case errc::invalid_api_key:
    case errc::invalid_api_secret:
    case errc::disabled_api_key:
    case errc::expired_api_key:
    case errc::api_disabled:
    case errc::user_banned:
    case errc::ip_not_allowed:
    case errc::rate_limit_exceeded:
    case errc::daily_limit_exceeded:
    case errc::permission_denied:
    case errc::method_not_allowed:
    case errc::invalid_json:
    case errc::items_required:
    case errc::cart_error:
    case errc::product_not_found:
    case errc::out_of_stock:
    case errc::insufficient_balance:
    case errc::params_required:
    case errc::order_not_found:
    case errc::endpoint_not_found:
    case errc::request_too_large:
        return true;
    default:
        return false;
    }
}

/// May the request be sent again? Reads (GET) always; a create only when it provably never
/// left: nothing of it was written (connect or TLS failure), so no server can have seen it.
inline bool may_resend(bool idempotent, bool maybe_sent) { return idempotent || !maybe_sent; }

/// Exponential backoff with full jitter: uniform in [0, min(max, initial * multiplier^n)],
/// where n counts the retries before this one (0 for the first retry). Its generator is
/// splitmix64 (8 bytes of state, not mt19937_64's 2.5 KB): a backoff lives in the frame of
/// every request in flight, and jitter needs spread, not cryptographic quality.
class backoff {
public:
    explicit backoff(const retry_options& opts, std::uint64_t seed = std::random_device{}())
        : initial_(opts.initial_backoff), max_(opts.max_backoff), multiplier_(opts.multiplier), state_(seed) {}

    std::chrono::milliseconds next(std::uint32_t retry_index) {
        double cap = static_cast<double>(initial_.count()) *
                     std::pow(std::max(1.0, multiplier_), static_cast<double>(retry_index));
        cap = std::min(cap, static_cast<double>(max_.count()));
        if (cap <= 0) return std::chrono::milliseconds(0);
        // The modulo's bias is below 2^-40 for any cap a backoff can have.
        auto const span = static_cast<std::uint64_t>(cap) + 1;
        return std::chrono::milliseconds(static_cast<std::int64_t>(draw() % span));
    }

private:
    std::uint64_t draw() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    std::chrono::milliseconds initial_, max_;
    double multiplier_;
    std::uint64_t state_;
};

} // namespace shop
