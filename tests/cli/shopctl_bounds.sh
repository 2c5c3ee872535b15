#!/usr/bin/env bash
# shopctl's bounds and formats against `shopctl serve` on loopback: --timeout bounds a whole
# command (retries and the start-up read of the key's limits included), a listing whose
# pages repeat ends the walk with what was read, status without --wait reads many orders in
# one pipelined look, one --rate-limit reader (with off) for every command, money in --json
# exactly as the server writes it, and the API secret in nothing it writes (-v, --json,
# journals, errors). Every step is bounded by `timeout`.
set -euo pipefail
shopctl=${1:?usage: shopctl_bounds.sh PATH/TO/shopctl}
source "$(dirname "$0")/serve_support.sh"
run() { timeout 60 "$shopctl" "$@"; }
# Milliseconds since the epoch.
now_ms() { date +%s%3N; }
# Wall-clock bounds are the bound asked for plus 3 s of slack for a busy machine.
slack_ms=3000

echo "-- --timeout bounds the whole command against a server that never answers"
start_serve --rate-limit off --latency 60000
# A read times out (exit 3); a create cut off by the deadline may have been placed (exit 4).
for case in "3 balance" "3 --rate-limit off balance" "3 order --plan 900" "4 --rate-limit off order --plan 900"; do
  want=${case%% *}
  args=${case#* }
  t0=$(now_ms)
  # shellcheck disable=SC2086
  rc=0; run --timeout 2 $args >"$work/out" 2>"$work/err" || rc=$?
  took=$(( $(now_ms) - t0 ))
  [[ $rc == "$want" ]] || fail "'$args': exit $rc, not $want: $(cat "$work/err")"
  (( took < 2000 + slack_ms )) || fail "'$args' with --timeout 2 took $took ms"
  if [[ $want == 3 ]]; then
    grep -q "within --timeout 2 s" "$work/err" || fail "no word of the timeout: $(cat "$work/err")"
  else
    grep -q "outcome unknown" "$work/err" || fail "a cut-off create: $(cat "$work/err")"
  fi
  echo "   $args: exit $rc after $took ms: $(head -1 "$work/err")"
done

echo "-- a listing whose pages repeat: the walk stops, says why, keeps what it read"
start_serve --rate-limit off --quirk list-pages-repeat
for _ in 1 2 3; do run --rate-limit off order --plan 900 >/dev/null; done
rc=0; run --rate-limit off orders --all --json >"$work/orders.json" 2>"$work/orders.err" || rc=$?
[[ $rc == 1 ]] || fail "orders --all exited $rc: $(cat "$work/orders.err")"
grep -q "brought nothing new" "$work/orders.err" || fail "no reason given: $(cat "$work/orders.err")"
[[ $(grep -o '"trans_id"' "$work/orders.json" | wc -l) == 3 ]] || fail "orders read: $(cat "$work/orders.json")"
rc=0; run --rate-limit off products --all >/dev/null 2>"$work/products.err" || rc=$?
[[ $rc == 1 ]] || fail "products --all exited $rc"

echo "-- status without --wait: one look at many orders"
start_serve --rate-limit off
run --rate-limit off bulk --plan 900 --count 40 --json >"$work/bulk.json" 2>/dev/null
mapfile -t ids < <(grep -o '"trans_id":"[^"]*"' "$work/bulk.json" | cut -d'"' -f4)
[[ ${#ids[@]} == 40 ]] || fail "placed ${#ids[@]} orders"
run --rate-limit off status "${ids[@]}" NOSUCHORDER --connections 2 --pipeline-depth 16 --json >"$work/status.json" 2>"$work/status.err" && fail "an unknown order did not fail the command"
[[ $(grep -o '"trans_id"' "$work/status.json" | wc -l) == 40 ]] || fail "statuses read: $(head -c 300 "$work/status.json")"
grep -q "ORDER_NOT_FOUND\|order_not_found\|not found" "$work/status.err" || fail "the unknown order: $(cat "$work/status.err")"

echo "-- one --rate-limit reader, with off"
run --rate-limit 100000000/60 balance >/dev/null || fail "a large limit was refused"
run --rate-limit 4294967295 balance >/dev/null || fail "the largest limit was refused"
run --rate-limit off balance >/dev/null || fail "--rate-limit off"
for bad in 0 4294967296 abc 10/0 10/86401 10/ /60 -5; do
  rc=0; run --rate-limit "$bad" balance >/dev/null 2>&1 || rc=$?
  [[ $rc == 2 ]] || fail "--rate-limit $bad: exit $rc"
done
rm -f "$work/bad.out"
rc=0; timeout 10 "$shopctl" serve --rate-limit 0 >"$work/bad.out" 2>&1 || rc=$?
[[ $rc == 2 ]] || fail "serve --rate-limit 0: exit $rc"
start_serve --rate-limit off
run --rate-limit off balance >/dev/null || fail "against serve --rate-limit off"
start_serve --rate-limit 100000000/60
run --rate-limit off balance >/dev/null || fail "against serve --rate-limit 100000000/60"

echo "-- money in --json as the server writes it"
run --rate-limit off order --plan 901 --qty 3 --json >"$work/order.json" || fail "order of plan 901"
grep -q '"total":30001.5,' "$work/order.json" || fail "total: $(cat "$work/order.json")"
grep -q '"new_balance":499969998.5' "$work/order.json" || fail "new_balance: $(cat "$work/order.json")"
grep -q '[0-9][eE][+0-9-]' "$work/order.json" && fail "exponent form: $(cat "$work/order.json")"
run --rate-limit off balance --json | grep -q '"current":499969998.5,' || fail "balance --json"
echo "-- the secret appears in nothing shopctl writes, verbose, on success and on failure"
start_serve --rate-limit off --fault orders/create:close-after-commit=0.2 --fault orders/status:html-502=0.2 --fault-seed 3
out="$work/secrets"
mkdir -p "$out"
n=0
each() {  # each ARGS...: runs shopctl -v ARGS, whatever it exits with; keeps both streams
  n=$((n + 1))
  run -v "$@" >"$out/$n.out" 2>"$out/$n.err" || true
}
each balance
each account --json
each order --plan 900 --json
each bulk --plan 905 --count 20 --field 'tai_khoan=s{i}@example.com' --settle 0.2 --journal "$out/run.jsonl" --json
each bulk --resume "$out/run.jsonl"
mapfile -t some < <(grep -o '"trans_id":"[^"]*"' "$out/4.out" | cut -d'"' -f4 | head -5)
each status "${some[@]}" --json
each orders --all --json
each --timeout 1 order --plan 900 --base-url http://127.0.0.1:1/api/v1
wrong=sk_secret_$(printf 'z%.0s' $(seq 64))
SHOP_API_SECRET=$wrong each balance
SHOP_API_SECRET=sk_secret_short each balance
SHOP_API_SECRET="$SHOP_API_SECRET"$'\n' each balance
ls "$out"/*.err >/dev/null
for secret in "$SHOP_API_SECRET" "$wrong" sk_secret_short; do
  if grep -rlF -- "$secret" "$out" >/dev/null; then
    fail "a secret was written: $(grep -rlF -- "$secret" "$out" | head -3)"
  fi
done
grep -q "INVALID_API_SECRET\|invalid_api_secret\|secret" "$out/$((n - 2)).err" || fail "the wrong secret was not reported: $(cat "$out/$((n - 2)).err")"
grep -q "API secret must be" "$out/$((n - 1)).err" || fail "the malformed secret: $(cat "$out/$((n - 1)).err")"
grep -q "control character" "$out/$n.err" || fail "the secret with a newline: $(cat "$out/$n.err")"
grep -q "GET .*account/balance" "$out/1.err" || fail "-v logged nothing: $(cat "$out/1.err")"
echo "ok"
