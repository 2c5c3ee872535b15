// Any bytes as the body of an answer, read into every typed result the client knows: the
// envelope, the lenient readers, money, the per-thread arena. Must end in a result or an
// error code, never in a crash, a leak or undefined behaviour.
#include <shop/detail/protocol/parse.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

template <class Result>
void read_as(shop::http_response const& response, std::string_view endpoint) {
    Result out;
    shop::diagnostics diag;
    auto ec = shop::detail::read_answer(response, endpoint, out, diag, true);
    // An error always says where it came from.
    if (ec && diag.endpoint.empty() && diag.message.empty() && diag.server_code.empty()) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    static constexpr unsigned statuses[] = {200, 201, 400, 401, 403, 404, 429, 500};
    shop::http_response response;
    response.status = statuses[size % 8];
    response.content_type = size % 3 == 0 ? "text/html" : "application/json; charset=utf-8";
    response.body.assign(reinterpret_cast<char const*>(data), size);
    read_as<shop::order_status_result>(response, "orders/status");
    read_as<shop::create_order_result>(response, "orders/create");
    read_as<shop::order_list_result>(response, "orders/list");
    read_as<shop::product_list_result>(response, "products/list");
    read_as<shop::category_list_result>(response, "categories/list");
    read_as<shop::balance_result>(response, "account/balance");
    read_as<shop::account_info_result>(response, "account/info");
    return 0;
}
