// A loopback TCP relay that adds latency (the kernel here has no netem): every chunk read on
// one side is written to the other side `hold` later, in order, per direction. It runs on its
// own io_context and thread, accepts on 127.0.0.1 port 0, connects each client to
// 127.0.0.1:`upstream`, and stops by itself after `lifetime` (or on destruction).
#pragma once

#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace simtest {

class tcp_relay {
public:
    using clock = std::chrono::steady_clock;
    using tcp = boost::asio::ip::tcp;

    tcp_relay(std::uint16_t upstream, std::chrono::milliseconds hold,
              std::chrono::milliseconds lifetime = std::chrono::seconds(60))
        : upstream_(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), upstream)),
          hold_(hold),
          acceptor_(ioc_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)),
          port_(acceptor_.local_endpoint().port()) {
        boost::asio::co_spawn(ioc_, accept_loop(), boost::asio::detached);
        thread_ = std::thread([this, lifetime] {
            ioc_.run_for(lifetime);  // bounded: stops by itself
            finished_ = true;
        });
    }
    ~tcp_relay() { stop(); }
    tcp_relay(tcp_relay const&) = delete;
    tcp_relay& operator=(tcp_relay const&) = delete;

    std::uint16_t port() const noexcept { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1"; }
    /// Connections accepted so far.
    std::size_t accepted() const noexcept { return accepted_.load(); }

    /// Closes the acceptor and every link, then joins (forced after 2 s).
    void stop() {
        if (!thread_.joinable()) return;
        boost::asio::post(ioc_, [this] {
            boost::system::error_code ignored;
            acceptor_.close(ignored);
            for (auto& weak : links_)
                if (auto l = weak.lock()) l->close();
        });
        auto until = clock::now() + std::chrono::seconds(2);
        while (!finished_ && clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (!finished_) ioc_.stop();
        thread_.join();
    }

private:
    struct chunk {
        clock::time_point due;
        std::string bytes;
    };
    // One direction: a reader that timestamps chunks, a writer that sends each at its due time.
    struct direction {
        explicit direction(boost::asio::io_context& io) : wake(io), pause(io) {}
        std::deque<chunk> queue;
        boost::asio::steady_timer wake;   // writer waits here for a chunk
        boost::asio::steady_timer pause;  // writer waits here for a chunk's due time
        bool eof = false;
    };
    struct link {
        explicit link(boost::asio::io_context& io) : client(io), server(io), up(io), down(io) {}
        tcp::socket client, server;
        direction up, down;  // client→server, server→client
        void close() {
            boost::system::error_code ignored;
            client.close(ignored);
            server.close(ignored);
            up.wake.cancel();
            up.pause.cancel();
            down.wake.cancel();
            down.pause.cancel();
        }
    };

    boost::asio::awaitable<void> accept_loop() {
        namespace net = boost::asio;
        for (;;) {
            auto l = std::make_shared<link>(ioc_);
            auto [aec] = co_await acceptor_.async_accept(l->client, net::as_tuple(net::use_awaitable));
            if (aec) co_return;
            ++accepted_;
            auto [cec] = co_await l->server.async_connect(upstream_, net::as_tuple(net::use_awaitable));
            if (cec) {
                l->close();
                continue;
            }
            std::erase_if(links_, [](auto const& w) { return w.expired(); });
            links_.push_back(l);
            net::co_spawn(ioc_, reader(l, l->client, l->up), net::detached);
            net::co_spawn(ioc_, writer(l, l->server, l->up), net::detached);
            net::co_spawn(ioc_, reader(l, l->server, l->down), net::detached);
            net::co_spawn(ioc_, writer(l, l->client, l->down), net::detached);
        }
    }

    // `keep` holds the link (both sockets) alive while this direction reads.
    boost::asio::awaitable<void> reader([[maybe_unused]] std::shared_ptr<link> keep, tcp::socket& from, direction& d) {
        namespace net = boost::asio;
        std::vector<char> buf(64 * 1024);
        for (;;) {
            auto [ec, n] = co_await from.async_read_some(net::buffer(buf), net::as_tuple(net::use_awaitable));
            if (n > 0) {
                d.queue.push_back({clock::now() + hold_, std::string(buf.data(), n)});
                d.wake.cancel();
            }
            if (ec) {
                d.eof = true;  // the writer passes the end on once the queue is drained
                d.wake.cancel();
                co_return;
            }
        }
    }

    boost::asio::awaitable<void> writer(std::shared_ptr<link> l, tcp::socket& to, direction& d) {
        namespace net = boost::asio;
        for (;;) {
            if (d.queue.empty()) {
                if (d.eof || !to.is_open()) {
                    boost::system::error_code ignored;
                    to.shutdown(tcp::socket::shutdown_send, ignored);
                    co_return;
                }
                d.wake.expires_at(clock::time_point::max());
                auto [wec] = co_await d.wake.async_wait(net::as_tuple(net::use_awaitable));
                (void)wec;
                continue;
            }
            auto due = d.queue.front().due;
            if (clock::now() < due) {
                d.pause.expires_at(due);
                auto [pec] = co_await d.pause.async_wait(net::as_tuple(net::use_awaitable));
                if (pec && !to.is_open()) co_return;
                continue;
            }
            auto [ec, n] = co_await net::async_write(to, net::buffer(d.queue.front().bytes), net::as_tuple(net::use_awaitable));
            (void)n;
            if (ec) {
                l->close();
                co_return;
            }
            d.queue.pop_front();
        }
    }

    boost::asio::io_context ioc_;
    tcp::endpoint upstream_;
    std::chrono::milliseconds hold_;
    tcp::acceptor acceptor_;
    std::uint16_t port_;
    std::vector<std::weak_ptr<link>> links_;
    std::atomic<std::size_t> accepted_{0};
    std::atomic<bool> finished_{false};
    std::thread thread_;
};

} // namespace simtest
