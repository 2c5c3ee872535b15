// Human output for shopctl: aligned tables (UTF-8 aware) and error reports.
#pragma once

#include <shop/error.hpp>

#include <fmt/core.h>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace shopctl {

/// Display width of UTF-8 text: one column per code point (Vietnamese is precomposed).
inline std::size_t display_width(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

/// Cuts text to `width` columns on a code point boundary, marking the cut with "…".
inline std::string clip(std::string_view s, std::size_t width) {
    if (display_width(s) <= width) return std::string(s);
    std::string out;
    std::size_t cols = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if ((c & 0xC0) != 0x80) {
            if (cols + 1 >= width) break;
            ++cols;
        }
        out += s[i];
    }
    return out + "\xE2\x80\xA6";
}

class table {
public:
    explicit table(std::vector<std::string> header, std::size_t max_col = 48) : max_col_(max_col) {
        rows_.push_back(std::move(header));
    }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    bool empty() const { return rows_.size() == 1; }

    void print(std::FILE* out = stdout) const {
        std::vector<std::size_t> widths;
        for (auto const& r : rows_)
            for (std::size_t i = 0; i < r.size(); ++i) {
                if (widths.size() <= i) widths.push_back(0);
                widths[i] = std::max(widths[i], std::min(display_width(r[i]), max_col_));
            }
        for (std::size_t k = 0; k < rows_.size(); ++k) {
            std::string line;
            for (std::size_t i = 0; i < rows_[k].size(); ++i) {
                std::string cell = clip(rows_[k][i], max_col_);
                line += cell;
                if (i + 1 < rows_[k].size()) line += std::string(widths[i] - display_width(cell) + 2, ' ');
            }
            fmt::print(out, "{}\n", line);
            if (k == 0) {
                std::string rule;
                for (std::size_t i = 0; i < widths.size(); ++i) rule += std::string(widths[i], '-') + (i + 1 < widths.size() ? "  " : "");
                fmt::print(out, "{}\n", rule);
            }
        }
    }

private:
    std::size_t max_col_;
    std::vector<std::vector<std::string>> rows_;
};

/// Prints a failure to stderr with everything support needs, and maps it to an exit code.
inline int report_error(const shop::error_code& ec, const shop::diagnostics& d) {
    if (ec == shop::errc::outcome_unknown) {
        fmt::print(stderr, "outcome unknown: {}\n", d.message);
        fmt::print(stderr, "  the order may or may not have been placed; check `shopctl orders` before retrying\n");
        return 4;
    }
    if (ec == shop::errc::invalid_argument || ec == shop::errc::journal_failed) {
        fmt::print(stderr, "error: {}\n", d.message.empty() ? ec.message() : d.message);
        return 2;
    }
    if (shop::is_server_error(ec) || ec == shop::errc::http_error || ec == shop::errc::bad_response) {
        fmt::print(stderr, "API error: {}\n", d.server_code.empty() ? ec.message() : d.server_code);
        if (!d.message.empty()) fmt::print(stderr, "  message:    {}\n", d.message);
        if (d.http_status) fmt::print(stderr, "  HTTP:       {}\n", d.http_status);
        if (!d.request_id.empty()) fmt::print(stderr, "  request_id: {}\n", d.request_id);
        if (!d.endpoint.empty()) fmt::print(stderr, "  endpoint:   {}\n", d.endpoint);
        return 1;
    }
    fmt::print(stderr, "network error: {}{}{}\n", ec.message(), d.message.empty() ? "" : ": ", d.message);
    return 3;
}

/// Reports what reached the user's edge: a shop::error with its diagnostics (the default
/// token's), or any other failure, and maps it to an exit code.
inline int report_exception(std::exception_ptr ep) {
    try {
        std::rethrow_exception(ep);
    } catch (const shop::error& e) {
        return report_error(e.code(), e.diag());
    } catch (const boost::system::system_error& e) {
        return report_error(e.code(), shop::diagnostics{{}, e.what(), {}, {}, 0});
    } catch (const std::exception& e) {
        fmt::print(stderr, "error: {}\n", e.what());
        return 3;  // as a network error: nothing more is known
    }
}

/// A failure after the command's --timeout cancelled it: a cancellation reads as the timeout
/// it is; anything else (an outcome unknown above all) is reported as it is.
inline int report_timeout(std::exception_ptr ep, double timeout_seconds) {
    try {
        std::rethrow_exception(ep);
    } catch (const shop::error& e) {
        if (e.code() != shop::errc::cancelled) return report_error(e.code(), e.diag());
    } catch (const boost::system::system_error& e) {
        if (e.code() != boost::asio::error::operation_aborted) return report_exception(ep);
    } catch (...) {
        return report_exception(ep);
    }
    fmt::print(stderr, "network error: timed out: the command did not finish within --timeout {} s\n", timeout_seconds);
    return 3;  // as a network error
}

} // namespace shopctl
