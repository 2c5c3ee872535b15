// Watching through the listing, free of I/O: where each watched order sits in the account's
// listing (newest first, 100 a page), and per round whether reading pages costs fewer
// requests than one /orders/status per due order, and when a walk should read one more page.
//
// What the listing gives is each order's status; what it cannot give (delivery items of a
// completed order, an order not found in the pages read) is left to status reads. Ranks
// move as new orders arrive (offset paging): a rank is kept with the listing's total when it
// was seen, and shifted by the orders added since. An order not found in a walk gets a lower
// bound (it is further down), so that later rounds count it where it can be.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace shop::detail {

class listing_watch {
public:
    explicit listing_watch(std::size_t per_page = 100) : per_page_(static_cast<std::int64_t>(std::max<std::size_t>(1, per_page))) {}

    std::size_t per_page() const noexcept { return static_cast<std::size_t>(per_page_); }

    /// A round's plan: the first page to read (1-based) when reading pages is cheaper than
    /// one status read per due order, else nothing (read them all by status).
    std::optional<std::int64_t> plan(std::vector<std::string> const& due) const {
        if (due.size() < 2) return std::nullopt;
        std::int64_t first = -1, last = -1;
        for (auto const& id : due) {
            auto const p = page_of(estimate(id));
            first = first < 0 ? p : std::min(first, p);
            last = std::max(last, p);
        }
        auto const pages = static_cast<std::size_t>(last - first + 1);
        if (pages >= due.size()) return std::nullopt;
        return first;
    }

    /// A walk looking for `due` starts.
    void begin_walk(std::vector<std::string> due) {
        looking_ = std::unordered_set<std::string>(due.begin(), due.end());
        found_.clear();
        last_page_found_ = 0;
        pages_read_ = 0;
    }

    /// Page `page` was read: the listing's `total` now and the trans_ids on it, in order.
    /// Returns the looked-for orders found on it (each once per walk).
    std::vector<std::string> on_page(std::int64_t page, std::int64_t total, std::vector<std::string> const& ids) {
        total_ = total;
        ++pages_read_;
        last_read_ = page;
        std::vector<std::string> out;
        for (std::size_t k = 0; k < ids.size(); ++k) {
            auto const& id = ids[k];
            if (!looking_.count(id)) continue;
            spot_[id] = {(page - 1) * per_page_ + static_cast<std::int64_t>(k), total, true};
            if (found_.insert(id).second) out.push_back(id);
        }
        last_page_found_ = out.size();
        return out;
    }

    /// Whether the walk reads page last_read + 1: it may hold at least two of the orders
    /// still looked for (one page for one order is no saving).
    bool want_next_page(bool has_more) const {
        if (!has_more) return false;
        std::int64_t const next_start = last_read_ * per_page_, next_end = next_start + per_page_;
        std::size_t candidates = 0;
        for (auto const& id : looking_) {
            if (found_.count(id)) continue;
            auto it = spot_.find(id);
            if (it == spot_.end() || !it->second.exact) {
                // Only a lower bound: it may be anywhere from there on; worth looking on while
                // the pages still find what they look for.
                std::int64_t const bound = it == spot_.end() ? 0 : it->second.rank;
                if (bound < next_end && (bound >= next_start - per_page_ || last_page_found_ > 0)) ++candidates;
            } else if (estimate(id) < next_end) {
                ++candidates;
            }
        }
        return candidates >= 2;
    }

    /// The walk is over: what it did not find is further down than the pages it read (or
    /// gone); returned for status reads.
    std::vector<std::string> end_walk() {
        std::vector<std::string> missed;
        for (auto const& id : looking_) {
            if (found_.count(id)) continue;
            missed.push_back(id);
            spot_[id] = {last_read_ * per_page_, total_, false};
        }
        std::sort(missed.begin(), missed.end());
        looking_.clear();
        found_.clear();
        return missed;
    }

    /// The order's estimated rank (0 = newest): where it was seen, shifted by the orders
    /// added since; its lower bound; 0 when never looked for.
    std::int64_t estimate(std::string const& id) const {
        auto it = spot_.find(id);
        if (it == spot_.end()) return 0;
        return it->second.rank + std::max<std::int64_t>(0, total_ - it->second.total);
    }

    /// Stop tracking an order (terminal, stopped).
    void forget(std::string const& id) { spot_.erase(id); }

    std::size_t pages_read() const noexcept { return pages_read_; }

private:
    std::int64_t page_of(std::int64_t rank) const { return rank / per_page_ + 1; }

    struct spot {
        std::int64_t rank = 0;  // exact: where it was; else a lower bound
        std::int64_t total = 0; // the listing's total then
        bool exact = false;
    };
    std::int64_t per_page_;
    std::int64_t total_ = 0;
    std::unordered_map<std::string, spot> spot_;
    std::unordered_set<std::string> looking_, found_;
    std::size_t last_page_found_ = 0;
    std::size_t pages_read_ = 0;
    std::int64_t last_read_ = 0;
};

} // namespace shop::detail
