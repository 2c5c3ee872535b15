// Which item of a bulk run is sent next, without I/O: bounded by the caller's concurrency,
// holding back the twins of an item whose answer was lost (so reconciliation can tell the
// orders apart), paused while reconciliation needs no create in flight, and stopped for good
// by a fatal condition.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace shop::detail {

class bulk_queue {
public:
    using clock = std::chrono::steady_clock;

    enum class phase {
        waiting,   ///< to be sent (first time or again)
        in_flight, ///< a create is on its way
        lost,      ///< its answer was lost: awaits reconciliation
        done,      ///< placed, rejected or finally unknown
    };

    /// One twin key per item (see twin_key); items with equal keys are twins.
    explicit bulk_queue(std::vector<std::string> keys) : keys_(std::move(keys)), phase_(keys_.size(), phase::waiting) {
        for (std::size_t i = 0; i < keys_.size(); ++i) waiting_.insert(i);
    }

    std::size_t size() const noexcept { return keys_.size(); }
    phase phase_of(std::size_t i) const { return phase_[i]; }

    /// The first waiting item (lowest index) whose twins have no lost answer; it becomes
    /// in flight. Nothing while paused or stopped.
    std::optional<std::size_t> next() {
        if (paused_ || stopped_) return std::nullopt;
        for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
            std::size_t i = *it;
            if (blocked_.count(keys_[i])) continue;
            waiting_.erase(it);
            phase_[i] = phase::in_flight;
            ++in_flight_;
            return i;
        }
        return std::nullopt;
    }

    /// Up to `max` items sent together in one create: the first item next() would give, and
    /// after it, in index order, the ready items that `joins(first, item)` accepts (same
    /// coupon, same part of a split batch…). They become in flight. Empty while paused or
    /// stopped. The scan stops after `max_skipped` items passed over, so that a batch costs a
    /// bounded look whatever the queue's length.
    template <class Joins>
    std::vector<std::size_t> next_batch(std::size_t max, Joins&& joins, std::size_t max_skipped = 1024) {
        std::vector<std::size_t> out;
        if (paused_ || stopped_ || max == 0) return out;
        std::size_t skipped = 0;
        for (auto it = waiting_.begin(); it != waiting_.end() && out.size() < max && skipped <= max_skipped;) {
            std::size_t i = *it;
            if (blocked_.count(keys_[i]) || (!out.empty() && !joins(out.front(), i))) {
                if (!out.empty()) ++skipped;
                ++it;
                continue;
            }
            it = waiting_.erase(it);
            phase_[i] = phase::in_flight;
            ++in_flight_;
            out.push_back(i);
        }
        return out;
    }

    /// Something could be sent now if nothing were paused.
    bool has_ready() const {
        if (stopped_) return false;
        for (std::size_t i : waiting_)
            if (!blocked_.count(keys_[i])) return true;
        return false;
    }

    /// The create of an in-flight item ended with a verdict (placed or rejected).
    void on_done(std::size_t i) {
        leave(i);
        phase_[i] = phase::done;
    }

    /// The create of an in-flight item may or may not have placed an order.
    void on_lost(std::size_t i, clock::time_point now) {
        leave(i);
        mark_lost(i, now);
    }

    /// An item found unresolved when a run is resumed from its journal.
    void add_lost(std::size_t i, clock::time_point now) {
        waiting_.erase(i);
        mark_lost(i, now);
    }

    /// An item already settled before the run (a resumed journal says so).
    void settle(std::size_t i) {
        waiting_.erase(i);
        phase_[i] = phase::done;
    }

    /// Reconciliation settled a lost item: placed (adopted), or finally unknown or rejected.
    void resolve(std::size_t i) {
        unblock(i);
        phase_[i] = phase::done;
    }

    /// Reconciliation showed that nothing was placed: send the item again.
    void resend(std::size_t i) {
        unblock(i);
        phase_[i] = phase::waiting;
        waiting_.insert(i);
    }

    /// A create that certainly did not reach the server (refused before sending, or by the
    /// rate limit): back to waiting.
    void requeue(std::size_t i) {
        leave(i);
        phase_[i] = phase::waiting;
        waiting_.insert(i);
    }

    void pause() noexcept { paused_ = true; }
    void resume() noexcept { paused_ = false; }

    /// No new sends from now on (a fatal condition or cancellation).
    void stop() noexcept { stopped_ = true; }
    bool stopped() const noexcept { return stopped_; }

    std::size_t in_flight() const noexcept { return in_flight_; }
    std::size_t lost_count() const noexcept { return lost_.size(); }
    std::size_t waiting_count() const noexcept { return waiting_.size(); }
    /// Lost items, oldest loss first.
    std::vector<std::size_t> lost_items() const {
        std::vector<std::pair<clock::time_point, std::size_t>> v;
        for (auto const& [i, at] : lost_) v.emplace_back(at, i);
        std::sort(v.begin(), v.end());
        std::vector<std::size_t> out;
        for (auto const& e : v) out.push_back(e.second);
        return out;
    }
    /// When item `i` (lost) was lost.
    clock::time_point loss_time(std::size_t i) const { return lost_.at(i); }
    std::optional<clock::time_point> oldest_loss() const {
        std::optional<clock::time_point> t;
        for (auto const& [i, at] : lost_)
            if (!t || at < *t) t = at;
        return t;
    }

    /// Reconcile now: enough lost items gathered, nothing else can be sent, or the oldest
    /// loss has waited `max_wait`.
    bool should_reconcile(clock::time_point now, std::size_t batch, clock::duration max_wait) const {
        if (lost_.empty()) return false;
        if (lost_.size() >= batch || !has_ready()) return true;
        auto oldest = oldest_loss();
        return oldest && now - *oldest >= max_wait;
    }

    /// Every item done, or (stopped) nothing in flight or lost any more.
    bool finished() const noexcept {
        if (in_flight_ != 0 || !lost_.empty()) return false;
        return stopped_ || waiting_.empty();
    }

    /// Items never settled because the run stopped (waiting ones): they end not attempted or,
    /// when reconciliation proved an earlier attempt placed nothing, rejected.
    std::vector<std::size_t> unsent() const { return {waiting_.begin(), waiting_.end()}; }

private:
    void leave(std::size_t i) {
        if (phase_[i] == phase::in_flight && in_flight_ > 0) --in_flight_;
    }
    void mark_lost(std::size_t i, clock::time_point now) {
        phase_[i] = phase::lost;
        lost_[i] = now;
        ++blocked_[keys_[i]];
    }
    void unblock(std::size_t i) {
        if (phase_[i] != phase::lost) return;
        lost_.erase(i);
        auto it = blocked_.find(keys_[i]);
        if (it != blocked_.end() && --it->second == 0) blocked_.erase(it);
    }

    std::vector<std::string> keys_;
    std::vector<phase> phase_;
    std::set<std::size_t> waiting_;
    std::map<std::size_t, clock::time_point> lost_;
    std::map<std::string, std::size_t> blocked_;
    std::size_t in_flight_ = 0;
    bool paused_ = false;
    bool stopped_ = false;
};

} // namespace shop::detail
