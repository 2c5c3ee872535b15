#!/usr/bin/env bash
# The client benchmark suite, in about five minutes on this machine: shop-bench against wrk,
# the libcurl multi client and the plain Beast loop, same server and connection count in the
# same run, on two servers (the simulator, one thread; nginx, one worker, the seed's answers
# as static files); shop-bench pipelined (depth 1 and 16, 8 connections); creates; and memory
# with 10,000 requests in flight against a simulator that answers after 1 s. Peers alternate
# run by run. Writes benchmarks/results/*.json, draws the charts (PNG) and refreshes the table
# in benchmarks/README.md. Medians over RUNS runs; ratios are taken within each run.
#
#   benchmarks/run.sh                       # RUNS=3 DURATION=5 WARMUP=1 CONNECTIONS=64
#   RUNS=5 DURATION=10 benchmarks/run.sh
set -euo pipefail
source "$(dirname "$0")/servers.sh"

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-64}
results="$bench_root/benchmarks/results"

bench_setup nginx-light wrk curl libcurl4-openssl-dev gnuplot-nox python3 time
mkdir -p "$results"
rm -f "$results"/*.json "$results"/*.png

start_simulator sim --threads 1
sim_trans=$(place_order "$sim_base")
start_nginx

shop_bench() { "$bench_build/bin/shop-bench" --no-progress --json "$@"; }

# wrk -t1 as JSON in the shape of bench_report.hpp (CPU from GNU time, latency from --latency).
run_wrk() {  # run_wrk OUT URL
    local out=$1 url=$2
    /usr/bin/time -f '%U %S' -o "$bench_tmp/wrk.time" \
        wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "X-API-Key: $bench_key" \
        -H "X-API-Secret: $bench_secret" "$url" >"$bench_tmp/wrk.out"
    python3 "$bench_root/benchmarks/wrk_json.py" "$bench_tmp/wrk.out" "$bench_tmp/wrk.time" "$url" "$CONNECTIONS" >"$out"
}

run_peer() {  # run_peer PEER SERVER RUN
    local peer=$1 server=$2 run=$3 base trans url out
    if [ "$server" = sim ]; then base=$sim_base trans=$sim_trans; else base=$nginx_base trans=$seed_trans_id; fi
    url="$base/orders/status?trans_id=$trans"
    out="$results/status-$server-$peer-$run.json"
    case $peer in
    wrk) run_wrk "$out" "$url" ;;
    curl) "$bench_build/bin/bench_curl" --url "$url" --api-key "$bench_key" --api-secret "$bench_secret" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --json >"$out" 2>/dev/null ;;
    beast) "$bench_build/bin/bench_beast" --url "$url" --api-key "$bench_key" --api-secret "$bench_secret" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --json >"$out" 2>/dev/null ;;
    shop) shop_bench status --base-url "$base" --api-key "$bench_key" --api-secret "$bench_secret" \
        --trans-id "$trans" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" >"$out" 2>/dev/null ;;
    shopco) shop_bench status --base-url "$base" --api-key "$bench_key" --api-secret "$bench_secret" --driver coroutines \
        --trans-id "$trans" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" >"$out" 2>/dev/null ;;
    esac
    printf '  %-6s %-5s %s req/s\n' "$server" "$peer" "$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["requests_per_second"]))' "$out")"
}

# shop-bench twice: its workers driven by completion handlers (the client's own cost), and
# by use_awaitable coroutines (as most callers write them).
peers=(wrk curl beast shop shopco)
for run in $(seq "$RUNS"); do
    echo "== run $run of $RUNS: status, $CONNECTIONS connections, one client thread"
    for server in sim nginx; do
        # Rotate the order run by run, so no peer always goes first (or last).
        for k in 0 1 2 3 4; do run_peer "${peers[$(((k + run) % 5))]}" "$server" "$run"; done
    done
    echo "== run $run: pipelined status, 8 connections, depth 1 and 16"
    for server in sim nginx; do
        if [ "$server" = sim ]; then base=$sim_base trans=$sim_trans; else base=$nginx_base trans=$seed_trans_id; fi
        for depth in 1 16; do
            shop_bench status --base-url "$base" --api-key "$bench_key" --api-secret "$bench_secret" --trans-id "$trans" \
                --connections 8 --pipeline-depth "$depth" --duration "$DURATION" --warmup "$WARMUP" \
                >"$results/pipeline-$server-depth$depth-$run.json" 2>/dev/null
        done
    done
    echo "== run $run: create and mixed, $CONNECTIONS connections"
    shop_bench create --base-url "$sim_base" --api-key "$bench_key" --api-secret "$bench_secret" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" >"$results/create-sim-shop-$run.json" 2>/dev/null
    shop_bench create --base-url "$nginx_base" --api-key "$bench_key" --api-secret "$bench_secret" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" >"$results/create-nginx-shop-$run.json" 2>/dev/null
    shop_bench mixed --base-url "$sim_base" --api-key "$bench_key" --api-secret "$bench_secret" --trans-id "$sim_trans" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" >"$results/mixed-sim-shop-$run.json" 2>/dev/null
done

echo "== memory: 10,000 status requests in flight, 256 connections, the server answering after 1 s"
start_simulator slow --threads 1 --fault latency=1.0 --latency 1000
slow_base=$sim_base
slow_trans=$(place_order "$slow_base")
for run in $(seq "$RUNS"); do
    # Every request is started at once; after 3 s the run ends and what is still queued for a
    # connection is cancelled: the peak is reached at the start.
    for driver in callbacks coroutines; do
        name=shop
        [ "$driver" = coroutines ] && name=shopco
        shop_bench status --base-url "$slow_base" --api-key "$bench_key" --api-secret "$bench_secret" --trans-id "$slow_trans" \
            --connections 256 --concurrency 10000 --duration 3 --warmup 0 --timeout 120 --driver "$driver" \
            >"$results/memory-slow-$name-$run.json" 2>/dev/null
    done
done

python3 "$bench_root/benchmarks/summarize.py" "$results" "$bench_root/benchmarks/README.md" \
    "RUNS=$RUNS DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS benchmarks/run.sh"
