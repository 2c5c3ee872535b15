// Base URL parsing, request-target building and input checks that run before anything is
// sent: a malformed URL, header value or credential is an errc::invalid_argument, never a
// request on the wire.
#pragma once

#include <shop/error.hpp>
#include <shop/http.hpp>

#include <boost/url/encode.hpp>
#include <boost/url/host_type.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/scheme.hpp>
#include <boost/url/url_view.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace shop::detail {

/// A parsed base URL: the origin plus the path every endpoint is appended to.
struct base_url {
    shop::origin origin;
    /// Percent-encoded path without a trailing '/': "/api/v1", or empty.
    std::string path_prefix;
};

namespace url_detail {
inline error_code invalid(std::string& why, std::string text) {
    why = std::move(text);
    return make_error_code(errc::invalid_argument);
}
inline bool is_ctl(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }
inline bool is_reg_name_char(unsigned char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}
} // namespace url_detail

/// Parses "https://www.cloneviammo.com/api/v1" or "http://127.0.0.1:40123/api/v1".
/// Rejects other schemes, userinfo, queries, fragments, empty or odd hosts and bad ports.
inline error_code parse_base_url(std::string_view text, base_url& out, std::string& why) {
    using url_detail::invalid;
    namespace urls = boost::urls;
    for (unsigned char c : text)
        if (url_detail::is_ctl(c) || c == ' ')
            return invalid(why, "base URL contains a space or control character");
    auto parsed = urls::parse_absolute_uri(urls::string_view(text.data(), text.size()));
    if (!parsed)
        return invalid(why, "base URL is not an absolute URL: " + parsed.error().message());
    urls::url_view const& u = *parsed;

    base_url result;
    auto& o = result.origin;
    if (u.scheme_id() == urls::scheme::https) {
        o.scheme = "https";
        o.is_tls = true;
    } else if (u.scheme_id() == urls::scheme::http) {
        o.scheme = "http";
    } else {
        return invalid(why, "base URL scheme must be http or https");
    }
    if (!u.has_authority()) return invalid(why, "base URL has no host");
    if (u.has_userinfo()) return invalid(why, "base URL must not contain user information");
    if (u.has_query()) return invalid(why, "base URL must not contain a query");
    if (u.has_fragment()) return invalid(why, "base URL must not contain a fragment");

    switch (u.host_type()) {
    case urls::host_type::name: {
        std::string host = u.host_name();
        if (host.empty()) return invalid(why, "base URL has an empty host");
        for (char& c : host) {
            if (!url_detail::is_reg_name_char(static_cast<unsigned char>(c)))
                return invalid(why, "base URL host contains a character not allowed in a host name");
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        if (host.front() == '.' || host.find("..") != std::string::npos)
            return invalid(why, "base URL host has an empty label");
        o.host = std::move(host);
        break;
    }
    case urls::host_type::ipv4:
        o.host = std::string(u.encoded_host());
        break;
    case urls::host_type::ipv6:
        o.host = std::string(u.encoded_host_address());
        o.is_ipv6 = true;
        break;
    default:
        return invalid(why, "base URL has an empty or unsupported host");
    }

    if (u.has_port() && !u.port().empty()) {
        // port_number() cannot tell 65536 from 0: check the digits themselves.
        unsigned long p = 0;
        for (char c : u.port()) {
            p = p * 10 + static_cast<unsigned long>(c - '0');
            if (p > 65535) break;
        }
        if (p == 0 || p > 65535) return invalid(why, "base URL port must be between 1 and 65535");
        o.port = static_cast<std::uint16_t>(p);
    } else {
        o.port = o.is_tls ? 443 : 80;
    }

    std::string path(u.encoded_path());
    while (!path.empty() && path.back() == '/') path.pop_back();
    result.path_prefix = std::move(path);
    out = std::move(result);
    return {};
}

/// One query parameter; both parts are raw (not yet encoded) text.
using query_param = std::pair<std::string_view, std::string_view>;

namespace url_detail {
// Everything but ALPHA / DIGIT / "-" / "." / "_" / "~" is percent-encoded, so '+', '&',
// '=', '#', spaces, CR/LF and UTF-8 bytes all arrive as data (PHP decodes '+' as a space).
inline void append_encoded(std::string& out, std::string_view s) {
    namespace urls = boost::urls;
    urls::string_view const sv(s.data(), s.size());
    std::size_t const n = urls::encoded_size(sv, urls::unreserved_chars);
    std::size_t const at = out.size();
    out.resize(at + n);
    urls::encode(out.data() + at, n, sv, urls::unreserved_chars);
}
} // namespace url_detail

/// Appends `prefix + path + "?" + encoded params` to `out` (origin-form request target).
/// `path` is an endpoint such as "/orders/status": it must start with '/' and hold only
/// path characters (no '%', '?', '#', spaces or controls).
inline error_code append_target(std::string& out, std::string_view prefix, std::string_view path,
                                std::span<query_param const> params, std::string& why) {
    if (path.empty() || path.front() != '/')
        return url_detail::invalid(why, "endpoint path must start with '/'");
    for (char c : path)
        if (c != '/' && !boost::urls::pchars(c))
            return url_detail::invalid(why, "endpoint path contains a character that needs encoding");
    std::size_t estimate = prefix.size() + path.size();
    for (auto const& [name, value] : params) estimate += name.size() + value.size() + 2;
    out.reserve(out.size() + estimate + estimate / 4);
    out += prefix;
    out += path;
    char sep = '?';
    for (auto const& [name, value] : params) {
        if (name.empty()) return url_detail::invalid(why, "query parameter with an empty name");
        out += sep;
        sep = '&';
        url_detail::append_encoded(out, name);
        out += '=';
        url_detail::append_encoded(out, value);
    }
    return {};
}

inline error_code append_target(std::string& out, std::string_view prefix, std::string_view path,
                                std::initializer_list<query_param> params, std::string& why) {
    return append_target(out, prefix, path, std::span<query_param const>(params.begin(), params.size()), why);
}

/// RFC 9110 token: the characters a header name may use.
inline error_code validate_header_name(std::string_view name, std::string& why) {
    if (name.empty()) return url_detail::invalid(why, "empty header name");
    for (unsigned char c : name) {
        bool const ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
        if (!ok) return url_detail::invalid(why, "header name contains a character outside RFC 9110 token");
    }
    return {};
}

/// A header value may not carry control characters: CR/LF would split the request.
inline error_code validate_header_value(std::string_view value, std::string& why) {
    for (unsigned char c : value)
        if (url_detail::is_ctl(c)) return url_detail::invalid(why, "header value contains a control character");
    return {};
}

namespace url_detail {
// The value itself is never echoed: it is a credential.
inline error_code check_credential(std::string_view v, std::string_view what, std::string_view prefix,
                                   std::size_t full, std::size_t legacy, std::string& why) {
    for (unsigned char c : v)
        if (is_ctl(c))
            return invalid(why, std::string(what) + " contains a control character (stray newline?)");
    bool const current = v.size() == full && v.substr(0, prefix.size()) == prefix;
    if (current || v.size() == legacy) return {};
    std::string text(what);
    text += " must be ";
    text += std::to_string(full);
    text += " characters starting with \"";
    text += prefix;
    text += "\" (or a ";
    text += std::to_string(legacy);
    text += "-character legacy value); got ";
    text += std::to_string(v.size());
    text += " characters";
    if (v.size() == full) text += " without that prefix";
    return invalid(why, std::move(text));
}
} // namespace url_detail

/// X-API-Key: "sk_live_" + 32 characters (40 in all), or a 32-character legacy key.
/// Only prefix and length are checked: the documented sample key is not hex.
inline error_code validate_api_key(std::string_view key, std::string& why) {
    return url_detail::check_credential(key, "API key", "sk_live_", 40, 32, why);
}

/// X-API-Secret: "sk_secret_" + 64 characters (74 in all), or a 64-character legacy secret.
inline error_code validate_api_secret(std::string_view secret, std::string& why) {
    return url_detail::check_credential(secret, "API secret", "sk_secret_", 74, 64, why);
}

} // namespace shop::detail
