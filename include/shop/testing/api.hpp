// Request → response for the Shop API v1 and the simulator's admin area: routing, the key
// check, envelopes, JSON, modes and quirks. A pure function of the store and the request:
// no sockets, so every answer can be tested directly.
#pragma once

#include <shop/error.hpp>
#include <shop/money.hpp>
#include <shop/detail/protocol/json_write.hpp>
#include <shop/testing/catalog.hpp>
#include <shop/testing/endpoints.hpp>
#include <shop/testing/faults.hpp>
#include <shop/testing/store.hpp>

#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shop::testing {

/// Which variant of the API to speak.
enum class api_mode {
    deployed,   ///< what the deployed server does (default)
    documented, ///< what the documentation says: 429, 403, PRODUCT_NOT_FOUND, OUT_OF_STOCK, 200 on create
};

struct api_options {
    api_mode mode = api_mode::deployed;
    /// The deployed bug: orders/list with a status/from_date/to_date filter answers HTTP
    /// 500 with an empty text/html body.
    bool quirk_list_filter_500 = false;
    /// A broken listing (not a bug of the deployed server, a hostile one): orders/list and
    /// products/list answer every page with page 1's items and say there is one more page.
    bool quirk_list_pages_repeat = false;
    /// Token of the admin area (header X-Sim-Admin); empty = admin area disabled (404).
    std::string admin_token;
};

/// What the API layer needs from an HTTP request. Missing headers are empty views.
struct api_request {
    boost::beast::http::verb method = boost::beast::http::verb::get;
    std::string_view target;      ///< "/api/v1/orders/status?trans_id=…"
    std::string_view body;
    std::string_view api_key;     ///< X-API-Key
    std::string_view api_secret;  ///< X-API-Secret
    std::string_view admin_token; ///< X-Sim-Admin
    std::string_view remote_ip;
    bool fail_checkout = false;   ///< the checkout-error fault: creates fail with CHECKOUT_ERROR
};

struct api_response {
    unsigned status = 200;
    bool html = false;  ///< text/html instead of JSON (the list-filter-500 quirk's empty page)
    std::string body;   ///< reused between requests to avoid allocations
};

namespace detail {

using shop::detail::json_writer;

inline int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// Percent-decodes a query component ('+' is a space, as PHP reads forms).
inline std::string url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+') out += ' ';
        else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else out += c;
    }
    return out;
}

/// The parameters of a query string or form body, first occurrence wins (PHP keeps the
/// last one; no client sends a parameter twice).
class params {
public:
    explicit params(std::string_view query) : q_(query) {}
    std::optional<std::string> get(std::string_view name) const {
        std::string_view q = q_;
        while (!q.empty()) {
            auto amp = q.find('&');
            auto part = q.substr(0, amp);
            q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
            auto eq = part.find('=');
            auto k = part.substr(0, eq);
            if (k != name) continue;
            return url_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
        }
        return std::nullopt;
    }

private:
    std::string_view q_;
};

/// PHP's intval: leading blanks, optional sign, digits; anything else gives 0.
inline std::int64_t intval(std::optional<std::string> const& s, std::int64_t def = 0) {
    if (!s) return def;
    std::string_view v = *s;
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    if (!v.empty() && v.front() == '+') v.remove_prefix(1);
    std::int64_t out = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), out);
    return r.ec == std::errc{} ? out : 0;
}

inline bool contains_icase(std::string_view hay, std::string_view needle) {
    if (needle.empty()) return true;
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                          [&](char a, char b) { return lower(a) == lower(b); });
    return it != hay.end();
}

/// An integer from JSON: integers, integral doubles and numeric strings (PHP casts).
inline std::optional<std::int64_t> json_int(boost::json::value const& v) {
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v.as_uint64());
    if (v.is_double()) {
        double d = v.as_double();
        if (d >= -9.0e18 && d <= 9.0e18 && d == static_cast<double>(static_cast<std::int64_t>(d))) return static_cast<std::int64_t>(d);
        return std::nullopt;
    }
    if (v.is_string()) {
        std::string_view s = v.as_string();
        std::int64_t out = 0;
        auto r = std::from_chars(s.data(), s.data() + s.size(), out);
        if (!s.empty() && r.ec == std::errc{} && r.ptr == s.data() + s.size()) return out;
    }
    return std::nullopt;
}

/// A string as PHP would see it (numbers as their text); nullopt for arrays/objects/null.
inline std::optional<std::string> json_text(boost::json::value const& v) {
    if (v.is_string()) return std::string(v.as_string());
    if (v.is_int64()) return std::to_string(v.as_int64());
    if (v.is_uint64()) return std::to_string(v.as_uint64());
    if (v.is_double()) return boost::json::serialize(v);
    if (v.is_bool()) return v.as_bool() ? "1" : "";
    return std::nullopt;
}

} // namespace detail

class api {
public:
    api(store& s, fault_plan& f, api_options opts = {}) : store_(s), faults_(f), opts_(std::move(opts)) {}

    store& state() noexcept { return store_; }
    fault_plan& faults() noexcept { return faults_; }
    api_options const& options() const noexcept { return opts_; }

    /// Answers one request into `rs` (its body buffer is reused).
    void handle(api_request const& rq, api_response& rs) {
        auto t0 = std::chrono::steady_clock::now();
        rs.body.clear();
        rs.status = 200;
        rs.html = false;
        auto ep = classify_target(rq.target);
        store_.count_request(ep);
        if (ep == endpoint::admin) return handle_admin(rq, rs, t0);
        if (ep == endpoint::unknown) return write_error(rs, errc::endpoint_not_found);

        using boost::beast::http::verb;
        bool method_ok = ep == endpoint::orders_create   ? rq.method == verb::post
                         : ep == endpoint::orders_status ? (rq.method == verb::get || rq.method == verb::post)
                                                         : rq.method == verb::get;
        if (!method_ok) return write_error(rs, errc::method_not_allowed);

        auto who = store_.authenticate(rq.api_key, rq.api_secret, rq.remote_ip);
        if (!who.ok()) {
            write_error(rs, who.error, rq.api_key.empty() && who.error == errc::invalid_api_key
                                           ? "Thi\u1EBFu API Key (header X-API-Key)" : std::string_view{});
            store_.finish_request(who, false);
            return;
        }
        bool check_permission = !(ep == endpoint::account_info && opts_.mode == api_mode::deployed);
        if (check_permission && !(who.permissions & permission_of(ep))) {
            write_error(rs, errc::permission_denied);
            store_.finish_request(who, false);
            return;
        }
        switch (ep) {
        case endpoint::orders_create: orders_create(rq, rs, who, t0); break;
        case endpoint::orders_status: orders_status(rq, rs, who, t0); break;
        case endpoint::orders_list: orders_list(rq, rs, who, t0); break;
        case endpoint::products_list: products_list(rq, rs, t0); break;
        case endpoint::categories_list: categories_list(rq, rs, t0); break;
        case endpoint::account_balance: account_balance(rs, who, t0); break;
        case endpoint::account_info: account_info(rs, who, t0); break;
        default: write_error(rs, errc::endpoint_not_found); break;
        }
        store_.finish_request(who, rs.status < 300);
    }

    /// The HTTP status of an error code in the current mode.
    unsigned status_of(errc e) const noexcept {
        bool doc = opts_.mode == api_mode::documented;
        switch (e) {
        case errc::rate_limit_exceeded:
        case errc::daily_limit_exceeded: return doc ? 429 : 401;
        case errc::ip_not_allowed: return doc ? 403 : 401;
        case errc::invalid_api_key:
        case errc::invalid_api_secret:
        case errc::disabled_api_key:
        case errc::expired_api_key:
        case errc::api_disabled:
        case errc::user_banned: return 401;
        case errc::permission_denied: return 403;
        case errc::method_not_allowed: return 405;
        case errc::product_not_found:
        case errc::order_not_found:
        case errc::endpoint_not_found: return 404;
        case errc::request_too_large: return 413;
        case errc::checkout_error: return 500;
        default: return 400;
        }
    }

    /// The server's Vietnamese message for an error code.
    static std::string_view message_of(errc e) noexcept {
        switch (e) {
        case errc::invalid_api_key: return "API Key kh\u00F4ng h\u1EE3p l\u1EC7";
        case errc::invalid_api_secret: return "API Secret kh\u00F4ng ch\u00EDnh x\u00E1c";
        case errc::disabled_api_key: return "API Key \u0111\u00E3 b\u1ECB v\u00F4 hi\u1EC7u h\u00F3a";
        case errc::expired_api_key: return "API Key \u0111\u00E3 h\u1EBFt h\u1EA1n";
        case errc::api_disabled: return "API \u0111ang t\u1EA1m th\u1EDDi b\u1ECB t\u1EAFt";
        case errc::user_banned: return "T\u00E0i kho\u1EA3n \u0111\u00E3 b\u1ECB kh\u00F3a";
        case errc::ip_not_allowed: return "IP kh\u00F4ng \u0111\u01B0\u1EE3c ph\u00E9p truy c\u1EADp";
        case errc::rate_limit_exceeded: return "V\u01B0\u1EE3t qu\u00E1 gi\u1EDBi h\u1EA1n request, vui l\u00F2ng th\u1EED l\u1EA1i sau";
        case errc::daily_limit_exceeded: return "V\u01B0\u1EE3t qu\u00E1 gi\u1EDBi h\u1EA1n request trong ng\u00E0y";
        case errc::permission_denied: return "Kh\u00F4ng c\u00F3 quy\u1EC1n th\u1EF1c hi\u1EC7n";
        case errc::method_not_allowed: return "Ph\u01B0\u01A1ng th\u1EE9c kh\u00F4ng \u0111\u01B0\u1EE3c h\u1ED7 tr\u1EE3";
        case errc::invalid_json: return "D\u1EEF li\u1EC7u JSON kh\u00F4ng h\u1EE3p l\u1EC7";
        case errc::items_required: return "Vui l\u00F2ng ch\u1ECDn s\u1EA3n ph\u1EA9m";
        case errc::cart_error: return "Gi\u1ECF h\u00E0ng kh\u00F4ng h\u1EE3p l\u1EC7";
        case errc::product_not_found: return "S\u1EA3n ph\u1EA9m kh\u00F4ng t\u1ED3n t\u1EA1i";
        case errc::out_of_stock: return "S\u1EA3n ph\u1EA9m \u0111\u00E3 h\u1EBFt h\u00E0ng";
        case errc::insufficient_balance: return "S\u1ED1 d\u01B0 kh\u00F4ng \u0111\u1EE7 \u0111\u1EC3 thanh to\u00E1n";
        case errc::checkout_error: return "L\u1ED7i thanh to\u00E1n, vui l\u00F2ng th\u1EED l\u1EA1i";
        case errc::params_required: return "Vui l\u00F2ng cung c\u1EA5p trans_id ho\u1EB7c order_id";
        case errc::order_not_found: return "Kh\u00F4ng t\u00ECm th\u1EA5y \u0111\u01A1n h\u00E0ng";
        case errc::endpoint_not_found: return "Endpoint kh\u00F4ng t\u1ED3n t\u1EA1i";
        case errc::request_too_large: return "D\u1EEF li\u1EC7u g\u1EEDi l\u00EAn qu\u00E1 l\u1EDBn";
        default: return "L\u1ED7i kh\u00F4ng x\u00E1c \u0111\u1ECBnh";
        }
    }

    /// Writes the error envelope; an empty message uses message_of(code).
    void write_error(api_response& rs, errc code, std::string_view message = {}) {
        write_error(rs, server_code_name(code), status_of(code), message.empty() ? message_of(code) : message);
    }
    void write_error(api_response& rs, std::string_view code, unsigned status, std::string_view message) {
        rs.body.clear();
        rs.html = false;
        rs.status = status;
        detail::json_writer w(rs.body);
        w.begin_object();
        w.key("success").boolean(false);
        w.key("message").str(message);
        stamp(w);
        w.key("data").begin_object().key("error_code").str(code).end_object();
        w.end_object();
    }

private:
    using clock_point = std::chrono::steady_clock::time_point;

    // --- envelope -------------------------------------------------------------------------
    void stamp(detail::json_writer& w) {
        using namespace std::chrono;
        auto now = store_.now();
        w.key("timestamp").num(floor<seconds>(now.time_since_epoch()).count());
        // Like PHP's uniqid('req_', true): seconds and microseconds in hex, a dot, digits.
        auto us = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
        auto n = request_counter_.fetch_add(1, std::memory_order_relaxed);
        char buf[40];
        int len = std::snprintf(buf, sizeof buf, "req_%08llx%05llx.%08llu",
                                static_cast<unsigned long long>(us / 1000000) & 0xffffffffull,
                                static_cast<unsigned long long>(us % 1000000),
                                static_cast<unsigned long long>((n * 2654435761ull) % 100000000ull));
        w.key("request_id").str(std::string_view(buf, static_cast<std::size_t>(len)));
    }
    void begin_success(api_response& rs, detail::json_writer& w, std::string_view message = {}) {
        rs.body.clear();
        rs.status = 200;
        w.begin_object();
        w.key("success").boolean(true);
        if (!message.empty()) w.key("message").str(message);
        stamp(w);
        w.key("data").begin_object();
    }
    void end_success(detail::json_writer& w, clock_point t0) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        double rounded = std::max(0.0001, static_cast<double>(static_cast<std::int64_t>(secs * 10000 + 0.5)) / 10000);
        w.key("execution_time").fixed4(rounded);
        w.end_object();
        w.end_object();
    }
    void local_time(detail::json_writer& w, sim_clock::time_point tp) {
        char buf[20];
        format_local_time(buf, tp, store_.options().utc_offset);
        w.str(std::string_view(buf, 19));
    }
    void pagination(detail::json_writer& w, std::int64_t page, std::int64_t limit, std::int64_t total) {
        std::int64_t pages = (total + limit - 1) / limit;
        if (opts_.quirk_list_pages_repeat) pages = std::max(pages, page + 1);
        w.key("pagination").begin_object();
        w.key("current_page").num(page);
        w.key("per_page").num(limit);
        w.key("total").num(total);
        w.key("total_pages").num(pages);
        w.key("has_more").boolean(page < pages);
        w.end_object();
    }
    std::string_view query_of(std::string_view target) const {
        auto q = target.find('?');
        return q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    }

    // --- orders/create --------------------------------------------------------------------
    void orders_create(api_request const& rq, api_response& rs, auth_result const& who, clock_point t0) {
        boost::system::error_code ec;
        auto doc = boost::json::parse(rq.body, ec);
        if (ec || !doc.is_object()) return write_error(rs, errc::invalid_json);
        auto const& obj = doc.as_object();
        auto items = obj.if_contains("items");
        if (!items || !items->is_array() || items->as_array().empty()) return write_error(rs, errc::items_required);
        auto const& arr = items->as_array();
        if (arr.size() > 20)
            return write_error(rs, errc::cart_error, "T\u1ED1i \u0111a 20 s\u1EA3n ph\u1EA9m m\u1ED7i \u0111\u01A1n h\u00E0ng");
        std::vector<cart_line> lines;
        lines.reserve(arr.size());
        for (std::size_t i = 0; i < arr.size(); ++i) {
            std::string nth = "s\u1EA3n ph\u1EA9m th\u1EE9 " + std::to_string(i + 1);
            if (!arr[i].is_object()) return write_error(rs, errc::cart_error, "D\u1EEF li\u1EC7u " + nth + " kh\u00F4ng h\u1EE3p l\u1EC7");
            auto const& it = arr[i].as_object();
            cart_line line;
            auto pid = it.if_contains("plan_id");
            auto plan_id = pid ? detail::json_int(*pid) : std::nullopt;
            if (!plan_id) return write_error(rs, errc::cart_error, "Thi\u1EBFu plan_id \u1EDF " + nth);
            line.plan_id = *plan_id;
            if (auto q = it.if_contains("quantity"); q && !q->is_null()) {
                auto qty = detail::json_int(*q);
                if (!qty) return write_error(rs, errc::cart_error, "S\u1ED1 l\u01B0\u1EE3ng kh\u00F4ng h\u1EE3p l\u1EC7 \u1EDF " + nth);
                line.quantity = *qty;
            }
            if (auto f = it.if_contains("fields"); f && f->is_object()) {
                for (auto const& kv : f->as_object())
                    if (auto text = detail::json_text(kv.value())) line.fields.emplace_back(std::string(kv.key()), std::move(*text));
            }
            lines.push_back(std::move(line));
        }
        std::string coupon;
        if (auto c = obj.if_contains("coupon_code"); c && c->is_string()) coupon = std::string(c->as_string());

        auto r = store_.create_order(who, lines, coupon, rq.fail_checkout);
        bool doc_mode = opts_.mode == api_mode::documented;
        switch (r.failure) {
        case create_failure::none: break;
        case create_failure::items_required: return write_error(rs, errc::items_required);
        case create_failure::unknown_plan:
            return doc_mode ? write_error(rs, errc::product_not_found) : write_error(rs, errc::cart_error, r.message);
        case create_failure::out_of_stock:
            return doc_mode ? write_error(rs, errc::out_of_stock) : write_error(rs, errc::cart_error, r.message);
        case create_failure::insufficient_balance: return write_error(rs, errc::insufficient_balance);
        case create_failure::checkout_error: return write_error(rs, errc::checkout_error);
        default: return write_error(rs, errc::cart_error, r.message);
        }
        detail::json_writer w(rs.body);
        begin_success(rs, w, "\u0110\u01A1n h\u00E0ng \u0111\u00E3 \u0111\u01B0\u1EE3c t\u1EA1o th\u00E0nh c\u00F4ng");
        rs.status = doc_mode ? 200 : 201;
        w.key("orders").begin_array();
        for (auto const& o : r.orders) {
            auto product = store_.find_product(o.product_id);
            auto plan = store_.find_plan(o.plan_id);
            w.begin_object();
            w.key("order_id").num(o.id);
            w.key("trans_id").str(o.trans_id);
            w.key("product_id").num(o.product_id);
            w.key("product_name").str(product ? std::string_view(product->name) : std::string_view{});
            w.key("plan_id").num(o.plan_id);
            w.key("plan_name").str(plan ? std::string_view(plan->name) : std::string_view{});
            w.key("quantity").num(o.quantity);
            w.key("unit_price").str(o.unit_price.to_fixed2());
            w.key("total").amount(o.subtotal);
            w.key("discount").amount(o.discount);
            w.key("final_amount").amount(o.final_amount);
            w.key("status").str(status_name(o.status));
            w.end_object();
        }
        w.end_array();
        w.key("summary").begin_object();
        w.key("orders_count").num(static_cast<std::int64_t>(r.orders.size()));
        w.key("original_total").amount(r.original_total);
        w.key("discount_amount").amount(r.discount_amount);
        w.key("coupon_code");
        if (r.coupon_code.empty()) w.null();
        else w.str(r.coupon_code);
        w.key("total_amount").amount(r.total_amount);
        w.key("new_balance").amount(r.new_balance);
        w.end_object();
        if (r.coupon_skipped) {
            w.key("warnings").begin_array().begin_object();
            w.key("code").str("COUPON_SKIPPED");
            w.key("message").str("M\u00E3 gi\u1EA3m gi\u00E1 '" + coupon +
                                 "' kh\u00F4ng h\u1EE3p l\u1EC7 ho\u1EB7c \u0111\u00E3 h\u1EBFt h\u1EA1n, \u0111\u01A1n h\u00E0ng \u0111\u01B0\u1EE3c t\u1EA1o kh\u00F4ng \u00E1p d\u1EE5ng gi\u1EA3m gi\u00E1");
            w.end_object().end_array();
        }
        end_success(w, t0);
    }

    // --- orders/status --------------------------------------------------------------------
    void orders_status(api_request const& rq, api_response& rs, auth_result const& who, clock_point t0) {
        detail::params q(query_of(rq.target));
        std::string trans_id = q.get("trans_id").value_or("");
        std::optional<std::string> order_id = q.get("order_id");
        if (trans_id.empty() && !order_id && !rq.body.empty()) {
            auto b = rq.body;
            while (!b.empty() && (b.front() == ' ' || b.front() == '\n' || b.front() == '\r' || b.front() == '\t')) b.remove_prefix(1);
            if (!b.empty() && (b.front() == '{' || b.front() == '[')) {
                boost::system::error_code ec;
                auto v = boost::json::parse(b, ec);
                if (ec || !v.is_object()) return write_error(rs, errc::invalid_json);
                if (auto t = v.as_object().if_contains("trans_id")) trans_id = detail::json_text(*t).value_or("");
                if (auto t = v.as_object().if_contains("order_id")) order_id = detail::json_text(*t);
            } else {
                detail::params form(b);
                trans_id = form.get("trans_id").value_or("");
                order_id = form.get("order_id");
            }
        }
        std::int64_t id = order_id ? detail::intval(order_id) : 0;
        if (trans_id.empty() && id <= 0) return write_error(rs, errc::params_required);
        if (trans_id.size() > 50)
            return write_error(rs, errc::params_required, "trans_id kh\u00F4ng h\u1EE3p l\u1EC7 (t\u1ED1i \u0111a 50 k\u00FD t\u1EF1)");

        detail::json_writer w(rs.body);
        bool found = store_.visit_order(who.user_id, trans_id, id, [&](order_record const& o) {
            begin_success(rs, w);
            write_order(w, o);
            end_success(w, t0);
        });
        if (!found) write_error(rs, errc::order_not_found);
    }

    void write_order(detail::json_writer& w, order_record const& o) {
        auto product = store_.find_product(o.product_id);
        auto plan = store_.find_plan(o.plan_id);
        w.key("order").begin_object();
        w.key("id").num(o.id);
        w.key("trans_id").str(o.trans_id);
        w.key("user_id").num(o.user_id);
        w.key("product");
        if (product) {
            w.begin_object();
            w.key("id").num(product->id);
            w.key("name").str(product->name);
            w.key("slug").str(product->slug);
            w.key("image").opt_str(product->image);
            w.end_object();
        } else w.null();
        w.key("plan");
        if (plan) {
            w.begin_object();
            w.key("id").num(plan->id);
            w.key("name").str(plan->name);
            w.key("is_instant").boolean(plan->is_instant);
            w.end_object();
        } else w.null();
        w.key("quantity").num(o.quantity);
        w.key("total_price").amount(o.total_price());
        w.key("sale_price").amount(o.sale_price);
        w.key("discount_amount").amount(o.discount);
        w.key("coupon_code");
        if (o.coupon_code.empty()) w.null();
        else w.str(o.coupon_code);
        w.key("final_amount").amount(o.final_amount);
        w.key("fields_data");
        if (o.fields_data.empty()) w.begin_array().end_array(); // PHP's json_encode([]) is []
        else {
            w.begin_object();
            for (auto const& [k, v] : o.fields_data) w.key(k).str(v);
            w.end_object();
        }
        w.key("status").str(status_name(o.status));
        w.key("payment_status").str(o.payment_status());
        w.key("order_source").str("api");
        w.key("created_at");
        local_time(w, o.created_at);
        w.key("updated_at");
        local_time(w, o.updated_at);
        w.end_object();
        w.key("delivery").begin_object();
        bool done = o.status == order_status::completed;
        w.key("items").begin_array();
        if (done)
            for (std::int64_t k = 0; k < o.quantity; ++k) w.str(store_.delivery_item(o, k));
        w.end_array();
        w.key("delivered_count").num(done ? o.quantity : 0);
        w.key("expected_count").num(o.quantity);
        w.end_object();
    }

    // --- orders/list ----------------------------------------------------------------------
    void orders_list(api_request const& rq, api_response& rs, auth_result const& who, clock_point t0) {
        detail::params q(query_of(rq.target));
        std::int64_t def_limit = opts_.mode == api_mode::documented ? 20 : 10;
        list_query lq;
        lq.page = std::max<std::int64_t>(1, detail::intval(q.get("page"), 1));
        lq.limit = detail::intval(q.get("limit"), def_limit);
        if (lq.limit < 1) lq.limit = def_limit;
        if (lq.limit > 100) lq.limit = 100;
        if (auto s = q.get("status"); s && !s->empty()) lq.status = status_from_name(*s); // unknown: ignored
        auto offset = store_.options().utc_offset;
        if (auto d = q.get("from_date"); d && !d->empty())
            if (auto t = parse_local(*d, offset)) lq.from_day = local_day(*t, offset);
        if (auto d = q.get("to_date"); d && !d->empty())
            if (auto t = parse_local(*d, offset)) lq.to_day = local_day(*t, offset);
        std::int64_t const asked_page = lq.page;
        if (opts_.quirk_list_pages_repeat) lq.page = 1;
        if (opts_.quirk_list_filter_500 && (lq.status || lq.from_day || lq.to_day)) {
            // The deployed SQL is ambiguous once a filter is added: PHP dies with an empty page.
            rs.body.clear();
            rs.status = 500;
            rs.html = true;
            return;
        }
        detail::json_writer w(rs.body);
        begin_success(rs, w);
        w.key("orders").begin_array();
        auto total = store_.visit_orders(who.user_id, lq, [&](order_record const& o) {
            auto product = store_.find_product(o.product_id);
            auto plan = store_.find_plan(o.plan_id);
            w.begin_object();
            w.key("id").num(o.id);
            w.key("trans_id").str(o.trans_id);
            w.key("product");
            if (product) {
                w.begin_object();
                w.key("id").num(product->id);
                w.key("name").str(product->name);
                w.key("slug").str(product->slug);
                w.end_object();
            } else w.null();
            w.key("plan");
            if (plan) {
                w.begin_object();
                w.key("id").num(plan->id);
                w.key("name").str(plan->name);
                w.end_object();
            } else w.null();
            w.key("quantity").num(o.quantity);
            w.key("total_price").amount(o.total_price());
            w.key("final_amount").amount(o.final_amount);
            w.key("status").str(status_name(o.status));
            w.key("payment_status").str(o.payment_status());
            w.key("created_at");
            local_time(w, o.created_at);
            w.end_object();
        });
        w.end_array();
        pagination(w, asked_page, lq.limit, total);
        end_success(w, t0);
    }

    // --- products/list --------------------------------------------------------------------
    void write_category_ref(detail::json_writer& w, category_spec const& c) {
        w.begin_object();
        w.key("id").num(c.id);
        w.key("name").str(c.name);
        w.key("slug").str(c.slug);
        w.key("image").opt_str(c.image);
        w.end_object();
    }

    void products_list(api_request const& rq, api_response& rs, clock_point t0) {
        detail::params q(query_of(rq.target));
        auto category = detail::intval(q.get("category_id"), 0);
        auto search = q.get("search").value_or("");
        std::int64_t page = std::max<std::int64_t>(1, detail::intval(q.get("page"), 1));
        std::int64_t limit = detail::intval(q.get("limit"), 10);
        if (limit < 1) limit = 10;
        if (limit > 100) limit = 100;
        std::vector<product_spec const*> matches;
        for (auto const& p : store_.catalog_data().products) {
            if (category > 0 && std::find(p.category_ids.begin(), p.category_ids.end(), category) == p.category_ids.end())
                continue;
            if (!detail::contains_icase(p.name, search)) continue;
            matches.push_back(&p);
        }
        auto total = static_cast<std::int64_t>(matches.size());
        detail::json_writer w(rs.body);
        begin_success(rs, w);
        w.key("products").begin_array();
        std::int64_t const shown = opts_.quirk_list_pages_repeat ? 1 : page;  // which page's items
        for (std::int64_t k = (shown - 1) * limit; k < std::min(total, shown * limit); ++k) {
            auto const& p = *matches[static_cast<std::size_t>(k)];
            w.begin_object();
            w.key("id").num(p.id);
            w.key("name").str(p.name);
            w.key("slug").str(p.slug);
            w.key("image").opt_str(p.image);
            w.key("description").str(p.description);
            w.key("category");
            auto main = p.category_ids.empty() ? nullptr : store_.find_category(p.category_ids.front());
            if (main) write_category_ref(w, *main);
            else w.null();
            w.key("categories").begin_array();
            for (auto id : p.category_ids)
                if (auto c = store_.find_category(id)) write_category_ref(w, *c);
            w.end_array();
            money lo, hi;
            for (std::size_t i = 0; i < p.plans.size(); ++i) {
                auto fp = p.plans[i].final_price();
                if (i == 0 || fp < lo) lo = fp;
                if (i == 0 || fp > hi) hi = fp;
            }
            w.key("min_price").amount(lo);
            w.key("max_price").amount(hi);
            w.key("sold").num(store_.sold(p.id));
            w.key("rating").fixed4(p.rating);
            w.key("plans").begin_array();
            for (auto const& pl : p.plans) {
                auto left = pl.is_instant ? store_.stock(pl.id) : 0;
                w.begin_object();
                w.key("id").num(pl.id);
                w.key("name").str(pl.name);
                w.key("price").amount(pl.price);
                w.key("sale_price").amount(pl.sale_price);
                w.key("final_price").amount(pl.final_price());
                w.key("is_instant").boolean(pl.is_instant);
                w.key("duration_type").str(pl.duration_type);
                w.key("duration_value");
                if (pl.duration_value) w.num(*pl.duration_value);
                else w.null();
                w.key("stock_count").unum(left);
                w.key("in_stock").boolean(!pl.is_instant || left > 0);
                w.key("description").str(pl.description);
                w.key("fields").begin_array();
                for (auto const& f : pl.fields) {
                    w.begin_object();
                    w.key("key").str(f.key);
                    w.key("label").str(f.label);
                    w.key("type").str(f.type);
                    w.key("required").boolean(f.required);
                    w.end_object();
                }
                w.end_array();
                w.end_object();
            }
            w.end_array();
            w.end_object();
        }
        w.end_array();
        pagination(w, page, limit, total);
        end_success(w, t0);
    }

    // --- categories/list ------------------------------------------------------------------
    void write_category(detail::json_writer& w, category_spec const& c, bool children, bool counts,
                        std::vector<category_spec const*> const& all, int depth) {
        w.begin_object();
        w.key("id").num(c.id);
        w.key("name").str(c.name);
        w.key("slug").str(c.slug);
        w.key("description").str(c.description);
        w.key("image").opt_str(c.image);
        w.key("parent_id").num(c.parent_id);
        w.key("sort_order").num(c.sort_order);
        if (counts) {
            std::int64_t n = 0;
            for (auto const& p : store_.catalog_data().products)
                if (std::find(p.category_ids.begin(), p.category_ids.end(), c.id) != p.category_ids.end()) ++n;
            w.key("product_count").num(n);
        }
        if (children) {
            w.key("children").begin_array();
            if (depth < 16) // the catalog is validated, but a parent cycle must not recurse forever
                for (auto child : all)
                    if (child->parent_id == c.id) write_category(w, *child, true, counts, all, depth + 1);
            w.end_array();
        }
        w.end_object();
    }

    void categories_list(api_request const& rq, api_response& rs, clock_point t0) {
        detail::params q(query_of(rq.target));
        auto parent = q.get("parent_id");
        bool children = detail::intval(q.get("include_children"), 0) == 1;
        bool counts = detail::intval(q.get("include_products"), 0) == 1;
        std::vector<category_spec const*> all;
        for (auto const& c : store_.catalog_data().categories) all.push_back(&c);
        std::stable_sort(all.begin(), all.end(), [](auto a, auto b) {
            return a->sort_order != b->sort_order ? a->sort_order > b->sort_order : a->id < b->id;
        });
        detail::json_writer w(rs.body);
        begin_success(rs, w);
        w.key("categories").begin_array();
        std::int64_t total = 0;
        std::int64_t parent_id = parent && !parent->empty() ? detail::intval(parent) : -1;
        for (auto c : all) {
            if (parent_id >= 0 && c->parent_id != parent_id) continue;
            write_category(w, *c, children, counts, all, 0);
            ++total;
        }
        w.end_array();
        w.key("total").num(total);
        end_success(w, t0);
    }

    // --- account --------------------------------------------------------------------------
    void write_user(detail::json_writer& w, account_spec const& a, bool full) {
        w.key("user").begin_object();
        w.key("id").num(a.user_id);
        w.key("username").str(a.username);
        w.key("email").str(a.email);
        if (full) {
            w.key("phone").str(a.phone);
            w.key("balance").amount(a.balance);
            w.key("total_deposited").amount(a.total_deposited);
            w.key("created_at").null();
        }
        w.end_object();
    }

    void account_balance(api_response& rs, auth_result const& who, clock_point t0) {
        auto rep = store_.report(who.account, false);
        detail::json_writer w(rs.body);
        begin_success(rs, w);
        write_user(w, rep.spec, false);
        w.key("balance").begin_object();
        w.key("current").amount(rep.spec.balance);
        w.key("total_deposited").amount(rep.spec.total_deposited);
        w.key("currency").str("VND");
        w.key("formatted").str(rep.spec.balance.to_display());
        w.end_object();
        end_success(w, t0);
    }

    void account_info(api_response& rs, auth_result const& who, clock_point t0) {
        auto rep = store_.report(who.account);
        auto const& so = store_.options();
        detail::json_writer w(rs.body);
        begin_success(rs, w);
        write_user(w, rep.spec, true);
        w.key("api_key").begin_object();
        w.key("name").str(rep.spec.name);
        w.key("permissions").begin_array();
        for (auto name : permission_names)
            if (rep.spec.permissions & permission_bit(name)) w.str(name);
        w.end_array();
        w.key("rate_limit").num(so.rate_limit_override ? so.rate_limit_override : rep.spec.rate_limit);
        w.key("daily_limit").num(so.daily_limit_override ? so.daily_limit_override : rep.spec.daily_limit);
        w.key("expires_at");
        if (rep.spec.expires_at) local_time(w, *rep.spec.expires_at);
        else w.null();
        w.key("created_at");
        if (rep.spec.created_at) local_time(w, *rep.spec.created_at);
        else w.null();
        w.end_object();
        w.key("orders_summary").begin_object();
        w.key("total").num(rep.orders_total);
        w.key("pending").num(rep.orders_pending);
        w.key("completed").num(rep.orders_completed);
        w.end_object();
        w.key("api_usage_today").begin_object();
        w.key("period").str("day");
        w.key("start_time");
        local_time(w, rep.day_start);
        w.key("total_requests").unum(rep.total_requests);
        w.key("success_requests").unum(rep.success_requests);
        w.key("failed_requests").unum(rep.failed_requests);
        w.key("success_rate");
        if (rep.total_requests == 0) w.num(0);
        else {
            auto bp = (rep.success_requests * 10000 + rep.total_requests / 2) / rep.total_requests; // hundredths of a percent
            w.amount(money::from_hundredths(static_cast<std::int64_t>(bp)));
        }
        w.end_object();
        end_success(w, t0);
    }

    // --- admin area (/_sim/) --------------------------------------------------------------
    void handle_admin(api_request const& rq, api_response& rs, clock_point t0) {
        using boost::beast::http::verb;
        if (opts_.admin_token.empty()) return write_error(rs, errc::endpoint_not_found);
        if (rq.admin_token != opts_.admin_token)
            return write_error(rs, errc::permission_denied, "C\u1EA7n header X-Sim-Admin h\u1EE3p l\u1EC7");
        std::string_view path = rq.target.substr(0, rq.target.find('?'));
        path.remove_prefix(6); // "/_sim/"
        detail::params q(query_of(rq.target));
        detail::json_writer w(rs.body);
        auto want = [&](verb v) {
            if (rq.method == v) return true;
            write_error(rs, errc::method_not_allowed);
            return false;
        };
        if (path == "stats") {
            if (!want(verb::get)) return;
            begin_success(rs, w);
            write_stats(w);
            return end_success(w, t0);
        }
        if (path == "orders") {
            if (!want(verb::get)) return;
            bool items = detail::intval(q.get("items"), 0) == 1;
            auto all = store_.orders();
            begin_success(rs, w);
            w.key("orders").begin_array();
            for (auto const& o : all) {
                w.begin_object();
                w.key("id").num(o.id);
                w.key("trans_id").str(o.trans_id);
                w.key("api_key").str(o.api_key);
                w.key("user_id").num(o.user_id);
                w.key("product_id").num(o.product_id);
                w.key("plan_id").num(o.plan_id);
                w.key("quantity").num(o.quantity);
                w.key("fields_data");
                if (o.fields_data.empty()) w.begin_array().end_array();
                else {
                    w.begin_object();
                    for (auto const& [k, v] : o.fields_data) w.key(k).str(v);
                    w.end_object();
                }
                w.key("status").str(status_name(o.status));
                w.key("coupon_code").str(o.coupon_code);
                w.key("final_amount").amount(o.final_amount);
                w.key("charged").amount(o.charged);
                w.key("created_at");
                local_time(w, o.created_at);
                w.key("updated_at");
                local_time(w, o.updated_at);
                bool done = o.status == order_status::completed;
                w.key("delivered_count").num(done ? o.quantity : 0);
                if (items) {
                    w.key("items").begin_array();
                    if (done)
                        for (std::int64_t k = 0; k < o.quantity; ++k) w.str(store_.delivery_item(o, k));
                    w.end_array();
                }
                w.end_object();
            }
            w.end_array();
            w.key("total").num(static_cast<std::int64_t>(all.size()));
            return end_success(w, t0);
        }
        if (path.starts_with("orders/")) {
            if (!want(verb::post)) return;
            auto rest = path.substr(7);
            auto slash = rest.rfind('/');
            if (slash == std::string_view::npos) return write_error(rs, errc::endpoint_not_found);
            std::string trans_id = detail::url_decode(rest.substr(0, slash));
            auto action = rest.substr(slash + 1);
            transition_result tr;
            if (action == "complete") tr = store_.complete(trans_id);
            else if (action == "cancel") tr = store_.cancel(trans_id);
            else if (action == "refund") tr = store_.refund(trans_id);
            else return write_error(rs, errc::endpoint_not_found);
            if (tr == transition_result::not_found) return write_error(rs, errc::order_not_found);
            if (tr == transition_result::invalid_state)
                return write_error(rs, "INVALID_STATE", 409,
                                   "Kh\u00F4ng th\u1EC3 " + std::string(action) + " \u0111\u01A1n h\u00E0ng \u1EDF tr\u1EA1ng th\u00E1i hi\u1EC7n t\u1EA1i");
            auto o = store_.order(trans_id);
            begin_success(rs, w);
            w.key("trans_id").str(o->trans_id);
            w.key("status").str(status_name(o->status));
            w.key("balance").amount(store_.balance(o->api_key).value_or(money{}));
            return end_success(w, t0);
        }
        if (path == "balance") {
            if (!want(verb::post)) return;
            boost::system::error_code ec;
            auto v = boost::json::parse(rq.body, ec);
            if (ec || !v.is_object()) return write_error(rs, errc::invalid_json);
            auto const& o = v.as_object();
            std::string key = std::string(demo_api_key);
            if (auto k = o.if_contains("api_key"); k && k->is_string()) key = std::string(k->as_string());
            auto amount_of = [](boost::json::value const* j) -> std::optional<money> {
                if (!j) return std::nullopt;
                if (j->is_int64()) return money::from_vnd(j->as_int64());
                if (j->is_double()) return money::from_double(j->as_double());
                if (j->is_string()) return money::parse(j->as_string());
                return std::nullopt;
            };
            auto set = amount_of(o.if_contains("balance"));
            auto add = amount_of(o.if_contains("add"));
            if (!set && !add)
                return write_error(rs, "INVALID_ARGUMENT", 400, "C\u1EA7n \"balance\" ho\u1EB7c \"add\" (s\u1ED1 ti\u1EC1n)");
            if (!store_.account(key)) return write_error(rs, "INVALID_API_KEY", 404, "Kh\u00F4ng c\u00F3 API key n\u00E0y");
            if (set) store_.set_balance(key, *set);
            if (add) store_.adjust_balance(key, *add);
            begin_success(rs, w);
            w.key("api_key").str(key);
            w.key("balance").amount(*store_.balance(key));
            return end_success(w, t0);
        }
        if (path == "faults") {
            if (rq.method == verb::post) {
                boost::system::error_code ec;
                auto v = boost::json::parse(rq.body, ec);
                if (ec || !v.is_object()) return write_error(rs, errc::invalid_json);
                auto const& o = v.as_object();
                try {
                    if (auto c = o.if_contains("clear"); c && c->is_bool() && c->as_bool()) faults_.clear();
                    if (auto l = o.if_contains("latency"); l && l->is_string()) {
                        auto [fixed, jitter] = parse_latency(l->as_string());
                        faults_.set_latency(fixed, jitter);
                    }
                    if (auto s = o.if_contains("seed"); s && s->is_int64()) faults_.reseed(static_cast<std::uint64_t>(s->as_int64()));
                    if (auto a = o.if_contains("add"); a && a->is_array()) {
                        std::vector<fault_rule> parsed;
                        auto [fixed, jitter] = faults_.latency();
                        for (auto const& spec : a->as_array()) {
                            if (!spec.is_string()) throw std::invalid_argument("\"add\" must hold fault specs (strings)");
                            parsed.push_back(fault_plan::parse(spec.as_string(), fixed, jitter));
                        }
                        for (auto& r : parsed) faults_.add(r);
                    }
                } catch (std::invalid_argument const& e) {
                    return write_error(rs, "INVALID_ARGUMENT", 400, e.what());
                }
            } else if (!want(verb::get)) return;
            begin_success(rs, w);
            write_faults(w);
            return end_success(w, t0);
        }
        write_error(rs, errc::endpoint_not_found);
    }

    void write_faults(detail::json_writer& w) {
        auto [fixed, jitter] = faults_.latency();
        w.key("rules").begin_array();
        for (auto const& r : faults_.rules()) w.str(r.to_string());
        w.end_array();
        w.key("latency_ms").num(fixed.count());
        w.key("jitter_ms").num(jitter.count());
        w.key("fired").begin_object();
        auto fired = faults_.fired();
        for (std::size_t i = 0; i < fault_kind_count; ++i) w.key(fault_name(static_cast<fault_kind>(i))).unum(fired[i]);
        w.end_object();
    }

    void write_stats(detail::json_writer& w) {
        auto s = store_.stats();
        w.key("requests").begin_object();
        for (std::size_t i = 0; i < endpoint_count; ++i) w.key(endpoint_name(static_cast<endpoint>(i))).unum(s.requests[i]);
        w.end_object();
        w.key("rate_limited").unum(s.rate_limited);
        w.key("daily_limited").unum(s.daily_limited);
        w.key("auth_failed").unum(s.auth_failed);
        w.key("orders_created").unum(s.orders_created);
        w.key("creates_failed").unum(s.creates_failed);
        w.key("faults").begin_object();
        auto fired = faults_.fired();
        for (std::size_t i = 0; i < fault_kind_count; ++i) w.key(fault_name(static_cast<fault_kind>(i))).unum(fired[i]);
        w.end_object();
    }

    store& store_;
    fault_plan& faults_;
    api_options opts_;
    std::atomic<std::uint64_t> request_counter_{1};
};

} // namespace shop::testing
