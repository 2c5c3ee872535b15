#!/usr/bin/env bash
# Soak: DURATION seconds (default 60) of mixed traffic (shop-bench mixed: status reads, every
# tenth a create) against `shopctl serve` with faults on (lost answers, resets, truncated and
# broken bodies, CDN pages, slow drips, latency), and the resident memory and open file
# descriptors of both processes early in the run and at its end: neither may grow. Exits 1
# when the client's RSS grows by more than GROWTH_PCT (default 10) percent between the two
# samples or its descriptors by more than its connections.
#
#   benchmarks/soak.sh                  # 60 s
#   DURATION=600 benchmarks/soak.sh     # ten minutes
set -euo pipefail
source "$(dirname "$0")/servers.sh"

DURATION=${DURATION:-60}
CONNECTIONS=${CONNECTIONS:-32}
CONCURRENCY=${CONCURRENCY:-64}
GROWTH_PCT=${GROWTH_PCT:-10}
bench_setup curl python3
start_simulator sim --threads 1
trans_id=$(place_order "$sim_base")
# Faults from now on (the order above was placed without them).
curl -sf "${sim_base%/api/v1}/_sim/faults" -H "X-Sim-Admin: $bench_admin" -H 'Content-Type: application/json' -d '{
  "latency": "20:20",
  "add": ["orders/create:close-after-commit=0.02", "orders/create:close-before-read=0.02",
          "reset-mid-response=0.01", "truncated-body=0.01", "malformed-json=0.01", "html-502=0.01",
          "slow-drip=0.002", "latency=0.05"]}' >/dev/null

sample() {  # sample PID: "RSS_KIB FDS"
    echo "$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status") $(ls "/proc/$1/fd" | wc -l)"
}
server_pid=${bench_pids[0]}
"$bench_build/bin/shop-bench" mixed --base-url "$sim_base" --api-key "$bench_key" --api-secret "$bench_secret" \
    --trans-id "$trans_id" --connections "$CONNECTIONS" --concurrency "$CONCURRENCY" --timeout 5 \
    --duration "$DURATION" --warmup 0 --no-progress >"$bench_tmp/soak.txt" 2>&1 &
client_pid=$!
sleep 5
read -r client_rss0 client_fd0 <<<"$(sample "$client_pid")"
read -r server_rss0 server_fd0 <<<"$(sample "$server_pid")"
sleep $((DURATION - 7))
read -r client_rss1 client_fd1 <<<"$(sample "$client_pid")"
read -r server_rss1 server_fd1 <<<"$(sample "$server_pid")"
wait "$client_pid" || { cat "$bench_tmp/soak.txt"; exit 1; }
faults=$(curl -sf "${sim_base%/api/v1}/_sim/stats" -H "X-Sim-Admin: $bench_admin" |
    python3 -c 'import json,sys; f=json.load(sys.stdin)["data"]["faults"]; print(", ".join(f"{k} {v}" for k,v in f.items() if v))')

echo "soak: ${DURATION} s of shop-bench mixed, $CONNECTIONS connections, $CONCURRENCY in flight, faults on ($(git -C "$bench_root" rev-parse --short HEAD))"
sed 's/^/  /' "$bench_tmp/soak.txt"
echo "  faults applied: $faults"
echo "  | process | RSS at 5 s | RSS at $((DURATION - 2)) s | fds at 5 s | fds at $((DURATION - 2)) s |"
echo "  |---|---|---|---|---|"
echo "  | client (shop-bench) | ${client_rss0} KiB | ${client_rss1} KiB | $client_fd0 | $client_fd1 |"
echo "  | simulator (shopctl serve) | ${server_rss0} KiB | ${server_rss1} KiB | $server_fd0 | $server_fd1 |"
if (( client_rss1 * 100 > client_rss0 * (100 + GROWTH_PCT) )); then
    echo "client RSS grew by more than $GROWTH_PCT%" >&2
    exit 1
fi
if (( client_fd1 > client_fd0 + CONNECTIONS )); then
    echo "client descriptors grew by more than its connections" >&2
    exit 1
fi
echo "  no growth"
