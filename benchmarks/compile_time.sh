#!/usr/bin/env bash
# What a consumer's translation unit costs to compile, header-only against
# SHOP_SEPARATE_COMPILATION: examples/basic.cpp (the README's example: list, buy, read the
# delivery) compiled RUNS times each way, alternating, plus the library's compiled part
# (<shop/src.hpp>) once per run; both programs are linked, to show that they build. g++ 12,
# -O2 -g (the RelWithDebInfo flags), no precompiled header. Prints each figure and the
# medians.
#
#   benchmarks/compile_time.sh          # RUNS=3
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
CXX=${CXX:-g++}
FLAGS=(-std=c++20 -O2 -g -I"$ROOT/include")
LIBS=(-lboost_json -lboost_url -lssl -lcrypto -lpthread)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
printf '#include <shop/src.hpp>\n' >"$TMP/src.cpp"

seconds() {  # seconds COMMAND...: wall time of one command
    local t0 t1
    t0=$(date +%s.%N)
    "$@"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$TMP/header_only"
: >"$TMP/separate"
: >"$TMP/src"
echo "| run | consumer, header-only (s) | consumer, separate (s) | src.hpp once (s) |"
echo "|---|---|---|---|"
for run in $(seq "$RUNS"); do
    h=$(seconds "$CXX" "${FLAGS[@]}" -c "$ROOT/examples/basic.cpp" -o "$TMP/basic_ho.o")
    s=$(seconds "$CXX" "${FLAGS[@]}" -DSHOP_SEPARATE_COMPILATION -c "$ROOT/examples/basic.cpp" -o "$TMP/basic_sep.o")
    l=$(seconds "$CXX" "${FLAGS[@]}" -DSHOP_SEPARATE_COMPILATION -c "$TMP/src.cpp" -o "$TMP/src.o")
    echo "| $run | $h | $s | $l |"
    echo "$h" >>"$TMP/header_only"
    echo "$s" >>"$TMP/separate"
    echo "$l" >>"$TMP/src"
done
"$CXX" "$TMP/basic_ho.o" -o "$TMP/basic_ho" "${LIBS[@]}"
"$CXX" "$TMP/basic_sep.o" "$TMP/src.o" -o "$TMP/basic_sep" "${LIBS[@]}"
H=$(median <"$TMP/header_only")
S=$(median <"$TMP/separate")
L=$(median <"$TMP/src")
echo
echo "medians: consumer header-only ${H} s, consumer separate ${S} s (the compiled part ${L} s, once)"
awk -v h="$H" -v s="$S" 'BEGIN { printf "a consumer unit rebuilds %.1fx faster with SHOP_SEPARATE_COMPILATION\n", h / s }'
