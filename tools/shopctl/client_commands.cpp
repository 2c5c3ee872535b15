// Client subcommands: products, categories, balance, account, order, status, orders.
#include "client_session.hpp"
#include "commands.hpp"
#include "output.hpp"

#include <shop/json.hpp>
#include <shop/status_poller.hpp>

#include <memory>

namespace shopctl {
namespace {

namespace asio = boost::asio;

std::string yes_no(bool b) { return b ? "yes" : "no"; }

template <class T>
void print_json(const T& v) {
    fmt::print("{}\n", shop::to_json(v));
}

template <class T>
void print_json_array(const std::vector<T>& items) {
    std::string out;
    shop::json_writer w(out);
    w.begin_array();
    for (auto const& i : items) shop::write_json(w, i);
    w.end_array();
    fmt::print("{}\n", out);
}

void print_products(const std::vector<shop::product>& products) {
    table t({"product", "name", "plan", "plan name", "price", "instant", "stock", "fields"});
    for (auto const& p : products) {
        if (p.plans.empty()) t.add({std::to_string(p.id), p.name, "", "", "", "", "", ""});
        for (auto const& pl : p.plans) {
            std::string fields;
            for (auto const& f : pl.fields) fields += (fields.empty() ? "" : ",") + f.key + (f.required ? "*" : "");
            t.add({std::to_string(p.id), p.name, std::to_string(pl.id), pl.name, pl.final_price.to_php_string(),
                   yes_no(pl.is_instant), pl.in_stock ? std::to_string(pl.stock_count) : "out", fields});
        }
    }
    t.print();
}

void add_category_rows(table& t, const std::vector<shop::category>& cats, int depth) {
    for (auto const& c : cats) {
        t.add({std::to_string(c.id), std::string(depth * 2, ' ') + c.name, std::to_string(c.parent_id),
               c.product_count ? std::to_string(*c.product_count) : ""});
        add_category_rows(t, c.children, depth + 1);
    }
}

void print_orders(const std::vector<shop::order_info>& orders) {
    table t({"id", "trans_id", "status", "product", "plan", "qty", "amount", "created"});
    for (auto const& o : orders)
        t.add({std::to_string(o.id), o.trans_id, o.status.raw, o.product ? o.product->name : "(deleted)",
               o.plan ? o.plan->name : "(deleted)", std::to_string(o.quantity), o.final_amount.to_php_string(),
               o.created_at.value_or("")});
    t.print();
}

} // namespace

void add_client_commands(CLI::App& app, global_options& g, int& rc) {
    app.add_option("--base-url", g.base_url, "API base URL")
        ->envname("SHOP_BASE_URL")
        ->default_val("https://www.cloneviammo.com/api/v1");
    app.add_option("--api-key", g.api_key, "API key (sk_live_…)")->envname("SHOP_API_KEY");
    app.add_option("--api-secret", g.api_secret, "API secret (sk_secret_…)")->envname("SHOP_API_SECRET");
    app.add_option("--ca-file", g.ca_file, "extra trusted CA certificates (PEM)");
    app.add_option("--timeout", g.timeout_seconds, "total seconds per request")->default_val(30)->check(CLI::PositiveNumber);
    app.add_option("--rate-limit", g.rate_limit,
                   "client limiter as N or N/SECONDS, or off (default: the key's own limits, read at start)");
    app.add_flag("--json", g.json, "print results as JSON with the API's field names");
    app.add_flag("-v,--verbose", g.verbose, "log every request to stderr (secrets redacted)");
    app.fallthrough();

    // --- products ---
    struct products_opts {
        std::int64_t category = 0;
        std::string search;
        bool all = false;
    };
    auto po = std::make_shared<products_opts>();
    auto* products = app.add_subcommand("products", "list products and their plans");
    products->add_option("--category", po->category, "only this category id");
    products->add_option("--search", po->search, "search by name");
    products->add_flag("--all", po->all, "walk every page");
    products->callback([&g, &rc, po] {
        rc = run_client(g, [po, &g](shop::client& c) -> asio::awaitable<void> {
            shop::product_list_query q;
            if (po->category) q.category_id = po->category;
            q.search = po->search;
            if (po->all) {
                // A walk that stopped early still prints what it read, then says why.
                shop::diagnostics diag;
                auto walked = co_await c.all_products(q, diag, asio::as_tuple(asio::use_awaitable));
                auto const& all = std::get<1>(walked);
                if (g.json) print_json_array(all);
                else print_products(all);
                if (auto ec = std::get<0>(walked)) throw shop::error(ec, diag);
            } else {
                auto r = co_await c.list_products(q);
                if (g.json) co_return print_json(r);
                print_products(r.products);
                fmt::print("page {}/{} ({} products)\n", r.page.current_page, r.page.total_pages, r.page.total);
            }
        }, po->all ? command_bound::per_call : command_bound::whole);
    });

    // --- categories ---
    struct categories_opts {
        std::int64_t parent = -1;
        bool children = false, counts = false;
    };
    auto co = std::make_shared<categories_opts>();
    auto* categories = app.add_subcommand("categories", "list categories");
    categories->add_option("--parent", co->parent, "only children of this category id");
    categories->add_flag("--children", co->children, "include sub-categories");
    categories->add_flag("--counts", co->counts, "include product counts");
    categories->callback([&g, &rc, co] {
        rc = run_client(g, [co, &g](shop::client& c) -> asio::awaitable<void> {
            shop::category_list_query q;
            if (co->parent >= 0) q.parent_id = co->parent;
            q.include_children = co->children;
            q.include_products = co->counts;
            auto r = co_await c.list_categories(q);
            if (g.json) co_return print_json(r);
            table t({"id", "name", "parent", "products"});
            add_category_rows(t, r.categories, 0);
            t.print();
            fmt::print("{} categories\n", r.total);
        });
    });

    // --- balance ---
    app.add_subcommand("balance", "show the account balance")->callback([&g, &rc] {
        rc = run_client(g, [&g](shop::client& c) -> asio::awaitable<void> {
            auto r = co_await c.balance();
            if (g.json) co_return print_json(r);
            fmt::print("user:            {} ({})\n", r.user.username, r.user.email);
            fmt::print("balance:         {} {}\n", r.balance.current.to_php_string(), r.balance.currency);
            fmt::print("total deposited: {} {}\n", r.balance.total_deposited.to_php_string(), r.balance.currency);
        });
    });

    // --- account ---
    app.add_subcommand("account", "show the account, the key's permissions and limits")->callback([&g, &rc] {
        rc = run_client(g, [&g](shop::client& c) -> asio::awaitable<void> {
            auto r = co_await c.account_info();
            if (g.json) co_return print_json(r);
            fmt::print("user:        {} ({}), balance {}\n", r.user.username, r.user.email, r.user.balance.to_php_string());
            std::string perms;
            for (auto const& p : r.api_key.permissions) perms += (perms.empty() ? "" : " ") + p;
            fmt::print("key:         {} [{}]\n", r.api_key.name, perms);
            fmt::print("limits:      {}/minute, {}/day, expires {}\n", r.api_key.rate_limit, r.api_key.daily_limit,
                       r.api_key.expires_at.value_or("never"));
            fmt::print("usage today: {} requests ({} ok, {} failed) since {}\n", r.usage_today.total_requests,
                       r.usage_today.success_requests, r.usage_today.failed_requests, r.usage_today.start_time);
            std::string summary;
            for (auto const& [k, v] : r.orders_summary) summary += (summary.empty() ? "" : ", ") + k + " " + std::to_string(v);
            fmt::print("orders:      {}\n", summary);
        });
    });

    // --- order ---
    struct order_opts {
        std::int64_t plan = 0, qty = 1;
        std::vector<std::string> fields;
        std::string coupon;
    };
    auto oo = std::make_shared<order_opts>();
    auto* order = app.add_subcommand("order", "place one order (paid from the balance at once)");
    order->add_option("--plan", oo->plan, "plan id")->required()->check(CLI::PositiveNumber);
    order->add_option("--qty", oo->qty, "quantity")->check(CLI::Range(1, 1000000));
    order->add_option("--field", oo->fields, "KEY=VALUE (repeatable)");
    order->add_option("--coupon", oo->coupon, "coupon code");
    order->callback([&g, &rc, oo] {
        shop::order_item item{oo->plan, oo->qty, {}};
        if (!read_fields(oo->fields, item.fields)) {
            rc = exit_usage;
            return;
        }
        rc = run_client(g, [item, oo, &g](shop::client& c) -> asio::awaitable<void> {
            // Built before co_await: GCC 12 rejects an initializer_list inside a co_await
            // expression ("array used as initializer").
            shop::create_order_request request{{item}, oo->coupon};
            auto r = co_await c.create_order(std::move(request));
            if (g.json) co_return print_json(r);
            table t({"trans_id", "order", "product", "plan", "qty", "unit", "final", "status"});
            for (auto const& o : r.orders)
                t.add({o.trans_id, std::to_string(o.order_id), o.product_name, o.plan_name, std::to_string(o.quantity),
                       o.unit_price.to_php_string(), o.final_amount.to_php_string(), o.status.raw});
            t.print();
            fmt::print("charged {} (discount {}), new balance {}\n", r.summary.total_amount.to_php_string(),
                       r.summary.discount_amount.to_php_string(), r.summary.new_balance.to_php_string());
            for (auto const& w : r.warnings) fmt::print("warning {}: {}\n", w.code, w.message);
        });
    });

    // --- status ---
    struct status_opts {
        std::vector<std::string> ids;
        bool wait = false;
        std::size_t connections = 2, depth = 16;
        double wait_seconds = 600;
    };
    auto so = std::make_shared<status_opts>();
    auto* status = app.add_subcommand("status", "show orders' status and delivered items");
    status->add_option("trans_ids", so->ids, "TRANS_ID...")->required();
    status->add_flag("--wait", so->wait, "poll until every order is completed, cancelled or refunded");
    status->add_option("--connections", so->connections, "connections used at once")->check(CLI::Range(1, 64));
    status->add_option("--pipeline-depth", so->depth, "requests in flight per connection")->check(CLI::Range(1, 64));
    status->add_option("--wait-timeout", so->wait_seconds, "give up waiting after this many seconds")
        ->check(CLI::PositiveNumber);
    status->callback([&g, &rc, so] {
        rc = run_client(g, [so, &g](shop::client& c) -> asio::awaitable<void> {
            shop::poll_options po;
            po.connections = so->connections;
            po.pipeline_depth = so->depth;
            // Without --wait: one look at each order, pipelined all the same, within --timeout.
            po.until_terminal = so->wait;
            auto const bound = so->wait ? so->wait_seconds : g.timeout_seconds;
            po.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(bound * 1000));
            shop::status_poller poller(c, po);
            auto on_update = [&g, so](const shop::poll_result& r) {
                if (so->wait && !g.json && r.last) fmt::print(stderr, "{}: {}\n", r.trans_id, r.last->order.status.raw);
            };
            std::vector<std::string> ids = so->ids;
            auto results = co_await poller.async_poll(std::move(ids), on_update);
            std::vector<shop::order_status_result> answered;
            table t({"trans_id", "status", "product", "plan", "qty", "amount", "delivered"});
            int failures = 0;
            shop::error_code first_ec;
            shop::diagnostics first_diag;
            for (auto const& r : results) {
                if (!r.last || (r.ec && r.ec != shop::errc::timeout)) {
                    if (!failures++) {
                        first_ec = r.ec;
                        first_diag = r.diag;
                    }
                    t.add({r.trans_id, r.ec ? r.ec.message() : std::string("no answer"), "", "", "", "", ""});
                    continue;
                }
                auto const& s = *r.last;
                if (g.json) {
                    answered.push_back(s);
                    continue;
                }
                t.add({s.order.trans_id, s.order.status.raw, s.order.product ? s.order.product->name : "(deleted)",
                       s.order.plan ? s.order.plan->name : "(deleted)", std::to_string(s.order.quantity),
                       s.order.final_amount.to_php_string(),
                       fmt::format("{}/{}", s.delivery.delivered_count, s.delivery.expected_count)});
            }
            if (g.json) print_json_array(answered);
            else {
                t.print();
                for (auto const& r : results)
                    if (r.last)
                        for (auto const& item : r.last->delivery.items) fmt::print("{}: {}\n", r.trans_id, item);
            }
            auto unfinished = std::count_if(results.begin(), results.end(), [](auto const& r) {
                return r.last && !r.last->order.status.is_terminal();
            });
            if (so->wait && unfinished)
                fmt::print(stderr, "{} order(s) not finished within {} s\n", unfinished, so->wait_seconds);
            if (failures) throw shop::error(first_ec ? first_ec : shop::make_error_code(shop::errc::bad_response), first_diag);
        }, so->wait ? command_bound::per_call : command_bound::whole);
    });

    // --- orders ---
    struct orders_opts {
        std::string status;
        std::int64_t page = 1, limit = 0;
        bool all = false;
    };
    auto lo = std::make_shared<orders_opts>();
    auto* orders = app.add_subcommand("orders", "list your orders, newest first");
    orders->add_option("--status", lo->status, "only this status (filtered locally if the server fails it)");
    orders->add_option("--page", lo->page, "page number")->check(CLI::PositiveNumber);
    orders->add_option("--limit", lo->limit, "orders per page (max 100)")->check(CLI::Range(1, 100));
    orders->add_flag("--all", lo->all, "walk every page (de-duplicated)");
    orders->callback([&g, &rc, lo] {
        rc = run_client(g, [lo, &g](shop::client& c) -> asio::awaitable<void> {
            shop::order_list_query q;
            q.status = lo->status;
            q.page = lo->page;
            q.limit = lo->limit;
            if (lo->all) {
                shop::diagnostics diag;
                auto walked = co_await c.all_orders(q, diag, asio::as_tuple(asio::use_awaitable));
                auto const& all = std::get<1>(walked);
                if (g.json) {
                    print_json_array(all);
                } else {
                    print_orders(all);
                    fmt::print("{} orders\n", all.size());
                }
                if (auto ec = std::get<0>(walked)) throw shop::error(ec, diag);
            } else {
                auto r = co_await c.list_orders(q);
                if (g.json) co_return print_json(r);
                print_orders(r.orders);
                fmt::print("page {}/{} ({} orders{})\n", r.page.current_page, r.page.total_pages, r.page.total,
                           r.filtered_locally ? ", filtered locally" : "");
            }
        }, lo->all ? command_bound::per_call : command_bound::whole);
    });
}

} // namespace shopctl
