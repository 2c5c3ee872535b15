#!/usr/bin/env bash
# shop-bench never rots: each workload briefly against its in-process simulator, the report
# in JSON with every field the benchmark scripts read, no errors. No timing is asserted.
set -euo pipefail
bench=$1
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {  # check NAME ARGS...: one run, its JSON checked
    local name=$1 out
    shift
    out=$(timeout 60 "$bench" "$@" --json --no-progress 2>/dev/null) || fail "$name exited $?"
    for key in '"requests_per_second":' '"latency_us":{"p50":' '"p90":' '"p99":' '"p999":' '"cpu_seconds":' \
        '"requests":' '"errors":0,' '"peak_rss_bytes":'; do
        [[ $out == *"$key"* ]] || fail "$name: no $key in $out"
    done
    [[ $out =~ \"requests\":([0-9]+) ]] && (( BASH_REMATCH[1] > 0 )) || fail "$name: no request measured: $out"
    echo "ok: $name"
}
check status status --duration 0.5 --warmup 0.2 --connections 4
check status-pipelined status --duration 0.5 --warmup 0.2 --connections 2 --pipeline-depth 8
check status-limiter status --duration 0.5 --warmup 0.2 --connections 4 --limiter on
check create create --count 200 --warmup 0 --connections 4
check mixed mixed --duration 0.5 --warmup 0 --connections 4 --threads 2
# a bad option is a usage error, not a crash
if "$bench" status --pipeline-depth 4 create >/dev/null 2>&1; then fail "two workloads accepted"; fi
if "$bench" create --pipeline-depth 4 --count 1 >/dev/null 2>&1; then fail "--pipeline-depth with create accepted"; fi
echo "shop-bench smoke: ok"
