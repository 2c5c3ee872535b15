// Deciding, without I/O, whether a create whose answer was lost placed an order: the API has
// no idempotency key, so the client looks for the one unclaimed order that matches it.
#pragma once

#include <shop/models.hpp>
#include <shop/money.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace shop::detail {

/// "YYYY-MM-DD HH:MM:SS" in the server's zone to unix seconds; nullopt when malformed.
inline std::optional<std::int64_t> parse_server_time(std::string_view s, std::chrono::seconds utc_offset) {
    if (s.size() < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':') return std::nullopt;
    auto num = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
        int v = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (s[i] < '0' || s[i] > '9') return std::nullopt;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), se = num(17, 2);
    if (!y || !mo || !d || !h || !mi || !se || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *se > 60)
        return std::nullopt;
    std::chrono::year_month_day ymd{std::chrono::year(*y), std::chrono::month(static_cast<unsigned>(*mo)),
                                    std::chrono::day(static_cast<unsigned>(*d))};
    if (!ymd.ok()) return std::nullopt;
    auto days = std::chrono::sys_days(ymd).time_since_epoch().count();
    return static_cast<std::int64_t>(days) * 86400 + *h * 3600 + *mi * 60 + *se - utc_offset.count();
}

/// Field lists compare as sets of pairs: the server may reorder keys.
inline bool same_fields(field_list a, field_list b) {
    if (a.size() != b.size()) return false;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
}

/// What was sent in the create whose answer was lost.
struct lost_attempt {
    std::int64_t plan_id = 0;
    std::int64_t quantity = 1;
    field_list fields;
    /// The order's final_amount when known (no coupon and a known price); compared exactly.
    std::optional<money> expected_amount;
    /// Server time (unix seconds) just before the create was sent, less a clock slack.
    std::int64_t not_before = 0;
};

/// One order from the listing, with its fields when they were fetched (via /orders/status).
struct order_candidate {
    std::int64_t id = 0;
    std::string trans_id;
    std::int64_t plan_id = 0;
    std::int64_t quantity = 0;
    money final_amount;
    std::int64_t created = 0; ///< unix seconds
    std::optional<field_list> fields;
};

struct match_verdict {
    enum class kind {
        adopt,       ///< exactly one unclaimed order matches: it is ours
        none,        ///< nothing matches: the create did not place an order (check the balance)
        ambiguous,   ///< several match: stays outcome unknown
        need_fields, ///< fetch the fields of `need` (by trans_id), then decide again
    } verdict = kind::none;
    std::string trans_id;          ///< for adopt
    std::vector<std::string> need; ///< for need_fields
};

inline order_candidate to_candidate(const order_info& o, std::chrono::seconds utc_offset) {
    order_candidate c;
    c.id = o.id;
    c.trans_id = o.trans_id;
    c.plan_id = o.plan ? o.plan->id : 0;
    c.quantity = o.quantity;
    c.final_amount = o.final_amount;
    c.created = o.created_at ? parse_server_time(*o.created_at, utc_offset).value_or(0) : 0;
    if (!o.fields_data.empty()) c.fields = o.fields_data;
    return c;
}

/// Matches plan, quantity, time, amount (when known) and finally fields against every
/// order not already claimed by another item.
inline match_verdict match_lost_attempt(const lost_attempt& a, const std::vector<order_candidate>& orders,
                                        const std::set<std::string>& claimed) {
    std::vector<const order_candidate*> shortlist;
    for (auto const& o : orders) {
        if (claimed.count(o.trans_id)) continue;
        if (o.plan_id != a.plan_id || o.quantity != a.quantity) continue;
        if (o.created != 0 && o.created < a.not_before) continue;
        if (a.expected_amount && o.final_amount != *a.expected_amount) continue;
        shortlist.push_back(&o);
    }
    match_verdict v;
    std::vector<const order_candidate*> matches;
    for (auto* o : shortlist) {
        if (!o->fields) {
            // An order without fields_data in the listing: its fields are not known yet,
            // unless the attempt had none and the listing shows fields_data as empty.
            if (a.fields.empty()) matches.push_back(o);
            else v.need.push_back(o->trans_id);
            continue;
        }
        if (same_fields(*o->fields, a.fields)) matches.push_back(o);
    }
    if (!v.need.empty()) {
        v.verdict = match_verdict::kind::need_fields;
        return v;
    }
    if (matches.size() == 1) {
        v.verdict = match_verdict::kind::adopt;
        v.trans_id = matches.front()->trans_id;
    } else if (matches.size() > 1) {
        v.verdict = match_verdict::kind::ambiguous;
    }
    return v;
}

/// Identity of an item for the twin rule: while one item with the same plan, quantity and
/// fields is unresolved, its twins are not sent, so a match can only be one of them.
inline std::string twin_key(std::int64_t plan_id, std::int64_t quantity, field_list fields) {
    std::sort(fields.begin(), fields.end());
    std::string key = std::to_string(plan_id) + '\x1f' + std::to_string(quantity);
    for (auto const& [k, v] : fields) {
        key += '\x1f';
        key += k;
        key += '\x1e';
        key += v;
    }
    return key;
}

} // namespace shop::detail
