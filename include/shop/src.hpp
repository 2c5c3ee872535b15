// The library's compiled part, for SHOP_SEPARATE_COMPILATION: include this header in exactly
// one translation unit of the program (every unit defines SHOP_SEPARATE_COMPILATION).
//
//     // shop_client.cpp
//     #include <shop/src.hpp>
//
// CMake, with this project added by add_subdirectory(): link `shop::client_compiled` instead
// of `shop::client`, which does both.
#pragma once

#if !defined(SHOP_SEPARATE_COMPILATION)
#error "<shop/src.hpp> is for SHOP_SEPARATE_COMPILATION builds; header-only builds need nothing compiled"
#endif

#include <shop/detail/impl/client.ipp>
#include <shop/detail/impl/connection_pool.ipp>
