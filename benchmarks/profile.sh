#!/usr/bin/env bash
# Where shop-bench's CPU goes: perf samples (cpu-clock, the only event this kind of machine
# offers) of `shop-bench status` against nginx serving the seed's status answer, 64
# connections, one client thread, limiter off. Writes the flat profile (self time by symbol)
# and the split by library to benchmarks/results/profile.txt and prints its top.
#
#   benchmarks/profile.sh                 # DURATION=8 TOP=30
set -euo pipefail
source "$(dirname "$0")/servers.sh"

DURATION=${DURATION:-8}
TOP=${TOP:-30}
results="$bench_root/benchmarks/results"
bench_setup nginx-light curl python3 linux-perf
mkdir -p "$results"
start_nginx

perf record -q -e cpu-clock -F 4999 -o "$bench_tmp/perf.data" -- \
    "$bench_build/bin/shop-bench" status --base-url "$nginx_base" --api-key "$bench_key" --api-secret "$bench_secret" \
    --trans-id "$seed_trans_id" --connections 64 --duration "$DURATION" --warmup 1 --no-progress >"$bench_tmp/bench.txt" 2>&1
{
    echo "# shop-bench status against nginx static, 64 connections, one client thread, ${DURATION} s ($(git -C "$bench_root" rev-parse --short HEAD))"
    sed 's/^/# /' "$bench_tmp/bench.txt"
    echo "# by library (shared object):"
    perf report -i "$bench_tmp/perf.data" --stdio --no-children --sort dso 2>/dev/null |
        grep -E '^ +[0-9]' | sed -E 's/ +$//' | head -12 || true
    echo "# self time by symbol:"
    perf report -i "$bench_tmp/perf.data" --stdio --no-children --sort symbol 2>/dev/null |
        grep -E '^ +[0-9]' | sed -E 's/ +(- +)*$//' | cut -c1-150 | head -"$TOP" || true
} >"$results/profile.txt"
cat "$results/profile.txt"
