// Deciding, without I/O, whether a create whose answer was lost placed an order: the API has
// no idempotency key, so the client looks for the one unclaimed order that matches it.
#pragma once

#include <shop/models.hpp>
#include <shop/money.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
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

/// Whether an order that stored `stored` may have been placed by an item that sent `sent`:
/// the server keeps only the plan's own fields, so keys the item sent beyond them are missing
/// from its order; a stored key the item did not send, or another value, rules it out.
inline bool could_carry(field_list const& stored, field_list const& sent) {
    return std::all_of(stored.begin(), stored.end(), [&](auto const& kv) {
        return std::find(sent.begin(), sent.end(), kv) != sent.end();
    });
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
    /// The newest order id known before the create was sent: only later ids can be its order.
    std::int64_t after_id = 0;
};

/// One order from the listing, with its fields when they were fetched (via /orders/status).
struct order_candidate {
    std::int64_t id = 0;
    std::string trans_id;
    std::int64_t plan_id = 0;
    std::int64_t quantity = 0;
    money final_amount;
    std::int64_t created = 0; ///< unix seconds
    /// Known once read through /orders/status (the listing does not carry fields_data).
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
    // A listed order's empty fields_data means "not sent", not "none": left unknown.
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
        if (o.id <= a.after_id) continue;
        if (o.created != 0 && o.created < a.not_before) continue;
        if (a.expected_amount && o.final_amount != *a.expected_amount) continue;
        shortlist.push_back(&o);
    }
    match_verdict v;
    std::vector<const order_candidate*> matches;
    for (auto* o : shortlist) {
        if (!o->fields) {
            // The listing does not carry fields_data: read it (/orders/status) before
            // deciding, even for an attempt without fields (the order may have some).
            v.need.push_back(o->trans_id);
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

/// Several lost attempts of identical items (same plan, quantity, fields): they are
/// interchangeable, so up to as many matching orders as attempts are shared out among them
/// (oldest order to the attempt sent first); the attempts left over matched nothing. More
/// matches than attempts means foreign orders look the same: every attempt is ambiguous.
/// `attempts` in the order they were sent. One verdict per attempt.
inline std::vector<match_verdict> match_lost_group(const std::vector<lost_attempt>& attempts,
                                                   const std::vector<order_candidate>& orders,
                                                   const std::set<std::string>& claimed) {
    std::vector<match_verdict> out(attempts.size());
    if (attempts.empty()) return out;
    // The loosest bounds of the group find every order that may belong to one of them.
    lost_attempt loosest = attempts.front();
    for (auto const& a : attempts) {
        loosest.not_before = std::min(loosest.not_before, a.not_before);
        loosest.after_id = std::min(loosest.after_id, a.after_id);
        if (!(a.expected_amount == loosest.expected_amount)) loosest.expected_amount.reset();
    }
    std::vector<const order_candidate*> matches;
    std::vector<std::string> need;
    for (auto const& o : orders) {
        if (claimed.count(o.trans_id)) continue;
        std::vector<order_candidate> one{o};
        auto v = match_lost_attempt(loosest, one, claimed);
        if (v.verdict == match_verdict::kind::need_fields) need.push_back(o.trans_id);
        else if (v.verdict == match_verdict::kind::adopt) matches.push_back(&o);
    }
    if (!need.empty()) {
        for (auto& v : out) {
            v.verdict = match_verdict::kind::need_fields;
            v.need = need;
        }
        return out;
    }
    if (matches.size() > attempts.size()) {
        for (auto& v : out) v.verdict = match_verdict::kind::ambiguous;
        return out;
    }
    std::sort(matches.begin(), matches.end(), [](auto* a, auto* b) { return a->id < b->id; });
    // Oldest order to the earliest attempt it can belong to (an order is never older than
    // the attempt that placed it).
    std::vector<bool> taken(matches.size(), false);
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        for (std::size_t m = 0; m < matches.size(); ++m) {
            if (taken[m]) continue;
            auto const& o = *matches[m];
            if (o.id <= attempts[i].after_id || (o.created != 0 && o.created < attempts[i].not_before)) continue;
            if (attempts[i].expected_amount && o.final_amount != *attempts[i].expected_amount) continue;
            taken[m] = true;
            out[i].verdict = match_verdict::kind::adopt;
            out[i].trans_id = o.trans_id;
            break;
        }
    }
    // A match no attempt could take means the orders and attempts do not pair up cleanly.
    if (std::find(taken.begin(), taken.end(), false) != taken.end())
        for (auto& v : out) {
            v.verdict = match_verdict::kind::ambiguous;
            v.trans_id.clear();
        }
    return out;
}

/// What a complete listing walk says of lost attempts that matched no order. The attempts
/// (one twin group: same plan, quantity and fields) are proven unplaced when no unclaimed
/// order of that plan and quantity newer than `after_id` (the oldest attempt's) could carry
/// their fields (could_carry): their orders, had any been placed, would be there. No time or amount bound
/// here: those narrow a match, never an absence (a changed price or a skewed clock must not
/// hide an order of ours). The caller guarantees the walk: read newest first down to
/// `after_id`, after the settle time of every attempt concluded.
struct listing_absence {
    enum class kind {
        proven,      ///< no order that could be one of them
        lookalikes,  ///< `lookalikes` unclaimed orders could be theirs: the listing proves nothing
        need_fields, ///< read the fields of `need` (by trans_id), then check again
    } verdict = kind::proven;
    std::size_t lookalikes = 0;
    std::vector<std::string> need;
};

inline listing_absence check_listing_absence(const lost_attempt& group, const std::vector<order_candidate>& orders,
                                             const std::set<std::string>& claimed) {
    listing_absence out;
    for (auto const& o : orders) {
        if (claimed.count(o.trans_id)) continue;
        if (o.plan_id != group.plan_id || o.quantity != group.quantity || o.id <= group.after_id) continue;
        if (!o.fields) out.need.push_back(o.trans_id);
        else if (could_carry(*o.fields, group.fields)) ++out.lookalikes;
    }
    if (!out.need.empty()) out.verdict = listing_absence::kind::need_fields;
    else if (out.lookalikes > 0) out.verdict = listing_absence::kind::lookalikes;
    return out;
}

/// For each item of a run: whether no other item of the run could leave an order that looks
/// the same (same plan and quantity, fields that agree on every key both sent). Only such an
/// item speaks for its batch: an order carrying a twin's fields may be the twin's, and a twin
/// adopted in its place (twins are interchangeable) leaves this item "absent" although its
/// batch was placed.
inline std::vector<bool> told_apart(std::vector<lost_attempt> const& items) {
    std::vector<bool> out(items.size(), true);
    // Grouped by plan and quantity, then by the set of keys sent: within one key set, items
    // look the same exactly when their fields are equal; across two key sets, when they agree
    // on the keys both have.
    std::map<std::pair<std::int64_t, std::int64_t>, std::map<std::vector<std::string>, std::vector<std::size_t>>> groups;
    std::vector<field_list> sorted(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        sorted[i] = items[i].fields;
        std::sort(sorted[i].begin(), sorted[i].end());
        std::vector<std::string> keys;
        for (auto const& kv : sorted[i]) keys.push_back(kv.first);
        groups[{items[i].plan_id, items[i].quantity}][keys].push_back(i);
    }
    auto project = [&](std::size_t i, std::vector<std::string> const& keys) {
        field_list p;
        for (auto const& kv : sorted[i])
            if (std::binary_search(keys.begin(), keys.end(), kv.first)) p.push_back(kv);
        return p;
    };
    for (auto const& [plan, by_keys] : groups) {
        for (auto a = by_keys.begin(); a != by_keys.end(); ++a) {
            std::map<field_list, std::size_t> same;
            for (auto i : a->second) ++same[sorted[i]];
            for (auto i : a->second)
                if (same[sorted[i]] > 1) out[i] = false;
            for (auto b = std::next(a); b != by_keys.end(); ++b) {
                std::vector<std::string> common;
                std::set_intersection(a->first.begin(), a->first.end(), b->first.begin(), b->first.end(),
                                      std::back_inserter(common));
                std::map<field_list, std::size_t> in_a, in_b;
                for (auto i : a->second) ++in_a[project(i, common)];
                for (auto i : b->second) ++in_b[project(i, common)];
                for (auto i : a->second)
                    if (in_b.count(project(i, common))) out[i] = false;
                for (auto i : b->second)
                    if (in_a.count(project(i, common))) out[i] = false;
            }
        }
    }
    return out;
}

/// A lost create of several items (a batch): one transaction, so all of its orders exist or
/// none does, and they sit side by side in the account's listing, in the order of the items
/// (one account's checkouts are serialised). Decided as one unit, by items `told_apart` from
/// every other item of the run only (`apart`, one per item):
/// - adopt: exactly one run of adjacent unclaimed orders has the items' plans and quantities
///   in order, within their time and amount bounds, and its key item (the first told apart,
///   with fields) carries exactly that item's fields; one /orders/status read per run proves
///   it, not one per item.
/// - absent: for some item told apart, the listing holds no unclaimed order of its plan and
///   quantity that could carry its fields (check_listing_absence): then no item of the batch
///   was placed.
/// - need_fields: read `need`, then decide again.
/// - undecided: several runs match, no item is told apart, or every such item has
///   look-alikes (`why` says which); the caller falls back to item-by-item matching and the
///   balance.
/// `listing`: every order above the batch's floor as walked (claimed ones too: adjacency is
/// judged on the whole listing), any order, duplicates allowed. `batch` in item order, all
/// with the same floor and time bound.
struct batch_verdict {
    enum class kind { adopt, absent, need_fields, undecided } verdict = kind::undecided;
    std::vector<std::string> trans_ids; ///< for adopt: one per item, in item order
    std::vector<std::string> need;      ///< for need_fields
    std::string why;                    ///< for undecided
};

inline batch_verdict match_lost_batch(const std::vector<lost_attempt>& batch, const std::vector<order_candidate>& listing,
                                      const std::set<std::string>& claimed, const std::vector<bool>& apart) {
    batch_verdict out;
    if (batch.empty() || apart.size() != batch.size()) return out;
    std::vector<const order_candidate*> sorted;
    for (auto const& o : listing) sorted.push_back(&o);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->id < b->id; });
    sorted.erase(std::unique(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->id == b->id; }), sorted.end());

    auto fits = [&](const lost_attempt& a, const order_candidate& o) {
        return !claimed.count(o.trans_id) && o.plan_id == a.plan_id && o.quantity == a.quantity && o.id > a.after_id &&
               (o.created == 0 || o.created >= a.not_before) && (!a.expected_amount || o.final_amount == *a.expected_amount);
    };
    std::size_t const n = batch.size();
    std::size_t key = 0;
    while (key < n && (batch[key].fields.empty() || !apart[key])) ++key;
    std::vector<std::size_t> runs; // start positions in `sorted`
    for (std::size_t s = 0; key < n && s + n <= sorted.size(); ++s) {
        bool ok = true;
        for (std::size_t k = 0; k < n && ok; ++k) ok = fits(batch[k], *sorted[s + k]);
        if (ok) runs.push_back(s);
    }

    // A run is ours when every field read so far agrees, the key item's read at least.
    std::vector<std::size_t> agreeing;
    for (auto s : runs) {
        auto const& o = *sorted[s + key];
        if (!o.fields) {
            out.need.push_back(o.trans_id);
            continue;
        }
        bool agree = true;
        for (std::size_t k = 0; k < n && agree; ++k)
            if (sorted[s + k]->fields) agree = same_fields(*sorted[s + k]->fields, batch[k].fields);
        if (agree) agreeing.push_back(s);
    }
    if (!out.need.empty()) {
        out.verdict = batch_verdict::kind::need_fields;
        return out;
    }
    if (agreeing.size() > 1) {
        // Several runs agree on the key item: the other items' fields tell them apart.
        for (auto s : agreeing)
            for (std::size_t k = 0; k < n; ++k)
                if (!sorted[s + k]->fields) out.need.push_back(sorted[s + k]->trans_id);
        if (!out.need.empty()) {
            out.verdict = batch_verdict::kind::need_fields;
            return out;
        }
        out.why = std::to_string(agreeing.size()) + " runs of unclaimed orders match the batch";
        return out;
    }
    if (agreeing.size() == 1) {
        out.verdict = batch_verdict::kind::adopt;
        for (std::size_t k = 0; k < n; ++k) out.trans_ids.push_back(sorted[agreeing.front() + k]->trans_id);
        return out;
    }
    // No run: the batch placed nothing if one of its items is provably absent. The item
    // needing the fewest reads goes first.
    std::optional<listing_absence> cheapest;
    bool any_apart = false;
    for (std::size_t k = 0; k < n; ++k) {
        if (!apart[k]) continue;
        any_apart = true;
        auto v = check_listing_absence(batch[k], listing, claimed);
        if (v.verdict == listing_absence::kind::proven) {
            out.verdict = batch_verdict::kind::absent;
            return out;
        }
        if (v.verdict == listing_absence::kind::need_fields && (!cheapest || v.need.size() < cheapest->need.size()))
            cheapest = std::move(v);
    }
    if (cheapest) {
        out.verdict = batch_verdict::kind::need_fields;
        out.need = std::move(cheapest->need);
        std::sort(out.need.begin(), out.need.end());
        out.need.erase(std::unique(out.need.begin(), out.need.end()), out.need.end());
        return out;
    }
    out.why = any_apart ? "no run of orders matches the batch, and every item has look-alike orders"
                        : "every item of the batch has a twin in the run: its orders cannot be told apart";
    return out;
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
