// shopctl's own argument readers on any text: --rate-limit (client commands and serve),
// --field KEY=VALUE with "{i}" substitution, and serve's --fault and --latency specs. Each
// accepts or refuses; what it accepts is within the documented ranges.
#include "../../tools/shopctl/item_args.hpp"
#include "../../tools/shopctl/rate_limit.hpp"

#include <shop/testing/faults.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string const text(reinterpret_cast<char const*>(data), size);
    // Arguments are separated by NUL, as in argv.
    std::vector<std::string> args;
    for (std::size_t at = 0;;) {
        auto nul = text.find('\0', at);
        args.push_back(text.substr(at, nul == std::string::npos ? std::string::npos : nul - at));
        if (nul == std::string::npos) break;
        at = nul + 1;
    }
    for (auto const& a : args) {
        if (auto spec = shopctl::parse_rate_limit(a)) {
            if (!spec->off && (spec->requests < 1 || spec->window.count() < 1 || spec->window.count() > 86400))
                __builtin_trap();
        }
        try {
            auto [latency, jitter] = shop::testing::parse_latency(a);
            if (latency.count() < 0 || jitter.count() < 0 || latency.count() > 600000) __builtin_trap();
        } catch (std::invalid_argument const&) {
        }
        try {
            auto rule = shop::testing::fault_plan::parse(a);
            if (!(rule.probability >= 0 && rule.probability <= 1)) __builtin_trap();
        } catch (std::invalid_argument const&) {
        }
    }
    shop::field_list fields;
    std::string bad;
    if (shopctl::parse_fields(args, fields, bad)) {
        if (fields.size() != args.size()) __builtin_trap();
        for (auto const& [k, v] : fields) {
            if (k.empty()) __builtin_trap();
            // Every "{i}" is replaced, and digits cannot form a new one.
            if (shopctl::substitute_index(v, size).find("{i}") != std::string::npos) __builtin_trap();
        }
    } else if (std::find(args.begin(), args.end(), bad) == args.end()) {
        __builtin_trap();  // a refusal names the option it refused
    }
    return 0;
}
