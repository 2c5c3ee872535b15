// The one reader of --rate-limit, for the client commands and for `serve`.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shopctl {

struct rate_limit_spec {
    /// "off": no limit at all (the client's limiter counts nothing and never waits; the
    /// simulator refuses nothing for the rate).
    bool off = false;
    std::uint32_t requests = 0;
    std::chrono::seconds window{60};
};

/// "off", "N" (per 60 s) or "N/SECONDS", N in 1..4294967295, SECONDS in 1..86400;
/// nothing when malformed or out of range.
inline std::optional<rate_limit_spec> parse_rate_limit(std::string_view text) {
    if (text == "off") return rate_limit_spec{true, 0, std::chrono::seconds(60)};
    auto number = [](std::string_view s, std::uint64_t lo, std::uint64_t hi) -> std::optional<std::uint64_t> {
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
        return v;
    };
    auto const slash = text.find('/');
    auto const n = number(text.substr(0, slash), 1, UINT32_MAX);
    if (!n) return std::nullopt;
    rate_limit_spec spec;
    spec.requests = static_cast<std::uint32_t>(*n);
    if (slash != std::string_view::npos) {
        auto const seconds = number(text.substr(slash + 1), 1, 86400);
        if (!seconds) return std::nullopt;
        spec.window = std::chrono::seconds(*seconds);
    }
    return spec;
}

} // namespace shopctl
