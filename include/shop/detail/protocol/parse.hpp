// From the API's JSON to the typed models, leniently: a missing or oddly typed field takes
// its default instead of failing the whole response; unknown fields are ignored.
#pragma once

#include <shop/detail/protocol/json_read.hpp>
#include <shop/error.hpp>
#include <shop/models.hpp>

#include <shop/http.hpp>

#include <boost/json/memory_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

namespace shop::detail {

inline field_list parse_fields(const boost::json::value* v) {
    field_list out;
    // An empty PHP array arrives as `[]`; a filled one as an object.
    if (v && v->is_object())
        for (auto const& kv : v->get_object()) out.emplace_back(std::string(kv.key()), to_text(kv.value()));
    return out;
}

inline std::vector<std::string> parse_strings(const boost::json::array* a) {
    std::vector<std::string> out;
    if (a) {
        out.reserve(a->size());
        for (auto const& v : *a) out.push_back(to_text(v));
    }
    return out;
}

template <class T, class F>
std::vector<T> parse_objects(const boost::json::array* a, F&& parse_one) {
    std::vector<T> out;
    if (!a) return out;
    out.reserve(a->size());
    for (auto const& v : *a)
        if (v.is_object()) out.push_back(parse_one(v.get_object()));
    return out;
}

inline product_ref parse_product_ref(const boost::json::object& o) {
    return {get_int(o, "id"), get_string(o, "name"), get_string(o, "slug"), get_string(o, "image")};
}

inline category_ref parse_category_ref(const boost::json::object& o) {
    return {get_int(o, "id"), get_string(o, "name"), get_string(o, "slug"), get_string(o, "image")};
}

inline plan_ref parse_plan_ref(const boost::json::object& o) {
    plan_ref p{get_int(o, "id"), get_string(o, "name"), std::nullopt};
    if (find(o, "is_instant")) p.is_instant = get_bool(o, "is_instant");
    return p;
}

inline created_order parse_created_order(const boost::json::object& o) {
    created_order c;
    c.order_id = get_int(o, "order_id", get_int(o, "id"));
    c.trans_id = get_string(o, "trans_id");
    c.product_id = get_int(o, "product_id");
    c.product_name = get_string(o, "product_name");
    c.plan_id = get_int(o, "plan_id");
    c.plan_name = get_string(o, "plan_name");
    c.quantity = get_int(o, "quantity");
    c.unit_price = get_money(o, "unit_price");
    c.total = get_money(o, "total");
    c.discount = get_money(o, "discount");
    // The documented example has only `total`: then nothing was discounted.
    c.final_amount = find(o, "final_amount") ? get_money(o, "final_amount") : c.total;
    c.status = order_status::from_string(get_string(o, "status"));
    return c;
}

inline order_info parse_order_info(const boost::json::object& o) {
    order_info r;
    r.id = get_int(o, "id");
    r.trans_id = get_string(o, "trans_id");
    r.user_id = get_int(o, "user_id");
    if (auto* p = get_object(o, "product")) r.product = parse_product_ref(*p);
    if (auto* p = get_object(o, "plan")) r.plan = parse_plan_ref(*p);
    r.quantity = get_int(o, "quantity");
    r.total_price = get_money(o, "total_price");
    r.sale_price = get_money(o, "sale_price");
    r.discount_amount = get_money(o, "discount_amount");
    r.final_amount = get_money(o, "final_amount");
    r.coupon_code = get_opt_string(o, "coupon_code");
    r.fields_data = parse_fields(find(o, "fields_data"));
    r.status = order_status::from_string(get_string(o, "status"));
    r.payment_status = get_string(o, "payment_status");
    r.order_source = get_string(o, "order_source");
    r.created_at = get_opt_string(o, "created_at");
    r.updated_at = get_opt_string(o, "updated_at");
    return r;
}

inline pagination parse_pagination(const boost::json::object* o) {
    pagination p;
    if (!o) return p;
    p.current_page = get_int(*o, "current_page");
    p.per_page = get_int(*o, "per_page");
    p.total = get_int(*o, "total");
    p.total_pages = get_int(*o, "total_pages");
    p.has_more = get_bool(*o, "has_more", p.current_page < p.total_pages);
    return p;
}

inline plan parse_plan(const boost::json::object& o) {
    plan p;
    p.id = get_int(o, "id");
    p.name = get_string(o, "name");
    p.price = get_money(o, "price");
    p.sale_price = get_money(o, "sale_price");
    p.final_price = get_money(o, "final_price");
    p.is_instant = get_bool(o, "is_instant");
    p.duration.type = get_string(o, "duration_type");
    p.duration.value = get_opt_int(o, "duration_value");
    p.stock_count = get_int(o, "stock_count");
    p.in_stock = get_bool(o, "in_stock");
    p.description = get_string(o, "description");
    p.fields = parse_objects<plan_field>(get_array(o, "fields"), [](const boost::json::object& f) {
        return plan_field{get_string(f, "key"), get_string(f, "label"), get_string(f, "type"),
                          get_bool(f, "required")};
    });
    return p;
}

inline product parse_product(const boost::json::object& o) {
    product p;
    p.id = get_int(o, "id");
    p.name = get_string(o, "name");
    p.slug = get_string(o, "slug");
    p.image = get_string(o, "image");
    p.description = get_string(o, "description");
    if (auto* c = get_object(o, "category")) p.category = parse_category_ref(*c);
    p.categories = parse_objects<category_ref>(get_array(o, "categories"), parse_category_ref);
    p.min_price = get_money(o, "min_price");
    p.max_price = get_money(o, "max_price");
    p.sold = get_int(o, "sold");
    p.rating = get_double(o, "rating");
    p.plans = parse_objects<plan>(get_array(o, "plans"), parse_plan);
    return p;
}

inline category parse_category(const boost::json::object& o) {
    category c;
    c.id = get_int(o, "id");
    c.name = get_string(o, "name");
    c.slug = get_string(o, "slug");
    c.description = get_string(o, "description");
    c.image = get_string(o, "image");
    c.parent_id = get_int(o, "parent_id");
    c.sort_order = get_int(o, "sort_order");
    c.product_count = get_opt_int(o, "product_count");
    c.children = parse_objects<category>(get_array(o, "children"), parse_category);
    return c;
}

inline user_info parse_user(const boost::json::object* o) {
    user_info u;
    if (!o) return u;
    u.id = get_int(*o, "id");
    u.username = get_string(*o, "username");
    u.email = get_string(*o, "email");
    u.phone = get_string(*o, "phone");
    u.balance = get_money(*o, "balance");
    u.total_deposited = get_money(*o, "total_deposited");
    u.created_at = get_opt_string(*o, "created_at");
    return u;
}

// ---------------------------------------------------------------- per-endpoint data

inline void parse_data(const boost::json::object& d, create_order_result& r) {
    r.orders = parse_objects<created_order>(get_array(d, "orders"), parse_created_order);
    if (auto* s = get_object(d, "summary")) {
        r.summary.orders_count = get_int(*s, "orders_count", static_cast<std::int64_t>(r.orders.size()));
        r.summary.original_total = get_money(*s, "original_total");
        r.summary.discount_amount = get_money(*s, "discount_amount");
        r.summary.coupon_code = get_string(*s, "coupon_code");
        r.summary.total_amount = get_money(*s, "total_amount");
        r.summary.new_balance = get_money(*s, "new_balance");
    }
    r.warnings = parse_objects<api_warning>(get_array(d, "warnings"), [](const boost::json::object& w) {
        return api_warning{get_string(w, "code"), get_string(w, "message")};
    });
}

inline void parse_data(const boost::json::object& d, order_status_result& r) {
    if (auto* o = get_object(d, "order")) r.order = parse_order_info(*o);
    if (auto* del = get_object(d, "delivery")) {
        r.delivery.items = parse_strings(get_array(*del, "items"));
        r.delivery.delivered_count = get_int(*del, "delivered_count", static_cast<std::int64_t>(r.delivery.items.size()));
        r.delivery.expected_count = get_int(*del, "expected_count", r.order.quantity);
    }
}

inline void parse_data(const boost::json::object& d, order_list_result& r) {
    r.orders = parse_objects<order_info>(get_array(d, "orders"), parse_order_info);
    r.page = parse_pagination(get_object(d, "pagination"));
}

inline void parse_data(const boost::json::object& d, product_list_result& r) {
    r.products = parse_objects<product>(get_array(d, "products"), parse_product);
    r.page = parse_pagination(get_object(d, "pagination"));
}

inline void parse_data(const boost::json::object& d, category_list_result& r) {
    r.categories = parse_objects<category>(get_array(d, "categories"), parse_category);
    r.total = get_int(d, "total", static_cast<std::int64_t>(r.categories.size()));
}

inline void parse_data(const boost::json::object& d, balance_result& r) {
    r.user = parse_user(get_object(d, "user"));
    if (auto* b = get_object(d, "balance")) {
        r.balance.current = get_money(*b, "current");
        r.balance.total_deposited = get_money(*b, "total_deposited");
        r.balance.currency = get_string(*b, "currency");
        r.balance.formatted = get_string(*b, "formatted");
    }
}

inline void parse_data(const boost::json::object& d, account_info_result& r) {
    r.user = parse_user(get_object(d, "user"));
    if (auto* k = get_object(d, "api_key")) {
        r.api_key.name = get_string(*k, "name");
        r.api_key.permissions = parse_strings(get_array(*k, "permissions"));
        r.api_key.rate_limit = get_int(*k, "rate_limit");
        r.api_key.daily_limit = get_int(*k, "daily_limit");
        r.api_key.expires_at = get_opt_string(*k, "expires_at");
        r.api_key.created_at = get_opt_string(*k, "created_at");
    }
    if (auto* s = get_object(d, "orders_summary"))
        for (auto const& kv : *s)
            r.orders_summary.emplace_back(std::string(kv.key()), to_int(kv.value()).value_or(0));
    if (auto* u = get_object(d, "api_usage_today")) {
        r.usage_today.period = get_string(*u, "period");
        r.usage_today.start_time = get_string(*u, "start_time");
        r.usage_today.total_requests = get_int(*u, "total_requests");
        r.usage_today.success_requests = get_int(*u, "success_requests");
        r.usage_today.failed_requests = get_int(*u, "failed_requests");
        r.usage_today.success_rate = get_double(*u, "success_rate");
    }
}

// ---------------------------------------------------------------- envelope

/// Memory for the DOM of one answer at a time: a bump allocator over chunks that are kept
/// from one answer to the next (reset, not freed), so a thread that has parsed an answer of
/// some size parses the next one without calling malloc. Chunks beyond `keep_bytes` are
/// freed at reset, so one huge answer does not stay resident.
class reusable_arena final : public boost::json::memory_resource {
public:
    static constexpr std::size_t first_chunk = 16 * 1024;
    static constexpr std::size_t keep_bytes = 1024 * 1024;

    /// Forget every allocation (the memory stays for the next answer).
    void reset() noexcept {
        std::size_t kept = 0, n = 0;
        while (n < chunks_.size() && (n == 0 || kept + chunks_[n].size <= keep_bytes)) kept += chunks_[n++].size;
        chunks_.resize(n);
        current_ = 0;
        used_ = 0;
    }

private:
    struct chunk {
        std::unique_ptr<unsigned char[]> data;
        std::size_t size = 0;
    };

    void* do_allocate(std::size_t n, std::size_t align) override {
        for (;;) {
            if (current_ < chunks_.size()) {
                auto& c = chunks_[current_];
                std::size_t const start = (used_ + align - 1) & ~(align - 1);
                if (start + n <= c.size) {
                    used_ = start + n;
                    return c.data.get() + start;
                }
                if (current_ + 1 < chunks_.size() && chunks_[current_ + 1].size >= n + align) {
                    ++current_;
                    used_ = 0;
                    continue;
                }
            }
            // A new chunk, twice the last (at least what is asked), right after the current.
            std::size_t const last = chunks_.empty() ? first_chunk / 2 : chunks_.back().size;
            std::size_t const size = std::max(last * 2, n + align);
            chunk c{std::unique_ptr<unsigned char[]>(new unsigned char[size]), size};
            if (chunks_.empty()) {
                chunks_.push_back(std::move(c));
                current_ = 0;
            } else {
                chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(current_ + 1), std::move(c));
                ++current_;
            }
            used_ = 0;
        }
    }
    void do_deallocate(void*, std::size_t, std::size_t) override {}
    bool do_is_equal(boost::json::memory_resource const& other) const noexcept override { return this == &other; }

    std::vector<chunk> chunks_;
    std::size_t current_ = 0;
    std::size_t used_ = 0;
};

} // namespace shop::detail

// Nothing in the arena is freed one by one: a DOM built in it is destroyed without walking
// its objects, arrays and strings (Boost.JSON skips the destructors of values whose
// storage says so).
template <>
struct boost::json::is_deallocate_trivial<shop::detail::reusable_arena> : std::true_type {};

namespace shop::detail {

/// Where answers are parsed: a JSON parser and an arena per thread, both reused, so the DOM
/// of an answer costs no allocation once the thread has parsed one of its size. A DOM lives
/// until the next answer is parsed on the same thread.
class json_arena {
public:
    static json_arena& local() {
        thread_local json_arena arena;
        return arena;
    }

    /// Parses `text` into a DOM in the arena (the previous one is gone).
    boost::json::value const& parse(std::string_view text, error_code& ec) {
        dom_.reset();
        memory_.reset();
        parser_.reset(boost::json::storage_ptr(&memory_));
        parser_.write(text.data(), text.size(), ec);  // the whole text: a document, or an error
        if (ec) {
            parser_.reset();
            return null_;
        }
        // Move-constructed, so the DOM keeps the arena's storage (a move-assignment into a
        // value of another storage would copy it).
        return dom_.emplace(parser_.release());
    }

private:
    json_arena() : parser_(boost::json::storage_ptr(), {}, stack_, sizeof stack_) {}

    unsigned char stack_[4 * 1024];
    reusable_arena memory_;
    boost::json::parser parser_;
    std::optional<boost::json::value> dom_;
    boost::json::value const null_;
};

/// The outcome of reading one HTTP answer as an API envelope.
struct envelope {
    error_code ec;    ///< empty on success
    diagnostics diag; ///< filled on failure
    response_meta meta;
    /// The `data` object of a successful answer, in the thread's arena: valid until the
    /// thread parses another answer.
    boost::json::object const* data_object = nullptr;

    const boost::json::object& data() const { return *data_object; }
};

inline bool looks_like_html(std::string_view content_type, std::string_view body) {
    if (content_type.find("html") != std::string_view::npos) return true;
    auto p = body.find_first_not_of(" \t\r\n");
    return p != std::string_view::npos && body[p] == '<';
}

/// Reads an HTTP answer as the API's envelope. The verdict comes from `success` and
/// data.error_code, never from the HTTP status alone; a body that is not an envelope is
/// http_error (an HTML page or an empty error answer from a front end) or bad_response.
inline void read_envelope(unsigned status, std::string_view content_type, std::string_view body,
                          std::string_view endpoint, envelope& e) {
    e.ec = {};
    e.data_object = nullptr;
    e.meta.http_status = status;
    e.diag.http_status = status;
    e.diag.endpoint.assign(endpoint.data(), endpoint.size());
    auto fail = [&](errc code, std::string message) {
        e.ec = make_error_code(code);
        e.diag.message = std::move(message);
    };
    boost::system::error_code jec;
    auto const& root_value = json_arena::local().parse(body, jec);
    if (jec || !root_value.is_object()) {
        std::string excerpt(body.substr(0, 120));
        for (auto& ch : excerpt)
            if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
        if (status >= 400 || looks_like_html(content_type, body))
            return fail(errc::http_error, "HTTP " + std::to_string(status) + " without an API envelope" +
                                              (excerpt.empty() ? std::string(" (empty body)") : ": " + excerpt));
        return fail(errc::bad_response, "response is not a JSON object" +
                                            (excerpt.empty() ? std::string(" (empty body)") : ": " + excerpt));
    }
    const auto& root = root_value.get_object();
    e.meta.message = get_string(root, "message");
    e.meta.timestamp = get_int(root, "timestamp");
    e.meta.request_id = get_string(root, "request_id");
    e.diag.request_id = e.meta.request_id;
    const auto* data = get_object(root, "data");
    if (data) e.meta.execution_time = get_double(*data, "execution_time");
    auto* success = find(root, "success");
    if (!success || !success->is_bool()) return fail(errc::bad_response, "JSON without a boolean `success` field");
    if (!success->get_bool()) {
        e.diag.server_code = data ? get_string(*data, "error_code") : std::string();
        e.diag.message = e.meta.message;
        e.ec = make_error_code(errc_from_server_code(e.diag.server_code));
        return;
    }
    if (!data) return fail(errc::bad_response, "success without a `data` object");
    e.data_object = data;
}

inline envelope read_envelope(unsigned status, std::string_view content_type, std::string_view body,
                              std::string_view endpoint) {
    envelope e;
    read_envelope(status, content_type, body, endpoint, e);
    return e;
}

/// Reads an answer of `endpoint` into its typed result. On failure returns the error with
/// `diag` filled (the server's code, message, HTTP status and request_id).
template <class Result>
error_code read_answer(http_response const& response, std::string_view endpoint, Result& out, diagnostics& diag,
                       bool keep_raw_json) {
    envelope e;
    read_envelope(response.status, response.content_type, response.body, endpoint, e);
    if (e.ec) {
        diag = std::move(e.diag);
        return e.ec;
    }
    unreadable_money_field = {};
    parse_data(e.data(), out);
    if (!unreadable_money_field.empty()) {
        diag = diagnostics{};
        diag.endpoint.assign(endpoint.data(), endpoint.size());
        diag.http_status = e.meta.http_status;
        diag.request_id = std::move(e.meta.request_id);
        diag.message = "the answer's " + std::string(unreadable_money_field) + " is not an amount of money";
        unreadable_money_field = {};
        return make_error_code(errc::bad_response);
    }
    out.meta = std::move(e.meta);
    if (keep_raw_json) out.meta.raw_json = response.body;
    return {};
}

} // namespace shop::detail
