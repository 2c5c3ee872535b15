#!/usr/bin/env bash
# shopctl bulk end to end against `shopctl serve` on loopback: a run under faults with a
# journal, resuming a finished journal, an interrupted run (SIGINT) resumed to the end with
# every order placed exactly once, mixed orders from a file in batches (their lines kept
# through the journal; a malformed file sends nothing), --wait on orders the shop delivers
# later, and the exit codes of rejections and usage errors. Every step is bounded by `timeout`.
set -euo pipefail
shopctl=${1:?usage: shopctl_bulk.sh PATH/TO/shopctl}
source "$(dirname "$0")/serve_support.sh"
start_server() { start_serve --rate-limit 1000000 "$@"; }
count() { grep -o "$1" | wc -l; }
run() { timeout 120 "$shopctl" "$@"; }

echo "-- a run under faults, with a journal"
start_server --fault orders/create:close-after-commit=0.1 --fault orders/create:close-before-read=0.1 \
  --fault orders/create:checkout-error=0.05 --fault-seed 7
# One order per create: each fault loses one item, so there are losses enough to reconcile.
run bulk --plan 905 --count 200 --field 'tai_khoan=cli-{i}@example.com' --batch 1 --concurrency 8 --settle 0.2 \
  --journal "$work/run.jsonl" --json >"$work/run.json" 2>"$work/run.err" || fail "bulk exited $?: $(cat "$work/run.err")"
grep -q '"placed":200,' "$work/run.json" || fail "not all placed: $(head -c 600 "$work/run.json")"
grep -q '"unknown":0,' "$work/run.json" || fail "unknown outcomes"
[[ $(count '"outcome":"placed"' <"$work/run.json") == 200 ]] || fail "per-item results"
adopted=$(grep -o '"adopted":[0-9]*' "$work/run.json" | head -1 | cut -d: -f2)
(( adopted > 0 )) || fail "no lost answer was adopted: the faults did not bite"
grep -Eq '"proof":"(listing|balance|both)"' "$work/run.json" || fail "no item says what proved its lost attempt unplaced"
grep -Eq '"t":"not_placed".*"proof":"(listing|balance|both)"' "$work/run.jsonl" || fail "the journal does not record the proof"
run orders --all --json >"$work/orders.json"
[[ $(count '"trans_id"' <"$work/orders.json") == 200 ]] || fail "the shop holds $(count '"trans_id"' <"$work/orders.json") orders, not 200"
grep -q 'user\|cli-' "$work/run.jsonl" || fail "journal without items"
grep -q '{i}' "$work/run.jsonl" && fail "{i} was not substituted"
grep -q '"tai_khoan":"cli-199@example.com"' "$work/run.jsonl" || fail "{i} substitution"
grep -q "$SHOP_API_SECRET" "$work/run.jsonl" "$work/run.json" "$work/run.err" && fail "the secret was printed"

echo "-- resuming a finished journal sends nothing"
run bulk --resume "$work/run.jsonl" --json >"$work/again.json"
grep -q '"creates_sent":0,' "$work/again.json" || fail "a finished journal sent creates"
grep -q '"settled_before":200,' "$work/again.json" || fail "settled_before"

echo "-- an existing journal is never overwritten"
set +e
run bulk --plan 905 --count 2 --field tai_khoan=x --journal "$work/run.jsonl" 2>"$work/exists.err"; rc=$?
set -e
[[ $rc == 2 ]] || fail "existing journal: exit $rc"
grep -q 'resume' "$work/exists.err" || fail "existing journal message"

echo "-- interrupted by SIGINT, then resumed: every item placed exactly once"
start_server --latency 2:2 --fault orders/create:close-after-commit=0.05 --fault-seed 11
timeout 120 "$shopctl" bulk --plan 905 --count 1500 --field 'tai_khoan=int-{i}' --batch 1 --concurrency 4 --settle 0.2 \
  --journal "$work/int.jsonl" --json >"$work/int.json" 2>"$work/int.err" &
bulk_pid=$!
for _ in $(seq 600); do  # up to 30 s: a busy machine starts slowly
  [[ -f $work/int.jsonl ]] && (( $(count '"t":"placed"' <"$work/int.jsonl") >= 100 )) && break
  sleep 0.05
done
kill -INT "$bulk_pid"
set +e
wait "$bulk_pid"; rc=$?
set -e
grep -q 'interrupted' "$work/int.err" || fail "no interruption message (exit $rc)"
placed_first=$(grep -o '"placed":[0-9]*' "$work/int.json" | head -1 | cut -d: -f2)
(( placed_first >= 100 && placed_first < 1500 )) || fail "interrupted run placed $placed_first"
grep -q '"not_attempted":0,' "$work/int.json" && fail "nothing was left unattempted"
run bulk --resume "$work/int.jsonl" --settle 0.2 --json >"$work/resumed.json" 2>"$work/resumed.err" || fail "resume exited $?: $(tail -3 "$work/resumed.err")"
grep -q '"placed":1500,' "$work/resumed.json" || fail "resume did not finish: $(head -c 600 "$work/resumed.json")"
run orders --all --json >"$work/orders.json"
[[ $(count '"trans_id"' <"$work/orders.json") == 1500 ]] || fail "the shop holds $(count '"trans_id"' <"$work/orders.json") orders, not 1500"

echo "-- mixed orders from a file, in batches; a malformed file sends nothing"
start_server --fault orders/create:close-after-commit=every:2 --fault-seed 3
{
  echo '# plan 905 with an account each, plan 900 two at a time'
  for i in $(seq 0 39); do echo "{\"plan_id\":905,\"fields\":{\"tai_khoan\":\"file-$i\"}}"; done
  echo
  for i in 1 2 3 4; do echo '{"plan_id":900,"quantity":2}'; done
} >"$work/orders.jsonl"
run bulk --from "$work/orders.jsonl" --concurrency 1 --settle 0.2 --journal "$work/from.jsonl" --json >"$work/from.json" 2>"$work/from.err" || fail "--from exited $?: $(tail -3 "$work/from.err")"
grep -q '"placed":44,' "$work/from.json" || fail "--from: $(head -c 600 "$work/from.json")"
grep -q '"creates_sent":3,' "$work/from.json" || fail "--from: 44 orders in 3 creates of up to 20"
grep -q '"adopted":20,' "$work/from.json" || fail "--from: the lost batch was not adopted as one unit"
grep -q '"index":0,"line":2,' "$work/from.json" || fail "--from: the first item is line 2"
grep -q '"index":43,"line":46,' "$work/from.json" || fail "--from: the last item is line 46"
run bulk --resume "$work/from.jsonl" --json >"$work/from-again.json"
grep -q '"index":43,"line":46,' "$work/from-again.json" || fail "--from, resumed: the journal lost the items' lines"
run orders --all --json >"$work/orders.json"
[[ $(count '"trans_id"' <"$work/orders.json") == 44 ]] || fail "the shop holds $(count '"trans_id"' <"$work/orders.json") orders, not 44"
printf '%s\n' '{"plan_id":905,"fields":{"tai_khoan":"ok"}}' '{"plan_id":905,' '{"plan_id":905,"qty":2}' \
  '{"plan_id":0}' '{"quantity":2}' >"$work/bad.jsonl"
set +e
run bulk --from "$work/bad.jsonl" 2>"$work/bad.err"; rc=$?
set -e
[[ $rc == 2 ]] || fail "malformed file: exit $rc"
for n in 2 3 4 5; do grep -q "bad.jsonl: line $n: " "$work/bad.err" || fail "line $n not reported: $(cat "$work/bad.err")"; done
grep -q 'line 1:' "$work/bad.err" && fail "a good line was reported"
grep -q 'unknown key "qty"' "$work/bad.err" || fail "unknown key not named"
run orders --all --json >"$work/orders.json"
[[ $(count '"trans_id"' <"$work/orders.json") == 44 ]] || fail "a malformed file placed orders"

echo "-- --wait follows orders the shop delivers later"
start_server --processing-after 100 --completed-after 300
run bulk --plan 904 --count 5 --wait --json >"$work/wait.json"
[[ $(count '"status":"completed"' <"$work/wait.json") == 5 ]] || fail "--wait: $(head -c 600 "$work/wait.json")"

echo "-- rejections and usage errors"
set +e
run bulk --plan 903 --count 3 >"$work/rej.out" 2>&1; rc=$?
[[ $rc == 1 ]] || fail "sold-out plan: exit $rc"
grep -q 'CART_ERROR' "$work/rej.out" || fail "rejection diagnostics"
run bulk --count 3 >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "missing --plan: exit $rc"
run bulk --resume "$work/run.jsonl" --plan 5 >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "--resume with --plan: exit $rc"
run bulk --plan 905 --count 2 --field novalue >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "--field without '=': exit $rc"
run bulk --from "$work/orders.jsonl" --plan 905 >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "--from with --plan: exit $rc"
run bulk --from "$work/no-such-file" >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "--from a missing file: exit $rc"
run bulk --plan 905 --count 2 --field tai_khoan=x --batch 21 >/dev/null 2>&1; rc=$?
[[ $rc == 2 ]] || fail "--batch 21: exit $rc"
set -e
echo "shopctl bulk: all checks passed"
