// The client's GET /orders/status request and the reading of its answer, for the pipelined
// status poller, which drives leased connections itself with exactly what order_status sends
// and reads.
#pragma once

#include <shop/detail/linkage.hpp>
#include <shop/error.hpp>
#include <shop/http.hpp>
#include <shop/models.hpp>

#include <string_view>

namespace shop {
class client;
namespace detail {

struct status_requests {
    /// The request order_status(trans_id) sends; errc::invalid_argument for an empty or
    /// over-long trans_id.
    SHOP_DECL static error_code make(client const& c, std::string_view trans_id, http_request& out, diagnostics& diag);
    /// Reads an answer as order_status does.
    SHOP_DECL static error_code read(client const& c, http_response const& response, order_status_result& out,
                                     diagnostics& diag);
    /// Tells the client's limiter about a server refusal seen outside the client's calls.
    SHOP_DECL static void note_refusal(client const& c, error_code const& ec);
};

} // namespace detail
} // namespace shop
