#include <shop/money.hpp>
#include <shop/error.hpp>

#include <catch2/catch.hpp>

using shop::money;

TEST_CASE("money parses every wire form exactly") {
    CHECK(money::parse("400000.0")->hundredths() == 40000000);
    CHECK(money::parse("45000.00") == money::from_vnd(45000));
    CHECK(money::parse("45000.5")->hundredths() == 4500050);
    CHECK(money::parse("-12.345")->hundredths() == -1235);
    CHECK(money::parse(".5")->hundredths() == 50);
    CHECK_FALSE(money::parse("12a").has_value());
    CHECK_FALSE(money::parse("").has_value());
    CHECK_FALSE(money::parse("-").has_value());
    CHECK(money::from_double(400000.0) == money::from_vnd(400000));
    CHECK(money::from_double(0.1 + 0.2)->hundredths() == 30);
    CHECK_FALSE(money::from_double(1.0 / 0.0).has_value());
}

TEST_CASE("money prints as the deployed server does") {
    CHECK(money::from_vnd(45000).to_php_string() == "45000");
    CHECK(money::parse("45000.5")->to_php_string() == "45000.5");
    CHECK(money::parse("45000.25")->to_php_string() == "45000.25");
    CHECK(money::parse("-3.05")->to_php_string() == "-3.05");
    CHECK(money::from_vnd(45000).to_fixed2() == "45000.00");
    CHECK(money::from_vnd(93537500).to_display() == "93.537.500\xC4\x91");
    CHECK(money::from_vnd(500).to_display() == "500\xC4\x91");
}

TEST_CASE("server error codes round-trip and unknown ones are kept apart") {
    for (auto const& entry : shop::detail::server_codes) {
        CHECK(shop::errc_from_server_code(entry.name) == entry.code);
        CHECK(shop::server_code_name(entry.code) == entry.name);
        CHECK(shop::is_server_error(shop::make_error_code(entry.code)));
    }
    CHECK(shop::errc_from_server_code("SOMETHING_NEW") == shop::errc::unknown_server_error);
    CHECK_FALSE(shop::is_server_error(shop::make_error_code(shop::errc::timeout)));
    shop::error_code ec = shop::errc::outcome_unknown;
    CHECK(ec.category().name() == std::string("shop"));
    CHECK_FALSE(ec.message().empty());
}

TEST_CASE("shop::error carries the code and the diagnostics") {
    shop::diagnostics d{"CART_ERROR", "Hết hàng", "req_1", "orders/create", 400};
    auto ep = std::make_exception_ptr(shop::error(shop::errc::cart_error, d));
    try {
        std::rethrow_exception(ep);
    } catch (shop::error const& e) {
        CHECK(e.code() == shop::errc::cart_error);
        CHECK(e.diag().request_id == "req_1");
        CHECK(std::string(e.what()).find("CART_ERROR (HTTP 400, req_1, orders/create)") != std::string::npos);
    }
    CHECK(std::string(d.to_string()).find("HTTP 400") != std::string::npos);
    shop::error_code journal = shop::errc::journal_failed;
    CHECK(journal.message().find("journal") != std::string::npos);
    CHECK_FALSE(shop::is_server_error(journal));
}
