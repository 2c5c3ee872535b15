// A bulk run's report for people (summary and the items that need attention) and as JSON
// (summary and every item), and its exit code.
#pragma once

#include "commands.hpp"
#include "output.hpp"
#include "progress.hpp"

#include <shop/bulk_placer.hpp>
#include <shop/json.hpp>
#include <shop/status_poller.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <map>
#include <vector>

namespace shopctl {

inline boost::json::value error_json(const shop::error_code& ec, const shop::diagnostics& d) {
    if (!ec) return nullptr;
    boost::json::object e{{"error", ec.message()}, {"message", d.message}};
    if (!d.server_code.empty()) e["error_code"] = d.server_code;
    if (d.http_status) e["http_status"] = d.http_status;
    if (!d.request_id.empty()) e["request_id"] = d.request_id;
    return e;
}

/// `statuses` (may be empty): the final poll of the placed orders (--wait).
inline boost::json::object bulk_report_json(const shop::bulk_report& rep, const std::vector<shop::poll_result>& statuses) {
    std::map<std::string, const shop::poll_result*> by_id;
    for (auto const& s : statuses) by_id[s.trans_id] = &s;
    boost::json::array items;
    for (auto const& r : rep.items) {
        boost::json::object o{{"index", r.index}, {"outcome", shop::to_string(r.outcome)}, {"attempts", r.attempts}};
        if (r.outcome == shop::bulk_outcome::placed) {
            o["trans_id"] = r.trans_id;
            o["order_id"] = r.order_id;
            o["final_amount"] = shop::detail::money_json(r.final_amount);
            o["charged"] = r.charged ? shop::detail::money_json(*r.charged) : boost::json::value(nullptr);
            o["adopted"] = r.adopted;
            std::string status = r.status ? r.status->raw : std::string();
            if (auto s = by_id.find(r.trans_id); s != by_id.end() && s->second->last)
                status = s->second->last->order.status.raw;
            o["status"] = status;
        }
        if (r.outcome != shop::bulk_outcome::placed || r.adopted) o["error"] = error_json(r.ec, r.diag);
        if (!r.evidence.empty()) {
            boost::json::array ev;
            for (auto const& line : r.evidence) ev.push_back(boost::json::string(line));
            o["evidence"] = std::move(ev);
        }
        items.push_back(std::move(o));
    }
    boost::json::object summary{{"total", rep.items.size()},
                                {"placed", rep.placed},
                                {"rejected", rep.rejected},
                                {"unknown", rep.unknown},
                                {"not_attempted", rep.not_attempted},
                                {"start_balance", shop::detail::money_json(rep.start_balance)},
                                {"charged_total", shop::detail::money_json(rep.charged_total)},
                                {"creates_sent", rep.creates_sent},
                                {"adopted", rep.adopted},
                                {"resent", rep.resent},
                                {"settled_before", rep.settled_before},
                                {"reconcile_passes", rep.reconcile_passes},
                                {"elapsed_ms", rep.elapsed.count()},
                                {"stop_reason", error_json(rep.stop_reason, rep.stop_diag)}};
    summary["end_balance"] = rep.end_balance ? shop::detail::money_json(*rep.end_balance) : boost::json::value(nullptr);
    return {{"summary", std::move(summary)}, {"items", std::move(items)}};
}

inline void print_bulk_report(const shop::bulk_report& rep, const std::vector<shop::poll_result>& statuses) {
    double secs = std::max(0.001, rep.elapsed.count() / 1000.0);
    auto const settled_now = rep.items.size() - std::min(rep.items.size(), rep.settled_before);
    fmt::print("placed {}, rejected {}, unknown {}, not attempted {} of {} in {:.1f} s ({:.1f} items/s{})\n", rep.placed,
               rep.rejected, rep.unknown, rep.not_attempted, rep.items.size(), secs, settled_now / secs,
               rep.settled_before ? fmt::format(", {} settled before resuming", rep.settled_before) : std::string());
    fmt::print("creates sent {}, lost answers adopted {}, resent after proof of no order {}, reconciliation passes {}\n",
               rep.creates_sent, rep.adopted, rep.resent, rep.reconcile_passes);
    fmt::print("balance {} -> {}, charged {}\n", rep.start_balance.to_php_string(),
               rep.end_balance ? rep.end_balance->to_php_string() : std::string("(unread)"), rep.charged_total.to_php_string());
    if (rep.stop_reason) fmt::print("stopped early: {}\n", rep.stop_diag.to_string());
    if (!statuses.empty()) {
        std::map<std::string, std::size_t> counts;
        for (auto const& s : statuses) counts[s.last ? s.last->order.status.raw : "(no answer)"]++;
        std::string line;
        for (auto const& [k, n] : counts) line += (line.empty() ? "" : ", ") + fmt::format("{} {}", k, n);
        fmt::print("statuses: {}\n", line);
    }
    // Items that need a look, at most 50 rows.
    table t({"item", "outcome", "attempts", "trans_id", "why"}, 72);
    std::size_t shown = 0, more = 0;
    for (auto const& r : rep.items) {
        if (r.outcome == shop::bulk_outcome::placed && !r.adopted) continue;
        if (shown == 50) {
            ++more;
            continue;
        }
        ++shown;
        std::string why = r.outcome == shop::bulk_outcome::placed ? "answer lost; order found by reconciliation"
                          : r.evidence.empty()                     ? r.diag.to_string()
                                                                   : r.evidence.back();
        t.add({std::to_string(r.index), std::string(shop::to_string(r.outcome)), std::to_string(r.attempts), r.trans_id, why});
    }
    if (!t.empty()) t.print();
    if (more) fmt::print("… and {} more (--json lists every item)\n", more);
}

/// 0 when everything was placed; 4 when some outcome is unknown; otherwise the code of the
/// condition that stopped the run, or 1 for rejected items.
inline int bulk_exit_code(const shop::bulk_report& rep) {
    if (rep.unknown) return exit_outcome_unknown;
    if (rep.stop_reason) {
        if (shop::is_server_error(rep.stop_reason)) return exit_api_error;
        // The journal (a file of the caller's) is a local problem, like a bad argument.
        if (rep.stop_reason == shop::errc::invalid_argument || rep.stop_reason == shop::errc::journal_failed)
            return exit_usage;
        return exit_network;
    }
    if (rep.rejected || rep.not_attempted) return exit_api_error;
    return exit_ok;
}

} // namespace shopctl
