// shopctl's subcommands: each file registers its own on the shared CLI11 app.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace shopctl {

/// Exit codes (documented in README.md).
enum exit_code : int {
    exit_ok = 0,
    exit_api_error = 1,
    exit_usage = 2,
    exit_network = 3,
    exit_outcome_unknown = 4,
};

/// Options shared by every client command.
struct global_options {
    std::string base_url;
    std::string api_key;
    std::string api_secret;
    std::string ca_file;
    double timeout_seconds = 30;
    /// "N/SECONDS" (or "N" per 60 s) for the client's limiter; empty = adopt the key's
    /// limits from /account/info at start.
    std::string rate_limit;
    bool json = false;
    bool verbose = false;
};

/// Each add_*_command registers a subcommand whose callback stores its exit code in `rc`.
void add_serve_command(CLI::App& app, int& rc);
void add_client_commands(CLI::App& app, global_options& global, int& rc);
void add_demo_command(CLI::App& app, int& rc);
void add_bulk_command(CLI::App& app, global_options& global, int& rc);

} // namespace shopctl
