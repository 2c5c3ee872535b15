// Error codes of the Shop API and of the client, their category, and the diagnostics that
// travel with every failure (server code, message, HTTP status, request_id, endpoint).
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <array>
#include <string>
#include <string_view>

namespace shop {

using error_code = boost::system::error_code;

/// Every `error_code` the server is known to send, followed by the client's own conditions.
/// Classify failures by these values, never by HTTP status alone.
enum class errc {
    // --- server error codes (data.error_code) ---
    invalid_api_key = 1,
    invalid_api_secret,
    disabled_api_key,
    expired_api_key,
    api_disabled,
    user_banned,
    ip_not_allowed,
    rate_limit_exceeded,
    daily_limit_exceeded,
    permission_denied,
    method_not_allowed,
    invalid_json,
    items_required,
    cart_error,
    product_not_found,
    out_of_stock,
    insufficient_balance,
    checkout_error,
    params_required,
    order_not_found,
    endpoint_not_found,
    request_too_large,
    /// The server answered with an error_code this library does not know; the code string
    /// is kept in diagnostics::server_code.
    unknown_server_error,

    // --- client conditions ---
    timeout = 100,          ///< a phase timeout or the request's total deadline expired
    connection_closed,      ///< the peer closed or reset the connection
    connect_failed,         ///< name resolution or TCP connect failed
    tls_handshake_failed,   ///< TLS failed for another reason than verification
    tls_verification_failed,///< the certificate chain or host name did not verify
    body_too_large,         ///< the response exceeded the configured body/header limit
    bad_response,           ///< not HTTP, not JSON, or JSON without the expected shape
    http_error,             ///< a non-JSON HTTP error page (e.g. a CDN's 502)
    outcome_unknown,        ///< a create may or may not have been placed (answer lost)
    invalid_argument,       ///< a bad parameter, URL, key or secret, caught before sending
    pool_exhausted,         ///< no connection became free within the pool's wait bound
    cancelled,              ///< the operation was cancelled by its caller
    rate_limited_locally,   ///< the client's limiter refused within its wait bound
    not_attempted,          ///< a bulk item that was never sent (a fatal error stopped the run)
    journal_failed,         ///< the bulk journal could not be written, read or locked
    callback_failed,        ///< a progress or update handler threw; the run stopped
};

namespace detail {
struct server_code_entry {
    errc code;
    std::string_view name;
};
inline constexpr std::array<server_code_entry, 22> server_codes{{
    {errc::invalid_api_key, "INVALID_API_KEY"},
    {errc::invalid_api_secret, "INVALID_API_SECRET"},
    {errc::disabled_api_key, "DISABLED_API_KEY"},
    {errc::expired_api_key, "EXPIRED_API_KEY"},
    {errc::api_disabled, "API_DISABLED"},
    {errc::user_banned, "USER_BANNED"},
    {errc::ip_not_allowed, "IP_NOT_ALLOWED"},
    {errc::rate_limit_exceeded, "RATE_LIMIT_EXCEEDED"},
    {errc::daily_limit_exceeded, "DAILY_LIMIT_EXCEEDED"},
    {errc::permission_denied, "PERMISSION_DENIED"},
    {errc::method_not_allowed, "METHOD_NOT_ALLOWED"},
    {errc::invalid_json, "INVALID_JSON"},
    {errc::items_required, "ITEMS_REQUIRED"},
    {errc::cart_error, "CART_ERROR"},
    {errc::product_not_found, "PRODUCT_NOT_FOUND"},
    {errc::out_of_stock, "OUT_OF_STOCK"},
    {errc::insufficient_balance, "INSUFFICIENT_BALANCE"},
    {errc::checkout_error, "CHECKOUT_ERROR"},
    {errc::params_required, "PARAMS_REQUIRED"},
    {errc::order_not_found, "ORDER_NOT_FOUND"},
    {errc::endpoint_not_found, "ENDPOINT_NOT_FOUND"},
    {errc::request_too_large, "REQUEST_TOO_LARGE"},
}};
} // namespace detail

/// The wire name of a server error ("RATE_LIMIT_EXCEEDED"); empty for client conditions.
constexpr std::string_view server_code_name(errc e) noexcept {
    for (auto const& entry : detail::server_codes)
        if (entry.code == e) return entry.name;
    return {};
}

/// Maps data.error_code to errc; unknown strings give errc::unknown_server_error.
constexpr errc errc_from_server_code(std::string_view name) noexcept {
    for (auto const& entry : detail::server_codes)
        if (entry.name == name) return entry.code;
    return errc::unknown_server_error;
}

class error_category_impl final : public boost::system::error_category {
public:
    // A fixed id keeps the category unique across shared libraries.
    constexpr error_category_impl() noexcept : error_category(0x5a0c11e57e11c0deULL) {}
    const char* name() const noexcept override { return "shop"; }
    std::string message(int ev) const override { return describe(static_cast<errc>(ev)); }

    static std::string describe(errc e) {
        switch (e) {
        case errc::invalid_api_key: return "API key malformed or unknown";
        case errc::invalid_api_secret: return "API secret malformed or wrong";
        case errc::disabled_api_key: return "API key disabled";
        case errc::expired_api_key: return "API key expired";
        case errc::api_disabled: return "the shop has turned the API off";
        case errc::user_banned: return "account locked";
        case errc::ip_not_allowed: return "caller IP not in the key's allow-list";
        case errc::rate_limit_exceeded: return "per-minute rate limit exceeded";
        case errc::daily_limit_exceeded: return "daily request limit exceeded";
        case errc::permission_denied: return "API key lacks the endpoint's permission";
        case errc::method_not_allowed: return "HTTP method not allowed";
        case errc::invalid_json: return "request body is not JSON";
        case errc::items_required: return "order has no items";
        case errc::cart_error: return "order rejected (unknown plan, stock, quantity or fields)";
        case errc::product_not_found: return "product or plan not found";
        case errc::out_of_stock: return "out of stock";
        case errc::insufficient_balance: return "insufficient balance";
        case errc::checkout_error: return "checkout failed on the server (outcome may be partial)";
        case errc::params_required: return "required parameter missing";
        case errc::order_not_found: return "order not found";
        case errc::endpoint_not_found: return "endpoint not found";
        case errc::request_too_large: return "request too large";
        case errc::unknown_server_error: return "unknown server error code";
        case errc::timeout: return "timed out";
        case errc::connection_closed: return "connection closed by peer";
        case errc::connect_failed: return "could not connect";
        case errc::tls_handshake_failed: return "TLS handshake failed";
        case errc::tls_verification_failed: return "TLS certificate verification failed";
        case errc::body_too_large: return "response exceeds the configured size limit";
        case errc::bad_response: return "malformed response";
        case errc::http_error: return "HTTP error without an API error envelope";
        case errc::outcome_unknown: return "outcome unknown: the order may or may not have been placed";
        case errc::invalid_argument: return "invalid argument";
        case errc::pool_exhausted: return "no connection available within the wait bound";
        case errc::cancelled: return "operation cancelled";
        case errc::rate_limited_locally: return "the client's rate limiter refused within its wait bound";
        case errc::not_attempted: return "not attempted";
        case errc::journal_failed: return "the bulk journal could not be written, read or locked";
        case errc::callback_failed: return "a progress or update handler threw";
        }
        return "unknown shop error";
    }
};

inline const boost::system::error_category& error_category() noexcept {
    static const error_category_impl instance;
    return instance;
}

inline error_code make_error_code(errc e) noexcept {
    return error_code(static_cast<int>(e), error_category());
}

/// True for codes the server sends (as opposed to conditions the client detected).
inline bool is_server_error(error_code const& ec) noexcept {
    return ec.category() == error_category() && ec.value() < static_cast<int>(errc::timeout);
}

/// Everything known about one failure. Support needs request_id: keep it when reporting.
struct diagnostics {
    std::string server_code;  ///< data.error_code as sent ("CART_ERROR"), empty if none
    std::string message;      ///< the server's human message (Vietnamese) or the client's detail
    std::string request_id;   ///< "req_…" when the server sent one
    std::string endpoint;     ///< "orders/create", …
    unsigned http_status = 0; ///< 0 when no response was received

    /// "CART_ERROR (HTTP 400, req_…, orders/create): message"
    std::string to_string() const {
        std::string s = server_code.empty() ? std::string("no error_code") : server_code;
        s += " (";
        if (http_status) s += "HTTP " + std::to_string(http_status);
        else s += "no response";
        if (!request_id.empty()) s += ", " + request_id;
        if (!endpoint.empty()) s += ", " + endpoint;
        s += ")";
        if (!message.empty()) s += ": " + message;
        return s;
    }
};

/// The exception thrown at the user's edge (the default completion token, and
/// `shop::with_diagnostics(token)`): the error_code with the operation's diagnostics.
class error : public boost::system::system_error {
public:
    error(error_code ec, diagnostics diag)
        : system_error(ec, diag.to_string()), diag_(std::move(diag)) {}
    const diagnostics& diag() const noexcept { return diag_; }

private:
    diagnostics diag_;
};

} // namespace shop

template <>
struct boost::system::is_error_code_enum<shop::errc> : std::true_type {};
