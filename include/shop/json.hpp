// The typed models written back as JSON text with the API's own field names (for tools that
// print results, logs and reports). Money is written as the server prints it (45000,
// 30001.5), exactly, by the writer the simulator answers with (detail/protocol/json_write.hpp).
//
//   std::string text = shop::to_json(result);          // one value
//   shop::json_writer w(out); w.begin_array();          // or composed into a larger document
//   for (auto const& r : results) shop::write_json(w, r);
//   w.end_array();
#pragma once

#include <shop/detail/protocol/json_write.hpp>
#include <shop/models.hpp>

#include <string>

namespace shop {

using json_writer = detail::json_writer;

namespace detail {
inline void write_fields(json_writer& w, const field_list& f) {
    if (f.empty()) {  // as the server sends an empty fields_data
        w.begin_array().end_array();
        return;
    }
    w.begin_object();
    for (auto const& [k, v] : f) w.key(k).str(v);
    w.end_object();
}
inline void write_pagination(json_writer& w, const pagination& p) {
    w.key("pagination").begin_object();
    w.key("current_page").num(p.current_page);
    w.key("per_page").num(p.per_page);
    w.key("total").num(p.total);
    w.key("total_pages").num(p.total_pages);
    w.key("has_more").boolean(p.has_more);
    w.end_object();
}
inline void write_user(json_writer& w, const user_info& u) {
    w.key("id").num(u.id);
    w.key("username").str(u.username);
    w.key("email").str(u.email);
    if (!u.phone.empty()) w.key("phone").str(u.phone);
}
} // namespace detail

inline void write_json(json_writer& w, const created_order& c) {
    w.begin_object();
    w.key("order_id").num(c.order_id);
    w.key("trans_id").str(c.trans_id);
    w.key("product_id").num(c.product_id);
    w.key("product_name").str(c.product_name);
    w.key("plan_id").num(c.plan_id);
    w.key("plan_name").str(c.plan_name);
    w.key("quantity").num(c.quantity);
    w.key("unit_price").fixed2(c.unit_price);
    w.key("total").amount(c.total);
    w.key("discount").amount(c.discount);
    w.key("final_amount").amount(c.final_amount);
    w.key("status").str(c.status.raw);
    w.end_object();
}

inline void write_json(json_writer& w, const create_order_result& r) {
    w.begin_object();
    w.key("orders").begin_array();
    for (auto const& o : r.orders) write_json(w, o);
    w.end_array();
    w.key("summary").begin_object();
    w.key("orders_count").num(r.summary.orders_count);
    w.key("original_total").amount(r.summary.original_total);
    w.key("discount_amount").amount(r.summary.discount_amount);
    w.key("coupon_code").str(r.summary.coupon_code);
    w.key("total_amount").amount(r.summary.total_amount);
    w.key("new_balance").amount(r.summary.new_balance);
    w.end_object();
    if (!r.warnings.empty()) {
        w.key("warnings").begin_array();
        for (auto const& x : r.warnings) w.begin_object().key("code").str(x.code).key("message").str(x.message).end_object();
        w.end_array();
    }
    w.end_object();
}

inline void write_json(json_writer& w, const order_info& o) {
    w.begin_object();
    w.key("id").num(o.id);
    w.key("trans_id").str(o.trans_id);
    w.key("user_id").num(o.user_id);
    w.key("product");
    if (o.product) {
        w.begin_object();
        w.key("id").num(o.product->id);
        w.key("name").str(o.product->name);
        w.key("slug").str(o.product->slug);
        w.key("image").str(o.product->image);
        w.end_object();
    } else {
        w.null();
    }
    w.key("plan");
    if (o.plan) {
        w.begin_object();
        w.key("id").num(o.plan->id);
        w.key("name").str(o.plan->name);
        if (o.plan->is_instant) w.key("is_instant").boolean(*o.plan->is_instant);
        w.end_object();
    } else {
        w.null();
    }
    w.key("quantity").num(o.quantity);
    w.key("total_price").amount(o.total_price);
    w.key("sale_price").amount(o.sale_price);
    w.key("discount_amount").amount(o.discount_amount);
    w.key("coupon_code").opt_str(o.coupon_code);
    w.key("final_amount").amount(o.final_amount);
    w.key("fields_data");
    detail::write_fields(w, o.fields_data);
    w.key("status").str(o.status.raw);
    w.key("payment_status").str(o.payment_status);
    w.key("order_source").str(o.order_source);
    w.key("created_at").opt_str(o.created_at);
    w.key("updated_at").opt_str(o.updated_at);
    w.end_object();
}

inline void write_json(json_writer& w, const order_status_result& r) {
    w.begin_object();
    w.key("order");
    write_json(w, r.order);
    w.key("delivery").begin_object();
    w.key("items").begin_array();
    for (auto const& i : r.delivery.items) w.str(i);
    w.end_array();
    w.key("delivered_count").num(r.delivery.delivered_count);
    w.key("expected_count").num(r.delivery.expected_count);
    w.end_object();
    w.end_object();
}

inline void write_json(json_writer& w, const order_list_result& r) {
    w.begin_object();
    w.key("orders").begin_array();
    for (auto const& o : r.orders) write_json(w, o);
    w.end_array();
    detail::write_pagination(w, r.page);
    w.end_object();
}

inline void write_json(json_writer& w, const plan& p) {
    w.begin_object();
    w.key("id").num(p.id);
    w.key("name").str(p.name);
    w.key("price").amount(p.price);
    w.key("sale_price").amount(p.sale_price);
    w.key("final_price").amount(p.final_price);
    w.key("is_instant").boolean(p.is_instant);
    w.key("duration_type").str(p.duration.type);
    w.key("duration_value");
    if (p.duration.value) w.num(*p.duration.value);
    else w.null();
    w.key("stock_count").num(p.stock_count);
    w.key("in_stock").boolean(p.in_stock);
    w.key("description").str(p.description);
    w.key("fields").begin_array();
    for (auto const& f : p.fields)
        w.begin_object()
            .key("key").str(f.key)
            .key("label").str(f.label)
            .key("type").str(f.type)
            .key("required").boolean(f.required)
            .end_object();
    w.end_array();
    w.end_object();
}

inline void write_json(json_writer& w, const category_ref& c) {
    w.begin_object().key("id").num(c.id).key("name").str(c.name).key("slug").str(c.slug).key("image").str(c.image).end_object();
}

inline void write_json(json_writer& w, const product& p) {
    w.begin_object();
    w.key("id").num(p.id);
    w.key("name").str(p.name);
    w.key("slug").str(p.slug);
    w.key("image").str(p.image);
    w.key("description").str(p.description);
    w.key("category");
    if (p.category) write_json(w, *p.category);
    else w.null();
    w.key("categories").begin_array();
    for (auto const& c : p.categories) write_json(w, c);
    w.end_array();
    w.key("min_price").amount(p.min_price);
    w.key("max_price").amount(p.max_price);
    w.key("sold").num(p.sold);
    w.key("rating").dbl(p.rating);
    w.key("plans").begin_array();
    for (auto const& pl : p.plans) write_json(w, pl);
    w.end_array();
    w.end_object();
}

inline void write_json(json_writer& w, const product_list_result& r) {
    w.begin_object();
    w.key("products").begin_array();
    for (auto const& p : r.products) write_json(w, p);
    w.end_array();
    detail::write_pagination(w, r.page);
    w.end_object();
}

inline void write_json(json_writer& w, const category& c) {
    w.begin_object();
    w.key("id").num(c.id);
    w.key("name").str(c.name);
    w.key("slug").str(c.slug);
    w.key("description").str(c.description);
    w.key("image").str(c.image);
    w.key("parent_id").num(c.parent_id);
    w.key("sort_order").num(c.sort_order);
    if (c.product_count) w.key("product_count").num(*c.product_count);
    if (!c.children.empty()) {
        w.key("children").begin_array();
        for (auto const& k : c.children) write_json(w, k);
        w.end_array();
    }
    w.end_object();
}

inline void write_json(json_writer& w, const category_list_result& r) {
    w.begin_object();
    w.key("categories").begin_array();
    for (auto const& c : r.categories) write_json(w, c);
    w.end_array();
    w.key("total").num(r.total);
    w.end_object();
}

inline void write_json(json_writer& w, const balance_result& r) {
    w.begin_object();
    w.key("user").begin_object();
    detail::write_user(w, r.user);
    w.end_object();
    w.key("balance").begin_object();
    w.key("current").amount(r.balance.current);
    w.key("total_deposited").amount(r.balance.total_deposited);
    w.key("currency").str(r.balance.currency);
    w.key("formatted").str(r.balance.formatted);
    w.end_object();
    w.end_object();
}

inline void write_json(json_writer& w, const account_info_result& r) {
    w.begin_object();
    w.key("user").begin_object();
    detail::write_user(w, r.user);
    w.key("balance").amount(r.user.balance);
    w.key("total_deposited").amount(r.user.total_deposited);
    w.key("created_at").opt_str(r.user.created_at);
    w.end_object();
    w.key("api_key").begin_object();
    w.key("name").str(r.api_key.name);
    w.key("permissions").begin_array();
    for (auto const& p : r.api_key.permissions) w.str(p);
    w.end_array();
    w.key("rate_limit").num(r.api_key.rate_limit);
    w.key("daily_limit").num(r.api_key.daily_limit);
    w.key("expires_at").opt_str(r.api_key.expires_at);
    w.key("created_at").opt_str(r.api_key.created_at);
    w.end_object();
    w.key("orders_summary").begin_object();
    for (auto const& [k, v] : r.orders_summary) w.key(k).num(v);
    w.end_object();
    w.key("api_usage_today").begin_object();
    w.key("period").str(r.usage_today.period);
    w.key("start_time").str(r.usage_today.start_time);
    w.key("total_requests").num(r.usage_today.total_requests);
    w.key("success_requests").num(r.usage_today.success_requests);
    w.key("failed_requests").num(r.usage_today.failed_requests);
    w.key("success_rate").dbl(r.usage_today.success_rate);
    w.end_object();
    w.end_object();
}

/// One value as JSON text.
template <class T>
std::string to_json(const T& value) {
    std::string out;
    json_writer w(out);
    write_json(w, value);
    return out;
}

} // namespace shop
