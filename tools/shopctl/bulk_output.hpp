// A bulk run's report for people (summary and the items that need attention) and as JSON
// (summary and every item), and its exit code.
#pragma once

#include "commands.hpp"
#include "output.hpp"
#include "progress.hpp"

#include <shop/bulk_placer.hpp>
#include <shop/json.hpp>
#include <shop/status_poller.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace shopctl {

inline void write_error(shop::json_writer& w, const shop::error_code& ec, const shop::diagnostics& d) {
    if (!ec) {
        w.null();
        return;
    }
    w.begin_object();
    w.key("error").str(ec.message());
    w.key("message").str(d.message);
    if (!d.server_code.empty()) w.key("error_code").str(d.server_code);
    if (d.http_status) w.key("http_status").num(d.http_status);
    if (!d.request_id.empty()) w.key("request_id").str(d.request_id);
    w.end_object();
}

/// The item's line in the order file (--from), which shopctl gives each item as its
/// reference (kept in the journal, so a resumed run has it too); nothing for other references.
inline std::optional<std::size_t> file_line(const shop::bulk_item_result& r) {
    std::size_t n = 0;
    auto const* end = r.reference.data() + r.reference.size();
    auto [ptr, ec] = std::from_chars(r.reference.data(), end, n);
    if (ec != std::errc{} || ptr != end) return std::nullopt;
    return n;
}

/// The report as JSON text (money exactly as the server writes it). `statuses` (may be
/// empty): the final poll of the placed orders (--wait). Each item gives its `line` in the
/// order file (--from) or its other `reference`, when it has one.
inline std::string bulk_report_json(const shop::bulk_report& rep, const std::vector<shop::poll_result>& statuses) {
    std::map<std::string, const shop::poll_result*> by_id;
    for (auto const& s : statuses) by_id[s.trans_id] = &s;
    std::string out;
    shop::json_writer w(out);
    w.begin_object();
    w.key("summary").begin_object();
    w.key("total").unum(rep.items.size());
    w.key("placed").unum(rep.placed);
    w.key("rejected").unum(rep.rejected);
    w.key("unknown").unum(rep.unknown);
    w.key("not_attempted").unum(rep.not_attempted);
    w.key("start_balance").amount(rep.start_balance);
    w.key("charged_total").amount(rep.charged_total);
    w.key("creates_sent").unum(rep.creates_sent);
    w.key("adopted").unum(rep.adopted);
    w.key("resent").unum(rep.resent);
    w.key("settled_before").unum(rep.settled_before);
    w.key("reconcile_passes").unum(rep.reconcile_passes);
    w.key("elapsed_ms").num(rep.elapsed.count());
    w.key("stop_reason");
    write_error(w, rep.stop_reason, rep.stop_diag);
    w.key("end_balance").opt_amount(rep.end_balance);
    w.end_object();
    w.key("items").begin_array();
    for (auto const& r : rep.items) {
        w.begin_object();
        w.key("index").unum(r.index);
        if (auto line = file_line(r)) w.key("line").unum(*line);
        else if (!r.reference.empty()) w.key("reference").str(r.reference);
        w.key("outcome").str(shop::to_string(r.outcome));
        w.key("attempts").unum(r.attempts);
        if (r.outcome == shop::bulk_outcome::placed) {
            w.key("trans_id").str(r.trans_id);
            w.key("order_id").num(r.order_id);
            w.key("final_amount").amount(r.final_amount);
            w.key("charged").opt_amount(r.charged);
            w.key("adopted").boolean(r.adopted);
            std::string status = r.status ? r.status->raw : std::string();
            if (auto s = by_id.find(r.trans_id); s != by_id.end() && s->second->last)
                status = s->second->last->order.status.raw;
            w.key("status").str(status);
        }
        if (r.outcome != shop::bulk_outcome::placed || r.adopted) {
            w.key("error");
            write_error(w, r.ec, r.diag);
        }
        if (r.proof != shop::absence_proof::none) w.key("proof").str(shop::to_string(r.proof));
        if (!r.evidence.empty()) {
            w.key("evidence").begin_array();
            for (auto const& line : r.evidence) w.str(line);
            w.end_array();
        }
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return out;
}

inline void print_bulk_report(const shop::bulk_report& rep, const std::vector<shop::poll_result>& statuses) {
    double secs = std::max(0.001, rep.elapsed.count() / 1000.0);
    auto const settled_now = rep.items.size() - std::min(rep.items.size(), rep.settled_before);
    fmt::print("placed {}, rejected {}, unknown {}, not attempted {} of {} in {:.1f} s ({:.1f} items/s{})\n", rep.placed,
               rep.rejected, rep.unknown, rep.not_attempted, rep.items.size(), secs, settled_now / secs,
               rep.settled_before ? fmt::format(", {} settled before resuming", rep.settled_before) : std::string());
    fmt::print("creates sent {}, lost answers adopted {}, resent after proof of no order {}, reconciliation passes {}\n",
               rep.creates_sent, rep.adopted, rep.resent, rep.reconcile_passes);
    std::map<shop::absence_proof, std::size_t> proofs;
    for (auto const& r : rep.items)
        if (r.proof != shop::absence_proof::none) ++proofs[r.proof];
    if (!proofs.empty())
        fmt::print("items whose lost attempt was proven unplaced: by the listing {}, by the balance {}, by both {}\n",
                   proofs[shop::absence_proof::listing], proofs[shop::absence_proof::balance], proofs[shop::absence_proof::both]);
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
    bool const by_line = !rep.items.empty() && std::all_of(rep.items.begin(), rep.items.end(), [](auto const& r) {
        return file_line(r).has_value();
    });
    table t({by_line ? "line" : "item", "outcome", "attempts", "trans_id", "why"}, 72);
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
        t.add({std::to_string(by_line ? *file_line(r) : r.index), std::string(shop::to_string(r.outcome)), std::to_string(r.attempts), r.trans_id, why});
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
