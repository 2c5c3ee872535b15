# Sourced by the shopctl end-to-end scripts: a scratch directory, a `shopctl serve` on
# loopback restarted on demand, the demo account's credentials, and the clean-up.
#   shopctl=PATH/TO/shopctl; source serve_support.sh; start_serve ARGS...
work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The demo account's credentials (the documented example key).
export SHOP_API_KEY=sk_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6
export SHOP_API_SECRET=sk_secret_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6a7b8c9d0e1f2

start_serve() {  # start_serve ARGS...: a fresh `shopctl serve ARGS`; sets SHOP_BASE_URL
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  # Gone before the new server starts: the shell truncates the file only when the background
  # child gets to it, and until then the old server's URL would still be read.
  rm -f "$work/serve.out"
  "$shopctl" serve "$@" >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  for _ in $(seq 400); do  # up to 20 s
    [[ -s $work/serve.out ]] && break
    sleep 0.05
  done
  SHOP_BASE_URL=$(head -1 "$work/serve.out")
  [[ $SHOP_BASE_URL == http://* ]] || fail "server did not start: $(cat "$work/serve.err")"
  export SHOP_BASE_URL
}
