// The header-only link check (see every_header.hpp): this unit and second.cpp.
#include "every_header.hpp"

int main() { return header_only::second_unit() == 2 ? 0 : 1; }
