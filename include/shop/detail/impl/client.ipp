// shop::client: the implementation (compiled once with SHOP_SEPARATE_COMPILATION, see
// <shop/src.hpp>). Every endpoint is one operation: a task chain that takes a limiter slot,
// exchanges through the pool (the answer read into the typed result while the connection is
// still held, from the connection's own buffers), and retries where the policy and the
// request's idempotency allow.
#pragma once

#include <shop/client.hpp>
#include <shop/connection_pool.hpp>
#include <shop/detail/async/operation.hpp>
#include <shop/detail/async/task.hpp>
#include <shop/detail/protocol/parse.hpp>
#include <shop/detail/transport/url.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <set>
#include <span>

namespace shop {
namespace detail {

// Endpoint names as constants: GCC 12 mis-compiles string literals inside co_await
// expressions ("array used as initializer").
inline constexpr std::string_view ep_orders_create = "orders/create";
inline constexpr std::string_view ep_orders_status = "orders/status";
inline constexpr std::string_view ep_orders_list = "orders/list";
inline constexpr std::string_view ep_products_list = "products/list";
inline constexpr std::string_view ep_categories_list = "categories/list";
inline constexpr std::string_view ep_account_balance = "account/balance";
inline constexpr std::string_view ep_account_info = "account/info";

/// What an operation of a client needs, shared by the client, its copies made by with(),
/// and every operation started on them (which thereby outlive the client object).
struct client_core {
    boost::asio::any_io_executor ex;
    client_config cfg;
    std::string prefix;
    std::shared_ptr<header_block const> credentials;
    std::shared_ptr<connection_pool> pool;
    std::shared_ptr<rate_limiter> limiter;
    std::optional<request_priority> priority;
};

/// The client's steps, for the client itself and for the status poller (which drives
/// leased connections with the client's requests and answer reading).
struct client_access {
    using clock = std::chrono::steady_clock;
    using core_ptr = std::shared_ptr<client_core const>;

    static core_ptr const& core(client const& c) noexcept { return c.core_; }

    static error_code invalid(diagnostics& diag, std::string_view endpoint, std::string message) {
        diag = diagnostics{};
        diag.endpoint.assign(endpoint.data(), endpoint.size());
        diag.message = std::move(message);
        return make_error_code(errc::invalid_argument);
    }

    /// The server's answers, each well-formed, do not add up (a walk whose pages repeat).
    static error_code invalid_answer(diagnostics& diag, std::string_view endpoint, std::string message) {
        invalid(diag, endpoint, std::move(message));
        return make_error_code(errc::bad_response);
    }

    static error_code make_target(client_core const& core, std::string_view endpoint,
                                  std::span<query_param const> params, std::string& out, diagnostics& diag) {
        std::string why;
        std::array<char, 32> path{};
        path[0] = '/';
        std::copy_n(endpoint.begin(), std::min(endpoint.size(), path.size() - 1), path.begin() + 1);
        std::string_view const p(path.data(), std::min(endpoint.size() + 1, path.size()));
        if (auto ec = append_target(out, core.prefix, p, params, why)) return invalid(diag, endpoint, why);
        return {};
    }

    static http_request make_request(client_core const& core, http_method method, std::string target, std::string body) {
        http_request req;
        req.method = method;
        req.target = std::move(target);
        req.body = std::move(body);
        req.idempotent = method == http_method::get;
        req.fixed_headers = core.credentials;
        return req;
    }

    // ------------------------------------------------------------ the status request
    // (shared with the pipelined status poller)

    /// The request order_status(trans_id) sends, the one the poller pipelines too.
    static error_code status_request(client_core const& core, std::string_view trans_id, http_request& out,
                                     diagnostics& diag) {
        if (trans_id.empty() || trans_id.size() > 50)
            return invalid(diag, ep_orders_status, "trans_id must have 1 to 50 characters");
        std::string target;
        std::array<query_param, 1> const one{{{"trans_id", trans_id}}};
        if (auto ec = make_target(core, ep_orders_status, std::span<query_param const>(one), target, diag)) return ec;
        out = make_request(core, http_method::get, std::move(target), {});
        return {};
    }
    static error_code status_request(client const& c, std::string_view trans_id, http_request& out, diagnostics& diag) {
        return status_request(*c.core_, trans_id, out, diag);
    }

    static error_code read_status(client const& c, http_response const& response, order_status_result& out,
                                  diagnostics& diag) {
        return read_answer(response, ep_orders_status, out, diag, c.core_->cfg.keep_raw_json);
    }

    /// Tells the limiter about a server refusal seen outside the client's own calls.
    static void note_refusal(client const& c, error_code const& ec) {
        if (ec == errc::rate_limit_exceeded) c.core_->limiter->on_rate_limited();
        if (ec == errc::daily_limit_exceeded) c.core_->limiter->on_daily_limited();
    }

    // ------------------------------------------------------------ one request

    template <class Result>
    struct answer_reader {
        std::string_view endpoint;
        Result* out;
        diagnostics* diag;
        bool keep_raw;
        error_code ec;

        static void read(void* user, http_response& response) {
            auto* self = static_cast<answer_reader*>(user);
            self->ec = read_answer(response, self->endpoint, *self->out, *self->diag, self->keep_raw);
        }
    };

    static void log(client_core const& core, http_request const& req, error_code ec, diagnostics const& diag,
                    response_meta const* meta, clock::time_point started) {
        if (!core.cfg.request_log) return;
        request_log_entry entry;
        entry.method = req.method == http_method::post ? "POST" : "GET";
        entry.target = req.target;
        entry.http_status = ec ? diag.http_status : (meta ? meta->http_status : 0);
        entry.request_id = ec ? std::string_view(diag.request_id) : (meta ? std::string_view(meta->request_id) : "");
        entry.ec = ec;
        entry.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started);
        // A log that throws must not change what the call reports (a placed order stays
        // placed): what it throws is dropped.
        try {
            core.cfg.request_log(entry);
        } catch (...) {
        }
    }

    /// A slot of the limiter, waited for until `bound` at most; a cancellation withdraws
    /// the wait (no slot is taken).
    static task<error_code> limiter_slot(op_context& ctx, client_core const& core, request_priority priority,
                                         clock::time_point bound) {
        struct target {
            rate_limiter* limiter;
            rate_limiter::ticket ticket;
        } t{core.limiter.get(), {}};
        auto op = io<void(error_code)>(core.ex, [&](auto h) {
            bool const started = ctx.cancel.arm_with(
                [](void* p, std::uint64_t) {
                    auto* tt = static_cast<target*>(p);
                    tt->limiter->cancel(tt->ticket);
                },
                &t, [&] { t.limiter->acquire_with_ticket(priority, nullptr, t.ticket, bound, std::move(h)); });
            if (!started) boost::asio::post(boost::asio::append(std::move(h), make_error_code(errc::cancelled)));
        });
        auto [ec] = co_await op;
        ctx.cancel.disarm();
        co_return ec;
    }

    /// A pause before a retry; false when cancelled meanwhile.
    static task<bool> pause(op_context& ctx, client_core const& core, std::chrono::milliseconds wait) {
        boost::asio::steady_timer timer(core.ex, wait);
        auto op = io<void(error_code)>(core.ex, [&](auto h) {
            bool const started = ctx.cancel.arm_with(
                [](void* p, std::uint64_t) { static_cast<boost::asio::steady_timer*>(p)->cancel(); }, &timer,
                [&] { timer.async_wait(std::move(h)); });
            if (!started) boost::asio::post(boost::asio::append(std::move(h), boost::asio::error::operation_aborted));
        });
        auto waited = co_await op;  // expiry or cancellation: either way the pause is over
        (void)waited;
        ctx.cancel.disarm();
        co_return !ctx.cancel.requested();
    }

    /// One request: limiter slot, exchange through the pool (the answer read into `out`
    /// from the connection's buffers), retries where the policy and the request's
    /// idempotency allow. Failures are returned with ctx.diag filled, never thrown.
    template <class Result>
    static task<error_code> perform(op_context& ctx, Result& out, core_ptr const& core, std::string_view endpoint,
                                    http_request const& req) {
        auto const& cfg = core->cfg;
        const auto op_start = clock::now();
        const auto op_deadline = cfg.retry.max_total.count() > 0 ? op_start + cfg.retry.max_total : clock::time_point::max();
        const auto priority = core->priority.value_or(req.idempotent ? request_priority::low : request_priority::high);
        std::optional<backoff> delays;
        // Failures count against max_attempts. Refusals for the rate limit do not: the
        // limiter's cool-down already spaces them a full window apart, so they are bounded by
        // max_total instead (or by max_attempts when max_total is 0).
        std::uint32_t failures = 0, refusals = 0;
        auto fail = [&](error_code ec, std::string message) {
            ctx.diag = diagnostics{};
            ctx.diag.endpoint.assign(endpoint.data(), endpoint.size());
            ctx.diag.message = std::move(message);
            return ec;
        };
        for (bool first = true;; first = false) {
            // A cancellation that arrived between two steps is noticed here, before a new
            // request or a resend is started.
            if (ctx.cancel.requested())
                co_return fail(make_error_code(errc::cancelled), "cancelled before the request was sent");
            ctx.diag = diagnostics{};
            if (!core->limiter->unlimited()) {
                auto lec = co_await limiter_slot(ctx, *core, priority, op_deadline);
                // The operation's own bound (retry.max_total) came before a slot: a timeout
                // of the call, as any other wait past it.
                if (lec == errc::rate_limited_locally && clock::now() >= op_deadline)
                    co_return fail(make_error_code(errc::timeout),
                                   "no request slot of the rate limiter before the call's deadline (retry.max_total)");
                if (lec)
                    co_return fail(lec, lec == errc::daily_limit_exceeded
                                            ? "daily request limit reached; refused locally until the server's midnight"
                                            : lec.message());
                if (ctx.cancel.requested())
                    co_return fail(make_error_code(errc::cancelled), "cancelled before the request was sent");
            }
            const auto started = clock::now();
            const auto deadline = cfg.timeouts.total.count() > 0 ? std::min(started + cfg.timeouts.total, op_deadline)
                                                                 : op_deadline;
            if (!first) out = Result{};  // what a failed attempt may have left
            answer_reader<Result> reader{endpoint, &out, &ctx.diag, cfg.keep_raw_json, {}};
            auto st = co_await core->pool->exchange(ctx, req, deadline, &answer_reader<Result>::read, &reader);
            error_code ec;
            bool acted;
            if (st.ec) {
                ec = st.ec;
                std::string message = std::move(ctx.diag.message);
                fail(ec, message.empty() ? ec.message() : std::move(message));
                // A create that may have reached the server (cancelled or not): nobody can
                // say whether it was placed.
                if (!req.idempotent && st.maybe_sent) {
                    ctx.diag.message = "order may or may not have been placed (" + ctx.diag.message + ")";
                    ec = errc::outcome_unknown;
                }
                acted = st.maybe_sent;
            } else {
                ec = reader.ec;
                // A create answered by something that is not an API verdict (a front end's
                // error page, a broken body) may still have been committed behind it.
                if (!req.idempotent && (ec == errc::bad_response || ec == errc::http_error)) {
                    ctx.diag.message = "order may or may not have been placed (" + ctx.diag.message + ")";
                    ec = errc::outcome_unknown;
                }
                // A known refusal means the request was not acted on; any other answer to a
                // create (CHECKOUT_ERROR, an unknown error code) may have been.
                acted = !refused_before_acting(ec);
            }
            log(*core, req, ec, ctx.diag, ec ? nullptr : &out.meta, started);
            if (!ec) co_return ec;
            const bool refused = ec == errc::rate_limit_exceeded;
            if (refused) core->limiter->on_rate_limited();
            if (ec == errc::daily_limit_exceeded) core->limiter->on_daily_limited();
            if (!is_transient(ec, ctx.diag.http_status, cfg.retry) || !may_resend(req.idempotent, acted)) co_return ec;
            if (refused ? (cfg.retry.max_total.count() == 0 && ++refusals >= cfg.retry.max_attempts)
                        : ++failures >= cfg.retry.max_attempts)
                co_return ec;
            if (!delays) delays.emplace(cfg.retry);
            auto wait = refused ? std::chrono::milliseconds(0) : delays->next(failures - 1);
            if (clock::now() + wait >= op_deadline) co_return ec;
            if (wait.count() == 0) continue;
            if (!co_await pause(ctx, *core, wait))
                co_return fail(make_error_code(errc::cancelled), "cancelled while waiting to retry");
        }
    }

    template <class Result>
    static task<error_code> get(op_context& ctx, Result& out, core_ptr const& core, std::string_view endpoint,
                                std::span<query_param const> params) {
        std::string target;
        if (auto ec = make_target(*core, endpoint, params, target, ctx.diag)) co_return ec;
        auto const req = make_request(*core, http_method::get, std::move(target), {});
        co_return co_await perform(ctx, out, core, endpoint, req);
    }

    // Arguments of the coroutines above are named objects passed by reference: GCC 12
    // mishandles temporaries with destructors (and braced lists) inside co_await expressions.
    static constexpr std::span<query_param const> no_params{};

    // ------------------------------------------------------------ endpoints

    static task<error_code> create(op_context& ctx, create_order_result& out, core_ptr const& core,
                                   create_order_request const& request) {
        auto const ep = ep_orders_create;
        if (request.items.empty()) co_return invalid(ctx.diag, ep, "an order needs at least one item");
        if (request.items.size() > 20) co_return invalid(ctx.diag, ep, "at most 20 items per order");
        boost::json::array items;
        items.reserve(request.items.size());
        for (auto const& item : request.items) {
            if (item.plan_id <= 0) co_return invalid(ctx.diag, ep, "plan_id must be positive");
            if (item.quantity < 1 || item.quantity > 1000000)
                co_return invalid(ctx.diag, ep, "quantity must be between 1 and 1000000");
            boost::json::object entry{{"plan_id", item.plan_id}, {"quantity", item.quantity}};
            if (!item.fields.empty()) {
                boost::json::object fields;
                for (auto const& [k, v] : item.fields) fields[k] = v;
                entry["fields"] = std::move(fields);
            }
            items.push_back(std::move(entry));
        }
        boost::json::object body{{"items", std::move(items)}};
        if (!request.coupon_code.empty()) body["coupon_code"] = request.coupon_code;
        std::string target;
        if (auto ec = make_target(*core, ep, no_params, target, ctx.diag)) co_return ec;
        auto const req = make_request(*core, http_method::post, std::move(target), boost::json::serialize(body));
        auto ec = co_await perform(ctx, out, core, ep, req);
        if (!ec && (out.orders.empty() || out.orders.front().trans_id.empty())) {
            ctx.diag = diagnostics{};
            ctx.diag.message = "success without orders[].trans_id: order may have been placed";
            ctx.diag.request_id = out.meta.request_id;
            ctx.diag.endpoint = std::string(ep);
            ctx.diag.http_status = out.meta.http_status;
            ec = errc::outcome_unknown;
        }
        co_return ec;
    }

    static task<error_code> status(op_context& ctx, order_status_result& out, core_ptr const& core,
                                   std::string const& trans_id) {
        http_request req;
        if (auto ec = status_request(*core, trans_id, req, ctx.diag)) co_return ec;
        co_return co_await perform(ctx, out, core, ep_orders_status, req);
    }

    static task<error_code> status_by_id(op_context& ctx, order_status_result& out, core_ptr const& core,
                                         std::int64_t order_id) {
        if (order_id <= 0) co_return invalid(ctx.diag, ep_orders_status, "order_id must be positive");
        auto const id = std::to_string(order_id);
        std::array<query_param, 1> const one{{{"order_id", id}}};
        std::span<query_param const> const params(one);
        co_return co_await get(ctx, out, core, ep_orders_status, params);
    }

    static bool matches(const order_list_query& q, const order_info& o) {
        if (!q.status.empty() && o.status.raw != q.status) return false;
        if (!q.from_date.empty() || !q.to_date.empty()) {
            if (!o.created_at || o.created_at->size() < 10) return false;
            std::string_view day = std::string_view(*o.created_at).substr(0, 10);
            if (!q.from_date.empty() && day < q.from_date) return false;
            if (!q.to_date.empty() && day > q.to_date) return false;
        }
        return true;
    }

    /// The spec's bounds of a listing page, checked before anything is sent.
    static error_code check_page(diagnostics& diag, std::string_view endpoint, std::int64_t page, std::int64_t limit) {
        if (page < 1) return invalid(diag, endpoint, "page must be 1 or more");
        if (limit < 0 || limit > 100) return invalid(diag, endpoint, "limit must be 1 to 100 (0: the server's default)");
        return {};
    }
    static bool is_date(std::string_view d) {
        if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
        for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
            if (d[i] < '0' || d[i] > '9') return false;
        return true;
    }

    static task<error_code> list_orders(op_context& ctx, order_list_result& out, core_ptr const& core,
                                        order_list_query const& q) {
        if (auto ec = check_page(ctx.diag, ep_orders_list, q.page, q.limit)) co_return ec;
        for (auto const* d : {&q.from_date, &q.to_date})
            if (!d->empty() && !is_date(*d))
                co_return invalid(ctx.diag, ep_orders_list, "from_date and to_date are YYYY-MM-DD");
        std::string const page = std::to_string(q.page), limit = std::to_string(q.limit);
        std::vector<query_param> base;
        if (q.page > 1) base.emplace_back("page", page);
        if (q.limit > 0) base.emplace_back("limit", limit);
        const bool filtered = !q.status.empty() || !q.from_date.empty() || !q.to_date.empty();
        std::span<query_param const> const unfiltered(base);
        if (!filtered) co_return co_await get(ctx, out, core, ep_orders_list, unfiltered);

        auto with_filters = base;
        if (!q.status.empty()) with_filters.emplace_back("status", q.status);
        if (!q.from_date.empty()) with_filters.emplace_back("from_date", q.from_date);
        if (!q.to_date.empty()) with_filters.emplace_back("to_date", q.to_date);
        std::span<query_param const> const params(with_filters);
        auto ec = co_await get(ctx, out, core, ep_orders_list, params);
        if (ec == errc::http_error && ctx.diag.http_status >= 500) {
            // The deployed server fails every filtered listing; list unfiltered instead.
            out = order_list_result{};
            ec = co_await get(ctx, out, core, ep_orders_list, unfiltered);
            out.filtered_locally = true;
        }
        if (ec) co_return ec;
        // Also filter what the server returned: it silently ignores unknown status values.
        std::erase_if(out.orders, [&](const order_info& o) { return !matches(q, o); });
        co_return ec;
    }

    /// Bound on pages a walker fetches (10,000 pages of 100 = a million items).
    static constexpr std::int64_t max_pages = 10000;

    /// Reads page after page (100 items each unless the query says otherwise), each item
    /// once, until a page says it is the last (has_more false, or its number reaches
    /// total_pages) or brings nothing. A listing read newest first shifts while orders
    /// arrive, so a page may repeat items of the one before, never skip any; a page with
    /// nothing new can still happen when a whole page of orders arrived meanwhile, two in a
    /// row cannot: the walk then stops with errc::bad_response (the server's has_more is
    /// not to be trusted), as it does at max_pages with has_more still set. `out` keeps
    /// every item read either way.
    template <class Page, class Item, class Query>
    static task<error_code> walk(op_context& ctx, std::vector<Item>& out, core_ptr const& core, Query q,
                                 task<error_code> (*list)(op_context&, Page&, core_ptr const&, Query const&),
                                 std::vector<Item> Page::*items, std::string_view endpoint) {
        std::set<std::int64_t> seen;
        if (q.limit == 0) q.limit = 100;
        int stale = 0;
        for (q.page = 1;; ++q.page) {
            if (q.page > max_pages)
                co_return invalid_answer(ctx.diag, endpoint,
                                         "stopped after " + std::to_string(max_pages) +
                                             " pages (the walk's bound); the server still says has_more");
            Page page;
            if (auto ec = co_await list(ctx, page, core, q)) co_return ec;
            std::size_t fresh = 0;
            for (auto& item : page.*items)
                if (seen.insert(item.id).second) {
                    out.push_back(std::move(item));
                    ++fresh;
                }
            if (!page.page.has_more || (page.*items).empty()) break;
            if (page.page.total_pages > 0 && q.page >= page.page.total_pages) break;
            stale = fresh ? 0 : stale + 1;
            if (stale == 2)
                co_return invalid_answer(ctx.diag, endpoint,
                                         "pages " + std::to_string(q.page - 1) + " and " + std::to_string(q.page) +
                                             " brought nothing new although has_more is set; stopped with " +
                                             std::to_string(out.size()) + " distinct items");
        }
        co_return error_code{};
    }

    static task<error_code> all_orders(op_context& ctx, std::vector<order_info>& out, core_ptr const& core,
                                       order_list_query q) {
        co_return co_await walk(ctx, out, core, std::move(q), &list_orders, &order_list_result::orders, ep_orders_list);
    }

    static std::vector<query_param> product_params(const product_list_query& q, std::string& category,
                                                   std::string& page, std::string& limit) {
        std::vector<query_param> params;
        if (q.category_id) {
            category = std::to_string(*q.category_id);
            params.emplace_back("category_id", category);
        }
        if (!q.search.empty()) params.emplace_back("search", q.search);
        if (q.page > 1) {
            page = std::to_string(q.page);
            params.emplace_back("page", page);
        }
        if (q.limit > 0) {
            limit = std::to_string(q.limit);
            params.emplace_back("limit", limit);
        }
        return params;
    }

    static task<error_code> list_products(op_context& ctx, product_list_result& out, core_ptr const& core,
                                          product_list_query const& q) {
        if (auto ec = check_page(ctx.diag, ep_products_list, q.page, q.limit)) co_return ec;
        if (q.category_id && *q.category_id <= 0)
            co_return invalid(ctx.diag, ep_products_list, "category_id must be positive");
        std::string category, page, limit;
        auto const list = product_params(q, category, page, limit);
        std::span<query_param const> const params(list);
        co_return co_await get(ctx, out, core, ep_products_list, params);
    }

    static task<error_code> all_products(op_context& ctx, std::vector<product>& out, core_ptr const& core,
                                         product_list_query q) {
        co_return co_await walk(ctx, out, core, std::move(q), &list_products, &product_list_result::products,
                                ep_products_list);
    }

    static task<error_code> list_categories(op_context& ctx, category_list_result& out, core_ptr const& core,
                                            category_list_query q) {
        std::string parent;
        std::vector<query_param> list;
        if (q.parent_id) {
            parent = std::to_string(*q.parent_id);
            list.emplace_back("parent_id", parent);
        }
        if (q.include_children) list.emplace_back("include_children", "1");
        if (q.include_products) list.emplace_back("include_products", "1");
        std::span<query_param const> const params(list);
        co_return co_await get(ctx, out, core, ep_categories_list, params);
    }

    static task<error_code> balance(op_context& ctx, balance_result& out, core_ptr const& core) {
        co_return co_await get(ctx, out, core, ep_account_balance, no_params);
    }

    static task<error_code> account_info(op_context& ctx, account_info_result& out, core_ptr const& core) {
        co_return co_await get(ctx, out, core, ep_account_info, no_params);
    }

    static task<error_code> sync_limits(op_context& ctx, account_info_result& out, core_ptr const& core) {
        auto const& limiter = core->limiter;
        auto ec = co_await get(ctx, out, core, ep_account_info, no_params);
        if (ec) co_return ec;
        auto clamp = [](std::int64_t v) { return static_cast<std::uint32_t>(std::clamp<std::int64_t>(v, 0, UINT32_MAX)); };
        if (out.api_key.rate_limit > 0)
            limiter->adopt(clamp(out.api_key.rate_limit), clamp(out.api_key.daily_limit),
                           clamp(out.usage_today.total_requests));
        co_return ec;
    }

    /// Checks URL and credentials (before anything is sent) and prepares the shared header
    /// block. Throws shop::error(errc::invalid_argument): the user's edge.
    static std::shared_ptr<client_core> setup(boost::asio::any_io_executor ex, client_config cfg, base_url& base) {
        std::string why;
        auto fail = [&](error_code ec, std::string message) {
            throw error(ec, diagnostics{{}, std::move(message), {}, {}, 0});
        };
        if (auto ec = parse_base_url(cfg.base_url, base, why)) fail(ec, "base_url: " + why);
        // The messages name lengths and prefixes, never the credential itself.
        if (auto ec = validate_api_key(cfg.api_key, why)) fail(ec, why);
        if (auto ec = validate_api_secret(cfg.api_secret, why)) fail(ec, why);
        auto core = std::make_shared<client_core>();
        error_code ec;
        core->credentials = header_block::make(
            {{"X-API-Key", cfg.api_key}, {"X-API-Secret", cfg.api_secret}, {"Accept", "application/json"}}, ec, why);
        if (ec) fail(ec, why);
        core->prefix = base.path_prefix;
        core->limiter = cfg.shared_limiter ? cfg.shared_limiter : rate_limiter::create(ex, cfg.limiter);
        core->ex = std::move(ex);
        core->cfg = std::move(cfg);
        return core;
    }
};

SHOP_DECL error_code status_requests::make(client const& c, std::string_view trans_id, http_request& out,
                                           diagnostics& diag) {
    return client_access::status_request(c, trans_id, out, diag);
}
SHOP_DECL error_code status_requests::read(client const& c, http_response const& response, order_status_result& out,
                                           diagnostics& diag) {
    return client_access::read_status(c, response, out, diag);
}
SHOP_DECL void status_requests::note_refusal(client const& c, error_code const& ec) {
    client_access::note_refusal(c, ec);
}

} // namespace detail

SHOP_DECL client::client(executor_type ex, client_config cfg) {
    detail::base_url base;
    auto core = detail::client_access::setup(ex, std::move(cfg), base);
    core->pool = connection_pool::create(core->ex, base.origin, core->cfg.tls, core->cfg.pool, core->cfg.timeouts);
    core_ = std::move(core);
}

SHOP_DECL client::client(std::shared_ptr<connection_pool> pool, client_config cfg) {
    detail::base_url base;
    auto core = detail::client_access::setup(pool->get_executor(), std::move(cfg), base);
    if (!(base.origin == pool->target()))
        throw error(errc::invalid_argument, diagnostics{{}, "the shared pool serves " + pool->target().to_string() +
                                                                ", not " + base.origin.to_string(),
                                                        {}, {}, 0});
    core->pool = std::move(pool);
    core_ = std::move(core);
}

SHOP_DECL client::client(std::shared_ptr<detail::client_core const> core) noexcept : core_(std::move(core)) {}

SHOP_DECL client client::with(const call_options& options) const {
    auto core = std::make_shared<detail::client_core>(*core_);
    if (options.retry) core->cfg.retry = *options.retry;
    if (options.timeout) core->cfg.timeouts.total = *options.timeout;
    core->priority = options.priority;
    return client(std::move(core));
}

SHOP_DECL client::executor_type client::get_executor() const noexcept { return core_->ex; }
SHOP_DECL client::executor_type client::executor_of(detail::client_core const& core) noexcept { return core.ex; }
SHOP_DECL const std::shared_ptr<rate_limiter>& client::limiter() const noexcept { return core_->limiter; }
SHOP_DECL const std::shared_ptr<connection_pool>& client::pool() const noexcept { return core_->pool; }
SHOP_DECL const client_config& client::config() const noexcept { return core_->cfg; }

SHOP_DECL client::task_of<create_order_result> client::create_task(detail::op_context& ctx, create_order_result& out, core_ptr const& core,
                                                                    create_order_request const& request) {
    return detail::client_access::create(ctx, out, core, request);
}
SHOP_DECL client::task_of<order_status_result> client::status_task(detail::op_context& ctx, order_status_result& out, core_ptr const& core,
                                                                    std::string const& trans_id) {
    return detail::client_access::status(ctx, out, core, trans_id);
}
SHOP_DECL client::task_of<order_status_result> client::status_by_id_task(detail::op_context& ctx, order_status_result& out, core_ptr const& core,
                                                                          std::int64_t const& order_id) {
    return detail::client_access::status_by_id(ctx, out, core, order_id);
}
SHOP_DECL client::task_of<order_list_result> client::list_orders_task(detail::op_context& ctx, order_list_result& out, core_ptr const& core,
                                                                       order_list_query const& query) {
    return detail::client_access::list_orders(ctx, out, core, query);
}
SHOP_DECL client::task_of<std::vector<order_info>> client::all_orders_task(detail::op_context& ctx, std::vector<order_info>& out, core_ptr const& core,
                                                                            order_list_query const& query) {
    return detail::client_access::all_orders(ctx, out, core, query);
}
SHOP_DECL client::task_of<product_list_result> client::list_products_task(detail::op_context& ctx, product_list_result& out, core_ptr const& core,
                                                                           product_list_query const& query) {
    return detail::client_access::list_products(ctx, out, core, query);
}
SHOP_DECL client::task_of<std::vector<product>> client::all_products_task(detail::op_context& ctx, std::vector<product>& out, core_ptr const& core,
                                                                           product_list_query const& query) {
    return detail::client_access::all_products(ctx, out, core, query);
}
SHOP_DECL client::task_of<category_list_result> client::list_categories_task(detail::op_context& ctx, category_list_result& out, core_ptr const& core,
                                                                              category_list_query const& query) {
    return detail::client_access::list_categories(ctx, out, core, query);
}
SHOP_DECL client::task_of<balance_result> client::balance_task(detail::op_context& ctx, balance_result& out, core_ptr const& core) {
    return detail::client_access::balance(ctx, out, core);
}
SHOP_DECL client::task_of<account_info_result> client::account_info_task(detail::op_context& ctx, account_info_result& out, core_ptr const& core) {
    return detail::client_access::account_info(ctx, out, core);
}
SHOP_DECL client::task_of<account_info_result> client::sync_limits_task(detail::op_context& ctx, account_info_result& out, core_ptr const& core) {
    return detail::client_access::sync_limits(ctx, out, core);
}

} // namespace shop
