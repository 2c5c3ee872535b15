// The bookkeeping of a connection pool without any I/O: which connection to reuse, when to
// open one, who waits, who is woken. Time is passed in, so every rule is unit-tested with
// made-up time points; the Asio layer (connection_pool) only carries out the decisions.
#pragma once

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

namespace shop {

/// Counters of a connection pool at one instant.
struct pool_stats {
    std::size_t open = 0;       ///< connections that exist or are being opened (busy + idle)
    std::size_t idle = 0;       ///< parked keep-alive connections
    std::size_t busy = 0;       ///< leased, or being connected for an acquirer
    std::size_t waiting = 0;    ///< acquirers queued for a connection
    std::size_t peak_open = 0;  ///< highest `open` ever reached
    std::uint64_t opened = 0;   ///< connection openings granted since creation
    std::uint64_t reused = 0;   ///< acquisitions served by an idle connection
    std::uint64_t expired = 0;  ///< idle connections dropped for exceeding the idle timeout
};

} // namespace shop

namespace shop::detail {

/// `Conn` is what the pool stores (a connection handle, an int in tests); `Waiter` identifies
/// a queued acquirer and must be equality-comparable. Not thread-safe: the owner locks.
///
/// Invariants: busy + idle == open <= capacity; waiters only exist while no connection is
/// idle and open == capacity (a release hands its connection, or its slot, to the first one).
template <class Conn, class Waiter, class TimePoint = std::chrono::steady_clock::time_point>
class pool_slots {
public:
    using time_point = TimePoint;
    using duration = typename TimePoint::duration;

    enum class acquire_kind {
        reuse,  ///< take `conn`, an idle connection
        open,   ///< a slot is reserved: open a new connection (close `evicted` first, if set)
        wait,   ///< nothing free: enqueue() and wait for a release
        closed  ///< the pool was closed
    };
    struct acquire_decision {
        acquire_kind kind = acquire_kind::wait;
        std::optional<Conn> conn;
        std::optional<Conn> evicted;
    };

    enum class release_kind {
        parked,        ///< kept as idle
        handed_over,   ///< `conn` goes to `waiter`, which now holds the slot
        closed,        ///< close `conn` (if set); the slot is gone
        waiter_opens,  ///< close `conn` (if set); `waiter` now holds the slot and opens anew
    };
    struct release_decision {
        release_kind kind = release_kind::closed;
        std::optional<Conn> conn;
        std::optional<Waiter> waiter;
    };

    /// `idle_timeout` zero: idle connections never expire here.
    pool_slots(std::size_t capacity, duration idle_timeout)
        : capacity_(capacity ? capacity : 1), idle_timeout_(idle_timeout) {
        idle_.reserve(capacity_);  // a release never allocates
    }

    /// Decide how an acquirer gets a connection. Idle connections are taken freshest
    /// first (the least likely to have been closed by the server). `fresh` asks for a new
    /// connection (a retry after a stale one): an idle connection is evicted if needed.
    /// Call sweep() first so that no expired connection is handed out.
    acquire_decision acquire(bool fresh = false) {
        acquire_decision d;
        if (closed_) {
            d.kind = acquire_kind::closed;
            return d;
        }
        if (!waiters_.empty()) {  // FIFO: no overtaking the queue
            d.kind = acquire_kind::wait;
            return d;
        }
        if (!fresh && !idle_.empty()) {
            d.kind = acquire_kind::reuse;
            d.conn.emplace(std::move(idle_.back().conn));
            idle_.pop_back();
            ++busy_;
            ++counters_.reused;
            return d;
        }
        if (open() < capacity_) {
            d.kind = acquire_kind::open;
            ++busy_;
            note_opened();
            return d;
        }
        if (!idle_.empty()) {  // fresh at capacity: the oldest idle makes room
            d.kind = acquire_kind::open;
            d.evicted.emplace(std::move(idle_.front().conn));
            idle_.erase(idle_.begin());
            ++busy_;
            note_opened();
            return d;
        }
        d.kind = acquire_kind::wait;
        return d;
    }

    /// Queue an acquirer after acquire() said wait.
    void enqueue(Waiter w) {
        assert(!closed_);
        waiters_.push_back(std::move(w));
    }

    /// Remove a waiter that gave up (timeout, cancellation). False if it is no longer
    /// queued: a release has already handed it a connection or a slot, which it now owns.
    bool cancel_wait(Waiter const& w) {
        auto it = std::find(waiters_.begin(), waiters_.end(), w);
        if (it == waiters_.end()) return false;
        waiters_.erase(it);
        return true;
    }

    /// Return a busy slot with its connection. `reusable` false: the connection is closed
    /// (error, Connection: close, cancelled, unread bytes) and its slot passed on.
    release_decision release(Conn conn, bool reusable, time_point now) {
        release_decision d;
        if (reusable && !closed_) {
            if (!waiters_.empty()) {
                d.kind = release_kind::handed_over;
                d.waiter.emplace(std::move(waiters_.front()));
                waiters_.pop_front();
                d.conn.emplace(std::move(conn));
                return d;
            }
            assert(busy_ > 0);
            --busy_;
            idle_.push_back(idle_entry{std::move(conn), now});
            d.kind = release_kind::parked;
            return d;
        }
        d = release_slot();
        d.conn.emplace(std::move(conn));
        return d;
    }

    /// Return a busy slot that has no usable connection (opening failed, or the holder
    /// dropped it): the first waiter, if any, may open one in its place.
    release_decision release_slot() {
        release_decision d;
        if (!closed_ && !waiters_.empty()) {
            d.kind = release_kind::waiter_opens;
            d.waiter.emplace(std::move(waiters_.front()));
            waiters_.pop_front();
            note_opened();
            return d;
        }
        assert(busy_ > 0);
        --busy_;
        d.kind = release_kind::closed;
        return d;
    }

    /// For a holder whose connection turned out dead (stale idle socket, failed reuse):
    /// keep its slot and either take another idle connection (unless `fresh`) or open one.
    /// The dead connection is the caller's to close.
    acquire_decision replace(bool fresh) {
        acquire_decision d;
        if (closed_) {
            assert(busy_ > 0);
            --busy_;
            d.kind = acquire_kind::closed;
            return d;
        }
        if (!fresh && !idle_.empty()) {  // the idle one takes over; our slot goes away
            d.kind = acquire_kind::reuse;
            d.conn.emplace(std::move(idle_.back().conn));
            idle_.pop_back();
            ++counters_.reused;
            return d;
        }
        d.kind = acquire_kind::open;
        note_opened();
        return d;
    }

    /// Drop idle connections that have been idle for idle_timeout or longer; `on_expired`
    /// receives each (to close it). Returns how many expired.
    template <class F>
    std::size_t sweep(time_point now, F&& on_expired) {
        if (idle_timeout_ <= duration::zero()) return 0;
        std::size_t n = 0;
        for (auto it = idle_.begin(); it != idle_.end();) {
            if (now - it->last_used >= idle_timeout_) {
                on_expired(std::move(it->conn));
                it = idle_.erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        counters_.expired += n;
        return n;
    }

    /// Earliest time at which an idle connection expires, if any.
    std::optional<time_point> next_expiry() const {
        if (idle_timeout_ <= duration::zero() || idle_.empty()) return std::nullopt;
        time_point t = idle_.front().last_used;
        for (auto const& e : idle_) t = std::min(t, e.last_used);
        return t + idle_timeout_;
    }

    /// Stop serving: idle connections go to `on_idle`, every waiter is returned so that
    /// the owner can wake it with a "closed" answer; later acquires say closed and later
    /// releases close their connection.
    template <class F>
    std::vector<Waiter> close(F&& on_idle) {
        closed_ = true;
        for (auto& e : idle_) on_idle(std::move(e.conn));
        idle_.clear();
        std::vector<Waiter> woken(std::make_move_iterator(waiters_.begin()),
                                  std::make_move_iterator(waiters_.end()));
        waiters_.clear();
        return woken;
    }

    bool closed() const noexcept { return closed_; }
    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t open() const noexcept { return busy_ + idle_.size(); }
    std::size_t idle() const noexcept { return idle_.size(); }
    std::size_t busy() const noexcept { return busy_; }
    std::size_t waiting() const noexcept { return waiters_.size(); }

    pool_stats counters() const noexcept {
        pool_stats c = counters_;
        c.open = open();
        c.idle = idle();
        c.busy = busy_;
        c.waiting = waiters_.size();
        return c;
    }

private:
    struct idle_entry {
        Conn conn;
        time_point last_used;
    };

    void note_opened() noexcept {
        ++counters_.opened;
        counters_.peak_open = std::max(counters_.peak_open, open());
    }

    std::size_t capacity_;
    duration idle_timeout_;
    std::vector<idle_entry> idle_;  // oldest first
    std::deque<Waiter> waiters_;
    std::size_t busy_ = 0;
    bool closed_ = false;
    pool_stats counters_;
};

} // namespace shop::detail
