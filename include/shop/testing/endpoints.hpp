// The simulator's endpoints, their wire names and the permission each one needs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shop::testing {

/// The seven Shop API endpoints, the simulator's admin area and everything else.
enum class endpoint : std::uint8_t {
    orders_create,
    orders_status,
    orders_list,
    products_list,
    categories_list,
    account_balance,
    account_info,
    admin,   ///< /_sim/…
    unknown, ///< any other path (answered ENDPOINT_NOT_FOUND)
};
inline constexpr std::size_t endpoint_count = 9;

/// "orders/create", …, "_sim" for the admin area, "other" for unknown paths.
constexpr std::string_view endpoint_name(endpoint e) noexcept {
    constexpr std::array<std::string_view, endpoint_count> names{
        "orders/create", "orders/status", "orders/list", "products/list", "categories/list",
        "account/balance", "account/info", "_sim", "other"};
    return names[static_cast<std::size_t>(e)];
}

/// The endpoint for a Shop API name ("orders/create" or "/orders/create"); nullopt for
/// anything else (the admin area is never a fault or permission target).
constexpr std::optional<endpoint> endpoint_from_name(std::string_view name) noexcept {
    if (!name.empty() && name.front() == '/') name.remove_prefix(1);
    for (std::size_t i = 0; i < 7; ++i)
        if (endpoint_name(static_cast<endpoint>(i)) == name) return static_cast<endpoint>(i);
    return std::nullopt;
}

/// Permission bits of an API key.
enum permission : std::uint32_t {
    perm_orders_create = 1u << 0,
    perm_orders_status = 1u << 1,
    perm_orders_list = 1u << 2,
    perm_products_list = 1u << 3,
    perm_account_balance = 1u << 4,
    perm_account_info = 1u << 5,
    perm_all = (1u << 6) - 1,
};

/// Wire names of the permissions, in the order the shop lists them.
inline constexpr std::array<std::string_view, 6> permission_names{
    "orders.create", "orders.list", "orders.status", "products.list", "account.balance",
    "account.info"};

constexpr std::uint32_t permission_bit(std::string_view name) noexcept {
    if (name == "orders.create") return perm_orders_create;
    if (name == "orders.status") return perm_orders_status;
    if (name == "orders.list") return perm_orders_list;
    if (name == "products.list") return perm_products_list;
    if (name == "account.balance") return perm_account_balance;
    if (name == "account.info") return perm_account_info;
    return 0;
}

/// The permission an endpoint needs (categories/list shares products.list).
constexpr std::uint32_t permission_of(endpoint e) noexcept {
    switch (e) {
    case endpoint::orders_create: return perm_orders_create;
    case endpoint::orders_status: return perm_orders_status;
    case endpoint::orders_list: return perm_orders_list;
    case endpoint::products_list:
    case endpoint::categories_list: return perm_products_list;
    case endpoint::account_balance: return perm_account_balance;
    case endpoint::account_info: return perm_account_info;
    default: return 0;
    }
}

/// Classifies a request target ("/api/v1/orders/status?trans_id=…"). The Shop API lives
/// under /api/v1/, the admin area under /_sim/.
constexpr endpoint classify_target(std::string_view target) noexcept {
    auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    if (path.starts_with("/_sim/")) return endpoint::admin;
    constexpr std::string_view prefix = "/api/v1/";
    if (!path.starts_with(prefix)) return endpoint::unknown;
    path.remove_prefix(prefix.size());
    if (path.ends_with('/')) path.remove_suffix(1);
    if (auto e = endpoint_from_name(path)) return *e;
    return endpoint::unknown;
}

} // namespace shop::testing
