// Lenient readers for the API's JSON: numbers may arrive as integers, floats or numeric
// strings, text may arrive as numbers, and absent or null fields take defaults.
#pragma once

#include <shop/money.hpp>

#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace shop::detail {

inline const boost::json::value* find(const boost::json::object& o, std::string_view key) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) return nullptr;
    return &it->value();
}

inline std::optional<std::int64_t> to_int(const boost::json::value& v) {
    switch (v.kind()) {
    case boost::json::kind::int64: return v.get_int64();
    case boost::json::kind::uint64:
        if (v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
        return static_cast<std::int64_t>(v.get_uint64());
    case boost::json::kind::double_: {
        double d = v.get_double();
        if (!std::isfinite(d) || std::fabs(d) > 9.0e18) return std::nullopt;
        return static_cast<std::int64_t>(std::llround(d));
    }
    case boost::json::kind::bool_: return v.get_bool() ? 1 : 0;
    case boost::json::kind::string: {
        std::string_view s = v.get_string();
        std::int64_t out = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        if (ec == std::errc{} && p != s.data()) {
            // "45000.00" is an integer too when its fraction is zero.
            if (p == s.data() + s.size()) return out;
            if (auto m = money::parse(s); m && m->is_integral()) return m->vnd();
        }
        return std::nullopt;
    }
    default: return std::nullopt;
    }
}

inline std::optional<money> to_money(const boost::json::value& v) {
    switch (v.kind()) {
    case boost::json::kind::int64:
        // Beyond this the count of hundredths would overflow.
        if (v.get_int64() > INT64_MAX / 100 || v.get_int64() < INT64_MIN / 100) return std::nullopt;
        return money::from_vnd(v.get_int64());
    case boost::json::kind::uint64:
        if (v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX / 100)) return std::nullopt;
        return money::from_vnd(static_cast<std::int64_t>(v.get_uint64()));
    case boost::json::kind::double_: return money::from_double(v.get_double());
    case boost::json::kind::string: return money::parse(v.get_string());
    default: return std::nullopt;
    }
}

inline std::optional<double> to_double(const boost::json::value& v) {
    switch (v.kind()) {
    case boost::json::kind::int64: return static_cast<double>(v.get_int64());
    case boost::json::kind::uint64: return static_cast<double>(v.get_uint64());
    case boost::json::kind::double_: return v.get_double();
    case boost::json::kind::string: {
        std::string_view s = v.get_string();
        double d = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec == std::errc{} && p == s.data() + s.size()) return d;
        return std::nullopt;
    }
    default: return std::nullopt;
    }
}

inline std::int64_t get_int(const boost::json::object& o, std::string_view key, std::int64_t def = 0) {
    auto* v = find(o, key);
    if (!v) return def;
    return to_int(*v).value_or(def);
}

inline std::optional<std::int64_t> get_opt_int(const boost::json::object& o, std::string_view key) {
    auto* v = find(o, key);
    return v ? to_int(*v) : std::nullopt;
}

/// The first money field of the answer being read whose value is there but is not an
/// amount (out of range, not a number): read_answer reports it as a broken answer instead
/// of reading 0. Keys are the parsers' literals.
inline thread_local std::string_view unreadable_money_field;

/// Absent, null or "" reads as 0; any other value that is not an amount is noted (above).
inline money get_money(const boost::json::object& o, std::string_view key) {
    auto* v = find(o, key);
    if (!v) return {};
    if (auto m = to_money(*v)) return *m;
    if (v->is_string() && v->get_string().find_first_not_of(" \t") == boost::json::string::npos) return {};
    if (unreadable_money_field.empty()) unreadable_money_field = key;
    return {};
}

inline double get_double(const boost::json::object& o, std::string_view key, double def = 0) {
    auto* v = find(o, key);
    if (!v) return def;
    return to_double(*v).value_or(def);
}

inline bool get_bool(const boost::json::object& o, std::string_view key, bool def = false) {
    auto* v = find(o, key);
    if (!v) return def;
    if (v->is_bool()) return v->get_bool();
    if (v->is_string()) {
        std::string_view s = v->get_string();
        return s == "1" || s == "true" || s == "yes";
    }
    if (auto i = to_int(*v)) return *i != 0;
    return def;
}

inline std::string to_text(const boost::json::value& v) {
    switch (v.kind()) {
    case boost::json::kind::string: return std::string(v.get_string());
    case boost::json::kind::int64: return std::to_string(v.get_int64());
    case boost::json::kind::uint64: return std::to_string(v.get_uint64());
    case boost::json::kind::double_: {
        auto m = money::from_double(v.get_double());
        return m ? m->to_php_string() : std::string();
    }
    case boost::json::kind::bool_: return v.get_bool() ? "true" : "false";
    default: return {};
    }
}

inline std::string get_string(const boost::json::object& o, std::string_view key) {
    auto* v = find(o, key);
    return v ? to_text(*v) : std::string();
}

inline std::optional<std::string> get_opt_string(const boost::json::object& o, std::string_view key) {
    auto* v = find(o, key);
    if (!v) return std::nullopt;
    return to_text(*v);
}

inline const boost::json::object* get_object(const boost::json::object& o, std::string_view key) {
    auto* v = find(o, key);
    return v && v->is_object() ? &v->get_object() : nullptr;
}

inline const boost::json::array* get_array(const boost::json::object& o, std::string_view key) {
    auto* v = find(o, key);
    return v && v->is_array() ? &v->get_array() : nullptr;
}

} // namespace shop::detail
