// The simulator's catalog: categories, products, plans (with stock), coupons and API
// accounts; the JSON catalog file format that replaces the demo data; and the demo data
// itself (every id the published documentation mentions, plus large instant plans for
// benchmarks).
#pragma once

#include <shop/money.hpp>
#include <shop/testing/endpoints.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace shop::testing {

using sim_clock = std::chrono::system_clock;

// --- server-local time ----------------------------------------------------------------

/// Writes "YYYY-MM-DD HH:MM:SS" (server-local wall clock at `offset` from UTC) into `out`.
inline void format_local_time(char (&out)[20], sim_clock::time_point tp, std::chrono::seconds offset) {
    using namespace std::chrono;
    auto t = floor<seconds>(tp) + offset;
    auto d = floor<days>(t);
    year_month_day ymd{d};
    hh_mm_ss<seconds> hms{t - d};
    auto put = [&](int at, unsigned v, int width) {
        for (int k = width - 1; k >= 0; --k, v /= 10) out[at + k] = static_cast<char>('0' + v % 10);
    };
    put(0, static_cast<unsigned>(static_cast<int>(ymd.year()) % 10000), 4);
    out[4] = '-';
    put(5, static_cast<unsigned>(ymd.month()), 2);
    out[7] = '-';
    put(8, static_cast<unsigned>(ymd.day()), 2);
    out[10] = ' ';
    put(11, static_cast<unsigned>(hms.hours().count()), 2);
    out[13] = ':';
    put(14, static_cast<unsigned>(hms.minutes().count()), 2);
    out[16] = ':';
    put(17, static_cast<unsigned>(hms.seconds().count()), 2);
    out[19] = '\0';
}

inline std::string format_local(sim_clock::time_point tp, std::chrono::seconds offset) {
    char buf[20];
    format_local_time(buf, tp, offset);
    return std::string(buf, 19);
}

/// Parses "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD" as server-local time.
inline std::optional<sim_clock::time_point> parse_local(std::string_view s, std::chrono::seconds offset) {
    using namespace std::chrono;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
    std::string str(s);
    char tail = 0;
    int n = std::sscanf(str.c_str(), "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &tail);
    if (n != 3 && n != 6) return std::nullopt;
    if (n == 3 && str.size() != 10) return std::nullopt;
    // system_clock counts nanoseconds (years 1678..2262): keep far dates inside, so a
    // filter such as to_date=2999-12-31 still means "no upper bound" and never overflows.
    y = std::clamp(y, 1900, 2200);
    year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60) return std::nullopt;
    return sim_clock::time_point(sys_days{ymd} + hours{h} + minutes{mi} + seconds{se} - offset);
}

/// Index of the server-local calendar day (days since 1970-01-01 local).
inline std::int64_t local_day(sim_clock::time_point tp, std::chrono::seconds offset) {
    using namespace std::chrono;
    return floor<days>(floor<seconds>(tp) + offset).time_since_epoch().count();
}

/// The instant of the server-local midnight that starts `day`.
inline sim_clock::time_point local_midnight(std::int64_t day, std::chrono::seconds offset) {
    using namespace std::chrono;
    return sim_clock::time_point(sys_days{days{day}} - offset);
}

// --- catalog data ---------------------------------------------------------------------

/// A field a plan asks for when ordering (`items[].fields`).
struct field_spec {
    std::string key;
    std::string label;
    std::string type = "text"; ///< text | email | password | … (printed as given)
    bool required = true;
};

struct category_spec {
    std::int64_t id = 0;
    std::string name;
    std::string slug;
    std::string description;
    std::optional<std::string> image; ///< null on the wire when absent
    std::int64_t parent_id = 0;       ///< 0 = top level
    std::int64_t sort_order = 0;      ///< listed by sort_order descending, then id
};

struct plan_spec {
    std::int64_t id = 0;
    std::string name;
    money price;                        ///< list price
    money sale_price;                   ///< 0 = no sale
    bool is_instant = true;             ///< delivered at creation from stock
    std::string duration_type = "lifetime";
    std::optional<std::int64_t> duration_value;
    std::string description;
    std::vector<field_spec> fields;
    /// Explicit delivery items of an instant plan, sold first, in order.
    std::vector<std::string> stock_items;
    /// Then this many generated items ("Account: user{n}.p{plan}@mail.com | Pass: …"), so
    /// that millions of units cost no memory.
    std::uint64_t generated_stock = 0;

    /// The price charged per unit: the sale price when there is one.
    money final_price() const { return sale_price > money{} ? sale_price : price; }
    std::uint64_t initial_stock() const { return stock_items.size() + generated_stock; }
};

struct product_spec {
    std::int64_t id = 0;
    std::string name;
    std::string slug;
    std::optional<std::string> image;
    std::string description; ///< HTML
    std::vector<std::int64_t> category_ids; ///< the first one is the main `category`
    std::int64_t sold = 0;   ///< units sold before the simulator started
    double rating = 0;
    std::vector<plan_spec> plans;
};

struct coupon_spec {
    enum class kind { percent, fixed };
    std::string code;                         ///< matched case-insensitively, as MySQL does
    kind type = kind::percent;
    money value;                              ///< percent (10 = 10 %) or a VND amount
    std::optional<sim_clock::time_point> expires_at;
    std::int64_t usage_limit = 0;             ///< 0 = unlimited
    std::int64_t used = 0;
};

/// An API key with its owner. Keys and secrets are checked by prefix and length only.
struct account_spec {
    std::string key;
    std::string secret;
    std::string name = "API Key";
    std::uint32_t permissions = perm_all;     ///< bits of shop::testing::permission
    std::uint32_t rate_limit = 60;            ///< requests per rolling window (60 s by default)
    std::uint32_t daily_limit = 10000;        ///< requests per server-local day
    std::vector<std::string> ip_allow;        ///< empty = any address
    std::optional<sim_clock::time_point> expires_at;
    bool disabled = false;                    ///< DISABLED_API_KEY
    bool banned = false;                      ///< USER_BANNED (the owner's account is locked)
    money balance;
    money total_deposited;
    std::int64_t user_id = 1;
    std::string username = "admin";
    std::string email = "admin@cmsnt.co";
    std::string phone;
    std::optional<sim_clock::time_point> created_at; ///< the key's; null on the wire when absent
};

inline constexpr std::string_view demo_api_key = "sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6";
inline constexpr std::string_view demo_api_secret =
    "sk_secret_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2";

/// The delivery item at `index` of an instant plan's stock sequence: explicit items first,
/// then generated ones. Every index gives a distinct string.
inline std::string stock_item(plan_spec const& plan, std::uint64_t index) {
    if (index < plan.stock_items.size()) return plan.stock_items[index];
    std::uint64_t n = index - plan.stock_items.size();
    // A password that looks random but is a pure function of (plan, n).
    std::uint64_t x = (n + 1) * 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(plan.id) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    static constexpr char alphabet[] = "abcdefghijkmnopqrstuvwxyz23456789";
    char pass[10];
    for (char& c : pass) {
        c = alphabet[x % 33];
        x /= 33;
    }
    std::string s = "Account: user";
    s += std::to_string(n);
    s += ".p";
    s += std::to_string(plan.id);
    s += "@mail.com | Pass: ";
    s.append(pass, sizeof pass);
    return s;
}

/// Everything the simulator serves. Immutable once a store owns it (stock is counted by
/// the store).
struct catalog {
    std::vector<category_spec> categories;
    std::vector<product_spec> products;
    std::vector<coupon_spec> coupons;
    std::vector<account_spec> accounts;

    /// Throws std::invalid_argument on duplicate ids, unknown category references, empty
    /// names or codes, negative prices, bad percentages or duplicate keys.
    void validate() const {
        auto fail = [](std::string const& what) { throw std::invalid_argument("catalog: " + what); };
        std::set<std::int64_t> cats, prods, plans;
        for (auto const& c : categories) {
            if (!cats.insert(c.id).second) fail("duplicate category id " + std::to_string(c.id));
            if (c.name.empty()) fail("category " + std::to_string(c.id) + " has no name");
        }
        for (auto const& c : categories)
            if (c.parent_id != 0 && !cats.count(c.parent_id))
                fail("category " + std::to_string(c.id) + " has unknown parent_id " + std::to_string(c.parent_id));
        for (auto const& p : products) {
            if (!prods.insert(p.id).second) fail("duplicate product id " + std::to_string(p.id));
            if (p.name.empty()) fail("product " + std::to_string(p.id) + " has no name");
            for (auto id : p.category_ids)
                if (!cats.count(id))
                    fail("product " + std::to_string(p.id) + " refers to unknown category " + std::to_string(id));
            for (auto const& pl : p.plans) {
                if (!plans.insert(pl.id).second) fail("duplicate plan id " + std::to_string(pl.id));
                if (pl.name.empty()) fail("plan " + std::to_string(pl.id) + " has no name");
                if (pl.price < money{} || pl.sale_price < money{})
                    fail("plan " + std::to_string(pl.id) + " has a negative price");
                std::set<std::string> keys;
                for (auto const& f : pl.fields)
                    if (f.key.empty() || !keys.insert(f.key).second)
                        fail("plan " + std::to_string(pl.id) + " has an empty or duplicate field key");
            }
        }
        std::set<std::string> codes;
        for (auto const& c : coupons) {
            std::string upper;
            for (char ch : c.code) upper += (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 32) : ch;
            if (c.code.empty() || !codes.insert(upper).second) fail("empty or duplicate coupon code '" + c.code + "'");
            if (c.value < money{}) fail("coupon " + c.code + " has a negative value");
            if (c.type == coupon_spec::kind::percent && c.value > money::from_vnd(100))
                fail("coupon " + c.code + " is more than 100 percent");
        }
        std::set<std::string> keys;
        for (auto const& a : accounts)
            if (a.key.empty() || !keys.insert(a.key).second) fail("empty or duplicate API key");
    }

    /// The demo account: the documented example credentials, every permission, 500,000,000
    /// VND, 60 requests/minute, 10,000/day.
    static account_spec demo_account() {
        account_spec a;
        a.key = std::string(demo_api_key);
        a.secret = std::string(demo_api_secret);
        a.balance = money::from_vnd(500'000'000);
        a.total_deposited = money::from_vnd(500'000'000);
        a.created_at = parse_local("2026-02-02 14:53:35", std::chrono::hours(7));
        return a;
    }

    /// The default catalog (see README.md, section "Simulator" for the table of plans).
    static catalog demo() {
        catalog c;
        c.categories = {
            {1, "Ti\u1EC7n \u00CDch", "tien-ich", "", "https://example.com/category/EIT3.png", 0, 0},
            {3, "Gi\u1EA3i Tr\u00ED", "giai-tri", "", "https://example.com/category/DOQ4.png", 1, 9},
            {5, "H\u1ECDc T\u1EADp", "hoc-tap", "", "https://example.com/category/9IRK.png", 1, 4},
            {14, "L\u00E0m vi\u1EC7c", "lam-viec", "", std::nullopt, 0, 2},
        };
        auto plan = [](std::int64_t id, std::string name, std::int64_t price, bool instant,
                       std::string dtype, std::optional<std::int64_t> dvalue, std::uint64_t generated) {
            plan_spec p;
            p.id = id;
            p.name = std::move(name);
            p.price = money::from_vnd(price);
            p.is_instant = instant;
            p.duration_type = std::move(dtype);
            p.duration_value = dvalue;
            p.generated_stock = generated;
            return p;
        };
        // Product 29 as in the products/list example.
        product_spec adobe;
        adobe.id = 29;
        adobe.name = "Key Adobe Creative Cloud All Apps";
        adobe.slug = "key-adobe-creative-cloud-all-apps";
        adobe.image = "https://example.com/product.jpg";
        adobe.description = "<p>M\u00F4 t\u1EA3 s\u1EA3n ph\u1EA9m...</p>";
        adobe.category_ids = {5, 14};
        adobe.sold = 24;
        adobe.rating = 4.5;
        adobe.plans.push_back(plan(319, "T\u00E0i kho\u1EA3n 1 th\u00E1ng", 375000, true, "month", 1, 50));
        auto p320 = plan(320, "N\u00E2ng ch\u00EDnh ch\u1EE7 1 Th\u00E1ng", 1650000, false, "month", 3, 0);
        p320.fields = {{"email", "Email", "email", true}, {"mat_khau", "M\u1EADt kh\u1EA9u", "password", true}};
        adobe.plans.push_back(std::move(p320));
        // Product 21 / plan 19 as in the orders/status example: its first two units are the
        // documented delivery items.
        product_spec figma;
        figma.id = 21;
        figma.name = "S\u1EA3n ph\u1EA9m Figma";
        figma.slug = "san-pham-figma";
        figma.image = "https://example.com/product.jpg";
        figma.description = "<p>Figma Education</p>";
        figma.category_ids = {5};
        figma.sold = 12;
        figma.rating = 5;
        auto p19 = plan(19, "Figma Edu 1 n\u0103m - T\u00E0i kho\u1EA3n", 800000, true, "years", 1, 998);
        p19.sale_price = money::from_vnd(400000);
        p19.stock_items = {"Account: user@mail.com | Pass: abc123", "Account: user2@mail.com | Pass: xyz789"};
        figma.plans.push_back(std::move(p19));
        // Product 10 / plan 5 as in the orders/list example.
        product_spec windows;
        windows.id = 10;
        windows.name = "Windows 11 Pro Key";
        windows.slug = "windows-11-pro-key";
        windows.image = "https://example.com/windows.jpg";
        windows.description = "<p>Key b\u1EA3n quy\u1EC1n Windows 11 Pro</p>";
        windows.category_ids = {1, 14};
        windows.sold = 45;
        windows.rating = 4.8;
        windows.plans.push_back(plan(5, "G\u00F3i Retail - V\u0129nh vi\u1EC5n", 750000, true, "lifetime", std::nullopt, 500));
        // Plan 18 of the orders/create example: needs email_dang_nhap.
        product_spec premium;
        premium.id = 12;
        premium.name = "S\u1EA3n ph\u1EA9m Premium";
        premium.slug = "san-pham-premium";
        premium.image = "https://example.com/premium.jpg";
        premium.description = "<p>G\u00F3i Premium</p>";
        premium.category_ids = {3};
        premium.sold = 3;
        premium.rating = 4;
        auto p18 = plan(18, "Premium 1 th\u00E1ng", 100000, true, "month", 1, 1000);
        p18.fields = {{"email_dang_nhap", "Email \u0111\u0103ng nh\u1EADp", "email", true}};
        premium.plans.push_back(std::move(p18));
        // Plans for tests and benchmarks.
        product_spec bench;
        bench.id = 90;
        bench.name = "T\u00E0i kho\u1EA3n ki\u1EC3m th\u1EED";
        bench.slug = "tai-khoan-kiem-thu";
        bench.image = std::nullopt;
        bench.description = "<p>G\u00F3i d\u00F9ng cho ki\u1EC3m th\u1EED v\u00E0 \u0111o hi\u1EC7u n\u0103ng</p>";
        bench.category_ids = {1};
        bench.plans.push_back(plan(900, "G\u00F3i t\u1EE9c th\u00EC 10K", 10000, true, "days", 30, 5'000'000));
        auto p901 = plan(901, "G\u00F3i l\u1EBB 10.000,5", 0, true, "days", 30, 1'000'000);
        p901.price = money::from_hundredths(1000050);
        bench.plans.push_back(std::move(p901));
        bench.plans.push_back(plan(902, "G\u00F3i gi\u1EDBi h\u1EA1n 100", 50000, true, "days", 30, 100));
        bench.plans.push_back(plan(903, "G\u00F3i h\u1EBFt h\u00E0ng", 20000, true, "days", 30, 0));
        auto p904 = plan(904, "G\u00F3i th\u1EE7 c\u00F4ng", 30000, false, "days", 30, 0);
        p904.sale_price = money::from_vnd(25000);
        bench.plans.push_back(std::move(p904));
        // Instant, with a required field: bulk runs of distinct items.
        auto p905 = plan(905, "G\u00F3i theo t\u00E0i kho\u1EA3n 10K", 10000, true, "days", 30, 1'000'000);
        p905.fields = {{"tai_khoan", "T\u00E0i kho\u1EA3n", "text", true}};
        bench.plans.push_back(std::move(p905));
        c.products = {std::move(adobe), std::move(figma), std::move(windows), std::move(premium), std::move(bench)};

        auto coupon = [](std::string code, coupon_spec::kind k, std::int64_t value) {
            coupon_spec cp;
            cp.code = std::move(code);
            cp.type = k;
            cp.value = money::from_vnd(value);
            return cp;
        };
        c.coupons.push_back(coupon("GIAM10", coupon_spec::kind::percent, 10));
        c.coupons.push_back(coupon("GIAM50K", coupon_spec::kind::fixed, 50000));
        auto expired = coupon("HETHAN", coupon_spec::kind::percent, 20);
        expired.expires_at = parse_local("2020-01-01 00:00:00", std::chrono::hours(7));
        c.coupons.push_back(std::move(expired));
        auto used_up = coupon("HETLUOT", coupon_spec::kind::percent, 15);
        used_up.usage_limit = 1;
        used_up.used = 1;
        c.coupons.push_back(std::move(used_up));
        c.accounts.push_back(demo_account());
        return c;
    }

    /// Reads the JSON catalog format (README.md, section "Simulator"). Local times ("YYYY-MM-DD
    /// HH:MM:SS") are read at `utc_offset`. Without "accounts" the demo account is used.
    /// Throws std::invalid_argument with the path of the offending member.
    static catalog from_json(boost::json::value const& root, std::chrono::seconds utc_offset = std::chrono::hours(7));

    /// Loads a catalog file; throws std::invalid_argument (unreadable file, bad JSON, bad
    /// content).
    static catalog load(std::string const& path, std::chrono::seconds utc_offset = std::chrono::hours(7)) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw std::invalid_argument("catalog: cannot open " + path);
        std::stringstream ss;
        ss << in.rdbuf();
        boost::system::error_code ec;
        auto v = boost::json::parse(ss.str(), ec);
        if (ec) throw std::invalid_argument("catalog: " + path + " is not JSON: " + ec.message());
        return from_json(v, utc_offset);
    }
};

namespace detail {

/// Typed access to a JSON object with the member path in every error message.
class json_reader {
public:
    json_reader(boost::json::value const& v, std::string path) : path_(std::move(path)) {
        if (!v.is_object()) fail("", "must be an object");
        obj_ = &v.as_object();
    }
    [[noreturn]] void fail(std::string_view member, std::string_view what) const {
        std::string where = path_;
        if (!member.empty()) where += (where.empty() ? "" : ".") + std::string(member);
        throw std::invalid_argument("catalog: " + where + " " + std::string(what));
    }
    std::string const& path() const { return path_; }
    boost::json::value const* find(std::string_view k) const {
        auto it = obj_->find(k);
        return it == obj_->end() || it->value().is_null() ? nullptr : &it->value();
    }
    std::int64_t integer(std::string_view k, std::optional<std::int64_t> def = std::nullopt) const {
        auto v = find(k);
        if (!v) {
            if (def) return *def;
            fail(k, "is required");
        }
        if (v->is_int64()) return v->as_int64();
        if (v->is_uint64() && v->as_uint64() <= INT64_MAX) return static_cast<std::int64_t>(v->as_uint64());
        if (v->is_double() && v->as_double() == static_cast<double>(static_cast<std::int64_t>(v->as_double())))
            return static_cast<std::int64_t>(v->as_double());
        fail(k, "must be an integer");
    }
    std::optional<std::int64_t> opt_integer(std::string_view k) const {
        if (!find(k)) return std::nullopt;
        return integer(k);
    }
    std::string string(std::string_view k, std::optional<std::string_view> def = std::nullopt) const {
        auto v = find(k);
        if (!v) {
            if (def) return std::string(*def);
            fail(k, "is required");
        }
        if (!v->is_string()) fail(k, "must be a string");
        return std::string(v->as_string());
    }
    std::optional<std::string> opt_string(std::string_view k) const {
        if (!find(k)) return std::nullopt;
        return string(k);
    }
    bool boolean(std::string_view k, bool def) const {
        auto v = find(k);
        if (!v) return def;
        if (v->is_bool()) return v->as_bool();
        if (v->is_int64()) return v->as_int64() != 0;
        fail(k, "must be a boolean");
    }
    double number(std::string_view k, double def) const {
        auto v = find(k);
        if (!v) return def;
        if (v->is_number()) return v->to_number<double>();
        fail(k, "must be a number");
    }
    money amount(std::string_view k, std::optional<money> def = std::nullopt) const {
        auto v = find(k);
        if (!v) {
            if (def) return *def;
            fail(k, "is required");
        }
        std::optional<money> m;
        if (v->is_int64()) m = money::from_vnd(v->as_int64());
        else if (v->is_uint64()) m = money::from_vnd(static_cast<std::int64_t>(v->as_uint64()));
        else if (v->is_double()) m = money::from_double(v->as_double());
        else if (v->is_string()) m = money::parse(v->as_string());
        if (!m) fail(k, "must be an amount (number or numeric string)");
        return *m;
    }
    std::optional<sim_clock::time_point> time(std::string_view k, std::chrono::seconds offset) const {
        auto v = find(k);
        if (!v) return std::nullopt;
        if (v->is_int64()) return sim_clock::time_point(std::chrono::seconds(v->as_int64()));
        if (v->is_string())
            if (auto t = parse_local(v->as_string(), offset)) return t;
        fail(k, "must be \"YYYY-MM-DD HH:MM:SS\" (server-local), \"YYYY-MM-DD\" or unix seconds");
    }
    boost::json::array const* array(std::string_view k) const {
        auto v = find(k);
        if (!v) return nullptr;
        if (!v->is_array()) fail(k, "must be an array");
        return &v->as_array();
    }

private:
    boost::json::object const* obj_ = nullptr;
    std::string path_;
};

} // namespace detail

inline catalog catalog::from_json(boost::json::value const& root, std::chrono::seconds utc_offset) {
    using detail::json_reader;
    json_reader top(root, "");
    catalog c;
    auto at = [](std::string const& base, std::string_view name, std::size_t i) {
        return (base.empty() ? "" : base + ".") + std::string(name) + "[" + std::to_string(i) + "]";
    };
    if (auto cats = top.array("categories")) {
        for (std::size_t i = 0; i < cats->size(); ++i) {
            json_reader r((*cats)[i], at("", "categories", i));
            category_spec cat;
            cat.id = r.integer("id");
            cat.name = r.string("name");
            cat.slug = r.string("slug", "category-" + std::to_string(cat.id));
            cat.description = r.string("description", "");
            cat.image = r.opt_string("image");
            cat.parent_id = r.integer("parent_id", 0);
            cat.sort_order = r.integer("sort_order", 0);
            c.categories.push_back(std::move(cat));
        }
    }
    if (auto prods = top.array("products")) {
        for (std::size_t i = 0; i < prods->size(); ++i) {
            json_reader r((*prods)[i], at("", "products", i));
            product_spec p;
            p.id = r.integer("id");
            p.name = r.string("name");
            p.slug = r.string("slug", "product-" + std::to_string(p.id));
            p.image = r.opt_string("image");
            p.description = r.string("description", "");
            if (auto ids = r.array("category_ids")) {
                for (auto const& v : *ids) {
                    if (!v.is_int64()) r.fail("category_ids", "must hold integers");
                    p.category_ids.push_back(v.as_int64());
                }
            }
            p.sold = r.integer("sold", 0);
            p.rating = r.number("rating", 0);
            if (auto plans = r.array("plans")) {
                for (std::size_t j = 0; j < plans->size(); ++j) {
                    json_reader pr((*plans)[j], at(r.path(), "plans", j));
                    plan_spec pl;
                    pl.id = pr.integer("id");
                    pl.name = pr.string("name");
                    pl.price = pr.amount("price");
                    pl.sale_price = pr.amount("sale_price", money{});
                    pl.is_instant = pr.boolean("is_instant", true);
                    pl.duration_type = pr.string("duration_type", "lifetime");
                    pl.duration_value = pr.opt_integer("duration_value");
                    pl.description = pr.string("description", "");
                    if (auto fields = pr.array("fields")) {
                        for (std::size_t k = 0; k < fields->size(); ++k) {
                            json_reader fr((*fields)[k], at(pr.path(), "fields", k));
                            field_spec f;
                            f.key = fr.string("key");
                            f.label = fr.string("label", f.key);
                            f.type = fr.string("type", "text");
                            f.required = fr.boolean("required", true);
                            pl.fields.push_back(std::move(f));
                        }
                    }
                    if (auto items = pr.array("stock")) {
                        for (auto const& v : *items) {
                            if (!v.is_string()) pr.fail("stock", "must hold strings");
                            pl.stock_items.emplace_back(v.as_string());
                        }
                    }
                    auto gen = pr.integer("generated_stock", 0);
                    if (gen < 0) pr.fail("generated_stock", "must not be negative");
                    pl.generated_stock = static_cast<std::uint64_t>(gen);
                    p.plans.push_back(std::move(pl));
                }
            }
            c.products.push_back(std::move(p));
        }
    }
    if (auto coupons = top.array("coupons")) {
        for (std::size_t i = 0; i < coupons->size(); ++i) {
            json_reader r((*coupons)[i], at("", "coupons", i));
            coupon_spec cp;
            cp.code = r.string("code");
            auto type = r.string("type", "percent");
            if (type == "percent") cp.type = coupon_spec::kind::percent;
            else if (type == "fixed") cp.type = coupon_spec::kind::fixed;
            else r.fail("type", "must be \"percent\" or \"fixed\"");
            cp.value = r.amount("value");
            cp.expires_at = r.time("expires_at", utc_offset);
            cp.usage_limit = r.integer("usage_limit", 0);
            cp.used = r.integer("used", 0);
            c.coupons.push_back(std::move(cp));
        }
    }
    if (auto accounts = top.array("accounts")) {
        for (std::size_t i = 0; i < accounts->size(); ++i) {
            json_reader r((*accounts)[i], at("", "accounts", i));
            account_spec a;
            a.key = r.string("key");
            a.secret = r.string("secret");
            a.name = r.string("name", "API Key");
            if (auto perms = r.array("permissions")) {
                a.permissions = 0;
                for (auto const& v : *perms) {
                    std::uint32_t bit = v.is_string() ? permission_bit(v.as_string()) : 0;
                    if (!bit) r.fail("permissions", "must hold permission names (orders.create, …)");
                    a.permissions |= bit;
                }
            }
            auto rl = r.integer("rate_limit", 60), dl = r.integer("daily_limit", 10000);
            if (rl < 1 || rl > UINT32_MAX) r.fail("rate_limit", "must be positive");
            if (dl < 1 || dl > UINT32_MAX) r.fail("daily_limit", "must be positive");
            a.rate_limit = static_cast<std::uint32_t>(rl);
            a.daily_limit = static_cast<std::uint32_t>(dl);
            if (auto ips = r.array("ip_allow")) {
                for (auto const& v : *ips) {
                    if (!v.is_string()) r.fail("ip_allow", "must hold strings");
                    a.ip_allow.emplace_back(v.as_string());
                }
            }
            a.expires_at = r.time("expires_at", utc_offset);
            a.created_at = r.time("created_at", utc_offset);
            a.disabled = r.boolean("disabled", false);
            a.banned = r.boolean("banned", false);
            a.balance = r.amount("balance", money{});
            a.total_deposited = r.amount("total_deposited", a.balance);
            a.user_id = r.integer("user_id", 1);
            a.username = r.string("username", "user" + std::to_string(a.user_id));
            a.email = r.string("email", a.username + "@example.com");
            a.phone = r.string("phone", "");
            c.accounts.push_back(std::move(a));
        }
    } else {
        c.accounts.push_back(demo_account());
    }
    c.validate();
    return c;
}

} // namespace shop::testing
