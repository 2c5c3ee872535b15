// The simulator's state and business logic, free of I/O: accounts and their rate windows,
// stock, coupons, orders and their lifecycle, counters. Thread-safe (one mutex, held
// briefly); the clock is injectable so that daily limits and the order lifecycle can be
// tested with a fake clock.
#pragma once

#include <shop/error.hpp>
#include <shop/money.hpp>
#include <shop/testing/catalog.hpp>
#include <shop/testing/endpoints.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace shop::testing {

enum class order_status : std::uint8_t {
    pending,
    processing,
    completed,
    cancelled,
    refunded,
    cancelled_no_refund,
};

constexpr std::string_view status_name(order_status s) noexcept {
    switch (s) {
    case order_status::pending: return "pending";
    case order_status::processing: return "processing";
    case order_status::completed: return "completed";
    case order_status::cancelled: return "cancelled";
    case order_status::refunded: return "refunded";
    case order_status::cancelled_no_refund: return "cancelled_no_refund";
    }
    return "pending";
}

constexpr std::optional<order_status> status_from_name(std::string_view s) noexcept {
    for (auto st : {order_status::pending, order_status::processing, order_status::completed,
                    order_status::cancelled, order_status::refunded, order_status::cancelled_no_refund})
        if (status_name(st) == s) return st;
    return std::nullopt;
}

/// Business settings of the store. Zero durations mean "never by themselves".
struct store_options {
    /// Requests per rate window for every key; 0 = each account's own rate_limit.
    std::uint32_t rate_limit_override = 0;
    /// Length of the rolling rate window (the deployed server uses 60 s).
    std::chrono::seconds rate_window{60};
    /// Requests per server-local day for every key; 0 = each account's own daily_limit.
    std::uint32_t daily_limit_override = 0;
    /// Server-local time zone (Vietnam, UTC+7): the day starts at local midnight and
    /// timestamps are printed in local time.
    std::chrono::seconds utc_offset{7 * 3600};
    /// A non-instant order becomes `processing` this long after creation (0 = by hand only).
    std::chrono::milliseconds processing_after{2000};
    /// A non-instant order becomes `completed` (with items) this long after creation
    /// (0 = by hand only).
    std::chrono::milliseconds completed_after{5000};
    /// The deployed bug: a percentage coupon is applied twice to the amount charged
    /// (summary.total_amount and the balance) but once to each order's final_amount.
    bool quirk_double_discount = false;
    /// The clock; empty = std::chrono::system_clock::now.
    std::function<sim_clock::time_point()> clock;
    /// Seed of the trans_id generator (ids are reproducible for a given seed).
    std::uint64_t seed = 1;
};

/// One order as stored.
struct order_record {
    std::int64_t id = 0;
    std::string trans_id;
    std::string api_key;          ///< the key that created it
    std::int64_t user_id = 0;
    std::int64_t product_id = 0;
    std::int64_t plan_id = 0;
    std::int64_t quantity = 0;
    money list_price;             ///< the plan's price per unit
    money sale_price;             ///< the plan's sale price per unit (0 = none)
    money unit_price;             ///< charged per unit before the coupon (sale price if any)
    money subtotal;               ///< unit_price × quantity
    money discount;               ///< coupon discount of this order
    money final_amount;           ///< subtotal − discount
    money charged;                ///< what left the balance for this order (less than
                                  ///< final_amount under the double-discount quirk)
    std::string coupon_code;      ///< applied coupon, empty = none
    std::vector<std::pair<std::string, std::string>> fields_data;
    order_status status = order_status::pending;
    bool instant = false;
    bool manual = false;          ///< status set by hand: the schedule no longer applies
    std::uint64_t stock_start = 0;///< instant plans: first index in the plan's stock sequence
    sim_clock::time_point created_at;
    sim_clock::time_point updated_at;

    /// The order's `total_price`: list price × quantity.
    money total_price() const { return list_price * quantity; }
    std::string_view payment_status() const { return status == order_status::refunded ? "refunded" : "paid"; }
};

/// One item of an order ("orders[].…") as passed to store::create_order.
struct cart_line {
    std::int64_t plan_id = 0;
    std::int64_t quantity = 1;
    std::vector<std::pair<std::string, std::string>> fields;
};

/// Why a create was refused (the API layer maps these to error codes per mode).
enum class create_failure {
    none,
    items_required,
    too_many_items,
    unknown_plan,
    bad_quantity,
    missing_field,
    out_of_stock,
    insufficient_balance,
    checkout_error,
};

struct create_result {
    create_failure failure = create_failure::none;
    std::string message;               ///< Vietnamese, saying which item failed
    std::vector<order_record> orders;  ///< the orders placed, in item order
    money original_total;              ///< Σ subtotal
    money discount_amount;             ///< Σ discount
    money total_amount;                ///< Σ charged: what left the balance
    money new_balance;
    std::string coupon_code;           ///< applied coupon, empty if none
    bool coupon_skipped = false;       ///< a coupon was given but not usable
    bool ok() const { return failure == create_failure::none; }
};

/// Outcome of the key check. `counted` tells whether the request was logged against the
/// key's windows (it is once key and secret are valid, refused-for-limit ones included).
struct auth_result {
    errc error{};
    std::size_t account = static_cast<std::size_t>(-1);
    std::int64_t user_id = 0;
    std::uint32_t permissions = 0;
    bool counted = false;
    bool ok() const { return error == errc{}; }
};

/// What account/balance and account/info print.
struct account_report {
    account_spec spec;
    sim_clock::time_point day_start;      ///< server-local midnight of today
    std::uint64_t total_requests = 0;     ///< today's finished requests
    std::uint64_t success_requests = 0;
    std::uint64_t failed_requests = 0;
    std::int64_t orders_total = 0;
    std::int64_t orders_pending = 0;      ///< pending or processing
    std::int64_t orders_completed = 0;
};

/// A page of orders/list.
struct list_query {
    std::int64_t page = 1;
    std::int64_t limit = 10;
    std::optional<order_status> status;
    std::optional<std::int64_t> from_day; ///< local_day() bounds, inclusive
    std::optional<std::int64_t> to_day;
};

enum class transition_result { ok, not_found, invalid_state };

struct store_stats {
    std::array<std::uint64_t, endpoint_count> requests{}; ///< by endpoint
    std::uint64_t rate_limited = 0;   ///< RATE_LIMIT_EXCEEDED answers
    std::uint64_t daily_limited = 0;  ///< DAILY_LIMIT_EXCEEDED answers
    std::uint64_t auth_failed = 0;    ///< other refusals of the key check
    std::uint64_t orders_created = 0;
    std::uint64_t creates_failed = 0; ///< creates refused after authentication
};

/// The key format check: prefix and length, not the alphabet (the documented samples are
/// not hex). Legacy keys are 32 characters, legacy secrets 64.
constexpr bool key_format_ok(std::string_view k) noexcept {
    return (k.size() == 40 && k.starts_with("sk_live_")) || k.size() == 32;
}
constexpr bool secret_format_ok(std::string_view s) noexcept {
    return (s.size() == 74 && s.starts_with("sk_secret_")) || s.size() == 64;
}

namespace detail {
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
inline bool iequals_ascii(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'a' && x <= 'z') x = static_cast<char>(x - 32);
        if (y >= 'a' && y <= 'z') y = static_cast<char>(y - 32);
        if (x != y) return false;
    }
    return true;
}
/// round(v × basis_points / 10000) in hundredths, half away from zero, without overflow.
inline money percent_of(money v, std::int64_t basis_points) {
    __int128 p = static_cast<__int128>(v.hundredths()) * basis_points;
    __int128 q = (p >= 0 ? p + 5000 : p - 5000) / 10000;
    return money::from_hundredths(static_cast<std::int64_t>(q));
}
} // namespace detail

class store {
public:
    explicit store(catalog c = catalog::demo(), store_options opts = {})
        : catalog_(std::move(c)), opts_(std::move(opts)), rng_(opts_.seed) {
        catalog_.validate();
        for (auto& p : catalog_.products) {
            products_.emplace(p.id, &p);
            for (auto& pl : p.plans) {
                plans_.emplace(pl.id, plan_state{&pl, &p, 0});
            }
        }
        coupons_ = catalog_.coupons;
        for (auto const& a : catalog_.accounts) add_account(a);
    }
    store(store const&) = delete;
    store& operator=(store const&) = delete;

    store_options const& options() const noexcept { return opts_; }
    /// The catalog as loaded (immutable; stock is counted separately).
    catalog const& catalog_data() const noexcept { return catalog_; }
    sim_clock::time_point now() const { return opts_.clock ? opts_.clock() : sim_clock::now(); }

    // --- catalog lookups (no lock: the catalog never changes) ---------------------------
    plan_spec const* find_plan(std::int64_t plan_id) const {
        auto it = plans_.find(plan_id);
        return it == plans_.end() ? nullptr : it->second.plan;
    }
    product_spec const* find_product(std::int64_t product_id) const {
        auto it = products_.find(product_id);
        return it == products_.end() ? nullptr : it->second;
    }
    product_spec const* product_of_plan(std::int64_t plan_id) const {
        auto it = plans_.find(plan_id);
        return it == plans_.end() ? nullptr : it->second.product;
    }
    category_spec const* find_category(std::int64_t id) const {
        for (auto const& c : catalog_.categories)
            if (c.id == id) return &c;
        return nullptr;
    }

    /// Units left of an instant plan (0 for unknown and non-instant plans).
    std::uint64_t stock(std::int64_t plan_id) const {
        std::lock_guard lk(mu_);
        auto it = plans_.find(plan_id);
        if (it == plans_.end() || !it->second.plan->is_instant) return 0;
        return it->second.plan->initial_stock() - it->second.sold;
    }
    /// Units sold of a product: the catalog's figure plus what the simulator sold.
    std::int64_t sold(std::int64_t product_id) const {
        auto p = find_product(product_id);
        std::lock_guard lk(mu_);
        auto it = product_sold_.find(product_id);
        return (p ? p->sold : 0) + (it == product_sold_.end() ? 0 : it->second);
    }

    // --- accounts -------------------------------------------------------------------------
    /// Adds an account, or replaces the settings of the one with the same key (its usage
    /// windows are kept).
    void add_account(account_spec a) {
        std::lock_guard lk(mu_);
        auto it = account_index_.find(a.key);
        if (it != account_index_.end()) {
            accounts_[it->second].spec = std::move(a);
            return;
        }
        std::string key = a.key;
        accounts_.emplace_back();
        accounts_.back().spec = std::move(a);
        account_index_.emplace(std::move(key), accounts_.size() - 1);
    }
    std::optional<account_spec> account(std::string_view key) const {
        std::lock_guard lk(mu_);
        auto it = account_index_.find(key);
        if (it == account_index_.end()) return std::nullopt;
        return accounts_[it->second].spec;
    }
    /// Edits an account in place (disable it, expire it, change its allow-list…).
    bool modify_account(std::string_view key, std::function<void(account_spec&)> const& edit) {
        std::lock_guard lk(mu_);
        auto it = account_index_.find(key);
        if (it == account_index_.end()) return false;
        std::string old_key = accounts_[it->second].spec.key;
        edit(accounts_[it->second].spec);
        accounts_[it->second].spec.key = old_key; // the key is the identity
        return true;
    }
    bool set_balance(std::string_view key, money m) {
        return modify_account(key, [&](account_spec& a) { a.balance = m; });
    }
    bool adjust_balance(std::string_view key, money delta) {
        return modify_account(key, [&](account_spec& a) { a.balance += delta; });
    }
    std::optional<money> balance(std::string_view key) const {
        std::lock_guard lk(mu_);
        auto it = account_index_.find(key);
        if (it == account_index_.end()) return std::nullopt;
        return accounts_[it->second].spec.balance;
    }
    /// The shop-wide API switch (API_DISABLED when off).
    void set_api_enabled(bool on) {
        std::lock_guard lk(mu_);
        api_enabled_ = on;
    }

    /// The key check, in the deployed order: key format/unknown → API_DISABLED →
    /// DISABLED_API_KEY → EXPIRED_API_KEY → secret → USER_BANNED → IP_NOT_ALLOWED → rate
    /// limit → daily limit. Once key and secret are valid the request is logged against
    /// both windows, refused ones included, as the deployed server does.
    auth_result authenticate(std::string_view key, std::string_view secret, std::string_view remote_ip) {
        auto now = this->now();
        auth_result r;
        {
            std::lock_guard lk(mu_);
            r = authenticate_locked(key, secret, remote_ip, now);
        }
        if (!r.ok()) {
            if (r.error == errc::rate_limit_exceeded) ++rate_limited_;
            else if (r.error == errc::daily_limit_exceeded) ++daily_limited_;
            else ++auth_failed_;
        }
        return r;
    }

    /// Records the outcome of a counted request for api_usage_today.
    void finish_request(auth_result const& a, bool success) {
        if (!a.counted) return;
        auto day = local_day(now(), opts_.utc_offset);
        std::lock_guard lk(mu_);
        auto& acc = accounts_[a.account];
        if (acc.day != day) return;
        ++(success ? acc.day_success : acc.day_failed);
    }

    /// The account as account/balance and account/info print it; `with_orders` adds the
    /// orders summary (a walk over the user's orders).
    account_report report(std::size_t account_index, bool with_orders = true) {
        auto now = this->now();
        std::lock_guard lk(mu_);
        auto& acc = accounts_.at(account_index);
        account_report rep;
        rep.spec = acc.spec;
        auto day = local_day(now, opts_.utc_offset);
        rep.day_start = local_midnight(day, opts_.utc_offset);
        if (acc.day == day) {
            rep.success_requests = acc.day_success;
            rep.failed_requests = acc.day_failed;
            rep.total_requests = acc.day_success + acc.day_failed;
        }
        if (auto it = user_orders_.find(acc.spec.user_id); with_orders && it != user_orders_.end()) {
            for (auto idx : it->second) {
                auto& o = orders_[idx];
                advance(o, now);
                ++rep.orders_total;
                if (o.status == order_status::pending || o.status == order_status::processing) ++rep.orders_pending;
                else if (o.status == order_status::completed) ++rep.orders_completed;
            }
        }
        return rep;
    }

    // --- orders ---------------------------------------------------------------------------
    /// Places one order per line, atomically: either every line is placed and paid, or
    /// nothing changes. With `fail_checkout` everything is validated and then refused with
    /// checkout_error, nothing committed.
    create_result create_order(auth_result const& who, std::span<cart_line const> lines,
                               std::string_view coupon_code, bool fail_checkout = false) {
        create_result r;
        auto fail = [&](create_failure f, std::string msg) {
            r.failure = f;
            r.message = std::move(msg);
            ++creates_failed_;
            return std::move(r);
        };
        if (lines.empty()) return fail(create_failure::items_required, "Vui l\u00F2ng ch\u1ECDn s\u1EA3n ph\u1EA9m");
        if (lines.size() > 20)
            return fail(create_failure::too_many_items, "T\u1ED1i \u0111a 20 s\u1EA3n ph\u1EA9m m\u1ED7i \u0111\u01A1n h\u00E0ng");
        struct priced {
            plan_spec const* plan;
            product_spec const* product;
            money subtotal, discount, charged;
        };
        std::vector<priced> p;
        p.reserve(lines.size());
        for (std::size_t i = 0; i < lines.size(); ++i) {
            auto const& l = lines[i];
            auto it = plans_.find(l.plan_id);
            if (it == plans_.end())
                // The deployed server's words: it names the plan, never the item's index.
                return fail(create_failure::unknown_plan, "G\u00F3i \"#" + std::to_string(l.plan_id) +
                                                              "\" kh\u00F4ng t\u1ED3n t\u1EA1i ho\u1EB7c \u0111\u00E3 ng\u1EEBng b\u00E1n");
            auto const& plan = *it->second.plan;
            if (l.quantity < 1 || l.quantity > 1'000'000)
                return fail(create_failure::bad_quantity, "S\u1ED1 l\u01B0\u1EE3ng kh\u00F4ng h\u1EE3p l\u1EC7 cho g\u00F3i " +
                                                              plan.name + " (1 - 1000000)");
            for (auto const& f : plan.fields) {
                if (!f.required) continue;
                auto v = std::find_if(l.fields.begin(), l.fields.end(), [&](auto const& kv) { return kv.first == f.key; });
                if (v == l.fields.end() || v->second.empty())
                    return fail(create_failure::missing_field, "S\u1EA3n ph\u1EA9m \"" + it->second.product->name +
                                                                   "\": Vui l\u00F2ng nh\u1EADp " + f.label);
            }
            p.push_back({&plan, it->second.product, plan.final_price() * l.quantity, {}, {}});
        }

        auto now = this->now();
        std::lock_guard lk(mu_);
        // Stock, per plan over all lines.
        std::unordered_map<std::int64_t, std::uint64_t> need;
        for (std::size_t i = 0; i < lines.size(); ++i) {
            if (!p[i].plan->is_instant) continue;
            auto& n = need[p[i].plan->id];
            n += static_cast<std::uint64_t>(lines[i].quantity);
            auto const& st = plans_.at(p[i].plan->id);
            auto left = st.plan->initial_stock() - st.sold;
            if (n > left) {
                ++creates_failed_;
                r.failure = create_failure::out_of_stock;
                r.message = "S\u1EA3n ph\u1EA9m \"" + p[i].product->name + "\" kh\u00F4ng \u0111\u1EE7 kho h\u00E0ng (c\u00F2n " +
                            std::to_string(left) + ")";
                return r;
            }
        }
        // Coupon: an unusable one is skipped, never fatal (deployed behaviour).
        coupon_spec* coupon = nullptr;
        if (!coupon_code.empty()) {
            for (auto& c : coupons_)
                if (detail::iequals_ascii(c.code, coupon_code)) coupon = &c;
            if (coupon && ((coupon->expires_at && now >= *coupon->expires_at) ||
                           (coupon->usage_limit > 0 && coupon->used >= coupon->usage_limit)))
                coupon = nullptr;
            r.coupon_skipped = coupon == nullptr;
        }
        money fixed_left = coupon && coupon->type == coupon_spec::kind::fixed ? coupon->value : money{};
        std::int64_t bp = coupon && coupon->type == coupon_spec::kind::percent ? coupon->value.hundredths() : 0;
        for (auto& x : p) {
            if (coupon && coupon->type == coupon_spec::kind::percent) x.discount = detail::percent_of(x.subtotal, bp);
            else if (coupon) {
                x.discount = std::min(fixed_left, x.subtotal);
                fixed_left -= x.discount;
            }
            money final_amount = x.subtotal - x.discount;
            x.charged = final_amount;
            if (opts_.quirk_double_discount && bp > 0) x.charged = final_amount - detail::percent_of(final_amount, bp);
            r.original_total += x.subtotal;
            r.discount_amount += x.discount;
            r.total_amount += x.charged;
        }
        auto& acc = accounts_.at(who.account);
        if (acc.spec.balance < r.total_amount) {
            ++creates_failed_;
            r.failure = create_failure::insufficient_balance;
            r.message = "S\u1ED1 d\u01B0 kh\u00F4ng \u0111\u1EE7 \u0111\u1EC3 thanh to\u00E1n";
            return r;
        }
        if (fail_checkout) {
            ++creates_failed_;
            r.failure = create_failure::checkout_error;
            r.message = "L\u1ED7i thanh to\u00E1n, vui l\u00F2ng th\u1EED l\u1EA1i";
            return r;
        }
        // Commit.
        acc.spec.balance -= r.total_amount;
        r.new_balance = acc.spec.balance;
        if (coupon) {
            ++coupon->used;
            r.coupon_code = coupon->code;
        }
        r.orders.reserve(lines.size());
        for (std::size_t i = 0; i < lines.size(); ++i) {
            auto& x = p[i];
            order_record o;
            o.id = static_cast<std::int64_t>(orders_.size()) + 1;
            o.trans_id = new_trans_id();
            o.api_key = acc.spec.key;
            o.user_id = acc.spec.user_id;
            o.product_id = x.product->id;
            o.plan_id = x.plan->id;
            o.quantity = lines[i].quantity;
            o.list_price = x.plan->price;
            o.sale_price = x.plan->sale_price;
            o.unit_price = x.plan->final_price();
            o.subtotal = x.subtotal;
            o.discount = x.discount;
            o.final_amount = x.subtotal - x.discount;
            o.charged = x.charged;
            o.coupon_code = r.coupon_code;
            for (auto const& f : x.plan->fields) {
                auto v = std::find_if(lines[i].fields.begin(), lines[i].fields.end(),
                                      [&](auto const& kv) { return kv.first == f.key; });
                if (v != lines[i].fields.end()) o.fields_data.push_back(*v);
            }
            o.instant = x.plan->is_instant;
            if (o.instant) {
                auto& st = plans_.at(x.plan->id);
                o.stock_start = st.sold;
                st.sold += static_cast<std::uint64_t>(o.quantity);
                o.status = order_status::completed;
            }
            o.created_at = o.updated_at = now;
            product_sold_[o.product_id] += o.quantity;
            trans_index_.emplace(o.trans_id, orders_.size());
            user_orders_[o.user_id].push_back(orders_.size());
            orders_.push_back(o);
            r.orders.push_back(std::move(o));
        }
        orders_created_ += r.orders.size();
        return r;
    }

    /// Calls `f(order_record const&)` under the lock for the user's order with this trans_id
    /// (or, if trans_id is empty, this id), after advancing its lifecycle. False if none.
    template <class F>
    bool visit_order(std::int64_t user_id, std::string_view trans_id, std::int64_t order_id, F&& f) {
        auto now = this->now();
        std::lock_guard lk(mu_);
        order_record* o = nullptr;
        if (!trans_id.empty()) {
            auto it = trans_index_.find(trans_id);
            if (it != trans_index_.end()) o = &orders_[it->second];
        } else if (order_id >= 1 && order_id <= static_cast<std::int64_t>(orders_.size())) {
            o = &orders_[static_cast<std::size_t>(order_id - 1)];
        }
        if (!o || o->user_id != user_id) return false;
        advance(*o, now);
        f(static_cast<order_record const&>(*o));
        return true;
    }

    /// Calls `f(order_record const&)` for each order of the page, newest first (ORDER BY id
    /// DESC, offset paging); returns the number of orders matching the query.
    template <class F>
    std::int64_t visit_orders(std::int64_t user_id, list_query const& q, F&& f) {
        auto now = this->now();
        std::lock_guard lk(mu_);
        auto it = user_orders_.find(user_id);
        if (it == user_orders_.end()) return 0;
        auto const& ids = it->second;
        std::int64_t limit = std::max<std::int64_t>(q.limit, 1);
        std::int64_t offset = (std::max<std::int64_t>(q.page, 1) - 1) * limit;
        bool filtered = q.status || q.from_day || q.to_day;
        if (!filtered) {
            auto total = static_cast<std::int64_t>(ids.size());
            for (std::int64_t k = offset; k < std::min(offset + limit, total); ++k) {
                auto& o = orders_[ids[static_cast<std::size_t>(total - 1 - k)]];
                advance(o, now);
                f(static_cast<order_record const&>(o));
            }
            return total;
        }
        std::int64_t matched = 0;
        for (auto r = ids.rbegin(); r != ids.rend(); ++r) {
            auto& o = orders_[*r];
            advance(o, now);
            if (q.status && o.status != *q.status) continue;
            auto day = local_day(o.created_at, opts_.utc_offset);
            if (q.from_day && day < *q.from_day) continue;
            if (q.to_day && day > *q.to_day) continue;
            if (matched >= offset && matched < offset + limit) f(static_cast<order_record const&>(o));
            ++matched;
        }
        return matched;
    }

    /// Every order (lifecycle advanced), in creation order.
    std::vector<order_record> orders() {
        auto now = this->now();
        std::lock_guard lk(mu_);
        for (auto& o : orders_) advance(o, now);
        return {orders_.begin(), orders_.end()};
    }
    std::optional<order_record> order(std::string_view trans_id) {
        auto now = this->now();
        std::lock_guard lk(mu_);
        auto it = trans_index_.find(trans_id);
        if (it == trans_index_.end()) return std::nullopt;
        advance(orders_[it->second], now);
        return orders_[it->second];
    }

    /// Item `k` (0-based, k < quantity) of a completed order: the plan's stock sequence for
    /// instant plans, an item made for this order otherwise.
    std::string delivery_item(order_record const& o, std::int64_t k) const {
        if (o.instant) {
            if (auto pl = find_plan(o.plan_id)) return stock_item(*pl, o.stock_start + static_cast<std::uint64_t>(k));
        }
        std::string login;
        for (char c : o.trans_id) login += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
        plan_spec fake;
        fake.id = o.id;
        auto pass = stock_item(fake, static_cast<std::uint64_t>(k));
        return "Account: " + login + "." + std::to_string(k + 1) + "@mail.com | Pass: " + pass.substr(pass.rfind(' ') + 1);
    }
    /// The items delivered so far: all of them once the order is completed, none before.
    std::vector<std::string> delivery_items(order_record const& o) const {
        std::vector<std::string> v;
        if (o.status != order_status::completed) return v;
        v.reserve(static_cast<std::size_t>(o.quantity));
        for (std::int64_t k = 0; k < o.quantity; ++k) v.push_back(delivery_item(o, k));
        return v;
    }

    /// pending/processing → completed (items delivered).
    transition_result complete(std::string_view trans_id) {
        return transition(trans_id, [](order_record& o, account_spec&) {
            if (o.status != order_status::pending && o.status != order_status::processing) return false;
            o.status = order_status::completed;
            return true;
        });
    }
    /// pending/processing → cancelled. No money moves (use refund to return it).
    transition_result cancel(std::string_view trans_id) {
        return transition(trans_id, [](order_record& o, account_spec&) {
            if (o.status != order_status::pending && o.status != order_status::processing) return false;
            o.status = order_status::cancelled;
            return true;
        });
    }
    /// Any status but refunded → refunded; the amount charged goes back to the balance.
    transition_result refund(std::string_view trans_id) {
        return transition(trans_id, [](order_record& o, account_spec& a) {
            if (o.status == order_status::refunded) return false;
            o.status = order_status::refunded;
            a.balance += o.charged;
            return true;
        });
    }

    // --- counters -------------------------------------------------------------------------
    void count_request(endpoint e) noexcept { requests_[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed); }
    store_stats stats() const {
        store_stats s;
        for (std::size_t i = 0; i < endpoint_count; ++i) s.requests[i] = requests_[i].load(std::memory_order_relaxed);
        s.rate_limited = rate_limited_.load();
        s.daily_limited = daily_limited_.load();
        s.auth_failed = auth_failed_.load();
        s.orders_created = orders_created_.load();
        s.creates_failed = creates_failed_.load();
        return s;
    }

private:
    struct account_state {
        account_spec spec;
        // Rate window: (second, requests in that second), oldest first.
        std::deque<std::pair<std::int64_t, std::uint32_t>> window;
        std::uint64_t in_window = 0;
        std::int64_t day = INT64_MIN;
        std::uint64_t day_count = 0, day_success = 0, day_failed = 0;
    };
    struct plan_state {
        plan_spec const* plan;
        product_spec const* product;
        std::uint64_t sold;
    };

    auth_result authenticate_locked(std::string_view key, std::string_view secret, std::string_view ip,
                                    sim_clock::time_point now) {
        auth_result r;
        auto it = key_format_ok(key) ? account_index_.find(key) : account_index_.end();
        if (it == account_index_.end()) return r.error = errc::invalid_api_key, r;
        auto& a = accounts_[it->second];
        if (!api_enabled_) return r.error = errc::api_disabled, r;
        if (a.spec.disabled) return r.error = errc::disabled_api_key, r;
        if (a.spec.expires_at && now >= *a.spec.expires_at) return r.error = errc::expired_api_key, r;
        if (!secret_format_ok(secret) || secret != a.spec.secret) return r.error = errc::invalid_api_secret, r;
        r.account = it->second;
        r.user_id = a.spec.user_id;
        r.permissions = a.spec.permissions;
        r.counted = true;

        // Log this request in both windows, remembering the counts before it.
        using namespace std::chrono;
        std::int64_t sec = floor<seconds>(now.time_since_epoch()).count();
        std::int64_t from = sec - opts_.rate_window.count();
        while (!a.window.empty() && a.window.front().first < from) {
            a.in_window -= a.window.front().second;
            a.window.pop_front();
        }
        std::uint64_t before = a.in_window;
        if (!a.window.empty() && a.window.back().first == sec) ++a.window.back().second;
        else a.window.emplace_back(sec, 1);
        ++a.in_window;
        auto day = local_day(now, opts_.utc_offset);
        if (a.day != day) {
            a.day = day;
            a.day_count = a.day_success = a.day_failed = 0;
        }
        std::uint64_t day_before = a.day_count++;

        if (a.spec.banned) return r.error = errc::user_banned, r;
        if (!a.spec.ip_allow.empty() &&
            std::find(a.spec.ip_allow.begin(), a.spec.ip_allow.end(), ip) == a.spec.ip_allow.end())
            return r.error = errc::ip_not_allowed, r;
        std::uint64_t limit = opts_.rate_limit_override ? opts_.rate_limit_override : a.spec.rate_limit;
        if (before >= limit) return r.error = errc::rate_limit_exceeded, r;
        std::uint64_t daily = opts_.daily_limit_override ? opts_.daily_limit_override : a.spec.daily_limit;
        if (day_before >= daily) return r.error = errc::daily_limit_exceeded, r;
        return r;
    }

    /// The schedule of non-instant orders, applied lazily when an order is read: no timers.
    void advance(order_record& o, sim_clock::time_point now) const {
        if (o.instant || o.manual) return;
        if (o.status != order_status::pending && o.status != order_status::processing) return;
        auto age = now - o.created_at;
        if (opts_.completed_after.count() > 0 && age >= opts_.completed_after) {
            o.status = order_status::completed;
            o.updated_at = o.created_at + opts_.completed_after;
        } else if (opts_.processing_after.count() > 0 && age >= opts_.processing_after &&
                   o.status == order_status::pending) {
            o.status = order_status::processing;
            o.updated_at = o.created_at + opts_.processing_after;
        }
    }

    template <class Edit>
    transition_result transition(std::string_view trans_id, Edit edit) {
        auto now = this->now();
        std::lock_guard lk(mu_);
        auto it = trans_index_.find(trans_id);
        if (it == trans_index_.end()) return transition_result::not_found;
        auto& o = orders_[it->second];
        advance(o, now);
        auto acc = account_index_.find(o.api_key);
        if (acc == account_index_.end()) return transition_result::not_found;
        if (!edit(o, accounts_[acc->second].spec)) return transition_result::invalid_state;
        o.manual = true;
        o.updated_at = now;
        return transition_result::ok;
    }

    std::string new_trans_id() {
        static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (;;) {
            std::string id(7, ' ');
            auto x = rng_();
            for (char& c : id) {
                c = alphabet[x % 36];
                x /= 36;
            }
            if (!trans_index_.count(id)) return id;
        }
    }

    catalog catalog_;
    store_options opts_;
    std::unordered_map<std::int64_t, product_spec const*> products_;
    std::unordered_map<std::int64_t, plan_state> plans_;

    mutable std::mutex mu_;
    std::mt19937_64 rng_;
    bool api_enabled_ = true;
    std::deque<account_state> accounts_;
    std::unordered_map<std::string, std::size_t, detail::string_hash, std::equal_to<>> account_index_;
    std::vector<coupon_spec> coupons_;
    std::deque<order_record> orders_;
    std::unordered_map<std::string, std::size_t, detail::string_hash, std::equal_to<>> trans_index_;
    std::unordered_map<std::int64_t, std::vector<std::size_t>> user_orders_;
    std::unordered_map<std::int64_t, std::int64_t> product_sold_;

    std::array<std::atomic<std::uint64_t>, endpoint_count> requests_{};
    std::atomic<std::uint64_t> rate_limited_{0}, daily_limited_{0}, auth_failed_{0}, orders_created_{0},
        creates_failed_{0};
};

} // namespace shop::testing
