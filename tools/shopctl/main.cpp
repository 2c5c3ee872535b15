// shopctl: the command-line tool built on the shop client library.
#include "commands.hpp"

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
    CLI::App app{"shopctl: command-line client for the Shop API v1 (CMSNT shops)"};
    app.require_subcommand(1);
    shopctl::global_options global;
    int rc = shopctl::exit_ok;
    shopctl::add_serve_command(app, rc);
    shopctl::add_client_commands(app, global, rc);
    shopctl::add_bulk_command(app, global, rc);
    shopctl::add_demo_command(app, rc);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? shopctl::exit_ok : shopctl::exit_usage;
    }
    return rc;
}
