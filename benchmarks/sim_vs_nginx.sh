#!/usr/bin/env bash
# Simulator vs nginx: GET /orders/status answered by `shopctl serve --threads 1`, against
# nginx (one worker) serving the same JSON as a static file, both measured with
# `wrk -t1 -c64` in the same run, on loopback. Prints req/s of each and the ratio.
#
#   benchmarks/sim_vs_nginx.sh                 # one 10 s run of each
#   RUNS=3 benchmarks/sim_vs_nginx.sh          # medians of three alternating runs
#   SHOPCTL=path/to/shopctl DURATION=5s CONNECTIONS=64 benchmarks/sim_vs_nginx.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHOPCTL=${SHOPCTL:-$ROOT/build/bin/shopctl}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
RUNS=${RUNS:-1}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
if ! have nginx || ! have wrk || ! have curl || ! have python3; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk curl python3 >/dev/null
    else
        echo "needs nginx-light, wrk, curl and python3 (apt-get install nginx-light wrk curl python3)" >&2
        exit 1
    fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$SHOPCTL" ]; then
    echo "no $SHOPCTL: build it first (cmake -S . -B build -G Ninja && ninja -C build shopctl)" >&2
    exit 1
fi

TMP=$(mktemp -d)
SIM_PID=""
cleanup() {
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    if [ -s "$TMP/nginx.pid" ]; then kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# The documented example credentials of the demo account.
KEY=sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6
SECRET=sk_secret_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2

# --- the simulator: one thread, limits out of the way ----------------------------------
"$SHOPCTL" serve --threads 1 --rate-limit 100000000/60 --daily-limit 100000000 >"$TMP/sim.out" 2>"$TMP/sim.err" &
SIM_PID=$!
for _ in $(seq 100); do
    [ -s "$TMP/sim.out" ] && break
    sleep 0.1
done
BASE=$(head -1 "$TMP/sim.out")
[ -n "$BASE" ] || { echo "the simulator did not start:" >&2; cat "$TMP/sim.err" >&2; exit 1; }

# One order (two delivered items) to look up, and its status JSON for nginx to serve.
TRANS=$(curl -sf "$BASE/orders/create" -H "X-API-Key: $KEY" -H "X-API-Secret: $SECRET" \
    -H 'Content-Type: application/json' -d '{"items":[{"plan_id":19,"quantity":2}]}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["orders"][0]["trans_id"])')
mkdir -p "$TMP/www" "$TMP/tmp"
curl -sf "$BASE/orders/status?trans_id=$TRANS" -H "X-API-Key: $KEY" -H "X-API-Secret: $SECRET" >"$TMP/www/status.json"
chmod 755 "$TMP" "$TMP/www"
chmod 644 "$TMP/www/status.json"

# --- nginx: one worker, the same JSON as a static file ---------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$TMP/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 65;
    open_file_cache max=16 inactive=60s;   # nginx at its best: no open/fstat per request
    open_file_cache_valid 60s;
    client_body_temp_path $TMP/tmp;
    proxy_temp_path $TMP/tmp;
    fastcgi_temp_path $TMP/tmp;
    uwsgi_temp_path $TMP/tmp;
    scgi_temp_path $TMP/tmp;
    server {
        listen 127.0.0.1:$PORT;
        location = /api/v1/orders/status {
            default_type "application/json; charset=utf-8";
            alias $TMP/www/status.json;
        }
    }
}
EOF
"$NGINX" -e "$TMP/error.log" -p "$TMP" -c "$TMP/nginx.conf"
for _ in $(seq 50); do
    [ -s "$TMP/nginx.pid" ] && break
    sleep 0.1
done
NGINX_URL="http://127.0.0.1:$PORT/api/v1/orders/status?trans_id=$TRANS"
SIM_URL="$BASE/orders/status?trans_id=$TRANS"
cmp -s <(curl -sf "$NGINX_URL") "$TMP/www/status.json" || { echo "nginx does not serve the file" >&2; exit 1; }

bench() {
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -H "X-API-Key: $KEY" -H "X-API-Secret: $SECRET" "$1" |
        awk '/^Requests\/sec:/ { print $2 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "body: $(wc -c <"$TMP/www/status.json") bytes; wrk -t1 -c$CONNECTIONS -d$DURATION; runs: $RUNS"
: >"$TMP/sim.rps"
: >"$TMP/nginx.rps"
for run in $(seq "$RUNS"); do
    s=$(bench "$SIM_URL")
    n=$(bench "$NGINX_URL")
    echo "run $run: simulator $s req/s, nginx $n req/s"
    echo "$s" >>"$TMP/sim.rps"
    echo "$n" >>"$TMP/nginx.rps"
done
SIM_RPS=$(median <"$TMP/sim.rps")
NGINX_RPS=$(median <"$TMP/nginx.rps")
RATIO=$(awk -v s="$SIM_RPS" -v n="$NGINX_RPS" 'BEGIN { printf "%.2f", s / n }')
echo "simulator: $SIM_RPS req/s"
echo "nginx:     $NGINX_RPS req/s"
echo "ratio:     $RATIO (simulator / nginx; the goal is at least 0.50)"
