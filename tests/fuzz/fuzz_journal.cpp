// Any text as a bulk journal to resume: replay_journal must rebuild a run or name the line
// that is wrong, never crash or size its tables from what a line claims.
#include <shop/detail/bulk/bulk_journal.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    std::string_view const text(reinterpret_cast<char const*>(data), size);
    shop::detail::journal_replay out;
    std::string why;
    auto ec = shop::detail::replay_journal(text, out, why);
    if (ec && why.empty()) __builtin_trap();  // a refusal always says why
    if (!ec && (out.items.size() != out.run.items || out.states.size() != out.run.items)) __builtin_trap();
    return 0;
}
