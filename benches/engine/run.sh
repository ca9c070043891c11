#!/usr/bin/env bash
# End-to-end benches of rocketload's load engine (the generator side).
#   benches/engine/run.sh http|memory|hold|arrivals|all
# http      (1) HTTP requests/s per generator core: rocketload, wrk and oha side by side, each
#               `taskset -c 1`, 50 connections, 10 s, against nginx (1 worker on core 0)
# memory    (2) generator RSS per idle, logged-in, subscribed DDP VU (1,000 vs 10,000 VUs)
# hold      (3) the most concurrent DDP VUs held 60 s against `serve --instances 2`
# arrivals  (4) open model: requested vs achieved arrivals/s at 1k, 5k, 10k, 20k per second
# profile   perf record of (1)'s rocketload run (needs perf: apt-get install linux-perf)
# Loopback only; every run is bounded in time; every process started here is stopped by PID.
# Needs: nginx, wrk (apt-get install -y nginx wrk), oha (cargo install --locked oha), jq.
# Output: one JSON line per measurement on stdout, also appended to $OUT
# (default /tmp/rocketload-engine-bench/results.jsonl); run directories under $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BENCH=$ROOT/benches/engine
WORK=${WORK:-/tmp/rocketload-engine-bench}
OUT=${OUT:-$WORK/results.jsonl}
NGINX_PORT=${NGINX_PORT:-8081}
SERVE_PORT=${SERVE_PORT:-3410}
mkdir -p "$WORK"

# A private copy of the binary: a rebuild of target/release during a run must not change it.
SRC_BIN=${ROCKETLOAD_BIN:-$ROOT/target/release/rocketload}
[ -x "$SRC_BIN" ] || cargo build --release --bin rocketload
BIN=$WORK/rocketload
cp "$SRC_BIN" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"

# Sockets: at 50,000 VUs each process holds ~100,000 (REST keep-alive + websocket per VU).
ulimit -Hn 400000 2>/dev/null || true
ulimit -n 400000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  PIDS=()
  restore_port_range
}
trap cleanup EXIT

emit() { # JSON line -> stdout + $OUT
  echo "$1" | tee -a "$OUT"
}

# ---- quiet machine: wait_quiet (benches/lib.sh) ----------------------------------------------
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

# ---- process sampling ------------------------------------------------------------------------
# sampler PID FILE: every 0.5 s "unix_ms cpu_ticks(utime+stime, all threads) rss_kib" until PID exits.
sampler() {
  local pid=$1 file=$2 f k v rss
  : >"$file"
  while [ -r "/proc/$pid/stat" ]; do
    read -r -a f <"/proc/$pid/stat" 2>/dev/null || break
    rss=0
    while read -r k v _; do [ "$k" = VmRSS: ] && rss=$v; done <"/proc/$pid/status" 2>/dev/null || true
    echo "${EPOCHREALTIME/./} ${f[13]} ${f[14]} $rss" >>"$file"
    sleep 0.5
  done
}
start_sampler() { # PID FILE -> SAMPLER_PID
  sampler "$1" "$2" &
  SAMPLER_PID=$!
  PIDS+=("$SAMPLER_PID")
}
stop_sampler() { kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }
# busiest_cpu FILE: the process's highest CPU share (cores) over any window of >= 5 s.
busiest_cpu() {
  local hz
  hz=$(getconf CLK_TCK)
  awk -v hz="$hz" '{ t[NR] = $1 / 1e6; c[NR] = ($2 + $3) / hz }
    END { best = 0
      for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (t[j] - t[i] >= 5) {
        s = (c[j] - c[i]) / (t[j] - t[i]); if (s > best) best = s; break }
      printf "%.3f", best }' "$1"
}
# peak_rss FILE: highest RSS sample, KiB.
peak_rss() { awk '$4 > m { m = $4 } END { printf "%d", m }' "$1"; }
# rss_between FILE FROM_MS TO_MS: median RSS (KiB) of the samples in [FROM, TO] (unix ms).
rss_between() {
  awk -v a="$2" -v b="$3" '{ ms = $1 / 1000 } ms >= a && ms <= b { print $4 }' "$1" | sort -n |
    awk '{ v[NR] = $1 } END { printf "%d", (NR ? v[int((NR + 1) / 2)] : 0) }'
}

# ---- targets ---------------------------------------------------------------------------------
# nginx as /work/shared/bench/targets.sh starts it (1 worker pinned to core 0, same ~210-byte
# body), plus /api/info (rocketload's start-up check reads `version` there) and stub_status
# (its request counter checks that rocketload recorded every request it sent).
NGINX_DIR=$WORK/nginx
BODY='{"service":"peer-bench","version":"1.0.0","status":"ok","region":"local","uptime_s":123456,"features":["http","websocket","metrics"],"build":"2026-01-01T00:00:00Z","instance":"bench-01","pad":"xxxxxxxxxxxxxxx"}'
NGINX_PID=
start_nginx() {
  mkdir -p "$NGINX_DIR/logs"
  cat >"$NGINX_DIR/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
events { worker_connections 16384; multi_accept on; }
http {
  access_log off;
  server_tokens off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location /api/v1/info { default_type application/json; return 200 '$BODY'; }
    location = /api/info { default_type application/json; return 200 '$BODY'; }
    location = /nginx_status { stub_status; }
  }
}
CONF
  taskset -c 0 /usr/sbin/nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" >"$NGINX_DIR/logs/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  local i
  for i in $(seq 50); do
    curl -fsS "http://127.0.0.1:$NGINX_PORT/api/v1/info" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$NGINX_PORT/api/info" >/dev/null
  echo "# nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT" >&2
}
stop_nginx() {
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=
}
nginx_requests() { curl -fsS "http://127.0.0.1:$NGINX_PORT/nginx_status" | awk 'NR == 3 { print $3 }'; }

SERVER_PID=
start_serve() { # INSTANCES USERS ROOMS MEMBERS [PORT] -> SERVER_PID, URLS (comma-separated)
  local port=${5:-$SERVE_PORT}
  local log=$WORK/serve-$port.log
  "$BIN" serve --listen "127.0.0.1:$port" --instances "$1" --seed-users "$2" --seed-rooms "$3" \
    --members-per-room "$4" --password pw >"$log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  local deadline=$((SECONDS + 300))
  while [ "$(grep -c 'listening on http://' "$log" || true)" -lt "$1" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "serve exited early:" >&2; cat "$log" >&2; exit 1; }
    [ $SECONDS -le $deadline ] || { echo "serve did not start within 300 s" >&2; exit 1; }
    sleep 0.2
  done
  URLS=$(grep -o 'http://127[0-9.]*:[0-9]*' "$log" | head -n "$1" | paste -sd, -)
  echo "# serve pid $SERVER_PID: $URLS ($2 users, $3 rooms x $4 members)" >&2
}
stop_serve() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

OLD_PORT_RANGE=
widen_port_range() {
  OLD_PORT_RANGE=$(tr -s '\t ' ' ' </proc/sys/net/ipv4/ip_local_port_range)
  sysctl -q -w net.ipv4.ip_local_port_range="1024 65000" &&
    echo "# sysctl net.ipv4.ip_local_port_range=\"1024 65000\" (was \"$OLD_PORT_RANGE\")" >&2
}
restore_port_range() {
  if [ -n "$OLD_PORT_RANGE" ]; then
    sysctl -q -w net.ipv4.ip_local_port_range="$OLD_PORT_RANGE" || true
    OLD_PORT_RANGE=
  fi
}

# ---- summary.json / intervals.jsonl -------------------------------------------------------
# busiest_rate DIR METRIC: highest mean count/s of METRIC over 5 consecutive 1-s intervals.
busiest_rate() {
  jq -r --arg m "$2" '[(.metrics[$m].count // 0), .duration_s] | @tsv' "$1/intervals.jsonl" |
    awk '{ c[NR] = $1; d[NR] = $2 } END { best = 0
      for (i = 1; i + 4 <= NR; i++) { s = 0; t = 0; for (j = i; j < i + 5; j++) { s += c[j]; t += d[j] }
        if (t > 0 && s / t > best) best = s / t }
      printf "%.0f", best }'
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ==== (1) HTTP requests/s per generator core =================================================
HTTP_CONNS=${HTTP_CONNS:-50}
HTTP_SECS=${HTTP_SECS:-10}
URL_INFO() { echo "http://127.0.0.1:$NGINX_PORT/api/v1/info"; }

http_wrk() { # round -> emits, sets R_RPS R_CPU
  local s=$WORK/wrk-$1.samples out=$WORK/wrk-$1.out
  taskset -c 1 wrk -t1 -c"$HTTP_CONNS" -d"${HTTP_SECS}s" "$(URL_INFO)" >"$out" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  start_sampler "$pid" "$s"
  wait "$pid"
  stop_sampler
  R_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  R_CPU=$(busiest_cpu "$s")
  emit "{\"bench\":\"http\",\"tool\":\"wrk\",\"round\":$1,\"rps\":$R_RPS,\"cpu_cores\":$R_CPU,\"cpu_us_per_req\":$(awk -v c="$R_CPU" -v r="$R_RPS" 'BEGIN { printf "%.2f", c * 1e6 / r }'),\"peak_rss_kib\":$(peak_rss "$s"),\"cmd\":\"taskset -c 1 wrk -t1 -c$HTTP_CONNS -d${HTTP_SECS}s $(URL_INFO)\"}"
}

http_oha() {
  local s=$WORK/oha-$1.samples out=$WORK/oha-$1.json oha
  oha=$(command -v oha || echo "$HOME/.cargo/bin/oha")
  taskset -c 1 "$oha" -z "${HTTP_SECS}s" -c "$HTTP_CONNS" --worker-threads 1 --no-tui --output-format json "$(URL_INFO)" >"$out" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  start_sampler "$pid" "$s"
  wait "$pid"
  stop_sampler
  R_RPS=$(jq -r '.summary.requestsPerSec | floor' "$out")
  R_CPU=$(busiest_cpu "$s")
  emit "{\"bench\":\"http\",\"tool\":\"oha\",\"round\":$1,\"rps\":$R_RPS,\"cpu_cores\":$R_CPU,\"cpu_us_per_req\":$(awk -v c="$R_CPU" -v r="$R_RPS" 'BEGIN { printf "%.2f", c * 1e6 / r }'),\"peak_rss_kib\":$(peak_rss "$s"),\"cmd\":\"taskset -c 1 oha -z ${HTTP_SECS}s -c $HTTP_CONNS --worker-threads 1 --no-tui --output-format json $(URL_INFO)\"}"
}

http_rocketload() {
  local s=$WORK/rl-http-$1.samples dir=$WORK/runs/http-$1 before after
  rm -rf "$dir"
  before=$(nginx_requests)
  TARGET_URL="http://127.0.0.1:$NGINX_PORT" VUS=$HTTP_CONNS DURATION=${HTTP_SECS}s \
    taskset -c 1 "$BIN" run "$BENCH/http-info.yaml" --skip-provision --out "$dir" --quiet >"$WORK/rl-http-$1.out" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  start_sampler "$pid" "$s"
  wait "$pid" || { echo "rocketload run failed:" >&2; cat "$WORK/rl-http-$1.out" >&2; }
  stop_sampler
  after=$(nginx_requests)
  R_RPS=$(busiest_rate "$dir" rest.info)
  R_CPU=$(busiest_cpu "$s")
  local count errors
  count=$(jq '.metrics["rest.info"].count' "$dir/summary.json")
  errors=$(jq '.metrics["rest.info"].errors' "$dir/summary.json")
  # nginx saw: the run's requests + its /api/info start-up check + the 'after' status request.
  emit "{\"bench\":\"http\",\"tool\":\"rocketload\",\"round\":$1,\"rps\":$R_RPS,\"cpu_cores\":$R_CPU,\"cpu_us_per_req\":$(awk -v c="$R_CPU" -v r="$R_RPS" 'BEGIN { printf "%.2f", c * 1e6 / r }'),\"peak_rss_kib\":$(peak_rss "$s"),\"recorded\":$count,\"errors\":$errors,\"nginx_requests\":$((after - before - 2)),\"run\":\"$dir\",\"cmd\":\"TARGET_URL=http://127.0.0.1:$NGINX_PORT VUS=$HTTP_CONNS DURATION=${HTTP_SECS}s taskset -c 1 rocketload run benches/engine/http-info.yaml --skip-provision --quiet\"}"
}

http_bench() {
  local rounds=${HTTP_ROUNDS:-3} r
  local wrk_r="" oha_r="" rl_r="" wrk_c="" oha_c="" rl_c=""
  start_nginx
  for r in $(seq "$rounds"); do
    wait_quiet; http_wrk "$r"; wrk_r+=" $R_RPS"; wrk_c+=" $(awk -v c="$R_CPU" -v x="$R_RPS" 'BEGIN { printf "%.2f", c * 1e6 / x }')"
    if command -v oha >/dev/null || [ -x "$HOME/.cargo/bin/oha" ]; then
      wait_quiet; http_oha "$r"; oha_r+=" $R_RPS"; oha_c+=" $(awk -v c="$R_CPU" -v x="$R_RPS" 'BEGIN { printf "%.2f", c * 1e6 / x }')"
    fi
    wait_quiet; http_rocketload "$r"; rl_r+=" $R_RPS"; rl_c+=" $(awk -v c="$R_CPU" -v x="$R_RPS" 'BEGIN { printf "%.2f", c * 1e6 / x }')"
  done
  stop_nginx
  local w o l
  w=$(echo "$wrk_r" | median); o=$(echo "${oha_r:-0}" | median); l=$(echo "$rl_r" | median)
  emit "{\"bench\":\"http-median\",\"rounds\":$rounds,\"wrk_rps\":$w,\"oha_rps\":$o,\"rocketload_rps\":$l,\"wrk_us\":$(echo "$wrk_c" | median),\"oha_us\":$(echo "${oha_c:-0}" | median),\"rocketload_us\":$(echo "$rl_c" | median),\"rocketload_over_wrk\":$(awk -v a="$l" -v b="$w" 'BEGIN { printf "%.3f", a / b }'),\"rocketload_over_oha\":$(awk -v a="$l" -v b="$o" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')}"
}

# ==== (2)/(3) idle DDP VUs ===================================================================
# ddp_run NAME VUS RAMP HOLD USERS ROOMS MEMBERS SOURCE_IPS: one rocketload run against the
# running serve; emits RSS of both processes during the hold and the run's counts.
ddp_run() {
  local name=$1 vus=$2 ramp=$3 hold=$4 users=$5 rooms=$6 members=$7 ips=$8
  local dir=$WORK/runs/$name s=$WORK/$name.samples ss=$WORK/$name.server.samples
  rm -rf "$dir"
  local urls_yaml
  urls_yaml=$(echo "$URLS" | sed 's/,/, /g')
  local t0
  t0=$(date +%s%3N)
  TARGET_URLS="$urls_yaml" SOURCE_IPS="$ips" USERS=$users ROOMS=$rooms MEMBERS=$members \
    VUS=$vus RAMP=${ramp}s HOLD=${hold}s \
    "$BIN" run "$BENCH/$DDP_SCENARIO" --skip-provision --out "$dir" --quiet >"$WORK/$name.out" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  start_sampler "$pid" "$s"
  local gen_sampler=$SAMPLER_PID
  start_sampler "$SERVER_PID" "$ss"
  local srv_sampler=$SAMPLER_PID
  local rc=0
  wait "$pid" || rc=$?
  kill "$gen_sampler" "$srv_sampler" 2>/dev/null || true
  wait "$gen_sampler" "$srv_sampler" 2>/dev/null || true
  # The second half of the hold: every VU has long finished its setup.
  local from=$((t0 + (ramp + hold / 2) * 1000)) to=$((t0 + (ramp + hold) * 1000))
  local sum=$dir/summary.json
  if [ ! -f "$sum" ]; then
    echo "# $name: no summary.json (exit $rc):" >&2; tail -20 "$WORK/$name.out" >&2
    emit "{\"bench\":\"$name\",\"vus\":$vus,\"exit\":$rc,\"error\":\"no summary.json\"}"
    return
  fi
  local counts
  counts=$(jq -c '{
      vus_max: .gauges["vus.active"].max,
      login: .metrics.login.count, login_err: .metrics.login.errors,
      connect: .metrics["ddp.connect"].count, connect_err: .metrics["ddp.connect"].errors,
      subscribed: .metrics["ddp.sub.stream-room-messages"].count,
      sub_err: .metrics["ddp.sub.stream-room-messages"].errors,
      errors_by_metric: ([.metrics | to_entries[] | select(.value.errors > 0) | {key, value: .value.errors_by_class}] | from_entries),
      reconnects: (.counters["ddp.reconnects"] // 0),
      p99_ms: {login: .metrics.login.p99_ms, connect: .metrics["ddp.connect"].p99_ms,
               sub: .metrics["ddp.sub.stream-room-messages"].p99_ms},
      generator_cpu_pct_max: .gauges["generator.cpu_pct"].max,
      notes: .notes }' "$sum")
  emit "{\"bench\":\"$name\",\"scenario\":\"$DDP_SCENARIO\",\"vus\":$vus,\"exit\":$rc,\"gen_rss_hold_kib\":$(rss_between "$s" "$from" "$to"),\"gen_rss_peak_kib\":$(peak_rss "$s"),\"server_rss_hold_kib\":$(rss_between "$ss" "$from" "$to"),\"server_rss_peak_kib\":$(peak_rss "$ss"),\"counts\":$counts,\"run\":\"$dir\",\"cmd\":\"TARGET_URLS='$urls_yaml' SOURCE_IPS='$ips' USERS=$users ROOMS=$rooms MEMBERS=$members VUS=$vus RAMP=${ramp}s HOLD=${hold}s rocketload run benches/engine/$DDP_SCENARIO --skip-provision --quiet\"}"
}

DDP_SCENARIO=${DDP_SCENARIO:-ddp-idle.yaml}

ips_list() { # N -> "127.0.0.2, 127.0.0.3, ..." (N addresses)
  local i out=""
  for i in $(seq 2 $(($1 + 1))); do out+="${out:+, }127.0.0.$i"; done
  echo "$out"
}

memory_bench() {
  # 10,000 users in 100 rooms of 100: one room (one subscription) per VU.
  local users=10000 rooms=100 members=100 n
  start_serve 2 "$users" "$rooms" "$members"
  local rss1=0 rss2=0 n1=0 n2=0
  # ddp-idle.yaml (REST login) holds 2 sockets per VU: 9,000 fits a 20,000-descriptor limit.
  local default_vus="1000 9000"
  [ "$DDP_SCENARIO" = ddp-idle.yaml ] || default_vus="1000 10000"
  for n in ${MEM_VUS:-$default_vus}; do
    wait_quiet
    local ramp=$((n / 500 + 5))
    ddp_run "memory-${DDP_SCENARIO%.yaml}-$n" "$n" "$ramp" 30 "$users" "$rooms" "$members" "$(ips_list 3)"
    local r
    r=$(tail -1 "$OUT" | jq '.gen_rss_hold_kib')
    if [ "$n1" = 0 ]; then n1=$n; rss1=$r; else n2=$n; rss2=$r; fi
  done
  stop_serve
  if [ "$n2" != 0 ]; then
    emit "{\"bench\":\"memory-slope\",\"scenario\":\"$DDP_SCENARIO\",\"from_vus\":$n1,\"to_vus\":$n2,\"rss_from_kib\":$rss1,\"rss_to_kib\":$rss2,\"kib_per_vu\":$(awk -v a="$rss1" -v b="$rss2" -v x="$n1" -v y="$n2" 'BEGIN { printf "%.1f", (b - a) / (y - x) }')}"
  fi
}

# Every socket is a file descriptor, and RLIMIT_NOFILE caps each process (20,000 in this
# sandbox, which lacks CAP_SYS_RESOURCE to raise it). So the hold runs K pairs: serve process k
# (--instances 2, every user seeded) and generator shard k/K (`--shard k/K`: a disjoint slice of
# the users and VUs) aimed at it. Each shard resolves room ids on its own server.
hold_bench() {
  local total=${HOLD_VUS:-50000} pairs=${HOLD_PAIRS:-3} ramp=${HOLD_RAMP:-120} hold=60
  local scenario=${HOLD_SCENARIO:-ddp-idle-ddp.yaml}
  local rooms=$((total / 100)) k
  widen_port_range
  local spids=() surls=()
  for k in $(seq "$pairs"); do
    start_serve 2 "$total" "$rooms" 100 $((SERVE_PORT + 10 * k))
    spids+=("$SERVER_PID"); surls+=("$URLS")
  done
  wait_quiet
  local t0 gpids=() samplers=()
  t0=$(date +%s%3N)
  for k in $(seq "$pairs"); do
    local dir=$WORK/runs/hold-$total-$k
    rm -rf "$dir"
    TARGET_URLS="$(echo "${surls[$((k - 1))]}" | sed 's/,/, /g')" SOURCE_IPS="$(ips_list 7)" \
      USERS=$total ROOMS=$rooms MEMBERS=100 VUS=$total RAMP=${ramp}s HOLD=${hold}s \
      "$BIN" run "$BENCH/$scenario" --skip-provision --shard "$k/$pairs" --out "$dir" --quiet \
      >"$WORK/hold-$total-$k.out" 2>&1 &
    gpids+=($!); PIDS+=($!)
    start_sampler "$!" "$WORK/hold-$total-$k.gen.samples"; samplers+=("$SAMPLER_PID")
    start_sampler "${spids[$((k - 1))]}" "$WORK/hold-$total-$k.srv.samples"; samplers+=("$SAMPLER_PID")
  done
  local p rc=0
  for p in "${gpids[@]}"; do wait "$p" || rc=$?; done
  kill "${samplers[@]}" 2>/dev/null || true
  wait "${samplers[@]}" 2>/dev/null || true
  local from=$((t0 + (ramp + hold / 2) * 1000)) to=$((t0 + (ramp + hold) * 1000))
  local gen=0 srv=0 genpeak=0 srvpeak=0
  for k in $(seq "$pairs"); do
    gen=$((gen + $(rss_between "$WORK/hold-$total-$k.gen.samples" "$from" "$to")))
    srv=$((srv + $(rss_between "$WORK/hold-$total-$k.srv.samples" "$from" "$to")))
    genpeak=$((genpeak + $(peak_rss "$WORK/hold-$total-$k.gen.samples")))
    srvpeak=$((srvpeak + $(peak_rss "$WORK/hold-$total-$k.srv.samples")))
  done
  # Shard totals: samples of every setup metric, errors by class, reconnects, VUs held.
  local counts
  counts=$(for k in $(seq "$pairs"); do cat "$WORK/runs/hold-$total-$k/summary.json"; done | jq -s -c '{
      vus_max: (map(.gauges["vus.active"].max) | add),
      login: (map(.metrics.login.count // 0) | add), login_err: (map(.metrics.login.errors // 0) | add),
      connect: (map(.metrics["ddp.connect"].count // 0) | add),
      connect_err: (map(.metrics["ddp.connect"].errors // 0) | add),
      subscribed_ok: (map((.metrics["ddp.sub.stream-room-messages"].count // 0) - (.metrics["ddp.sub.stream-room-messages"].errors // 0)) | add),
      sub_err: (map(.metrics["ddp.sub.stream-room-messages"].errors // 0) | add),
      errors_by_class: (map(.metrics | to_entries[] | .value.errors_by_class | to_entries[]) | group_by(.key) | map({key: .[0].key, value: (map(.value) | add)}) | from_entries),
      reconnects: (map(.counters["ddp.reconnects"] // 0) | add),
      generator_cpu_pct_max: map(.gauges["generator.cpu_pct"].max),
      notes: (map(.notes) | add) }')
  # VUs active in the last interval of the hold, summed over shards (a dropped VU shows here).
  local held
  held=$(for k in $(seq "$pairs"); do
    jq -s --argjson stop $((ramp + hold)) '[.[] | select(.elapsed_s <= $stop)] | last | .gauges["vus.active"]' \
      "$WORK/runs/hold-$total-$k/intervals.jsonl"; done | paste -sd+ - | bc)
  emit "{\"bench\":\"hold\",\"scenario\":\"$scenario\",\"vus\":$total,\"pairs\":$pairs,\"exit\":$rc,\"vus_active_end_of_hold\":$held,\"gen_rss_hold_kib\":$gen,\"gen_rss_peak_kib\":$genpeak,\"server_rss_hold_kib\":$srv,\"server_rss_peak_kib\":$srvpeak,\"counts\":$counts,\"cmd\":\"for k in 1..$pairs: serve --instances 2 --seed-users $total --seed-rooms $rooms --members-per-room 100 --password pw (ports $((SERVE_PORT + 10)),+10..) and TARGET_URLS=<its 2 URLs> SOURCE_IPS='$(ips_list 7)' USERS=$total ROOMS=$rooms MEMBERS=100 VUS=$total RAMP=${ramp}s HOLD=${hold}s rocketload run benches/engine/$scenario --skip-provision --shard k/$pairs\"}"
  for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  restore_port_range
}

# ==== (4) open-model arrival rate ============================================================
arrivals_bench() {
  start_nginx
  local rate dur=${ARRIVAL_SECS:-20}
  for rate in ${RATES:-1000 5000 10000 20000}; do
    wait_quiet
    local sc=${ARRIVALS_SCENARIO:-$BENCH/arrivals.yaml}
    local tag
    tag=$(basename "$sc" .yaml)
    local dir=$WORK/runs/$tag-$rate max_vus=${ARRIVAL_MAX_VUS:-1000}
    rm -rf "$dir"
    local rc=0
    TARGET_URL="http://127.0.0.1:$NGINX_PORT" RATE=$rate MAX_VUS=$max_vus DURATION=${dur}s \
      "$BIN" run "$sc" --skip-provision --out "$dir" --quiet >"$WORK/$tag-$rate.out" 2>&1 || rc=$?
    local sum=$dir/summary.json
    if [ ! -f "$sum" ]; then
      emit "{\"bench\":\"$tag\",\"rate\":$rate,\"exit\":$rc,\"error\":\"no summary.json\"}"
      continue
    fi
    # Per-second achieved rates of the full seconds inside the load (first and last cut off).
    local steady
    steady=$(jq -r '.metrics.iterations.count // 0' "$dir/intervals.jsonl" | sed '1d;$d' | head -n $((dur - 2)) |
      sort -g | awk '{ v[NR] = $1 } END { printf "{\"min\":%d,\"median\":%d,\"max\":%d}", v[1], v[int((NR + 1) / 2)], v[NR] }')
    emit "$(jq -c --argjson rate "$rate" --argjson dur "$dur" --argjson rc "$rc" --argjson steady "$steady" \
      --arg tag "$tag" --arg cmd "TARGET_URL=http://127.0.0.1:$NGINX_PORT RATE=$rate MAX_VUS=$max_vus DURATION=${dur}s rocketload run benches/engine/$tag.yaml --skip-provision --quiet" '{
        bench: $tag, rate: $rate, exit: $rc, requested: ($rate * $dur),
        iterations: .metrics.iterations.count, dropped: (.counters["iterations.dropped"] // 0),
        achieved_per_s: (.metrics.iterations.count / $dur),
        ratio: (.metrics.iterations.count / ($rate * $dur)),
        per_second: $steady, generator_cpu_pct_max: .gauges["generator.cpu_pct"].max,
        lag_p99_ms: .metrics["generator.lag"].p99_ms, notes: .notes, cmd: $cmd }' "$sum")"
  done
  stop_nginx
}

# ==== profile of (1): where rocketload's CPU goes per request ====================================
profile_http() {
  start_nginx
  local dir=$WORK/runs/http-profile data=$WORK/perf-http.data
  rm -rf "$dir"
  TARGET_URL="http://127.0.0.1:$NGINX_PORT" VUS=$HTTP_CONNS DURATION=${HTTP_SECS}s \
    taskset -c 1 perf record -F 1999 --call-graph dwarf,16384 -o "$data" -- \
    "$BIN" run "$BENCH/http-info.yaml" --skip-provision --out "$dir" --quiet >"$WORK/perf-http.out" 2>&1
  stop_nginx
  perf report -i "$data" --no-children --stdio --percent-limit 0.7 --call-graph=none \
    --sort symbol 2>/dev/null | grep -v '^$' >"$WORK/perf-http-self.txt"
  perf report -i "$data" --children --stdio --percent-limit 3 --call-graph=none \
    --sort symbol 2>/dev/null | grep -v '^$' >"$WORK/perf-http-children.txt"
  echo "# perf: $WORK/perf-http-self.txt (self time), $WORK/perf-http-children.txt (inclusive)" >&2
  head -60 "$WORK/perf-http-self.txt"
}

case "${1:-}" in
  http) http_bench ;;
  profile) profile_http ;;
  memory) memory_bench ;;
  hold) hold_bench ;;
  arrivals) arrivals_bench ;;
  all) http_bench; memory_bench; arrivals_bench; hold_bench ;;
  *) echo "usage: $0 http|memory|hold|arrivals|all|profile" >&2; exit 2 ;;
esac
