#!/usr/bin/env bash
# run_target.sh TARGET SEEDS WORK SECONDS: fuzzes TARGET for SECONDS over a fresh copy of the
# seed corpus SEEDS in WORK; a crash leaves its input in WORK/crash-* and fails.
set -euo pipefail
target=$1 seeds=$2 work=$3 seconds=$4
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
cd "$work"
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 "$work/corpus" 2>"$work/log" || { tail -60 "$work/log"; exit 1; }
grep -E '^stat::number_of_executed_units|^Done' "$work/log" || true
