// Umbrella header: the client and what it is made of. Kept to what a client translation unit
// needs; the status poller, bulk placement (which does file I/O) and the JSON write-back
// have headers of their own: <shop/status_poller.hpp>, <shop/bulk_placer.hpp>,
// <shop/json.hpp>. The simulator is <shop/testing/simulator.hpp>.
#pragma once

#include <shop/client.hpp>
#include <shop/config.hpp>
#include <shop/connection_pool.hpp>
#include <shop/error.hpp>
#include <shop/http.hpp>
#include <shop/models.hpp>
#include <shop/money.hpp>
#include <shop/rate_limiter.hpp>
#include <shop/retry.hpp>
#include <shop/window_store.hpp>
#include <shop/with_diagnostics.hpp>
