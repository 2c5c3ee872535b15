// When each watched order is polled next, free of I/O and clocks: a pending order is polled
// again after a growing interval until it reaches a terminal status or its deadline.
#pragma once

#include <shop/config.hpp>

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

using shop::poll_intervals;

class poll_schedule {
public:
    using time_point = std::chrono::steady_clock::time_point;

    poll_schedule(poll_intervals iv, time_point deadline) : iv_(iv), deadline_(deadline) {}

    /// Watch `id`, due at once. Adding an id twice has no effect.
    void add(const std::string& id, time_point now) {
        if (entries_.count(id) || finished_.count(id)) return;
        entries_[id] = {now, iv_.initial, 0};
        due_.emplace(now, id);
    }

    /// The ids due at `now`, at most `max`, oldest due first; they count as in flight until
    /// on_polled or on_requeue.
    std::vector<std::string> take_due(time_point now, std::size_t max) {
        std::vector<std::string> out;
        while (!due_.empty() && out.size() < max && due_.begin()->first <= now) {
            out.push_back(due_.begin()->second);
            due_.erase(due_.begin());
        }
        return out;
    }

    /// A poll came back. Terminal: done. Otherwise due again after a longer interval (never
    /// past the deadline, when it is checked one last time).
    void on_polled(const std::string& id, bool terminal, time_point now) {
        auto it = entries_.find(id);
        if (it == entries_.end()) return;
        ++it->second.polls;
        if (terminal || now >= deadline_) {
            finished_.insert(id);
            entries_.erase(it);
            return;
        }
        auto next = now + it->second.interval;
        if (next > deadline_) next = deadline_;
        auto grown = std::chrono::milliseconds(static_cast<std::int64_t>(it->second.interval.count() * iv_.growth));
        it->second.interval = std::min(grown, iv_.max);
        it->second.due = next;
        due_.emplace(next, id);
    }

    /// A poll never got its answer (the connection failed): due again at once.
    void on_requeue(const std::string& id, time_point now) {
        auto it = entries_.find(id);
        if (it == entries_.end()) return;
        it->second.due = now;
        due_.emplace(now, id);
    }

    /// Stop watching `id` (e.g. ORDER_NOT_FOUND).
    void drop(const std::string& id) {
        if (entries_.erase(id)) finished_.insert(id);
        for (auto it = due_.begin(); it != due_.end();)
            it = it->second == id ? due_.erase(it) : std::next(it);
    }

    bool done() const noexcept { return entries_.empty(); }
    std::size_t watching() const noexcept { return entries_.size(); }
    std::optional<time_point> next_due() const {
        if (due_.empty()) return std::nullopt;
        return due_.begin()->first;
    }
    std::size_t polls(const std::string& id) const {
        auto it = entries_.find(id);
        return it == entries_.end() ? 0 : it->second.polls;
    }

private:
    struct entry {
        time_point due;
        std::chrono::milliseconds interval;
        std::size_t polls;
    };
    poll_intervals iv_;
    time_point deadline_;
    std::map<std::string, entry> entries_;
    std::set<std::pair<time_point, std::string>> due_;
    std::set<std::string> finished_;
};

} // namespace shop::detail
