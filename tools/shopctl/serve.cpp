// shopctl serve: runs the simulator standalone.
#include "commands.hpp"

namespace shopctl {
void add_serve_command(CLI::App&, int&) {}
} // namespace shopctl
