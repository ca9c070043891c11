#!/usr/bin/env bash
# The false-alarm rate of `rocketload compare` on this machine: PAIRS A/A pairs (two runs of
# one setup against one `serve`, back to back), each compared; counts the pairs compare flags
# (any `regressed`/`improved`) next to the pairs a plain rule flags ("some metric's p95
# changed by more than 10 %"). Usage: benches/compare/run.sh [PAIRS] (default 20); RATE and
# DURATION pass to the scenario. Needs a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/lib.sh
BIN=target/release/rocketload
PAIRS=${1:-20}
WORK=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
"$BIN" serve --listen 127.0.0.1:$port >"$WORK/serve.log" 2>&1 &
serve=$!
trap 'kill $serve 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 1
wait_quiet
flagged=0 naive=0
for i in $(seq 1 "$PAIRS"); do
  for side in a b; do
    "$BIN" run benches/compare/aa.yaml --target http://127.0.0.1:$port --quiet \
      --out "$WORK/$i$side" >"$WORK/$i$side.log" 2>&1 || { echo "run $i$side failed" >&2; cat "$WORK/$i$side.log" >&2; exit 1; }
  done
  "$BIN" compare "$WORK/${i}a" "$WORK/${i}b" --format json >"$WORK/$i.json"
  read -r found plain <<<"$(python3 - "$WORK/$i.json" "$WORK/${i}a/summary.json" "$WORK/${i}b/summary.json" <<'PY'
import json, sys
cmp = json.load(open(sys.argv[1]))
found = [f"{m['metric']} {r['stat']} {r['verdict']} {r['change']:+.1f}"
         for c in cmp["columns"] for m in c["metrics"] for r in m["rows"]
         if r["verdict"] in ("regressed", "improved")]
a, b = (json.load(open(p))["metrics"] for p in sys.argv[2:4])
plain = [n for n in a if n in b and a[n].get("p95_ms") and b[n].get("p95_ms")
         and abs(b[n]["p95_ms"] / a[n]["p95_ms"] - 1) > 0.10]
print(int(bool(found)), int(bool(plain)))
if found: print("pair", sys.argv[1], "compare:", "; ".join(found), file=sys.stderr)
if plain: print("pair", sys.argv[1], "p95 > 10 %:", ", ".join(plain), file=sys.stderr)
PY
)"
  flagged=$((flagged + found)) naive=$((naive + plain))
done
echo "A/A pairs: $PAIRS; flagged by compare: $flagged; flagged by 'p95 changed > 10 %': $naive"
