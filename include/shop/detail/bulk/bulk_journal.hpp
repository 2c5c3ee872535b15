// The bulk run's journal: one JSON object per line, each line written (and flushed) before
// the step it records can have an effect, so a crashed run can be resumed without paying
// twice. Writing the lines and replaying a journal are I/O-free; journal_file appends.
//
//   {"t":"run","version":1,"after_id":N,"start_balance":"…","server_offset":S,"items":N}
//   {"t":"item","i":I,"plan_id":P,"quantity":Q,"fields":{…},"coupon":"…"[,"ref":"…"]}  one per item
//   {"t":"attempt","i":I,"n":K,"not_before":T,"after_id":N,"sent_ms":W}  before each create is sent
//   {"t":"batch","i":[I,…],"n":[K,…],"not_before":T,"after_id":N,"sent_ms":W}  before a create of several items
//   {"t":"placed","i":I,"trans_id":"…","order_id":N,"final_amount":"…","charged":"…"|null,"adopted":B}
//   {"t":"rejected","i":I,"ec":E,"code":"…","message":"…"}
//   {"t":"not_placed","i":I,"n":K}     its attempts (K sent) placed nothing: may be sent again;
//                                      "proof":"listing"|"balance"|"both" when reconciliation showed it
//   {"t":"unknown","i":I,"message":"…"} reconciliation could not tell
//   {"t":"resume"}                      a later run continued from here
#pragma once

#include <shop/detail/protocol/json_read.hpp>
#include <shop/error.hpp>
#include <shop/models.hpp>
#include <shop/money.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#if __has_include(<unistd.h>)
#include <fcntl.h>
#include <unistd.h>
#endif
#if __has_include(<sys/file.h>)
#include <sys/file.h>
#endif

namespace shop::detail {

/// The run's fixed facts, written first.
struct journal_run {
    std::int64_t after_id = 0;     ///< the newest order id before the run: older ones are not ours
    money start_balance;           ///< the balance before the first create
    std::int64_t server_offset = 0;///< server unix time minus local unix time, seconds
    std::size_t items = 0;
};

/// What the journal says about one item.
struct journal_item_state {
    enum class kind {
        fresh,      ///< never sent
        lost,       ///< an attempt without outcome (a crash) or outcome unknown
        not_placed, ///< a lost attempt proved to have placed nothing: may be sent again
        placed,
        rejected,
    } state = kind::fresh;
    std::size_t attempts = 0;
    std::int64_t not_before = 0; ///< of the last attempt
    std::int64_t after_id = 0;   ///< of the last attempt
    std::int64_t sent_ms = 0;    ///< of the last attempt: local unix time in milliseconds
    std::size_t attempt_line = 0;///< line of the last attempt (the order attempts were sent in)
    std::size_t batch_size = 0;  ///< items of the last attempt's create (its batch line's, or 1)
    std::string trans_id;
    std::int64_t order_id = 0;
    money final_amount;
    std::optional<money> charged;
    bool adopted = false;
    error_code ec;
    std::string code, message;
    std::string proof; ///< of the last not_placed line: "listing", "balance", "both" or empty
};

struct journal_replay {
    journal_run run;
    std::vector<bulk_item> items;
    std::vector<journal_item_state> states;
    /// The last line was cut short (a crash while writing it) and was ignored.
    bool torn_tail = false;
    /// Bytes of the journal up to the end of its last whole line: a torn tail is cut off
    /// there before the journal is appended to.
    std::size_t whole_size = 0;
};

inline std::string journal_run_line(const journal_run& r) {
    boost::json::object o{{"t", "run"},
                          {"version", 1},
                          {"after_id", r.after_id},
                          {"start_balance", r.start_balance.to_fixed2()},
                          {"server_offset", r.server_offset},
                          {"items", r.items}};
    return boost::json::serialize(o);
}

inline std::string journal_item_line(std::size_t i, const bulk_item& item) {
    boost::json::object fields;
    for (auto const& [k, v] : item.fields) fields[k] = v;
    boost::json::object o{{"t", "item"},          {"i", i},
                          {"plan_id", item.plan_id}, {"quantity", item.quantity},
                          {"fields", std::move(fields)}, {"coupon", item.coupon_code}};
    if (!item.reference.empty()) o["ref"] = item.reference;
    return boost::json::serialize(o);
}

inline std::string journal_attempt_line(std::size_t i, std::size_t n, std::int64_t not_before, std::int64_t after_id,
                                        std::int64_t sent_ms) {
    boost::json::object o{{"t", "attempt"},       {"i", i},          {"n", n}, {"not_before", not_before},
                          {"after_id", after_id}, {"sent_ms", sent_ms}};
    return boost::json::serialize(o);
}

/// One line for a create of several items (one transaction): `items` and their attempt
/// counts, in the order the create lists them.
inline std::string journal_batch_line(std::vector<std::size_t> const& items, std::vector<std::size_t> const& attempts,
                                      std::int64_t not_before, std::int64_t after_id, std::int64_t sent_ms) {
    boost::json::array is, ns;
    for (auto i : items) is.push_back(i);
    for (auto n : attempts) ns.push_back(n);
    boost::json::object o{{"t", "batch"},         {"i", std::move(is)}, {"n", std::move(ns)}, {"not_before", not_before},
                          {"after_id", after_id}, {"sent_ms", sent_ms}};
    return boost::json::serialize(o);
}

inline std::string journal_placed_line(std::size_t i, std::string_view trans_id, std::int64_t order_id,
                                       money final_amount, std::optional<money> charged, bool adopted) {
    boost::json::object o{{"t", "placed"},
                          {"i", i},
                          {"trans_id", trans_id},
                          {"order_id", order_id},
                          {"final_amount", final_amount.to_fixed2()},
                          {"adopted", adopted}};
    if (charged) o["charged"] = charged->to_fixed2();
    else o["charged"] = nullptr;
    return boost::json::serialize(o);
}

inline std::string journal_rejected_line(std::size_t i, error_code ec, std::string_view code, std::string_view message) {
    boost::json::object o{{"t", "rejected"}, {"i", i}, {"ec", ec.value()}, {"code", code}, {"message", message}};
    return boost::json::serialize(o);
}

/// `proof`: how reconciliation showed a lost attempt placed nothing (empty: the attempt was
/// refused before acting, nothing to prove).
inline std::string journal_not_placed_line(std::size_t i, std::size_t attempts, std::string_view proof = {}) {
    boost::json::object o{{"t", "not_placed"}, {"i", i}, {"n", attempts}};
    if (!proof.empty()) o["proof"] = proof;
    return boost::json::serialize(o);
}

inline std::string journal_unknown_line(std::size_t i, std::string_view message) {
    boost::json::object o{{"t", "unknown"}, {"i", i}, {"message", message}};
    return boost::json::serialize(o);
}

inline std::string journal_resume_line() { return R"({"t":"resume"})"; }

/// Rebuilds the run from a journal's text into `out`. errc::journal_failed, `why` naming the
/// line, when the journal is not one (a cut last line is tolerated: see torn_tail).
inline error_code replay_journal(std::string_view text, journal_replay& out, std::string& why) {
    out = journal_replay{};
    std::size_t line_no = 0;
    bool have_run = false;
    std::size_t const total = text.size();
    auto fail = [&](const std::string& reason) {
        why = "journal line " + std::to_string(line_no) + ": " + reason;
        return make_error_code(errc::journal_failed);
    };
    while (!text.empty()) {
        auto nl = text.find('\n');
        bool const last = nl == std::string_view::npos;
        std::string_view line = text.substr(0, nl);
        text = last ? std::string_view{} : text.substr(nl + 1);
        ++line_no;
        if (line.empty()) continue;
        boost::json::error_code jec;
        auto v = boost::json::parse(line, jec);
        if (jec || !v.is_object()) {
            // Only the final line may be torn, and only when the file does not end in '\n'.
            if (last) {
                out.torn_tail = true;
                break;
            }
            return fail("not a JSON object");
        }
        out.whole_size = total - text.size();
        auto const& o = v.as_object();
        auto t = find(o, "t");
        if (!t || !t->is_string()) return fail("no record type");
        std::string_view type = t->as_string();
        if (type == "run") {
            if (have_run) return fail("a second run header");
            have_run = true;
            if (get_int(o, "version", 0) != 1) return fail("unsupported journal version");
            out.run.after_id = get_int(o, "after_id");
            out.run.start_balance = get_money(o, "start_balance");
            out.run.server_offset = get_int(o, "server_offset");
            // Every item has a line of its own further on: a count beyond the text's size is
            // not a journal's (and must not size the tables).
            auto const items = get_int(o, "items");
            if (items < 0 || static_cast<std::uint64_t>(items) > total) return fail("item count out of range");
            out.run.items = static_cast<std::size_t>(items);
            out.items.resize(out.run.items);
            out.states.resize(out.run.items);
            continue;
        }
        if (!have_run) return fail("the journal does not start with a run header");
        if (type == "resume") continue;
        if (type == "batch") {
            auto is = find(o, "i");
            auto ns = find(o, "n");
            if (!is || !is->is_array() || is->as_array().empty()) return fail("a batch without items");
            auto const& ia = is->as_array();
            for (std::size_t k = 0; k < ia.size(); ++k) {
                if (!ia[k].is_int64() || ia[k].as_int64() < 0 || static_cast<std::size_t>(ia[k].as_int64()) >= out.items.size())
                    return fail("item index out of range");
                auto& st = out.states[static_cast<std::size_t>(ia[k].as_int64())];
                st.state = journal_item_state::kind::lost; // until an outcome line follows
                std::int64_t n = static_cast<std::int64_t>(st.attempts + 1);
                if (ns && ns->is_array() && k < ns->as_array().size() && ns->as_array()[k].is_int64())
                    n = ns->as_array()[k].as_int64();
                st.attempts = static_cast<std::size_t>(std::max<std::int64_t>(0, n));
                st.not_before = get_int(o, "not_before");
                st.after_id = get_int(o, "after_id");
                st.sent_ms = get_int(o, "sent_ms");
                st.attempt_line = line_no;
                st.batch_size = ia.size();
            }
            continue;
        }
        auto idx = get_opt_int(o, "i");
        if (!idx || *idx < 0 || static_cast<std::size_t>(*idx) >= out.items.size()) return fail("item index out of range");
        auto const i = static_cast<std::size_t>(*idx);
        auto& st = out.states[i];
        if (type == "item") {
            auto& item = out.items[i];
            item.plan_id = get_int(o, "plan_id");
            item.quantity = get_int(o, "quantity", 1);
            if (auto f = find(o, "fields"); f && f->is_object())
                for (auto const& kv : f->as_object()) item.fields.emplace_back(std::string(kv.key()), to_text(kv.value()));
            if (auto c = find(o, "coupon"); c && c->is_string()) item.coupon_code = std::string(c->as_string());
            if (auto r = find(o, "ref"); r && r->is_string()) item.reference = std::string(r->as_string());
        } else if (type == "attempt") {
            st.state = journal_item_state::kind::lost; // until an outcome line follows
            st.attempts = static_cast<std::size_t>(get_int(o, "n", static_cast<std::int64_t>(st.attempts + 1)));
            st.not_before = get_int(o, "not_before");
            st.after_id = get_int(o, "after_id");
            st.sent_ms = get_int(o, "sent_ms");
            st.attempt_line = line_no;
            st.batch_size = 1;
        } else if (type == "placed") {
            st.state = journal_item_state::kind::placed;
            if (auto s = find(o, "trans_id"); s && s->is_string()) st.trans_id = std::string(s->as_string());
            st.order_id = get_int(o, "order_id");
            st.final_amount = get_money(o, "final_amount");
            if (auto c = find(o, "charged"); c && !c->is_null()) st.charged = to_money(*c);
            st.adopted = get_bool(o, "adopted");
        } else if (type == "rejected") {
            st.state = journal_item_state::kind::rejected;
            st.ec = error_code(static_cast<int>(get_int(o, "ec")), error_category());
            if (auto s = find(o, "code"); s && s->is_string()) st.code = std::string(s->as_string());
            if (auto s = find(o, "message"); s && s->is_string()) st.message = std::string(s->as_string());
        } else if (type == "not_placed") {
            st.state = journal_item_state::kind::not_placed;
            if (auto n = get_opt_int(o, "n"); n && *n >= 0) st.attempts = static_cast<std::size_t>(*n);
            st.proof.clear();
            if (auto s = find(o, "proof"); s && s->is_string()) st.proof = std::string(s->as_string());
        } else if (type == "unknown") {
            st.state = journal_item_state::kind::lost;
            if (auto s = find(o, "message"); s && s->is_string()) st.message = std::string(s->as_string());
        } else {
            return fail("unknown record type '" + std::string(type) + "'");
        }
    }
    if (!have_run) {
        line_no = 0;
        return fail("empty journal");
    }
    for (std::size_t i = 0; i < out.items.size(); ++i)
        if (out.items[i].plan_id <= 0) {
            line_no = 0;
            return fail("item " + std::to_string(i) + " is missing");
        }
    return {};
}

/// How a resumed run takes up one item, from what its journal says (no I/O): send it (never
/// sent, or shown to have placed nothing), take its outcome as settled, or reconcile it as
/// lost (an attempt without outcome, or one left unknown).
struct resumed_item {
    enum class kind {
        send,             ///< never sent
        send_unplaced,    ///< sent before and shown to have placed nothing: send again
        placed,
        rejected,
        lost,             ///< reconcile before anything else is sent for it or its twins
    } how = kind::send;
    std::string evidence;              ///< what the report's evidence says about the earlier run
    std::string message;               ///< for lost: why its outcome is unknown
    std::chrono::milliseconds since_send{0}; ///< for lost: how long ago its last attempt was sent
    std::uint64_t batch_seq = 0;       ///< for lost: its last attempt's line (shared by a batch)
    std::size_t batch_size = 1;        ///< for lost: the items of that create
};

/// `wall_ms_now`: local unix time in milliseconds now (a loss's settle time runs from its send).
inline resumed_item resume_item(journal_item_state const& js, std::int64_t wall_ms_now) {
    resumed_item r;
    using kind = journal_item_state::kind;
    switch (js.state) {
    case kind::fresh: break;
    case kind::not_placed:
        r.how = resumed_item::kind::send_unplaced;
        r.evidence = js.proof.empty() ? "earlier run: not placed (refused, or a lost attempt shown to have placed nothing)"
                                      : "earlier run: a lost attempt shown to have placed nothing (proof: " + js.proof + ")";
        break;
    case kind::placed: r.how = resumed_item::kind::placed; break;
    case kind::rejected: r.how = resumed_item::kind::rejected; break;
    case kind::lost:
        r.how = resumed_item::kind::lost;
        r.message = js.message.empty() ? "an earlier run sent it and recorded no outcome" : js.message;
        r.evidence = "earlier run: " + r.message;
        r.since_send = std::chrono::milliseconds(std::max<std::int64_t>(0, js.sent_ms ? wall_ms_now - js.sent_ms : 0));
        r.batch_seq = js.attempt_line;
        r.batch_size = std::max<std::size_t>(1, js.batch_size);
        break;
    }
    return r;
}

/// An append-only journal file, locked against a second run using it at the same time.
/// Every line is flushed to the operating system before write_line returns (a crash of the
/// process loses nothing). Lines written `durable` are also forced to the disk (fsync), so
/// a power cut cannot lose them: the header and every attempt line, each before its create
/// is sent. After a failed write the journal is broken: nothing more is written (a torn
/// line can only be the last) and every later write_line fails. Failures are
/// errc::journal_failed with the reason in last_error().
class journal_file {
public:
    journal_file() = default;
    journal_file(const journal_file&) = delete;
    journal_file& operator=(const journal_file&) = delete;
    ~journal_file() { close(); }

    /// Opens `path` for appending (`fresh`: it must not exist yet) and locks it. `sync`
    /// false turns fsync off (durable lines are then only flushed).
    error_code open(const std::string& path, bool fresh, bool sync) {
        close();
        auto fail = [&](const std::string& why) {
            close();
            last_error_ = "journal " + path + ": " + why;
            return make_error_code(errc::journal_failed);
        };
        if (fresh) {
            f_ = std::fopen(path.c_str(), "wx");
        } else {
#if __has_include(<unistd.h>)
            // Appending to an existing journal only: a mistyped path must not create one.
            int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
            if (fd >= 0) {
                f_ = ::fdopen(fd, "a");
                if (!f_) ::close(fd);
            }
#else
            if (std::FILE* probe = std::fopen(path.c_str(), "rb")) {
                std::fclose(probe);
                f_ = std::fopen(path.c_str(), "a");
            }
#endif
        }
        if (!f_)
            return fail(std::string(std::strerror(errno)) +
                        (fresh && errno == EEXIST ? " (resume it, or choose another file)" : ""));
        path_ = path;
        sync_ = sync;
        broken_ = false;
#if __has_include(<sys/file.h>)
        if (::flock(::fileno(f_), LOCK_EX | LOCK_NB) != 0)
            return fail(errno == EWOULDBLOCK ? std::string("in use by another run") : std::string(std::strerror(errno)));
#endif
#if __has_include(<unistd.h>)
        if (fresh && sync_) {
            // The new file's directory entry must survive a power cut too.
            auto slash = path.rfind('/');
            std::string dir = slash == std::string::npos ? std::string(".") : slash == 0 ? std::string("/") : path.substr(0, slash);
            int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
            if (fd >= 0) {
                ::fsync(fd);
                ::close(fd);
            }
        }
#endif
        return {};
    }

    /// Appends one line. Fails when it cannot be written: a run must not send what it could
    /// not record.
    error_code write_line(std::string_view line, bool durable = false) {
        if (!f_) return {};
        if (broken_) {
            last_error_ = "journal " + path_ + ": broken by an earlier failed write";
            return make_error_code(errc::journal_failed);
        }
        bool ok = std::fwrite(line.data(), 1, line.size(), f_) == line.size() && std::fputc('\n', f_) != EOF &&
                  std::fflush(f_) == 0;
#if __has_include(<unistd.h>)
        if (ok && durable && sync_) ok = ::fsync(::fileno(f_)) == 0;
#endif
        if (!ok) {
            broken_ = true;
            last_error_ = "journal " + path_ + ": write failed: " + std::strerror(errno);
            return make_error_code(errc::journal_failed);
        }
        return {};
    }

    /// The open file's descriptor (-1 when none), and whether durable lines are to be synced:
    /// for a sync made elsewhere (detail::journal_sync), after write_line(line, false).
    int native_handle() const noexcept {
#if __has_include(<unistd.h>)
        return f_ ? ::fileno(f_) : -1;
#else
        return -1;
#endif
    }
    bool wants_sync() const noexcept { return f_ != nullptr && sync_; }
    /// A sync made elsewhere failed: the journal is broken from now on.
    error_code fail(std::string const& why) {
        broken_ = true;
        last_error_ = "journal " + path_ + ": " + why;
        return make_error_code(errc::journal_failed);
    }

    /// Why the last open or write failed.
    std::string const& last_error() const noexcept { return last_error_; }

    void close() noexcept {
        if (f_) std::fclose(f_);  // also releases the lock
        f_ = nullptr;
    }

    /// The whole file, for replay.
    static error_code read_all(const std::string& path, std::string& text, std::string& why) {
        text.clear();
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) {
            why = "journal " + path + ": " + std::strerror(errno);
            return make_error_code(errc::journal_failed);
        }
        char buf[65536];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
        bool const bad = std::ferror(f);
        std::fclose(f);
        if (bad) {
            why = "journal " + path + ": read failed";
            return make_error_code(errc::journal_failed);
        }
        return {};
    }

private:
    std::FILE* f_ = nullptr;
    std::string path_;
    std::string last_error_;
    bool sync_ = true;
    bool broken_ = false;
};

} // namespace shop::detail
