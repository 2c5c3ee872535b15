// The typed models written back as JSON with the API's own field names (for tools that
// print results, logs and journals). Money is written as the server prints it.
#pragma once

#include <shop/models.hpp>

#include <boost/json/value.hpp>

namespace shop {

namespace detail {
inline boost::json::value money_json(money m) {
    if (m.is_integral()) return m.vnd();
    return m.to_double();
}
inline boost::json::value opt_json(const std::optional<std::string>& s) {
    return s ? boost::json::value(*s) : boost::json::value(nullptr);
}
inline boost::json::value fields_json(const field_list& f) {
    if (f.empty()) return boost::json::array{}; // as the server sends an empty fields_data
    boost::json::object o;
    for (auto const& [k, v] : f) o[k] = v;
    return o;
}
inline boost::json::object pagination_json(const pagination& p) {
    return {{"current_page", p.current_page}, {"per_page", p.per_page}, {"total", p.total},
            {"total_pages", p.total_pages}, {"has_more", p.has_more}};
}
inline boost::json::object user_json(const user_info& u) {
    boost::json::object o{{"id", u.id}, {"username", u.username}, {"email", u.email}};
    if (!u.phone.empty()) o["phone"] = u.phone;
    return o;
}
} // namespace detail

inline boost::json::value to_json(const created_order& c) {
    return {{"order_id", c.order_id},     {"trans_id", c.trans_id},
            {"product_id", c.product_id}, {"product_name", c.product_name},
            {"plan_id", c.plan_id},       {"plan_name", c.plan_name},
            {"quantity", c.quantity},     {"unit_price", c.unit_price.to_fixed2()},
            {"total", detail::money_json(c.total)}, {"discount", detail::money_json(c.discount)},
            {"final_amount", detail::money_json(c.final_amount)}, {"status", c.status.raw}};
}

inline boost::json::value to_json(const create_order_result& r) {
    boost::json::array orders;
    for (auto const& o : r.orders) orders.push_back(to_json(o));
    boost::json::object out{
        {"orders", std::move(orders)},
        {"summary",
         {{"orders_count", r.summary.orders_count},
          {"original_total", detail::money_json(r.summary.original_total)},
          {"discount_amount", detail::money_json(r.summary.discount_amount)},
          {"coupon_code", r.summary.coupon_code},
          {"total_amount", detail::money_json(r.summary.total_amount)},
          {"new_balance", detail::money_json(r.summary.new_balance)}}}};
    if (!r.warnings.empty()) {
        boost::json::array w;
        for (auto const& x : r.warnings) w.push_back({{"code", x.code}, {"message", x.message}});
        out["warnings"] = std::move(w);
    }
    return out;
}

inline boost::json::value to_json(const order_info& o) {
    boost::json::object j{{"id", o.id}, {"trans_id", o.trans_id}, {"user_id", o.user_id}};
    j["product"] = o.product ? boost::json::value{{"id", o.product->id}, {"name", o.product->name},
                                                  {"slug", o.product->slug}, {"image", o.product->image}}
                             : boost::json::value(nullptr);
    if (o.plan) {
        boost::json::object p{{"id", o.plan->id}, {"name", o.plan->name}};
        if (o.plan->is_instant) p["is_instant"] = *o.plan->is_instant;
        j["plan"] = std::move(p);
    } else {
        j["plan"] = nullptr;
    }
    j["quantity"] = o.quantity;
    j["total_price"] = detail::money_json(o.total_price);
    j["sale_price"] = detail::money_json(o.sale_price);
    j["discount_amount"] = detail::money_json(o.discount_amount);
    j["coupon_code"] = detail::opt_json(o.coupon_code);
    j["final_amount"] = detail::money_json(o.final_amount);
    j["fields_data"] = detail::fields_json(o.fields_data);
    j["status"] = o.status.raw;
    j["payment_status"] = o.payment_status;
    j["order_source"] = o.order_source;
    j["created_at"] = detail::opt_json(o.created_at);
    j["updated_at"] = detail::opt_json(o.updated_at);
    return j;
}

inline boost::json::value to_json(const order_status_result& r) {
    boost::json::array items;
    for (auto const& i : r.delivery.items) items.push_back(boost::json::string(i));
    return {{"order", to_json(r.order)},
            {"delivery",
             {{"items", std::move(items)},
              {"delivered_count", r.delivery.delivered_count},
              {"expected_count", r.delivery.expected_count}}}};
}

inline boost::json::value to_json(const order_list_result& r) {
    boost::json::array orders;
    for (auto const& o : r.orders) orders.push_back(to_json(o));
    return {{"orders", std::move(orders)}, {"pagination", detail::pagination_json(r.page)}};
}

inline boost::json::value to_json(const plan& p) {
    boost::json::array fields;
    for (auto const& f : p.fields)
        fields.push_back({{"key", f.key}, {"label", f.label}, {"type", f.type}, {"required", f.required}});
    return {{"id", p.id},
            {"name", p.name},
            {"price", detail::money_json(p.price)},
            {"sale_price", detail::money_json(p.sale_price)},
            {"final_price", detail::money_json(p.final_price)},
            {"is_instant", p.is_instant},
            {"duration_type", p.duration.type},
            {"duration_value", p.duration.value ? boost::json::value(*p.duration.value) : boost::json::value(nullptr)},
            {"stock_count", p.stock_count},
            {"in_stock", p.in_stock},
            {"description", p.description},
            {"fields", std::move(fields)}};
}

inline boost::json::value to_json(const category_ref& c) {
    return {{"id", c.id}, {"name", c.name}, {"slug", c.slug}, {"image", c.image}};
}

inline boost::json::value to_json(const product& p) {
    boost::json::array cats, plans;
    for (auto const& c : p.categories) cats.push_back(to_json(c));
    for (auto const& pl : p.plans) plans.push_back(to_json(pl));
    return {{"id", p.id},
            {"name", p.name},
            {"slug", p.slug},
            {"image", p.image},
            {"description", p.description},
            {"category", p.category ? to_json(*p.category) : boost::json::value(nullptr)},
            {"categories", std::move(cats)},
            {"min_price", detail::money_json(p.min_price)},
            {"max_price", detail::money_json(p.max_price)},
            {"sold", p.sold},
            {"rating", p.rating},
            {"plans", std::move(plans)}};
}

inline boost::json::value to_json(const product_list_result& r) {
    boost::json::array products;
    for (auto const& p : r.products) products.push_back(to_json(p));
    return {{"products", std::move(products)}, {"pagination", detail::pagination_json(r.page)}};
}

inline boost::json::value to_json(const category& c) {
    boost::json::object j{{"id", c.id},
                          {"name", c.name},
                          {"slug", c.slug},
                          {"description", c.description},
                          {"image", c.image},
                          {"parent_id", c.parent_id},
                          {"sort_order", c.sort_order}};
    if (c.product_count) j["product_count"] = *c.product_count;
    if (!c.children.empty()) {
        boost::json::array kids;
        for (auto const& k : c.children) kids.push_back(to_json(k));
        j["children"] = std::move(kids);
    }
    return j;
}

inline boost::json::value to_json(const category_list_result& r) {
    boost::json::array cats;
    for (auto const& c : r.categories) cats.push_back(to_json(c));
    return {{"categories", std::move(cats)}, {"total", r.total}};
}

inline boost::json::value to_json(const balance_result& r) {
    return {{"user", detail::user_json(r.user)},
            {"balance",
             {{"current", detail::money_json(r.balance.current)},
              {"total_deposited", detail::money_json(r.balance.total_deposited)},
              {"currency", r.balance.currency},
              {"formatted", r.balance.formatted}}}};
}

inline boost::json::value to_json(const account_info_result& r) {
    auto user = detail::user_json(r.user);
    user["balance"] = detail::money_json(r.user.balance);
    user["total_deposited"] = detail::money_json(r.user.total_deposited);
    user["created_at"] = detail::opt_json(r.user.created_at);
    boost::json::array perms;
    for (auto const& p : r.api_key.permissions) perms.push_back(boost::json::string(p));
    boost::json::object summary;
    for (auto const& [k, v] : r.orders_summary) summary[k] = v;
    return {{"user", std::move(user)},
            {"api_key",
             {{"name", r.api_key.name},
              {"permissions", std::move(perms)},
              {"rate_limit", r.api_key.rate_limit},
              {"daily_limit", r.api_key.daily_limit},
              {"expires_at", detail::opt_json(r.api_key.expires_at)},
              {"created_at", detail::opt_json(r.api_key.created_at)}}},
            {"orders_summary", std::move(summary)},
            {"api_usage_today",
             {{"period", r.usage_today.period},
              {"start_time", r.usage_today.start_time},
              {"total_requests", r.usage_today.total_requests},
              {"success_requests", r.usage_today.success_requests},
              {"failed_requests", r.usage_today.failed_requests},
              {"success_rate", r.usage_today.success_rate}}}};
}

} // namespace shop
