// Progress of a bulk run on stderr: a bar redrawn in place on a terminal, plain lines (at
// most one a second) otherwise, so logs stay readable.
#pragma once

#include <shop/bulk_placer.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace shopctl {

inline std::string format_duration(std::chrono::milliseconds d) {
    auto s = d.count() / 1000;
    if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    return fmt::format("{}:{:02}", s / 60, s % 60);
}

class progress_view {
public:
    using clock = std::chrono::steady_clock;

    explicit progress_view(std::FILE* out = stderr) : out_(out), tty_(::isatty(::fileno(out)) == 1) {}
    progress_view(std::FILE* out, bool tty) : out_(out), tty_(tty) {}

    bool is_tty() const noexcept { return tty_; }

    /// Draws when due: ten times a second on a terminal, once a second otherwise.
    void update(const shop::bulk_progress& p) {
        auto now = clock::now();
        auto every = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(1000);
        if (drawn_ && now - last_ < every) return;
        draw(p);
        last_ = now;
    }

    /// The final state, always drawn, ending the bar's line.
    void finish(const shop::bulk_progress& p) {
        draw(p);
        if (tty_) fmt::print(out_, "\n");
        std::fflush(out_);
    }

    /// One line of text for a snapshot (without the bar).
    static std::string describe(const shop::bulk_progress& p) {
        std::string s = fmt::format("{}/{} done: placed {}, failed {}, unknown {}", p.done(), p.total, p.placed,
                                    p.rejected + p.not_attempted, p.unknown);
        if (p.in_flight) s += fmt::format(", in flight {}", p.in_flight);
        if (p.reconciling) s += fmt::format(", reconciling {}", p.reconciling);
        s += fmt::format(", {:.1f}/s", p.rate);
        if (p.eta && p.done() < p.total) s += ", ETA " + format_duration(*p.eta);
        if (p.stopping) s += ", stopping: " + p.stop_reason.message();
        return s;
    }

private:
    void draw(const shop::bulk_progress& p) {
        drawn_ = true;
        if (!tty_) {
            fmt::print(out_, "{}\n", describe(p));
            return;
        }
        constexpr std::size_t width = 24;
        std::size_t filled = p.total ? p.done() * width / p.total : width;
        std::string bar(filled, '#');
        bar.append(width - filled, '-');
        // \r and "erase to end of line": the text may get shorter between draws.
        fmt::print(out_, "\r[{}] {}\x1b[K", bar, describe(p));
        std::fflush(out_);
    }

    std::FILE* out_;
    bool tty_;
    bool drawn_ = false;
    clock::time_point last_{};
};

} // namespace shopctl
