// Umbrella header: the whole client library. The simulator is separate:
// <shop/testing/simulator.hpp>.
#pragma once

#include <shop/client.hpp>
#include <shop/config.hpp>
#include <shop/connection_pool.hpp>
#include <shop/error.hpp>
#include <shop/json.hpp>
#include <shop/models.hpp>
#include <shop/money.hpp>
#include <shop/rate_limiter.hpp>
#include <shop/retry.hpp>
#include <shop/bulk_placer.hpp>
#include <shop/status_poller.hpp>
#include <shop/window_store.hpp>
