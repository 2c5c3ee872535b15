// Every option struct of the library, in one place: the client (client_config and its parts:
// TLS, timeouts, pool, limiter, retries), per-call overrides, the status poller and bulk
// placement. Every setting has a documented default; a zero duration means "disabled" (no
// bound of its own) unless its comment says otherwise.
#pragma once

#include <shop/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace shop {

using namespace std::chrono_literals;

class rate_limiter;

/// TLS settings. Verification is on by default and should stay on.
struct tls_options {
    /// Verify the peer's certificate chain and host name (verify_peer + host name check).
    bool verify = true;
    /// Trust the system's root certificates (OpenSSL default verify paths).
    bool use_system_roots = true;
    /// Extra trusted CA bundle (PEM file); empty for none.
    std::string ca_file;
    /// Extra trusted CA certificates as PEM text (for tests and embedded deployments).
    std::string ca_pem;
};

/// Per-phase timeouts and the total deadline of one request (including waiting for a pooled
/// connection). Zero disables a phase's own bound; `total` always applies when non-zero.
struct timeout_options {
    std::chrono::milliseconds resolve = 5s;
    std::chrono::milliseconds connect = 5s;
    std::chrono::milliseconds handshake = 5s;
    std::chrono::milliseconds write = 10s;
    /// From the end of the write until the whole response is read.
    std::chrono::milliseconds read = 30s;
    /// Bound on one attempt of a request, queueing for a connection included.
    std::chrono::milliseconds total = 60s;
    /// Bound on a graceful TLS shutdown before the socket is closed anyway.
    std::chrono::milliseconds tls_shutdown = 1s;
};

/// Connection pool settings (one pool per origin: scheme, host, port).
struct pool_options {
    /// Most connections open at once; the pool grows on demand up to this.
    std::size_t max_connections = 16;
    /// An idle keep-alive connection older than this is closed rather than reused.
    std::chrono::milliseconds idle_timeout = 30s;
    /// How long a request may wait for a free connection before errc::pool_exhausted.
    std::chrono::milliseconds wait_timeout = 30s;
    /// Response body limit (bytes); larger bodies fail with errc::body_too_large.
    std::uint64_t body_limit = 8 * 1024 * 1024;
    /// Response header limit (bytes).
    std::uint32_t header_limit = 64 * 1024;
    /// User-Agent sent with every request; empty sends none (a request may set its own).
    std::string user_agent = "shop-client/0.1";
};

/// Limiter settings. Defaults match a key as the shops issue it (60/minute, 10,000/day).
struct limiter_options {
    /// Requests allowed per rolling window. 0 turns the window off; the daily limit and the
    /// cool-down after a server refusal still apply.
    std::uint32_t requests_per_window = 60;
    std::chrono::milliseconds window = 60s;
    /// Added to the window: the server checks with one-second timestamps at its receive time,
    /// and the network adds jitter, so an exact 60.000 s would be refused now and then.
    std::chrono::milliseconds safety_margin = 1s;
    /// Requests allowed per server day; 0 = no daily bound.
    std::uint32_t daily_limit = 10000;
    /// The server's time zone; its day starts at local midnight (Vietnam: UTC+7).
    std::chrono::seconds server_utc_offset = std::chrono::hours(7);
    /// Longest an acquire waits for a slot before errc::rate_limited_locally; 0 = unbounded
    /// here (the request's own total deadline still bounds it).
    std::chrono::milliseconds max_wait = std::chrono::minutes(5);
};

/// Who waits first at the limiter: order creation is never starved by status polling.
enum class request_priority { high, low };

/// Retries of reads, and of creates that provably never left.
struct retry_options {
    /// Attempts in all, the first included; 1 disables retries.
    std::uint32_t max_attempts = 4;
    /// Upper bound of the first backoff; each later bound is `multiplier` times larger.
    std::chrono::milliseconds initial_backoff = 200ms;
    std::chrono::milliseconds max_backoff = 10s;
    double multiplier = 2.0;
    /// Bound on the whole operation, retries and waits included (0 = the request's total
    /// timeout alone). A retry that could not start before it is not made.
    std::chrono::milliseconds max_total = 120s;
    /// Retry after the server's RATE_LIMIT_EXCEEDED (the limiter first waits a full window).
    bool retry_rate_limited = true;
};

/// One finished HTTP exchange, for request logs. Never contains the key or the secret.
struct request_log_entry {
    std::string_view method;   ///< "GET" / "POST"
    std::string_view target;   ///< path and query as sent
    unsigned http_status = 0;  ///< 0 when no response arrived
    std::string_view request_id;
    error_code ec;             ///< the exchange's outcome (empty on success)
    std::chrono::microseconds elapsed{0};
};

/// Everything a client needs. Defaults are those of a production deployment.
struct client_config {
    /// Scheme, host, optional port and path prefix of the shop's API.
    std::string base_url = "https://www.cloneviammo.com/api/v1";
    /// `sk_live_` + 32 characters (legacy keys: 32 characters). Checked on construction.
    std::string api_key;
    /// `sk_secret_` + 64 characters (legacy: 64 characters). Never logged.
    std::string api_secret;
    tls_options tls;
    timeout_options timeouts;
    /// Used when the client creates its own pool (User-Agent included); ignored when a
    /// shared pool is given.
    pool_options pool;
    /// The client's own limiter (60 per 60 s + 1 s margin, 10,000 per server day).
    limiter_options limiter;
    /// A limiter shared with other clients of the same API key; overrides `limiter`.
    std::shared_ptr<rate_limiter> shared_limiter;
    retry_options retry;
    /// Keep each answer's JSON text in `meta.raw_json` (off: one copy less per answer).
    bool keep_raw_json = false;
    /// Called after every HTTP exchange (from the thread that completed it); empty = off.
    std::function<void(const request_log_entry&)> request_log;
};

/// Per-call overrides, applied with `client::with(...)`.
struct call_options {
    std::optional<retry_options> retry;
    /// Total bound of one attempt (queueing included); replaces timeouts.total.
    std::optional<std::chrono::milliseconds> timeout;
    /// Limiter class; by default creates are high priority and reads low.
    std::optional<request_priority> priority;
};

/// How often a status_poller asks again about an order that is not terminal yet.
struct poll_intervals {
    std::chrono::milliseconds initial{1000};
    double growth = 1.5;
    std::chrono::milliseconds max{30000};
};

/// Settings of one status_poller. A zero duration is not "disabled" here: every wait of the
/// poller is bounded.
struct poll_options {
    /// Connections used at once (workers), each leased from the client's pool. Default 2.
    /// More than pool_options::max_connections only makes the extra workers wait.
    std::size_t connections = 2;
    /// Requests in flight per connection (HTTP/1.1 pipelining). Default 16; 1 = no
    /// pipelining. A connection that misbehaves falls back to 1 for the rest of the run.
    std::size_t pipeline_depth = 16;
    /// Re-poll interval of a pending order: first 1 s, then ×1.5, at most 30 s.
    poll_intervals intervals{};
    /// Poll each order until it is terminal (default). False: one look at each order, its
    /// first answer ends it (a status read pipelined over many orders); what the poller
    /// retries (5xx pages, broken bodies, the server's rate limit) is still retried until
    /// the deadline.
    bool until_terminal = true;
    /// Learn statuses from listing pages (100 orders each, newest first) in a round where
    /// that costs fewer requests than one status read per due order (default on; needs
    /// until_terminal). Status reads remain for what the listing cannot give: the delivery
    /// items of an order that reached completed, and orders not found in the pages read.
    bool use_listing = true;
    /// Bound on the whole run (default 10 min): orders not terminal by then end with
    /// terminal == false and errc::timeout.
    std::chrono::milliseconds deadline = std::chrono::minutes(10);
    /// Longest wait for the next response on a connection with requests in flight (default
    /// 30 s); a stalled pipeline counts as connection trouble (re-queue, depth 1).
    std::chrono::milliseconds read_timeout = 30s;
    /// Bound on one connection acquisition (default 10 s); failed acquisitions are retried
    /// with a growing pause (100 ms … 2 s) until the run's deadline.
    std::chrono::milliseconds acquire_timeout = 10s;
};

/// Settings of one bulk run.
struct bulk_options {
    /// Creates in flight at once (default 8).
    std::size_t concurrency = 8;
    /// Items per create, 1–20 (default 20, the API's maximum). A create of several items is
    /// one transaction: all of its orders are placed and paid, or none. Items go together when
    /// they carry the same coupon (the create's); a batch refused because of some of its items
    /// (unknown plan, missing field, out of stock) is split so that the others still go. A
    /// batch whose answer is lost is reconciled as one unit. `concurrency` counts creates.
    std::size_t batch = 20;
    /// Send an item again when reconciliation proved its lost attempt placed nothing and
    /// charged nothing (default on). Off: such an item ends rejected.
    bool retry_unplaced = true;
    /// Creates sent per item and run at most, counting resends after a proven non-placement
    /// and after refusals that certainly did not act (rate limit, no connection). Default 5.
    /// A resumed run counts afresh: what it resends was shown to have placed nothing.
    std::size_t max_attempts = 5;
    /// Reconcile once this many items are lost (0 = `concurrency`), when nothing else can be
    /// sent, or when the oldest loss has waited `reconcile_after`.
    std::size_t reconcile_batch = 0;
    std::chrono::milliseconds reconcile_after = 2s;
    /// Time between a loss and the pass that may conclude "nothing was placed": a server
    /// still working on a request the client gave up on (a timeout, a front end's 504) gets
    /// this long to commit it. Default 60 s, the longest a PHP shop behind nginx usually
    /// keeps working on a request; other items are sent meanwhile. Lower it only for a server
    /// known to finish sooner (the simulator finishes before it answers).
    std::chrono::milliseconds settle = 60s;
    /// Passes a lost item takes part in (once its settle time is over) before it ends outcome
    /// unknown; passes that left items unresolved are `pass_interval` apart.
    std::size_t reconcile_passes = 3;
    std::chrono::milliseconds pass_interval = 1s;
    /// Margin on the server clock when matching creation times.
    std::chrono::seconds clock_slack = std::chrono::seconds(120);
    /// The server's zone (created_at is server-local; deployments are in Vietnam).
    std::chrono::seconds server_utc_offset = std::chrono::hours(7);
    /// Bounds of one pass, which runs with new sends paused: listing pages read (100 orders
    /// each) and candidates' /orders/status reads. A pass that hits one leaves the items it
    /// could not decide for the next pass.
    std::size_t max_list_pages = 20;
    std::size_t max_status_reads = 100;
    /// With nothing lost, the balance baseline is read again (sends paused for one request)
    /// when it is older than this.
    std::chrono::milliseconds rebaseline_after = 60s;
    /// JSON-lines journal (empty = none); it must not exist yet. See async_resume.
    std::string journal_path;
    /// Force the journal's header and each attempt line to the disk (fsync) before the create
    /// is sent, so that not even a power cut loses one (default on; costs a disk write per
    /// create, made on a private thread: the client's executor never waits on the disk).
    /// Outcome lines are only flushed: a lost one is settled again on resume.
    bool journal_sync = true;
};

} // namespace shop
