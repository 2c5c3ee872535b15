// Typed requests and responses of every Shop API v1 endpoint. Parsing is lenient (see
// shop/detail/protocol/parse.hpp).
#pragma once

#include <shop/money.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shop {

/// The envelope around every successful answer.
struct response_meta {
    unsigned http_status = 0;
    std::string message;        ///< server's human text (often Vietnamese); may be empty
    std::int64_t timestamp = 0; ///< server unix time, 0 when absent
    std::string request_id;     ///< "req_…", keep it when reporting problems
    double execution_time = 0;  ///< seconds, as reported in data.execution_time
    /// The answer's JSON text as received, kept only with client_config::keep_raw_json.
    std::string raw_json;
};

/// Order status. Unknown values from the server are kept in `raw` with kind unknown.
struct order_status {
    enum class kind { pending, processing, completed, cancelled, refunded, cancelled_no_refund, unknown };
    kind value = kind::unknown;
    std::string raw;

    static order_status from_string(std::string_view s) {
        order_status st{kind::unknown, std::string(s)};
        if (s == "pending") st.value = kind::pending;
        else if (s == "processing") st.value = kind::processing;
        else if (s == "completed") st.value = kind::completed;
        else if (s == "cancelled") st.value = kind::cancelled;
        else if (s == "refunded") st.value = kind::refunded;
        else if (s == "cancelled_no_refund") st.value = kind::cancelled_no_refund;
        return st;
    }
    /// Completed, cancelled, refunded and cancelled_no_refund never change again.
    bool is_terminal() const noexcept {
        return value == kind::completed || value == kind::cancelled || value == kind::refunded ||
               value == kind::cancelled_no_refund;
    }
    friend bool operator==(const order_status& a, const order_status& b) { return a.raw == b.raw; }
    friend bool operator==(const order_status& a, kind k) { return a.value == k; }
};

/// A plan's validity period. Documented values are lifetime|days|months|years; the examples
/// send "month"; anything else is kept as sent.
struct duration_info {
    std::string type;                  ///< as sent ("month", "days", "lifetime", …)
    std::optional<std::int64_t> value; ///< null for lifetime
};

/// Key/value pairs in request order; the API's `fields`/`fields_data` objects.
using field_list = std::vector<std::pair<std::string, std::string>>;

struct product_ref {
    std::int64_t id = 0;
    std::string name, slug, image;
};

struct plan_ref {
    std::int64_t id = 0;
    std::string name;
    std::optional<bool> is_instant; ///< absent in /orders/list
};

struct category_ref {
    std::int64_t id = 0;
    std::string name, slug, image;
};

// ---------------------------------------------------------------- orders/create

struct order_item {
    std::int64_t plan_id = 0;
    std::int64_t quantity = 1; ///< 1..1000000
    field_list fields;         ///< the plan's required fields, e.g. {"email_dang_nhap", "a@b.c"}
};

struct create_order_request {
    std::vector<order_item> items; ///< 1..20 items; one order is created per item
    std::string coupon_code;       ///< optional; an invalid coupon only yields a warning
};

/// One order of a bulk run (shop::bulk_placer): an item and the coupon to place it with.
struct bulk_item {
    std::int64_t plan_id = 0;
    std::int64_t quantity = 1;
    field_list fields;
    std::string coupon_code; ///< empty = none
    /// The caller's own name for the item (a line of a file, a customer's order number):
    /// never sent; kept in the journal and given back in the item's result, resumed runs too.
    std::string reference;
};

struct created_order {
    std::int64_t order_id = 0;
    std::string trans_id;
    std::int64_t product_id = 0;
    std::string product_name;
    std::int64_t plan_id = 0;
    std::string plan_name;
    std::int64_t quantity = 0;
    money unit_price, total, discount, final_amount;
    order_status status;
};

struct order_summary {
    std::int64_t orders_count = 0;
    money original_total, discount_amount;
    std::string coupon_code;
    /// What was actually charged. Compare balances with this, never with the sum of
    /// final_amount (the deployed server can discount twice).
    money total_amount;
    money new_balance;
};

struct api_warning {
    std::string code; ///< e.g. "COUPON_SKIPPED"
    std::string message;
};

struct create_order_result {
    std::vector<created_order> orders;
    order_summary summary;
    std::vector<api_warning> warnings;
    response_meta meta;
};

// ---------------------------------------------------------------- orders/status, orders/list

struct order_info {
    std::int64_t id = 0;
    std::string trans_id;
    std::int64_t user_id = 0;
    std::optional<product_ref> product; ///< null when the product was deleted
    std::optional<plan_ref> plan;       ///< null when the plan was deleted
    std::int64_t quantity = 0;
    money total_price, sale_price, discount_amount, final_amount;
    std::optional<std::string> coupon_code;
    field_list fields_data; ///< `[]` on the wire when empty
    order_status status;
    std::string payment_status, order_source;
    std::optional<std::string> created_at, updated_at; ///< "YYYY-MM-DD HH:MM:SS", server-local
};

struct delivery_info {
    std::vector<std::string> items; ///< filled once the order is completed
    std::int64_t delivered_count = 0;
    std::int64_t expected_count = 0;
};

struct order_status_result {
    order_info order;
    delivery_info delivery;
    response_meta meta;
};

struct pagination {
    std::int64_t current_page = 0, per_page = 0, total = 0, total_pages = 0;
    bool has_more = false;
};

struct order_list_query {
    std::int64_t page = 1;
    std::int64_t limit = 0; ///< 0 = server default (10 deployed, 20 documented); max 100
    /// Server-side filters. The deployed server answers them with HTTP 500 (see spec), so
    /// list_orders falls back to the unfiltered list and filters on the client.
    std::string status, from_date, to_date; ///< dates "YYYY-MM-DD"
};

struct order_list_result {
    std::vector<order_info> orders;
    pagination page;
    /// True when server-side filters failed and the result was filtered by the client.
    bool filtered_locally = false;
    response_meta meta;
};

// ---------------------------------------------------------------- products, categories

struct plan_field {
    std::string key, label, type; ///< type: text|email|password|…
    bool required = false;
};

struct plan {
    std::int64_t id = 0;
    std::string name;
    money price, sale_price, final_price;
    bool is_instant = false;
    duration_info duration;
    std::int64_t stock_count = 0;
    bool in_stock = false;
    std::string description;
    std::vector<plan_field> fields;
};

struct product {
    std::int64_t id = 0;
    std::string name, slug, image;
    std::string description; ///< HTML
    std::optional<category_ref> category;
    std::vector<category_ref> categories;
    money min_price, max_price;
    std::int64_t sold = 0;
    double rating = 0;
    std::vector<plan> plans;
};

struct product_list_query {
    std::optional<std::int64_t> category_id;
    std::string search;
    std::int64_t page = 1;
    std::int64_t limit = 0; ///< 0 = server default
};

struct product_list_result {
    std::vector<product> products;
    pagination page;
    response_meta meta;
};

struct category {
    std::int64_t id = 0;
    std::string name, slug, description, image;
    std::int64_t parent_id = 0;
    std::int64_t sort_order = 0;
    std::optional<std::int64_t> product_count; ///< with include_products=1
    std::vector<category> children;            ///< with include_children=1
};

struct category_list_query {
    std::optional<std::int64_t> parent_id;
    bool include_children = false;
    bool include_products = false;
};

struct category_list_result {
    std::vector<category> categories;
    std::int64_t total = 0;
    response_meta meta;
};

// ---------------------------------------------------------------- account

struct user_info {
    std::int64_t id = 0;
    std::string username, email, phone;
    money balance, total_deposited; ///< only in /account/info
    std::optional<std::string> created_at;
};

struct balance_info {
    money current, total_deposited;
    std::string currency;  ///< "VND"
    std::string formatted; ///< "93.537.500đ"
};

struct balance_result {
    user_info user;
    balance_info balance;
    response_meta meta;
};

struct api_key_info {
    std::string name;
    std::vector<std::string> permissions;
    std::int64_t rate_limit = 0;  ///< requests per rolling minute
    std::int64_t daily_limit = 0; ///< requests per server day
    std::optional<std::string> expires_at, created_at;
};

struct api_usage {
    std::string period, start_time;
    std::int64_t total_requests = 0, success_requests = 0, failed_requests = 0;
    double success_rate = 0;
};

struct account_info_result {
    user_info user;
    api_key_info api_key;
    /// Counts by status as sent ("total", "pending", "completed", …).
    std::vector<std::pair<std::string, std::int64_t>> orders_summary;
    api_usage usage_today;
    response_meta meta;
};

} // namespace shop
