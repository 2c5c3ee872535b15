# Sourced by the benchmark scripts: packages, the servers under test on loopback, and their
# clean-up. Each start_* function starts one server in the background and records it so that
# stop_servers (run on exit) stops it and removes the temporary files.
#
#   source benchmarks/servers.sh
#   bench_setup nginx-light wrk          # packages needed beyond the build's
#   start_simulator sim --threads 1      # sets sim_base (…/api/v1)
#   start_nginx                          # sets nginx_base; serves the seed's example answers

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Its own build directory, header-only (as a program that includes <shop/shop.hpp> is):
# scripts/test builds `build` with the library compiled once.
bench_build=${BUILD:-$bench_root/build-bench}
bench_tmp=$(mktemp -d)
bench_pids=()

# The documented example credentials of the simulator's demo account (public test values).
bench_key=sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6
bench_secret=sk_secret_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2
bench_admin=bench-admin
# The trans_id of the seed's example status answer, which nginx serves.
seed_trans_id=PO8153690

stop_servers() {
    local pid
    for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -s "$bench_tmp/nginx.pid" ]; then kill "$(cat "$bench_tmp/nginx.pid")" 2>/dev/null || true; fi
    rm -rf "$bench_tmp"
}
trap stop_servers EXIT

# bench_setup PACKAGE...: installs the Debian packages that are missing (as root), and makes
# sure the project is configured and built (shopctl and the benchmark programs).
bench_setup() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "missing packages: ${missing[*]} (apt-get install them, or run as root)" >&2
            exit 1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ ! -f "$bench_build/build.ninja" ]; then
        cmake -S "$bench_root" -B "$bench_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DSHOP_BUILD_TESTS=OFF >/dev/null
    fi
    # A new package (libcurl's headers) needs a fresh configure to be found.
    if [ ! -x "$bench_build/bin/bench_curl" ]; then cmake "$bench_build" >/dev/null; fi
    cmake --build "$bench_build" --target shopctl shop-bench bench_beast bench_curl >/dev/null
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_simulator NAME ARGS...: `shopctl serve ARGS` with every limit out of the way and the
# admin area on; sets sim_base.
start_simulator() {
    local name=$1
    shift
    "$bench_build/bin/shopctl" serve --rate-limit 1000000000/60 --daily-limit 1000000000 \
        --admin-token "$bench_admin" "$@" >"$bench_tmp/$name.out" 2>"$bench_tmp/$name.err" &
    bench_pids+=($!)
    local _
    for _ in $(seq 200); do
        [ -s "$bench_tmp/$name.out" ] && break
        sleep 0.05
    done
    sim_base=$(head -1 "$bench_tmp/$name.out")
    [ -n "$sim_base" ] || { echo "the simulator did not start: $(cat "$bench_tmp/$name.err")" >&2; exit 1; }
    # Money for any number of creates.
    curl -sf "${sim_base%/api/v1}/_sim/balance" -H "X-Sim-Admin: $bench_admin" \
        -H 'Content-Type: application/json' -d '{"balance":1000000000000}' >/dev/null
}

# place_order BASE: one order of plan 19 (two delivered items, like the seed's example);
# prints its trans_id.
place_order() {
    curl -sf "$1/orders/create" -H "X-API-Key: $bench_key" -H "X-API-Secret: $bench_secret" \
        -H 'Content-Type: application/json' -d '{"items":[{"plan_id":19,"quantity":2}]}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["orders"][0]["trans_id"])'
}

# start_nginx: nginx (one worker) serving the seed's example answers (benchmarks/nginx.conf.in);
# sets nginx_base.
start_nginx() {
    local port data nginx
    port=$(free_port)
    data="$bench_tmp/www"
    mkdir -p "$data" "$bench_tmp/tmp"
    cp "$bench_root/tests/data/responses/seed_status.json" "$bench_root/tests/data/responses/seed_create.json" "$data/"
    chmod 755 "$bench_tmp" "$data"
    chmod 644 "$data"/*.json
    sed -e "s|@TMP@|$bench_tmp|g" -e "s|@PORT@|$port|g" -e "s|@DATA@|$data|g" \
        "$bench_root/benchmarks/nginx.conf.in" >"$bench_tmp/nginx.conf"
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    "$nginx" -e "$bench_tmp/error.log" -p "$bench_tmp" -c "$bench_tmp/nginx.conf"
    local _
    for _ in $(seq 100); do
        [ -s "$bench_tmp/nginx.pid" ] && break
        sleep 0.05
    done
    nginx_base="http://127.0.0.1:$port/api/v1"
    cmp -s <(curl -sf "$nginx_base/orders/status?trans_id=$seed_trans_id") "$data/seed_status.json" ||
        { echo "nginx does not serve the seed's status answer" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "$nginx_base/orders/create")" = 201 ] ||
        { echo "nginx does not answer creates" >&2; exit 1; }
}
