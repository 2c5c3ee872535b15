// Raw bytes from a server through the transport's response handling: the parser the
// connection reads with (response_sink: status, Content-Type, body; the connection's header
// and body limits), fed from an in-memory stream in pieces of fuzzer-chosen sizes as a
// socket would deliver them, interim 1xx answers skipped and pipelined answers read one
// after the other as read_response does; each whole answer then read as a status result.
#include <shop/detail/protocol/parse.hpp>
#include <shop/detail/transport/response_sink.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace {

// A SyncReadStream over the input: each read returns at most the next piece's size.
class memory_stream {
public:
    memory_stream(std::uint8_t const* data, std::size_t size, std::uint8_t piece_seed)
        : data_(data), size_(size), seed_(piece_seed | 1u) {}

    template <class MutableBuffers>
    std::size_t read_some(MutableBuffers const& buffers, boost::system::error_code& ec) {
        if (at_ == size_) {
            ec = boost::asio::error::eof;
            return 0;
        }
        seed_ = static_cast<std::uint8_t>(seed_ * 37 + 11);
        std::size_t const piece = std::min<std::size_t>(size_ - at_, 1 + seed_ % 64);
        std::size_t const n = boost::asio::buffer_copy(buffers, boost::asio::buffer(data_ + at_, piece));
        at_ += n;
        ec = {};
        return n;
    }
    template <class MutableBuffers>
    std::size_t read_some(MutableBuffers const& buffers) {
        boost::system::error_code ec;
        auto n = read_some(buffers, ec);
        if (ec) throw boost::system::system_error(ec);
        return n;
    }

private:
    std::uint8_t const* data_;
    std::size_t size_;
    std::size_t at_ = 0;
    std::uint8_t seed_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    if (size < 1) return 0;
    memory_stream stream(data + 1, size - 1, data[0]);
    boost::beast::flat_buffer buffer;
    shop::http_response response;
    // Small limits, so that the fuzzer reaches them: what the connection does with
    // pool_options::body_limit and header_limit.
    for (int answers = 0; answers < 64; ++answers) {
        response.status = 0;
        response.content_type.clear();
        response.body.clear();
        shop::detail::http_detail::response_sink parser(response);
        parser.body_limit(64 * 1024);
        parser.header_limit(8 * 1024);
        boost::system::error_code ec;
        boost::beast::http::read(stream, buffer, parser, ec);
        if (ec) break;
        if (response.status >= 100 && response.status < 200 && response.status != 101) continue;  // interim
        shop::order_status_result out;
        shop::diagnostics diag;
        (void)shop::detail::read_answer(response, "orders/status", out, diag, false);
        if (!parser.keep_alive()) break;
    }
    return 0;
}
