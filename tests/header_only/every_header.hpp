// Every public header, header-only (never SHOP_SEPARATE_COMPILATION): included by two units
// of one program, so a definition that is not inline, which a program of one unit would not
// notice, fails the link.
#pragma once

#include <shop/bulk_placer.hpp>
#include <shop/client.hpp>
#include <shop/config.hpp>
#include <shop/connection_pool.hpp>
#include <shop/error.hpp>
#include <shop/http.hpp>
#include <shop/json.hpp>
#include <shop/models.hpp>
#include <shop/money.hpp>
#include <shop/rate_limiter.hpp>
#include <shop/retry.hpp>
#include <shop/shop.hpp>
#include <shop/status_poller.hpp>
#include <shop/testing/simulator.hpp>
#include <shop/window_store.hpp>
#include <shop/with_diagnostics.hpp>

namespace header_only {
int second_unit();
}
