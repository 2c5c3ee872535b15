// The library's compiled part (SHOP_SEPARATE_COMPILATION): shop::client_compiled and, with
// SHOP_DEV_SEPARATE_COMPILATION, this project's own executables.
#include <shop/src.hpp>
