// Client subcommands (products, categories, balance, account, order, status, orders, demo).
#include "commands.hpp"

namespace shopctl {
void add_client_commands(CLI::App&, global_options&, int&) {}
} // namespace shopctl
