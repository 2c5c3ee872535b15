// Configuration of the client and its transport. Every setting has a documented default;
// a zero duration means "disabled" (no bound of its own; the total deadline still applies).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace shop {

using namespace std::chrono_literals;

/// TLS settings. Verification is on by default and should stay on.
struct tls_options {
    /// Verify the peer's certificate chain and host name (verify_peer + host name check).
    bool verify = true;
    /// Trust the system's root certificates (OpenSSL default verify paths).
    bool use_system_roots = true;
    /// Extra trusted CA bundle (PEM file); empty for none.
    std::string ca_file;
    /// Extra trusted CA certificates as PEM text (for tests and embedded deployments).
    std::string ca_pem;
};

/// Per-phase timeouts and the total deadline of one request (including waiting for a pooled
/// connection). Zero disables a phase's own bound; `total` always applies when non-zero.
struct timeout_options {
    std::chrono::milliseconds resolve = 5s;
    std::chrono::milliseconds connect = 5s;
    std::chrono::milliseconds handshake = 5s;
    std::chrono::milliseconds write = 10s;
    /// From the end of the write until the whole response is read.
    std::chrono::milliseconds read = 30s;
    /// Bound on the whole request, queueing included.
    std::chrono::milliseconds total = 60s;
    /// Bound on a graceful TLS shutdown before the socket is closed anyway.
    std::chrono::milliseconds tls_shutdown = 1s;
};

/// Connection pool settings (one pool per origin: scheme, host, port).
struct pool_options {
    /// Most connections open at once; the pool grows on demand up to this.
    std::size_t max_connections = 16;
    /// An idle keep-alive connection older than this is closed rather than reused.
    std::chrono::milliseconds idle_timeout = 30s;
    /// How long a request may wait for a free connection before errc::pool_exhausted.
    std::chrono::milliseconds wait_timeout = 30s;
    /// Response body limit (bytes); larger bodies fail with errc::body_too_large.
    std::uint64_t body_limit = 8 * 1024 * 1024;
    /// Response header limit (bytes).
    std::uint32_t header_limit = 64 * 1024;
    /// User-Agent sent with every request; empty sends none (a request may set its own).
    std::string user_agent = "shop-client/0.1";
};

} // namespace shop
