// shop::with_diagnostics(token): the completion token adapter that turns an operation's
// `void(error_code, T)` completion into `void(std::exception_ptr, T)`, the exception being a
// shop::error carrying the operation's diagnostics (Boost.MySQL's with_diagnostics, done on
// Boost 1.81). It is what the library's default token is made of:
//
//     auto b = co_await c.balance();                          // throws shop::error
//     auto b = co_await c.balance(shop::with_diagnostics(asio::use_awaitable_t<Strand>{}));
//     c.balance(shop::with_diagnostics(asio::use_future));    // future throws shop::error
//
// Every operation of the library takes its diagnostics* as the first argument of its
// initiation (null: "the caller did not ask"); the adapter supplies one when it is null and
// reads it when the operation fails.
#pragma once

#include <shop/error.hpp>

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace shop {

/// Wraps a completion token; see the top of this header.
template <class Token>
struct with_diagnostics_t {
    Token inner;
};

template <class Token>
with_diagnostics_t<std::decay_t<Token>> with_diagnostics(Token&& token) {
    return {std::forward<Token>(token)};
}

/// The default token of every operation: a coroutine `co_await`s it and gets the value, or a
/// shop::error with the diagnostics. Boost 1.81 cannot `co_await` an operation launched with
/// `deferred` whose completion carries an exception_ptr, so the default is use_awaitable
/// (coroutines whose executor is any_io_executor); other coroutines pass
/// `shop::with_diagnostics(asio::use_awaitable_t<TheirExecutor>{})`, or `as_tuple`/`deferred`
/// with a diagnostics& (see README, "Completion tokens").
using default_token = with_diagnostics_t<boost::asio::use_awaitable_t<>>;

namespace detail {

/// Completes the inner handler with the exception made from the diagnostics.
template <class Handler>
struct diagnosing_handler {
    Handler inner;
    diagnostics* diag;
    std::unique_ptr<diagnostics> own;  // when the caller passed none

    template <class... Args>
    void operator()(error_code ec, Args&&... args) {
        std::exception_ptr ep;
        if (ec) ep = std::make_exception_ptr(error(ec, *diag));  // a copy: *diag may be the caller's
        std::move(inner)(ep, std::forward<Args>(args)...);
    }
};

/// The operation's initiation, its diagnostics* argument filled in when null.
template <class Initiation>
struct diagnosing_initiation : Initiation {
    template <class Handler, class... Args>
    void operator()(Handler&& handler, diagnostics* diag, Args&&... args) && {
        std::unique_ptr<diagnostics> own;
        if (!diag) {
            own = std::make_unique<diagnostics>();
            diag = own.get();
        }
        diagnostics* const d = diag;
        static_cast<Initiation&&>(*this)(
            diagnosing_handler<std::decay_t<Handler>>{std::forward<Handler>(handler), d, std::move(own)}, d,
            std::forward<Args>(args)...);
    }
};

} // namespace detail
} // namespace shop

/// The adapted handler keeps the inner handler's executor, allocator and cancellation slot.
template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct boost::asio::associator<Associator, shop::detail::diagnosing_handler<Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type get(
        shop::detail::diagnosing_handler<Handler> const& h) noexcept {
        return Associator<Handler, DefaultCandidate>::get(h.inner);
    }
    static auto get(shop::detail::diagnosing_handler<Handler> const& h, DefaultCandidate const& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.inner, c)) {
        return Associator<Handler, DefaultCandidate>::get(h.inner, c);
    }
};

template <class Token, class R, class... Args>
struct boost::asio::async_result<shop::with_diagnostics_t<Token>, R(shop::error_code, Args...)> {
    template <class Initiation, class RawToken, class... InitArgs>
    static auto initiate(Initiation&& initiation, RawToken&& token, InitArgs&&... args)
        -> decltype(boost::asio::async_initiate<
                    std::conditional_t<std::is_const_v<std::remove_reference_t<RawToken>>, Token const, Token>,
                    R(std::exception_ptr, Args...)>(
            shop::detail::diagnosing_initiation<std::decay_t<Initiation>>{std::forward<Initiation>(initiation)},
            token.inner, std::forward<InitArgs>(args)...)) {
        return boost::asio::async_initiate<
            std::conditional_t<std::is_const_v<std::remove_reference_t<RawToken>>, Token const, Token>,
            R(std::exception_ptr, Args...)>(
            shop::detail::diagnosing_initiation<std::decay_t<Initiation>>{std::forward<Initiation>(initiation)},
            token.inner, std::forward<InitArgs>(args)...);
    }
};
