// Time in tests. A wall-clock upper bound proves that a wait is bounded, never that it is
// fast: it is the configured bound plus `slack`, which covers a machine busy with other work
// and sanitizer builds (several times slower). Speed and ratios are measured in benchmarks.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace testtime {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// Added to every wall-clock upper bound in the tests.
inline constexpr std::chrono::milliseconds slack = 3s;

inline long long ms_since(steady::time_point t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
}

/// Runs `io` until `done()` holds or `bound` passes (a generous bound: it is only there so
/// that a broken build fails instead of hanging). Returns done().
template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds bound = 20s) {
    io.restart();
    auto const until = steady::now() + bound;
    while (!done() && io.run_one_until(until)) {
    }
    return done();
}

} // namespace testtime
