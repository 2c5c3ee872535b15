// The header-only link check's second unit (see every_header.hpp).
#include "every_header.hpp"

int header_only::second_unit() { return 2; }
