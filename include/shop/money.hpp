// Money in VND as an exact fixed-point count of hundredths, so that 400000.0, 400000 and
// "400000.00" are the same value and sums never drift.
#pragma once

#include <charconv>
#include <cmath>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shop {

class money {
public:
    constexpr money() noexcept = default;

    static constexpr money from_hundredths(std::int64_t h) noexcept { return money(h); }
    static constexpr money from_vnd(std::int64_t vnd) noexcept { return money(vnd * 100); }
    /// Rounds to the nearest hundredth (half away from zero): the wire carries at most two
    /// decimals, anything finer is float noise.
    static std::optional<money> from_double(double d) noexcept {
        if (!std::isfinite(d) || std::fabs(d) > 9.0e16) return std::nullopt;
        return money(static_cast<std::int64_t>(std::llround(d * 100.0)));
    }
    /// Parses "45000", "45000.5", "45000.00", "-12.345" (rounded), " 7 " (trimmed).
    static std::optional<money> parse(std::string_view s) noexcept {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        bool negative = false;
        if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
            negative = s.front() == '-';
            s.remove_prefix(1);
        }
        if (s.empty()) return std::nullopt;
        auto dot = s.find('.');
        std::string_view whole = s.substr(0, dot);
        std::string_view frac = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
        if (whole.empty() && frac.empty()) return std::nullopt;
        if (whole.size() > 16) return std::nullopt;
        std::int64_t units = 0;
        for (char c : whole) {
            if (c < '0' || c > '9') return std::nullopt;
            units = units * 10 + (c - '0');
        }
        std::int64_t cents = 0;
        int round_up = 0;
        for (std::size_t i = 0; i < frac.size(); ++i) {
            char c = frac[i];
            if (c < '0' || c > '9') return std::nullopt;
            if (i < 2) cents = cents * 10 + (c - '0');
            else if (i == 2) round_up = c >= '5';
        }
        if (frac.size() == 1) cents *= 10;
        std::int64_t h = units * 100 + cents + round_up;
        return money(negative ? -h : h);
    }

    constexpr std::int64_t hundredths() const noexcept { return h_; }
    /// Whole VND, truncated toward zero.
    constexpr std::int64_t vnd() const noexcept { return h_ / 100; }
    constexpr bool is_integral() const noexcept { return h_ % 100 == 0; }
    double to_double() const noexcept { return static_cast<double>(h_) / 100.0; }

    /// As PHP prints a float: "45000" when integral, "45000.5" or "45000.25" otherwise.
    std::string to_php_string() const {
        std::string s = sign() + std::to_string(abs_h() / 100);
        std::int64_t c = abs_h() % 100;
        if (c != 0) {
            s += '.';
            s += static_cast<char>('0' + c / 10);
            if (c % 10) s += static_cast<char>('0' + c % 10);
        }
        return s;
    }
    /// Always two decimals: "45000.00" (the deployed server's unit_price format).
    std::string to_fixed2() const {
        std::int64_t c = abs_h() % 100;
        std::string s = sign() + std::to_string(abs_h() / 100) + '.';
        s += static_cast<char>('0' + c / 10);
        s += static_cast<char>('0' + c % 10);
        return s;
    }
    /// "93.537.500đ" as the shop formats balances (fraction dropped).
    std::string to_display() const {
        std::string digits = std::to_string(abs_h() / 100);
        std::string out;
        int n = static_cast<int>(digits.size());
        for (int i = 0; i < n; ++i) {
            out += digits[i];
            if ((n - i - 1) % 3 == 0 && i != n - 1) out += '.';
        }
        return sign() + out + "\xC4\x91"; // đ
    }

    friend constexpr money operator+(money a, money b) noexcept { return money(a.h_ + b.h_); }
    friend constexpr money operator-(money a, money b) noexcept { return money(a.h_ - b.h_); }
    friend constexpr money operator*(money a, std::int64_t k) noexcept { return money(a.h_ * k); }
    constexpr money& operator+=(money b) noexcept { h_ += b.h_; return *this; }
    constexpr money& operator-=(money b) noexcept { h_ -= b.h_; return *this; }
    friend constexpr auto operator<=>(money, money) noexcept = default;

private:
    constexpr explicit money(std::int64_t h) noexcept : h_(h) {}
    constexpr std::int64_t abs_h() const noexcept { return h_ < 0 ? -h_ : h_; }
    std::string sign() const { return h_ < 0 ? "-" : ""; }
    std::int64_t h_ = 0;
};

} // namespace shop
