// What a bulk run does with a create that failed, without I/O: the error decides whether
// anything may have been placed, whether every later create would fail the same way, and
// whether a refused batch is split so that its valid items still go.
#pragma once

#include <shop/error.hpp>
#include <shop/models.hpp>
#include <shop/retry.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shop {

/// Conditions that end every further create the same way: no new sends after one of them.
inline bool is_fatal_for_bulk(error_code const& ec) noexcept {
    if (ec.category() != error_category()) return false;
    switch (static_cast<errc>(ec.value())) {
    case errc::insufficient_balance:
    case errc::invalid_api_key:
    case errc::invalid_api_secret:
    case errc::disabled_api_key:
    case errc::expired_api_key:
    case errc::api_disabled:
    case errc::user_banned:
    case errc::ip_not_allowed:
    case errc::permission_denied:
    case errc::daily_limit_exceeded:
    case errc::method_not_allowed:
    case errc::endpoint_not_found:
    case errc::connect_failed:
    case errc::tls_handshake_failed:
    case errc::tls_verification_failed: return true;
    default: return false;
    }
}

namespace detail {

enum class create_action {
    requeue_and_stop, ///< cancelled before anything left: back to waiting, no new sends
    fatal,            ///< refused for the whole account: rejected, no new sends
    retry_later,      ///< refused before acting (limits, no connection slot): back to waiting
    split,            ///< a batch refused because of some of its items: send it in parts
    reject,           ///< the API's verdict on this item (or a bad item, never sent)
    lost,             ///< may have placed the orders: reconcile
};

/// The verdict on a create of `items` items that failed with `ec`.
inline create_action classify_create_failure(error_code const& ec, std::size_t items) noexcept {
    if (ec == errc::cancelled) return create_action::requeue_and_stop;
    if (is_fatal_for_bulk(ec)) return create_action::fatal;
    if (ec == errc::rate_limit_exceeded || ec == errc::rate_limited_locally || ec == errc::pool_exhausted ||
        ec == errc::timeout)
        return create_action::retry_later;
    // An item-level refusal (the deployed server's CART_ERROR names a product or plan, never
    // the item's index) or a body too large: the parts may go.
    bool const item_level = ec == errc::cart_error || ec == errc::product_not_found || ec == errc::out_of_stock ||
                            ec == errc::request_too_large || ec == errc::invalid_argument;
    if (items > 1 && item_level) return create_action::split;
    if (refused_before_acting(ec) || ec == errc::invalid_argument) return create_action::reject;
    return create_action::lost;
}

/// Why a create's answer cannot say which order is whose item, or nothing: it must list one
/// order per item, in the items' order, each of its item's plan and quantity. An answer that
/// does not is settled like a lost one (the orders were paid for, but not known whose).
inline std::string answer_mismatch(create_order_request const& sent, std::vector<created_order> const& orders) {
    if (orders.size() != sent.items.size())
        return "the answer lists " + std::to_string(orders.size()) + " orders for " + std::to_string(sent.items.size()) +
               " items";
    for (std::size_t k = 0; k < orders.size(); ++k) {
        auto const& o = orders[k];
        auto const& item = sent.items[k];
        if (o.plan_id != item.plan_id || o.quantity != item.quantity)
            return "the answer's order " + std::to_string(k + 1) + " is of plan " + std::to_string(o.plan_id) + " x " +
                   std::to_string(o.quantity) + ", its item of plan " + std::to_string(item.plan_id) + " x " +
                   std::to_string(item.quantity);
    }
    return {};
}

/// Parts of a refused batch to send separately: the items the refusal names (a plan as
/// "#<id>", or a product by its name in quotes) apart from the others; without a name that
/// tells them apart, two halves. Positions into the batch; every part non-empty.
/// `product_names[k]`: the product of item k's plan when known (else empty).
inline std::vector<std::vector<std::size_t>> split_refused_batch(std::vector<std::int64_t> const& plan_ids,
                                                                 std::vector<std::string> const& product_names,
                                                                 std::string_view message) {
    std::size_t const n = plan_ids.size();
    std::vector<std::size_t> named, rest;
    for (std::size_t k = 0; k < n; ++k) {
        std::string const plan_tag = "#" + std::to_string(plan_ids[k]);
        auto at = message.find(plan_tag);
        // "#12" must not be found inside "#123".
        bool by_plan = false;
        while (at != std::string_view::npos && !by_plan) {
            auto end = at + plan_tag.size();
            by_plan = end == message.size() || message[end] < '0' || message[end] > '9';
            at = message.find(plan_tag, at + 1);
        }
        bool const by_product = k < product_names.size() && !product_names[k].empty() &&
                                message.find("\"" + product_names[k] + "\"") != std::string_view::npos;
        (by_plan || by_product ? named : rest).push_back(k);
    }
    if (!named.empty() && !rest.empty()) return {named, rest};
    std::vector<std::size_t> first, second;
    for (std::size_t k = 0; k < n; ++k) (k < (n + 1) / 2 ? first : second).push_back(k);
    if (second.empty()) return {first};
    return {first, second};
}

} // namespace detail
} // namespace shop
