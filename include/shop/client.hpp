// shop::client: one asynchronous operation per Shop API v1 endpoint, over a pooled keep-alive
// transport, usable with any Asio completion token.
#pragma once

#include <shop/config.hpp>
#include <shop/detail/async/operation.hpp>
#include <shop/detail/async/task.hpp>
#include <shop/detail/linkage.hpp>
#include <shop/detail/status_requests.hpp>
#include <shop/error.hpp>
#include <shop/http.hpp>
#include <shop/models.hpp>
#include <shop/rate_limiter.hpp>
#include <shop/retry.hpp>
#include <shop/with_diagnostics.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace shop {

class connection_pool;
namespace detail {
struct client_core;
struct client_access;
struct status_requests;
} // namespace detail

/// The Shop API client.
///
/// Completion: every operation completes with `void(error_code, Result)`. Diagnostics of a
/// failure (the server's error_code string, message, HTTP status, request_id, endpoint) are
/// written to the `diagnostics&` given to the overload that takes one; the default token
/// (`co_await c.balance()`) throws them as shop::error. Any Asio token works: callbacks,
/// `as_tuple`, `redirect_error`, `use_future`, `deferred`, `shop::with_diagnostics(token)`.
///
/// Thread safety: all member functions may be called concurrently from any number of
/// coroutines and threads. An operation keeps what it needs of the client (configuration,
/// pool, limiter) alive by itself: a temporary `c.with(...)` may start one and go.
///
/// Cancellation: every operation supports terminal and partial cancellation through the
/// token's cancellation slot. The connection in use is closed rather than returned to the
/// pool, and the operation completes with errc::cancelled; a create_order cancelled after
/// its request may have reached the server completes with errc::outcome_unknown instead.
class client {
public:
    using executor_type = boost::asio::any_io_executor;

    /// A client with a pool of its own for the configured origin. Throws shop::error
    /// (errc::invalid_argument) for a bad URL, key or secret.
    SHOP_DECL client(executor_type ex, client_config cfg);
    /// A client that shares `pool` (same origin) with other clients, e.g. one per API key.
    SHOP_DECL client(std::shared_ptr<connection_pool> pool, client_config cfg);

    /// A copy of this client (same pool, same limiter) whose calls use `options`.
    SHOP_DECL client with(const call_options& options) const;

    SHOP_DECL executor_type get_executor() const noexcept;
    SHOP_DECL const std::shared_ptr<rate_limiter>& limiter() const noexcept;
    SHOP_DECL const std::shared_ptr<connection_pool>& pool() const noexcept;
    SHOP_DECL const client_config& config() const noexcept;

    /// POST /orders/create. Never resent once it may have reached the server: when the
    /// answer is lost, completes with errc::outcome_unknown.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, create_order_result)) Token = default_token>
    auto create_order(create_order_request request, Token&& token = {}) const {
        return launch<create_order_result>(&client::create_task, nullptr, token, std::move(request));
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, create_order_result)) Token = default_token>
    auto create_order(create_order_request request, diagnostics& diag, Token&& token = {}) const {
        return launch<create_order_result>(&client::create_task, &diag, token, std::move(request));
    }

    /// GET /orders/status?trans_id=…
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, order_status_result)) Token = default_token>
    auto order_status(std::string trans_id, Token&& token = {}) const {
        return launch<order_status_result>(&client::status_task, nullptr, token, std::move(trans_id));
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, order_status_result)) Token = default_token>
    auto order_status(std::string trans_id, diagnostics& diag, Token&& token = {}) const {
        return launch<order_status_result>(&client::status_task, &diag, token, std::move(trans_id));
    }

    /// GET /orders/status?order_id=…
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, order_status_result)) Token = default_token>
    auto order_status_by_id(std::int64_t order_id, Token&& token = {}) const {
        return launch<order_status_result>(&client::status_by_id_task, nullptr, token, order_id);
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, order_status_result)) Token = default_token>
    auto order_status_by_id(std::int64_t order_id, diagnostics& diag, Token&& token = {}) const {
        return launch<order_status_result>(&client::status_by_id_task, &diag, token, order_id);
    }

    /// GET /orders/list. Filters are tried on the server; when it fails them (the deployed
    /// server answers HTTP 500), the unfiltered page is fetched and filtered here
    /// (`filtered_locally` is then true and `page` describes the unfiltered listing).
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, order_list_result)) Token = default_token>
    auto list_orders(order_list_query query = {}, Token&& token = {}) const {
        return launch<order_list_result>(&client::list_orders_task, nullptr, token, std::move(query));
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, order_list_result)) Token = default_token>
    auto list_orders(order_list_query query, diagnostics& diag, Token&& token = {}) const {
        return launch<order_list_result>(&client::list_orders_task, &diag, token, std::move(query));
    }

    /// Every order across all pages (newest first), de-duplicated by id: the listing is
    /// newest-first with offset paging, so pages shift while orders arrive. The walk ends
    /// at the page that says it is the last (has_more false, or total_pages reached). It
    /// ends early with errc::bad_response when two pages in a row bring nothing new although
    /// has_more is set, or after 10,000 pages: the result then holds every order read.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::vector<order_info>)) Token = default_token>
    auto all_orders(order_list_query query = {}, Token&& token = {}) const {
        return launch<std::vector<order_info>>(&client::all_orders_task, nullptr, token, std::move(query));
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::vector<order_info>)) Token = default_token>
    auto all_orders(order_list_query query, diagnostics& diag, Token&& token = {}) const {
        return launch<std::vector<order_info>>(&client::all_orders_task, &diag, token, std::move(query));
    }

    /// GET /products/list
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, product_list_result)) Token = default_token>
    auto list_products(product_list_query query = {}, Token&& token = {}) const {
        return launch<product_list_result>(&client::list_products_task, nullptr, token, std::move(query));
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, product_list_result)) Token = default_token>
    auto list_products(product_list_query query, diagnostics& diag, Token&& token = {}) const {
        return launch<product_list_result>(&client::list_products_task, &diag, token, std::move(query));
    }

    /// Every product across all pages, de-duplicated by id; ends as all_orders does.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::vector<product>)) Token = default_token>
    auto all_products(product_list_query query = {}, Token&& token = {}) const {
        return launch<std::vector<product>>(&client::all_products_task, nullptr, token, std::move(query));
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, std::vector<product>)) Token = default_token>
    auto all_products(product_list_query query, diagnostics& diag, Token&& token = {}) const {
        return launch<std::vector<product>>(&client::all_products_task, &diag, token, std::move(query));
    }

    /// GET /categories/list
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, category_list_result)) Token = default_token>
    auto list_categories(category_list_query query = {}, Token&& token = {}) const {
        return launch<category_list_result>(&client::list_categories_task, nullptr, token, query);
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, category_list_result)) Token = default_token>
    auto list_categories(category_list_query query, diagnostics& diag, Token&& token = {}) const {
        return launch<category_list_result>(&client::list_categories_task, &diag, token, query);
    }

    /// GET /account/balance
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, balance_result)) Token = default_token>
    auto balance(Token&& token = {}) const {
        return launch<balance_result>(&client::balance_task, nullptr, token);
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, balance_result)) Token = default_token>
    auto balance(diagnostics& diag, Token&& token = {}) const {
        return launch<balance_result>(&client::balance_task, &diag, token);
    }

    /// GET /account/info
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, account_info_result)) Token = default_token>
    auto account_info(Token&& token = {}) const {
        return launch<account_info_result>(&client::account_info_task, nullptr, token);
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, account_info_result)) Token = default_token>
    auto account_info(diagnostics& diag, Token&& token = {}) const {
        return launch<account_info_result>(&client::account_info_task, &diag, token);
    }

    /// Reads /account/info and adopts its rate_limit, daily_limit and today's usage into
    /// the limiter, so the client starts from the server's numbers.
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, account_info_result)) Token = default_token>
    auto sync_limits(Token&& token = {}) const {
        return launch<account_info_result>(&client::sync_limits_task, nullptr, token);
    }
    template <BOOST_ASIO_COMPLETION_TOKEN_FOR(void(error_code, account_info_result)) Token = default_token>
    auto sync_limits(diagnostics& diag, Token&& token = {}) const {
        return launch<account_info_result>(&client::sync_limits_task, &diag, token);
    }

private:
    friend struct detail::client_access;
    friend struct detail::status_requests;

    using core_ptr = std::shared_ptr<detail::client_core const>;
    /// The task an endpoint runs: it writes the result into the operation's root and
    /// returns the error.
    template <class Result>
    using task_of = detail::task<error_code>;

    SHOP_DECL explicit client(core_ptr core) noexcept;

    /// What an endpoint does, as a task (compiled once with SHOP_SEPARATE_COMPILATION); its
    /// arguments live in the operation's root frame.
    template <class Result, class... Args>
    using task_fn = task_of<Result> (*)(detail::op_context&, Result&, core_ptr const&, Args const&...);

    // Holds the core itself, not the client: with a deferred token (use_awaitable,
    // deferred) the operation starts later, when the client may be gone.
    template <class Result, class... Args>
    struct initiation {
        core_ptr core;
        task_fn<Result, Args...> fn;
        template <class Handler>
        void operator()(Handler&& handler, diagnostics* diag, Args... args) const {
            detail::start_operation<Result>(executor_of(*core), std::forward<Handler>(handler), diag,
                                            detail::bind_call(fn, core, std::move(args)...));
        }
    };

    template <class Result, class Token, class... Args>
    auto launch(task_fn<Result, Args...> fn, diagnostics* diag, Token& token, Args... args) const {
        return boost::asio::async_initiate<Token, void(error_code, Result)>(initiation<Result, Args...>{core_, fn},
                                                                            token, diag, std::move(args)...);
    }
    SHOP_DECL static executor_type executor_of(detail::client_core const& core) noexcept;

    SHOP_DECL static task_of<create_order_result> create_task(detail::op_context& ctx, create_order_result& out,
                                                       core_ptr const& core,
                                                              create_order_request const& request);
    SHOP_DECL static task_of<order_status_result> status_task(detail::op_context& ctx, order_status_result& out,
                                                       core_ptr const& core,
                                                              std::string const& trans_id);
    SHOP_DECL static task_of<order_status_result> status_by_id_task(detail::op_context& ctx, order_status_result& out,
                                                       core_ptr const& core,
                                                                    std::int64_t const& order_id);
    SHOP_DECL static task_of<order_list_result> list_orders_task(detail::op_context& ctx, order_list_result& out,
                                                       core_ptr const& core,
                                                                 order_list_query const& query);
    SHOP_DECL static task_of<std::vector<order_info>> all_orders_task(detail::op_context& ctx, std::vector<order_info>& out,
                                                       core_ptr const& core,
                                                                      order_list_query const& query);
    SHOP_DECL static task_of<product_list_result> list_products_task(detail::op_context& ctx, product_list_result& out,
                                                       core_ptr const& core,
                                                                     product_list_query const& query);
    SHOP_DECL static task_of<std::vector<product>> all_products_task(detail::op_context& ctx, std::vector<product>& out,
                                                       core_ptr const& core,
                                                                     product_list_query const& query);
    SHOP_DECL static task_of<category_list_result> list_categories_task(detail::op_context& ctx, category_list_result& out,
                                                       core_ptr const& core,
                                                                        category_list_query const& query);
    SHOP_DECL static task_of<balance_result> balance_task(detail::op_context& ctx, balance_result& out,
                                                       core_ptr const& core);
    SHOP_DECL static task_of<account_info_result> account_info_task(detail::op_context& ctx, account_info_result& out,
                                                       core_ptr const& core);
    SHOP_DECL static task_of<account_info_result> sync_limits_task(detail::op_context& ctx, account_info_result& out,
                                                       core_ptr const& core);

    std::shared_ptr<detail::client_core const> core_;
};

} // namespace shop

#if SHOP_HEADER_ONLY
#include <shop/detail/impl/client.ipp>
#endif
