// The library's compiled part for the SHOP_SEPARATE_COMPILATION test (see consumer.cpp).
#include <shop/src.hpp>
