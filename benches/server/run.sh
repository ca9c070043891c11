#!/usr/bin/env bash
# Server benches for `rocketload serve` with an independent Node + ws load source.
#   benches/server/run.sh fanout|scaling|memory|hold50k|all
# fanout   (a) messages/s one instance accepts and fans out to 10 subscribers each, cost 0
# scaling  (b) --cost default=200us,sendMessage=300us: --instances 2 over --instances 1
# memory   (c) server RSS per idle, logged-in, subscribed session at 10,000 sessions
# hold50k  (d) 50,000 idle sessions held 60 s over 4 instance ports and 4 source addresses
#              (HOLD_SESSIONS; capped below the RLIMIT_NOFILE hard limit, with a warning)
# Env: ROCKETLOAD_BIN (default target/release/rocketload), BASE_PORT (3310), NICE (-20),
#      QUIET_WAIT_S (600: how long to wait for idle CPUs), WORK, OUT.
# Loopback only. Each run starts its own server and stops it (by PID) when done.
# Output: the RESULT JSON lines, also appended to $OUT (default /tmp/rocketload-bench/results.jsonl).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BENCH=$ROOT/benches/server
BIN=${ROCKETLOAD_BIN:-$ROOT/target/release/rocketload}
WORK=${WORK:-/tmp/rocketload-bench}
OUT=${OUT:-$WORK/results.jsonl}
BASE_PORT=${BASE_PORT:-3310}
PASSWORD=bench-pw
# Other helpers' builds share the 2 cores: run server and generator at a higher priority
# (needs CAP_SYS_NICE; falls back to 0) so the figures measure them, not the scheduler.
NICE=${NICE:--20}
nice -n "$NICE" true 2>/dev/null || NICE=0
# With autogroup scheduling, nice only ranks tasks within a session's group: raise the group.
AUTOGROUP_NICE=
if [ -w /proc/self/autogroup ]; then
  AUTOGROUP_NICE=$(sed -n 's/.* nice \(-*[0-9]*\)/\1/p' /proc/self/autogroup)
  echo "$NICE" 2>/dev/null >/proc/self/autogroup || AUTOGROUP_NICE=
fi
mkdir -p "$WORK"

# Sockets: the server and the generator each hold up to 50k.
ulimit -Hn 200000 2>/dev/null || true
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

[ -d "$BENCH/node_modules/ws" ] || npm ci --prefix "$BENCH" --no-audit --no-fund --loglevel=error
[ -x "$BIN" ] || cargo build --release --bin rocketload

SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
restore() {
  stop_server
  if [ -n "$AUTOGROUP_NICE" ]; then echo "$AUTOGROUP_NICE" >/proc/self/autogroup 2>/dev/null || true; fi
}
trap restore EXIT

# start_server INSTANCES SEED_USERS SEED_ROOMS MEMBERS [extra serve flags...]
# Sets SERVER_PID and URLS (comma-separated) once every instance printed its listening line.
start_server() {
  local instances=$1 users=$2 rooms=$3 members=$4
  shift 4
  wait_quiet
  local log=$WORK/serve.log
  # shellcheck disable=SC2086 # SERVER_TASKSET is a word list ("taskset -c 0") or empty
  ${SERVER_TASKSET:-} nice -n "$NICE" "$BIN" serve --listen "127.0.0.1:$BASE_PORT" --instances "$instances" \
    --seed-users "$users" --seed-rooms "$rooms" --members-per-room "$members" \
    --password "$PASSWORD" "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 120))
  while [ "$(grep -c 'listening on http://' "$log" || true)" -lt "$instances" ]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "serve exited early:" >&2; cat "$log" >&2; exit 1
    fi
    if [ $SECONDS -gt $deadline ]; then echo "serve did not start within 120 s" >&2; exit 1; fi
    sleep 0.2
  done
  URLS=$(grep -o 'http://127[0-9.]*:[0-9]*' "$log" | head -n "$instances" | paste -sd, -)
  echo "# serve pid $SERVER_PID instances $instances: $URLS $*" >&2
}

QUIET_WAIT_S=${QUIET_WAIT_S:-600}
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

record() { # NAME COMMAND... : runs the generator, keeps its RESULT line
  local name=$1; shift
  local load_before
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  echo "# $name: $*" >&2
  local line
  line=$(nice -n "$NICE" "$@" | grep '^RESULT ' | sed 's/^RESULT //') || { echo "$name failed" >&2; return 1; }
  echo "{\"bench\":\"$name\",\"at\":\"$(date -u +%FT%TZ)\",\"load_before\":$load_before,\"result\":$line}" | tee -a "$OUT"
}

fanout() {
  # 20 rooms x 11 members: 1 sender + 10 subscribers per room.
  SERVER_TASKSET="taskset -c 0" start_server 1 220 20 11
  record fanout-1x-cost0 taskset -c 1 node "$BENCH/load.js" fanout --urls "$URLS" --users 220 \
    --password "$PASSWORD" --subscribers 10 --window 32 --warmup-s 3 --duration-s 10 --server-pid "$SERVER_PID"
  stop_server
}

scaling() {
  # Senders only (no subscribers) so the generator stays light; the cost model dominates.
  local cost=default=200us,sendMessage=300us
  for n in 1 2 1 2; do
    start_server "$n" 40 40 1 --cost "$cost"
    record "scaling-${n}x" node "$BENCH/load.js" fanout --urls "$URLS" --users 40 \
      --password "$PASSWORD" --subscribers 0 --window 4 --warmup-s 3 --duration-s 10 --server-pid "$SERVER_PID"
    stop_server
  done
}

memory() {
  # 1,000 users in 100 rooms; 10,000 sessions (10 per user), each subscribed to its room.
  SERVER_TASKSET="taskset -c 0" start_server 1 1000 100 10
  sleep 2
  record memory-10k taskset -c 1 node "$BENCH/load.js" hold --urls "$URLS" --sessions 10000 --users 1000 \
    --password "$PASSWORD" --subscribe --hold-s 5 --server-pid "$SERVER_PID"
  stop_server
}

hold50k() {
  # 4 instances, 2 generator processes, 2 source addresses each. Every socket is a file
  # descriptor in the serve process, so RLIMIT_NOFILE bounds what one serve can hold.
  local want=${HOLD_SESSIONS:-50000} hard cap
  hard=$(ulimit -Hn)
  cap=$((hard - 500))
  if [ "$hard" != unlimited ] && [ "$want" -gt "$cap" ]; then
    echo "# warning: RLIMIT_NOFILE hard limit is $hard and cannot be raised here: one serve" \
      "process holds at most ~$cap sockets; holding $cap sessions instead of $want" >&2
    want=$cap
  fi
  local per=$((want / 2))
  start_server 4 1000 100 10
  local barrier=$WORK/barrier-$$
  rm -rf "$barrier"
  node "$BENCH/load.js" hold --urls "$URLS" --sessions "$per" --users 1000 --password "$PASSWORD" \
    --hold-s 60 --source-ips 127.0.0.2,127.0.0.3 --server-pid "$SERVER_PID" --barrier "$barrier:2" \
    --connect-concurrency 64 --timeout-s 900 >"$WORK/hold-a.out" &
  local pa=$!
  node "$BENCH/load.js" hold --urls "$URLS" --sessions "$per" --users 1000 --password "$PASSWORD" \
    --hold-s 60 --source-ips 127.0.0.4,127.0.0.5 --server-pid "$SERVER_PID" --barrier "$barrier:2" \
    --connect-concurrency 64 --timeout-s 900 >"$WORK/hold-b.out" &
  local pb=$!
  echo "# hold: $((per * 2)) sessions, generators $pa $pb" >&2
  local rc=0
  wait "$pa" || rc=1
  wait "$pb" || rc=1
  for f in hold-a hold-b; do
    echo "{\"bench\":\"hold-$f\",\"at\":\"$(date -u +%FT%TZ)\",\"result\":$(grep '^RESULT ' "$WORK/$f.out" | sed 's/^RESULT //' || echo null)}" | tee -a "$OUT"
  done
  rm -rf "$barrier"
  stop_server
  return $rc
}

case "${1:-}" in
  fanout) fanout ;;
  scaling) scaling ;;
  memory) memory ;;
  hold50k) hold50k ;;
  all) fanout; scaling; memory; hold50k ;;
  *) echo "usage: $0 fanout|scaling|memory|hold50k|all" >&2; exit 2 ;;
esac
