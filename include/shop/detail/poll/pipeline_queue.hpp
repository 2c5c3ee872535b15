// The bookkeeping of one pipelined connection, free of I/O: which requests are on the wire in
// which order, how deep the pipeline may go, and what to do when the connection misbehaves.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

namespace shop::detail {

/// Responses on one HTTP/1.1 connection come back in the order the requests were written, so
/// the queue is FIFO. A request whose caller gave up (cancelled) stays in line as abandoned:
/// its response is still read and thrown away, so the stream stays in step.
template <class Id>
class pipeline_queue {
public:
    explicit pipeline_queue(std::size_t depth) : depth_(depth ? depth : 1), configured_(depth_) {}

    /// May another request be written now?
    bool can_write() const noexcept { return in_flight_.size() < depth_; }
    std::size_t depth() const noexcept { return depth_; }
    std::size_t in_flight() const noexcept { return in_flight_.size(); }
    bool idle() const noexcept { return in_flight_.empty(); }
    /// True once trouble made this connection fall back to one request at a time.
    bool degraded() const noexcept { return depth_ < configured_; }

    void on_written(Id id) { in_flight_.push_back({std::move(id), false}); }

    /// The next response belongs to the oldest request on the wire.
    struct answered {
        Id id;
        bool abandoned; ///< read it to the end and discard it
    };
    answered on_response() {
        answered a{std::move(in_flight_.front().id), in_flight_.front().abandoned};
        in_flight_.pop_front();
        return a;
    }

    /// The caller of `id` gave up; returns false when it is not on the wire.
    bool abandon(const Id& id) {
        for (auto& e : in_flight_)
            if (e.id == id && !e.abandoned) {
                e.abandoned = true;
                return true;
            }
        return false;
    }

    /// The connection closed, stalled or answered short: every request still unanswered is
    /// handed back to be sent again (abandoned ones are dropped), and the connection's
    /// successor pipelines no more (depth 1).
    std::vector<Id> on_failure() {
        std::vector<Id> requeue;
        for (auto& e : in_flight_)
            if (!e.abandoned) requeue.push_back(std::move(e.id));
        in_flight_.clear();
        depth_ = 1;
        return requeue;
    }

private:
    struct entry {
        Id id;
        bool abandoned;
    };
    std::size_t depth_;
    std::size_t configured_;
    std::deque<entry> in_flight_;
};

} // namespace shop::detail
