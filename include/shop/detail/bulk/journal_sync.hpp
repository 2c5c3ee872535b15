// Forces a journal to the disk (fsync) on a private thread, so that the executor running a
// bulk run (an embedding server's I/O threads) never waits on a disk. The completion,
// void(error_code), runs on the executor given; the executor is kept busy meanwhile (a work
// guard), so an io_context does not run out of work while a sync is pending.
#pragma once

#include <shop/error.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/post.hpp>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

namespace shop::detail {

class journal_sync {
public:
    journal_sync() = default;
    journal_sync(const journal_sync&) = delete;
    journal_sync& operator=(const journal_sync&) = delete;
    ~journal_sync() {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    /// Syncs file descriptor `fd` (everything written to it so far); completes on `ex` with
    /// errc::journal_failed (why in `*why`, which must outlive the operation) on failure.
    template <class Executor, class Token>
    auto async_sync(int fd, Executor ex, std::string* why, Token&& token) {
        return boost::asio::async_initiate<Token, void(error_code)>(
            [this, fd, ex, why](auto handler) {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                // Counts as outstanding work of `ex` until the completion has run.
                auto work = boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked);
                // The job hands its handler on (moved, not copied): the thread must never hold
                // the last reference to what owns this object.
                enqueue([fd, why, h = std::move(h), work = std::move(work)]() mutable {
                    error_code ec;
                    std::string reason;
#if __has_include(<unistd.h>)
                    if (::fsync(fd) != 0) {
                        reason = std::string("fsync failed: ") + std::strerror(errno);
                        ec = make_error_code(errc::journal_failed);
                    }
#else
                    (void)fd;
#endif
                    // `*why` is written on `ex`, with the completion: another operation's
                    // caller may be reading it there meanwhile.
                    auto target = std::move(work);
                    boost::asio::post(target, [h = std::move(h), ec, why, reason = std::move(reason)]() mutable {
                        if (ec) *why = std::move(reason);
                        (*h)(ec);
                    });
                });
            },
            token);
    }

private:
    void enqueue(std::function<void()> job) {
        {
            std::lock_guard lk(mu_);
            jobs_.push_back(std::move(job));
            if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
        }
        cv_.notify_one();
    }

    void run() {
        std::unique_lock lk(mu_);
        for (;;) {
            cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // stopping, nothing left
            auto job = std::move(jobs_.front());
            jobs_.pop_front();
            lk.unlock();
            job();
            job = nullptr;
            lk.lock();
        }
    }

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace shop::detail
