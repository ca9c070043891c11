#!/usr/bin/env bash
# CI check of deploy/compose: a 2-shard composed run of scenarios/smoke.yaml
# (10 s of load, --duration 10s) against the serve profile's reference
# server (2 instances on 127.0.0.1:3900-3901), through up.sh; then the
# merged summary.json must hold, for every metric, count and errors equal
# to the sum of the shards', the same metric names, and the merge must
# have passed (exit 0) and written report.html.
#
# Needs: docker with a daemon that answers, docker-compose (1.29 or
# newer), python3, and the image rocketload:latest. Without the image:
#   deploy/test-image.sh           (as root: docker, base image, build)
#   or deploy/build-image.sh --base local/debian:bookworm
# Everything runs on the host network (no docker network is created);
# the containers (project rocketload-test-<pid>) and the temp dir are
# removed on any exit. Bounded: the compose run is killed after
# COMPOSE_TEST_TIMEOUT seconds (default 180).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { printf 'test-compose: %s\n' "$*" >&2; }
die() {
    printf 'test-compose: FAIL: %s\n' "$*" >&2
    exit 1
}
t0=$SECONDS

command -v docker >/dev/null 2>&1 || die "docker is not installed (Debian: apt-get install docker.io)"
command -v docker-compose >/dev/null 2>&1 || die "docker-compose is not installed (Debian: apt-get install docker-compose)"
command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
docker info >/dev/null 2>&1 || die "no docker daemon answers (start one, as root: dockerd --bridge=none --iptables=false --ip-masq=false &)"
docker image inspect rocketload:latest >/dev/null 2>&1 ||
    die "no image rocketload:latest: build it first with deploy/test-image.sh (as root) or deploy/build-image.sh --base local/debian:bookworm"

export COMPOSE_PROJECT_NAME=rocketload-test-$$
work=$(mktemp -d "${TMPDIR:-/tmp}/rocketload-test-compose.XXXXXX")
networks_before=$(docker network ls -q | sort)
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$?
    # up.sh removes its containers itself; this is for an interrupted or
    # timed-out run. The variables only satisfy the file's required ones.
    START_AT=x RUN_NAME=x RESULTS_DIR="$work" RC_URL=x \
        docker-compose -f "$here/docker-compose.yml" --profile serve \
        down --remove-orphans >/dev/null 2>&1 || true
    rm -rf -- "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

results=$work/results
mkdir "$results"
say "up.sh --serve --shards 2 -- --duration 10s (project $COMPOSE_PROJECT_NAME, results $results)"
rc=0
RUN_NAME=ci-smoke timeout --kill-after=10 "${COMPOSE_TEST_TIMEOUT:-180}" \
    "$here/up.sh" --serve --shards 2 --results "$results" --start-in 8 -- --duration 10s \
    >"$work/up.log" 2>&1 || rc=$?
if ((rc != 0)); then
    tail -n 60 "$work/up.log" >&2
    ((rc == 124)) && die "the compose run did not end within ${COMPOSE_TEST_TIMEOUT:-180}s"
    die "up.sh exited $rc (log above)"
fi

run=$results/ci-smoke
for f in shards/shard-1/summary.json shards/shard-2/summary.json merged/summary.json merged/report.html; do
    [[ -s $run/$f ]] || die "no $f under $run"
done

python3 - "$run/shards/shard-1/summary.json" "$run/shards/shard-2/summary.json" "$run/merged/summary.json" <<'PY' || die "merged counts differ from the shards' sums (above)"
import json
import sys

*shard_paths, merged_path = sys.argv[1:]
shards = [json.load(open(p))["metrics"] for p in shard_paths]
merged = json.load(open(merged_path))["metrics"]
names = set().union(*shards)
bad = []
if set(merged) != names:
    bad.append(f"metric names: merged has {sorted(set(merged) ^ names)} not matching the shards")
total = {"count": [0] * len(shards) + [0], "errors": [0] * len(shards) + [0]}
for name in sorted(names):
    for field in ("count", "errors"):
        per_shard = [s.get(name, {}).get(field, 0) for s in shards]
        got = merged.get(name, {}).get(field)
        if got != sum(per_shard):
            bad.append(f"{name}.{field}: merged {got} != {' + '.join(map(str, per_shard))}")
        for i, v in enumerate(per_shard):
            total[field][i] += v
        total[field][-1] += got or 0
for line in bad:
    print("test-compose:   " + line, file=sys.stderr)
if total["count"][-1] == 0:
    bad.append("no requests at all")
    print("test-compose:   the merged run counted nothing", file=sys.stderr)
shard_counts = " + ".join(str(c) for c in total["count"][:-1])
shard_errors = " + ".join(str(c) for c in total["errors"][:-1])
print(f"test-compose: {len(names)} metrics; count: shards {shard_counts} = merged {total['count'][-1]}; "
      f"errors: shards {shard_errors} = merged {total['errors'][-1]}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY

[[ $(docker network ls -q | sort) == "$networks_before" ]] || die "a docker network appeared during the run: $(docker network ls)"
left=$(docker ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME")
[[ -z $left ]] || die "containers of $COMPOSE_PROJECT_NAME were left: $left"
say "passed in $((SECONDS - t0)) s"
