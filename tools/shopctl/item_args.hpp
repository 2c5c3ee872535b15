// The item options of `order` and `bulk`: --field KEY=VALUE, and "{i}" in a value.
#pragma once

#include <shop/models.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace shopctl {

/// `--field KEY=VALUE` options into fields. False when one has no '=' or an empty key;
/// `bad` is then that option. A value may hold anything, '=' included.
inline bool parse_fields(const std::vector<std::string>& options, shop::field_list& out, std::string& bad) {
    for (auto const& f : options) {
        auto eq = f.find('=');
        if (eq == std::string::npos || eq == 0) {
            bad = f;
            return false;
        }
        out.emplace_back(f.substr(0, eq), f.substr(eq + 1));
    }
    return true;
}

/// "{i}" in a value becomes the item's index.
inline std::string substitute_index(const std::string& value, std::size_t i) {
    std::string out;
    std::size_t pos = 0;
    for (auto at = value.find("{i}"); at != std::string::npos; at = value.find("{i}", pos)) {
        out.append(value, pos, at - pos);
        out += std::to_string(i);
        pos = at + 3;
    }
    out.append(value, pos);
    return out;
}

} // namespace shopctl
