// The HTTP requests and responses the transport carries, for callers that drive a pooled
// connection themselves (connection_pool::async_execute, connection_lease).
#pragma once

#include <shop/error.hpp>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shop {

enum class http_method { get, post };

/// Scheme, host and port: what a connection pool is keyed on.
struct origin {
    std::string scheme;      ///< "https" or "http"
    std::string host;        ///< lower-case name or IP address, IPv6 without brackets
    std::uint16_t port = 0;  ///< explicit or the scheme's default (443 / 80)
    bool is_tls = false;
    bool is_ipv6 = false;

    /// Value of the Host header: the port only when it is not the scheme's default.
    std::string host_header() const {
        std::string s;
        s.reserve(host.size() + 8);
        if (is_ipv6) s += '[';
        s += host;
        if (is_ipv6) s += ']';
        if (port != (is_tls ? 443 : 80)) {
            s += ':';
            s += std::to_string(port);
        }
        return s;
    }

    /// "https://host:port", for messages.
    std::string to_string() const {
        std::string s = scheme;
        s += "://";
        if (is_ipv6) s += '[';
        s += host;
        if (is_ipv6) s += ']';
        s += ':';
        s += std::to_string(port);
        return s;
    }

    friend bool operator==(origin const&, origin const&) = default;
};


/// Request headers validated and serialised once, then shared by any number of requests
/// (a client's credentials): sending them costs no allocation and no re-validation.
class header_block {
public:
    using field = std::pair<std::string_view, std::string_view>;

    /// Null, with `ec` = errc::invalid_argument and `why`, if a name is not an RFC 9110
    /// token, a value holds a control character (CR, LF and NUL included), or the name is one
    /// the transport owns (Host, Content-Length, Transfer-Encoding, Connection).
    static std::shared_ptr<header_block const> make(std::span<field const> fields, error_code& ec, std::string& why);
    static std::shared_ptr<header_block const> make(std::initializer_list<field> fields, error_code& ec,
                                                    std::string& why) {
        return make(std::span<field const>(fields.begin(), fields.size()), ec, why);
    }

    /// "Name: value\r\n" lines.
    std::string_view wire() const noexcept { return wire_; }
    bool sets_user_agent() const noexcept { return user_agent_; }
    bool sets_content_type() const noexcept { return content_type_; }

private:
    std::string wire_;
    bool user_agent_ = false;
    bool content_type_ = false;
};

/// One request as the transport sends it.
struct http_request {
    http_method method = http_method::get;
    /// Origin-form target, already percent-encoded: "/api/v1/x?a=b".
    std::string target;
    /// Sent with Content-Length; a POST or a non-empty body also gets
    /// "Content-Type: application/json" unless a header sets one.
    std::string body;
    /// Pre-validated headers shared between requests (credentials); may be null.
    std::shared_ptr<header_block const> fixed_headers;
    /// Per-request extra headers, validated when the request is queued.
    std::vector<std::pair<std::string, std::string>> headers;
    /// Safe to send twice (GET). Only such a request is resent after a stale keep-alive
    /// connection failed under it; the default is the safe answer for an order POST.
    bool idempotent = false;
};

/// What the transport reports of a response (Set-Cookie and other headers are dropped).
struct http_response {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

} // namespace shop
