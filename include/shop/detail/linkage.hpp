// Header-only by default. Define SHOP_SEPARATE_COMPILATION in every translation unit of a
// program and compile <shop/src.hpp> in exactly one of them: the library's non-template
// code (transport, pool, client, parsing) is then compiled once instead of in every unit
// that includes a client header, and those units no longer parse Beast, OpenSSL or JSON.
#pragma once

#if defined(SHOP_SEPARATE_COMPILATION)
#define SHOP_DECL
#define SHOP_HEADER_ONLY 0
#else
#define SHOP_DECL inline
#define SHOP_HEADER_ONLY 1
#endif
