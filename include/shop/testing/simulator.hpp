// shop::testing::simulator: a stateful, in-process Shop API v1 server with the deployed
// server's behaviour, fault injection and an admin area, running on an executor the caller
// supplies. See README.md, section "Simulator".
//
//     boost::asio::io_context ioc;
//     shop::testing::simulator sim(ioc.get_executor(), {.admin_token = "t"});
//     std::thread t([&] { ioc.run(); });
//     ... use sim.base_url(), sim.state(), sim.faults() ...
//     sim.stop(); t.join();
#pragma once

#include <shop/testing/api.hpp>
#include <shop/testing/catalog.hpp>
#include <shop/testing/faults.hpp>
#include <shop/testing/server.hpp>
#include <shop/testing/store.hpp>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace shop::testing {

struct simulator_options {
    /// Address to listen on ("127.0.0.1", "::1", "0.0.0.0", "localhost").
    std::string host = "127.0.0.1";
    /// Port; 0 picks a free one (see simulator::port()).
    std::uint16_t port = 0;
    using api_mode = shop::testing::api_mode;
    /// deployed (default) or documented (429, 403, PRODUCT_NOT_FOUND, OUT_OF_STOCK, 200 on create).
    api_mode mode = api_mode::deployed;
    /// orders/list with a status/from_date/to_date filter → HTTP 500, empty text/html body.
    bool quirk_list_filter_500 = false;
    /// A hostile listing: every page of orders/list and products/list holds page 1's items
    /// and says one more page follows (has_more never turns false).
    bool quirk_list_pages_repeat = false;
    /// A percentage coupon is applied twice to the amount charged, once to final_amount.
    bool quirk_double_discount = false;
    /// Requests per rate window for every key; 0 = each account's rate_limit (60 for the demo).
    std::uint32_t rate_limit_override = 0;
    /// Length of the rolling rate window.
    std::chrono::seconds rate_window{60};
    /// Requests per server-local day for every key; 0 = each account's daily_limit (10,000).
    std::uint32_t daily_limit_override = 0;
    /// Server-local time zone: days start at local midnight, timestamps print in local time.
    std::chrono::seconds utc_offset{7 * 3600};
    /// Non-instant orders: pending → processing after this, → completed after
    /// completed_after (both from creation); 0 = only by hand (admin endpoint or state()).
    std::chrono::milliseconds processing_after{2000}, completed_after{5000};
    /// X-Sim-Admin token of the admin area /_sim/; empty = admin area disabled.
    std::string admin_token;
    /// JSON catalog file (README.md, section "Simulator"); empty = the demo catalog.
    std::string catalog_file;
    /// A catalog given directly (tests); takes precedence over catalog_file.
    std::shared_ptr<catalog const> catalog_data;
    /// TLS context with certificate and key loaded; null = plain HTTP.
    std::shared_ptr<boost::asio::ssl::context> tls;
    /// Seed of the fault generator and of the trans_id generator.
    std::uint64_t fault_seed = 1;
    /// Fault specs ("orders/create:close-after-commit=0.05", "html-502=every:3").
    std::vector<std::string> faults;
    /// Latency of `latency` faults (fixed part and uniform jitter). A non-zero latency with
    /// no latency rule in `faults` delays every request.
    std::chrono::milliseconds latency{0}, latency_jitter{0};
    /// Largest request body (413 REQUEST_TOO_LARGE beyond).
    std::size_t max_body = 1 << 20;
    /// Connection bounds: idle keep-alive/header wait, body read, response write.
    std::chrono::milliseconds idle_timeout{60'000}, read_timeout{30'000}, write_timeout{30'000};
    /// Clock of the business logic (rate windows, days, lifecycle, timestamps); empty =
    /// system_clock. Timeouts of the connections always use the steady clock.
    std::function<std::chrono::system_clock::time_point()> clock;
};

class simulator {
public:
    /// Loads the catalog, builds the state and listens at once (throws on a bad catalog,
    /// a bad fault spec or an address that cannot be bound).
    explicit simulator(boost::asio::any_io_executor ex, simulator_options opts = {}) : opts_(std::move(opts)) {
        catalog cat = opts_.catalog_data         ? *opts_.catalog_data
                      : opts_.catalog_file.empty() ? catalog::demo()
                                                   : catalog::load(opts_.catalog_file, opts_.utc_offset);
        store_options so;
        so.rate_limit_override = opts_.rate_limit_override;
        so.rate_window = opts_.rate_window;
        so.daily_limit_override = opts_.daily_limit_override;
        so.utc_offset = opts_.utc_offset;
        so.processing_after = opts_.processing_after;
        so.completed_after = opts_.completed_after;
        so.quirk_double_discount = opts_.quirk_double_discount;
        so.clock = opts_.clock;
        so.seed = opts_.fault_seed;
        api_options ao;
        ao.mode = opts_.mode;
        ao.quirk_list_filter_500 = opts_.quirk_list_filter_500;
        ao.quirk_list_pages_repeat = opts_.quirk_list_pages_repeat;
        ao.admin_token = opts_.admin_token;
        state_ = std::make_shared<parts>(std::move(cat), std::move(so), opts_.fault_seed, std::move(ao));

        auto& f = state_->faults;
        f.set_latency(opts_.latency, opts_.latency_jitter);
        bool has_latency_rule = false;
        for (auto const& spec : opts_.faults) {
            auto rule = fault_plan::parse(spec, opts_.latency, opts_.latency_jitter);
            has_latency_rule |= rule.kind == fault_kind::latency;
            f.add(rule);
        }
        if (!has_latency_rule && (opts_.latency.count() > 0 || opts_.latency_jitter.count() > 0)) {
            fault_rule r;
            r.kind = fault_kind::latency;
            r.latency = opts_.latency;
            r.jitter = opts_.latency_jitter;
            f.add(r);
        }

        server_options sv;
        sv.tls = opts_.tls;
        sv.max_body = opts_.max_body;
        sv.idle_timeout = opts_.idle_timeout;
        sv.read_timeout = opts_.read_timeout;
        sv.write_timeout = opts_.write_timeout;
        auto address = resolve(opts_.host);
        // The server shares ownership of the whole state through its api.
        std::shared_ptr<api> handler(state_, &state_->handler);
        server_ = std::make_unique<server>(ex, boost::asio::ip::tcp::endpoint(address, opts_.port), handler, sv);
    }
    ~simulator() { stop(); }
    simulator(simulator const&) = delete;
    simulator& operator=(simulator const&) = delete;

    /// Closes the acceptor and every connection (on the executor); idempotent.
    void stop() {
        if (server_) server_->stop();
    }
    std::uint16_t port() const { return server_->port(); }
    /// "http://127.0.0.1:PORT/api/v1" ("https://…" with TLS).
    std::string base_url() const {
        auto addr = server_->local_endpoint().address();
        std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
        if (opts_.host == "localhost") host = "localhost";
        return std::string(opts_.tls ? "https://" : "http://") + host + ":" + std::to_string(port()) + "/api/v1";
    }
    /// The in-process API: accounts, balances, stock, orders, complete/cancel/refund, stats.
    store& state() noexcept { return state_->st; }
    /// Faults: add/clear rules at run time, reseed, counters.
    fault_plan& faults() noexcept { return state_->faults; }
    simulator_options const& options() const noexcept { return opts_; }

private:
    struct parts {
        parts(catalog c, store_options so, std::uint64_t seed, api_options ao)
            : st(std::move(c), std::move(so)), faults(seed), handler(st, faults, std::move(ao)) {}
        store st;
        fault_plan faults;
        api handler;
    };

    static boost::asio::ip::address resolve(std::string const& host) {
        if (host == "localhost") return boost::asio::ip::make_address("127.0.0.1");
        boost::system::error_code ec;
        auto a = boost::asio::ip::make_address(host, ec);
        if (ec) throw std::invalid_argument("simulator: host must be an IP address or localhost, got '" + host + "'");
        return a;
    }

    simulator_options opts_;
    std::shared_ptr<parts> state_;
    std::unique_ptr<server> server_;
};

} // namespace shop::testing
