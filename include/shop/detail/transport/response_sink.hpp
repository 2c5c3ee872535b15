// The parser a connection reads each response with: status, Content-Type and body straight
// into an http_response (its own header, so that it can be driven without a socket: the
// HTTP fuzz target feeds it raw bytes).
#pragma once

#include <shop/http.hpp>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/optional/optional.hpp>

#include <cstdint>

namespace shop::detail::http_detail {

// Fills an http_response straight from the parser: no header container, no per-field
// allocation (only Content-Type is kept), the body appended into the reused string.
class response_sink final : public boost::beast::http::basic_parser<false> {
public:
    explicit response_sink(http_response& out) noexcept : out_(out) {}

private:
    using string_view = boost::beast::string_view;
    using field = boost::beast::http::field;
    using verb = boost::beast::http::verb;

    void on_request_impl(verb, string_view, string_view, int, error_code&) override {}
    void on_response_impl(int code, string_view, int, error_code&) override {
        out_.status = static_cast<unsigned>(code);
    }
    void on_field_impl(field name, string_view, string_view value, error_code&) override {
        if (name == field::content_type) out_.content_type.assign(value.data(), value.size());
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(boost::optional<std::uint64_t> const& length, error_code&) override {
        // The parser has already held Content-Length against body_limit.
        if (length) out_.body.reserve(static_cast<std::size_t>(*length));
    }
    std::size_t on_body_impl(string_view s, error_code&) override {
        out_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, string_view s, error_code&) override {
        out_.body.append(s.data(), s.size());
        return s.size();
    }
    void on_finish_impl(error_code&) override {}

    http_response& out_;
};

} // namespace shop::detail::http_detail
