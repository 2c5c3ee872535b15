// Retry policy: transient classification, idempotency, backoff bounds.
#include <shop/retry.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using shop::errc;

TEST_CASE("transient failures are retried, API verdicts are not") {
    shop::retry_options o;
    for (auto e : {errc::timeout, errc::connection_closed, errc::connect_failed, errc::tls_handshake_failed,
                   errc::http_error, errc::bad_response, errc::pool_exhausted, errc::rate_limit_exceeded})
        CHECK(shop::is_transient(shop::make_error_code(e), 0, o));
    for (auto e : {errc::invalid_api_key, errc::cart_error, errc::insufficient_balance, errc::daily_limit_exceeded,
                   errc::tls_verification_failed, errc::outcome_unknown, errc::cancelled, errc::body_too_large,
                   errc::checkout_error, errc::permission_denied, errc::order_not_found})
        CHECK_FALSE(shop::is_transient(shop::make_error_code(e), 400, o));
    CHECK(shop::is_transient(shop::make_error_code(errc::unknown_server_error), 503, o));
    CHECK_FALSE(shop::is_transient(shop::make_error_code(errc::unknown_server_error), 400, o));
    o.retry_rate_limited = false;
    CHECK_FALSE(shop::is_transient(shop::make_error_code(errc::rate_limit_exceeded), 401, o));
    CHECK_FALSE(shop::is_transient(boost::system::errc::make_error_code(boost::system::errc::io_error), 0, o));
}

TEST_CASE("a create is resent only when it provably never left") {
    CHECK(shop::may_resend(true, true));
    CHECK(shop::may_resend(true, false));
    CHECK(shop::may_resend(false, false));
    CHECK_FALSE(shop::may_resend(false, true));
}

TEST_CASE("backoff: full jitter under an exponential cap") {
    shop::retry_options o;
    o.initial_backoff = 100ms;
    o.max_backoff = 1s;
    o.multiplier = 2;
    shop::backoff b(o, 42);
    std::int64_t max_seen[6] = {};
    for (int round = 0; round < 2000; ++round)
        for (std::uint32_t i = 0; i < 6; ++i) {
            auto d = b.next(i);
            auto cap = std::min<std::int64_t>(100 << i, 1000);
            REQUIRE(d.count() >= 0);
            REQUIRE(d.count() <= cap);
            max_seen[i] = std::max(max_seen[i], d.count());
        }
    // The jitter spans the whole range, so the caps are nearly reached.
    CHECK(max_seen[0] >= 90);
    CHECK(max_seen[3] >= 700);
    CHECK(max_seen[5] >= 900);
    o.initial_backoff = 0ms;
    CHECK(shop::backoff(o, 1).next(3) == 0ms);
}

TEST_CASE("refused_before_acting: only verdicts given before anything was done") {
    using shop::errc;
    for (auto e : {errc::invalid_api_key, errc::rate_limit_exceeded, errc::daily_limit_exceeded, errc::cart_error,
                   errc::out_of_stock, errc::insufficient_balance, errc::permission_denied})
        CHECK(shop::refused_before_acting(shop::make_error_code(e)));
    // A failure while charging, an error code nobody knows, a lost answer: may have acted.
    for (auto e : {errc::checkout_error, errc::unknown_server_error, errc::outcome_unknown, errc::bad_response,
                   errc::http_error, errc::timeout})
        CHECK_FALSE(shop::refused_before_acting(shop::make_error_code(e)));
    CHECK_FALSE(shop::refused_before_acting(boost::system::error_code(1, boost::system::generic_category())));
}
