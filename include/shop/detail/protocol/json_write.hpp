// The one JSON writer of the project: the simulator's answers, shopctl's --json output and
// <shop/json.hpp> all go through it, so money is written the same way everywhere: as the
// server (PHP) prints a float, exactly from the hundredths, never through a double.
#pragma once

#include <shop/money.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace shop::detail {

/// A minimal, allocation-free (beyond its output string's growth) JSON writer appending to
/// a string. Keys and values are escaped; the caller keeps objects and arrays balanced.
class json_writer {
public:
    explicit json_writer(std::string& out) : s_(out) {}
    json_writer& begin_object() { sep(); s_ += '{'; first_ = true; return *this; }
    json_writer& end_object() { s_ += '}'; first_ = false; return *this; }
    json_writer& begin_array() { sep(); s_ += '['; first_ = true; return *this; }
    json_writer& end_array() { s_ += ']'; first_ = false; return *this; }
    json_writer& key(std::string_view k) {
        sep();
        quote(k);
        s_ += ':';
        first_ = true;
        return *this;
    }
    json_writer& str(std::string_view v) { sep(); quote(v); return *this; }
    json_writer& opt_str(std::optional<std::string> const& v) { return v ? str(*v) : null(); }
    json_writer& num(std::int64_t v) {
        sep();
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        s_.append(buf, r.ptr);
        return *this;
    }
    json_writer& unum(std::uint64_t v) {
        sep();
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        s_.append(buf, r.ptr);
        return *this;
    }
    /// Money as PHP prints a float: 45000, 45000.5, 45000.25, -12.5.
    json_writer& amount(money m) {
        sep();
        auto const h = m.hundredths();
        // Unsigned, so that the most negative count has a magnitude too.
        std::uint64_t mag = h < 0 ? 0 - static_cast<std::uint64_t>(h) : static_cast<std::uint64_t>(h);
        if (h < 0) s_ += '-';
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, mag / 100);
        s_.append(buf, r.ptr);
        if (auto c = mag % 100) {
            s_ += '.';
            s_ += static_cast<char>('0' + c / 10);
            if (c % 10) s_ += static_cast<char>('0' + c % 10);
        }
        return *this;
    }
    json_writer& opt_amount(std::optional<money> const& m) { return m ? amount(*m) : null(); }
    /// Money with two decimals, as a string: "45000.00" (the deployed server's unit_price).
    json_writer& fixed2(money m) { return str(m.to_fixed2()); }
    /// At most four decimals, as PHP prints round($x, 4): 0.0238, 0.0001, 4.5.
    json_writer& fixed4(double v) {
        sep();
        char buf[48];
        auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 4);
        char* end = r.ptr;
        while (end > buf && end[-1] == '0') --end;
        if (end > buf && end[-1] == '.') --end;
        s_.append(buf, end);
        return *this;
    }
    /// Any other double (ratings, rates): the shortest text that reads back as the same
    /// value; not a number (which JSON cannot carry) as null.
    json_writer& dbl(double v) {
        if (!std::isfinite(v)) return null();
        sep();
        char buf[32];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        s_.append(buf, r.ptr);
        return *this;
    }
    json_writer& boolean(bool v) { sep(); s_ += v ? "true" : "false"; return *this; }
    json_writer& null() { sep(); s_ += "null"; return *this; }

private:
    void sep() {
        if (!first_) s_ += ',';
        first_ = false;
    }
    void quote(std::string_view v) {
        s_ += '"';
        std::size_t run = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
            auto c = static_cast<unsigned char>(v[i]);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            s_.append(v.data() + run, i - run);
            run = i + 1;
            switch (c) {
            case '"': s_ += "\\\""; break;
            case '\\': s_ += "\\\\"; break;
            case '\n': s_ += "\\n"; break;
            case '\r': s_ += "\\r"; break;
            case '\t': s_ += "\\t"; break;
            default: {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                s_ += buf;
            }
            }
        }
        s_.append(v.data() + run, v.size() - run);
        s_ += '"';
    }
    std::string& s_;
    bool first_ = true;
};

} // namespace shop::detail
