#!/usr/bin/env bash
# Runs a sharded rocketload test with docker-compose (deploy/compose/
# docker-compose.yml) and merges it:
#
#   deploy/compose/up.sh [--shards N] [--serve] [--instances K]
#       [--scenario PATH] [--results DIR] [--start-in SECONDS]
#       [--metrics-port-base PORT] [-- RUN_ARG...]
#
#   --shards N        shards, N >= 2 (default 2); shard3..shardN are added
#                     in a generated override file (compose cannot loop)
#   --serve           also start `rocketload serve` (profile serve) as the
#                     target, on 127.0.0.1:3900.. (RC_URL defaults to it)
#   --instances K     serve's instances (default 2), one URL each
#   --scenario PATH   the scenario, relative to /opt/rocketload in the image
#                     (default scenarios/smoke.yaml; SCENARIOS_DIR, default
#                     the repository's scenarios/, is mounted there)
#   --results DIR     the results volume (default ./results); the run goes
#                     to DIR/RUN_NAME/{shards/shard-I,merged}
#   --start-in S      seconds from now to the shared --start-at (default 20):
#                     long enough for every shard to provision its users
#   --metrics-port-base P   shard I serves --metrics-listen 127.0.0.1:P+I
#   --prometheus      also start Prometheus (profile metrics; image
#                     rocketload-prometheus:latest from prometheus/build.sh)
#                     on 127.0.0.1:9090 scraping the shards (port base 9470
#                     unless given); it is left running at the end
#   -- RUN_ARG...     extra `rocketload run` arguments for every shard,
#                     e.g. -- --duration 10m (no spaces inside one argument)
#
# Environment: RC_URL (target base URLs, comma-separated; required without
# --serve), RC_PASSWORD, RC_ADMIN_USER, RC_ADMIN_PASSWORD, RC_ADMIN_USER_ID,
# RC_ADMIN_TOKEN (passed to the shards), ROCKETLOAD_IMAGE (default
# rocketload:latest), COMPOSE_PROJECT_NAME (default rocketload), RUN_NAME
# (default <UTC time>-<scenario name>), TARGET_WAIT (seconds a shard waits
# for the target's port, default 60), DOCKER_COMPOSE (default docker-compose;
# "docker compose" for v2).
#
# Exit: the merge's (0 every merged threshold holds, 1 one failed, 2 bad
# input, 74 not written); 3 when the compose run itself failed (a shard
# did not complete successfully, so no merge ran). The containers are
# removed at the end (docker-compose down); their logs are kept in
# DIR/RUN_NAME/compose.log.
set -euo pipefail

say() { printf 'up: %s\n' "$*" >&2; }
die() {
    printf 'up: error: %s\n' "$*" >&2
    exit 2
}
usage() { sed -n '2,41s/^# \{0,1\}//p' "$0"; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shards=2
serve=0
instances=2
scenario=scenarios/smoke.yaml
results=./results
start_in=20
metrics_base=
prometheus=0
run_args=()
while (($#)); do
    case $1 in
    --shards) shards=${2:?--shards needs N}; shift 2 ;;
    --serve) serve=1; shift ;;
    --prometheus) prometheus=1; shift ;;
    --instances) instances=${2:?--instances needs K}; shift 2 ;;
    --scenario) scenario=${2:?--scenario needs a path}; shift 2 ;;
    --results) results=${2:?--results needs a directory}; shift 2 ;;
    --start-in) start_in=${2:?--start-in needs seconds}; shift 2 ;;
    --metrics-port-base) metrics_base=${2:?--metrics-port-base needs a port}; shift 2 ;;
    --) shift; run_args=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $shards =~ ^[0-9]+$ && $shards -ge 2 ]] || die "--shards must be a number >= 2 (for one, use docker run; see deploy/README.md)"
[[ $instances =~ ^[0-9]+$ && $instances -ge 1 ]] || die "--instances must be a number >= 1"
[[ $start_in =~ ^[0-9]+$ && $start_in -ge 5 ]] || die "--start-in must be a number of seconds >= 5"
[[ -z $metrics_base || $metrics_base =~ ^[0-9]+$ ]] || die "--metrics-port-base must be a port number"

read -r -a compose <<<"${DOCKER_COMPOSE:-docker-compose}"
command -v "${compose[0]}" >/dev/null 2>&1 || die "${compose[0]} is not installed (Debian: apt-get install docker-compose)"
docker info >/dev/null 2>&1 || die "the docker daemon does not answer (docker info)"
image=${ROCKETLOAD_IMAGE:-rocketload:latest}
docker image inspect "$image" >/dev/null 2>&1 ||
    die "no image $image: build it with deploy/build-image.sh (or, as root, deploy/test-image.sh)"

prometheus_image=${PROMETHEUS_IMAGE:-rocketload-prometheus:latest}
if ((prometheus)); then
    docker image inspect "$prometheus_image" >/dev/null 2>&1 ||
        die "no image $prometheus_image: build it with deploy/compose/prometheus/build.sh"
    metrics_base=${metrics_base:-9470}
fi
if ((serve)); then
    urls=()
    for ((k = 0; k < instances; k++)); do
        urls+=("http://127.0.0.1:$((${SERVE_PORT:-3900} + k))")
    done
    RC_URL=${RC_URL:-$(IFS=,; echo "${urls[*]}")}
fi
[[ -n ${RC_URL:-} ]] || die "set RC_URL to the target's base URL (or use --serve)"

mkdir -p "$results"
results=$(cd "$results" && pwd)
# The image runs as uid 10001; as root, hand the directory to it; as
# anyone else, run the containers as you, so your directory is theirs.
if (($(id -u) == 0)); then
    chown 10001:10001 "$results"
    user=10001:10001
else
    user="$(id -u):$(id -g)"
fi
name=$(basename "$scenario")
name=${name%.*}
run_name=${RUN_NAME:-$(date -u +%Y%m%dT%H%M%SZ)-$name}
[[ ! -e $results/$run_name ]] || die "$results/$run_name exists already"
if ((prometheus)); then
    # The run directory now, for Prometheus's targets; the shards write
    # under it, so it is theirs.
    mkdir -p "$results/$run_name/prometheus"
    (($(id -u) != 0)) || chown 10001:10001 "$results/$run_name"
    {
        printf '['
        for ((i = 1; i <= shards; i++)); do
            ((i == 1)) || printf ','
            printf '{"targets":["127.0.0.1:%d"],"labels":{"shard":"%d"}}' "$((metrics_base + i))" "$i"
        done
        printf ']\n'
    } >"$results/$run_name/prometheus/shards.json"
    chmod 0755 "$results/$run_name/prometheus"
    chmod 0644 "$results/$run_name/prometheus/shards.json"
fi
start_at=$(date -u -d "+$start_in sec" +%Y-%m-%dT%H:%M:%SZ)

export PROMETHEUS_IMAGE=$prometheus_image
export RC_URL SCENARIO=$scenario START_AT=$start_at RUN_NAME=$run_name RESULTS_DIR=$results \
    SHARDS=$shards ROCKETLOAD_USER=$user ROCKETLOAD_IMAGE=$image \
    RUN_ARGS="${run_args[*]}" METRICS_PORT_BASE=$metrics_base SERVE_INSTANCES=$instances
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-rocketload}
: "${SCENARIOS_DIR:=$here/../../scenarios}"
export SCENARIOS_DIR

files=(-f "$here/docker-compose.yml")
override=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    [[ -z $override ]] || rm -f -- "$override"
}
trap cleanup EXIT
if ((shards > 2)); then
    # shard3..shardN, each extending shard1 with its own index, and the
    # merge waiting for them too.
    override=$(mktemp "${TMPDIR:-/tmp}/rocketload-compose.XXXXXX.yml")
    {
        echo "services:"
        for ((i = 3; i <= shards; i++)); do
            printf '  shard%d:\n    extends: { file: %s, service: shard1 }\n' "$i" "$here/docker-compose.yml"
            printf '    environment: { SHARD_INDEX: "%d" }\n' "$i"
        done
        echo "  merge:"
        echo "    depends_on:"
        for ((i = 1; i <= shards; i++)); do
            printf '      shard%d: { condition: service_completed_successfully }\n' "$i"
        done
    } >"$override"
    files+=(-f "$override")
fi
profiles=()
((serve)) && profiles+=(--profile serve)
((prometheus)) && profiles+=(--profile metrics)
dc() { "${compose[@]}" "${files[@]}" "${profiles[@]}" "$@"; }
shard_services=()
for ((i = 1; i <= shards; i++)); do
    shard_services+=("shard$i")
done

say "run $run_name: $shards shards of $scenario against $RC_URL, start at $start_at"
say "results: $results/$run_name (shards/shard-I, merged, merged/report.html)"
if ((prometheus)); then
    dc up -d prometheus
    say "Prometheus: http://127.0.0.1:${PROMETHEUS_PORT:-9090} (shards on 127.0.0.1:$((metrics_base + 1))..$((metrics_base + shards)))"
fi
if ((serve)); then
    dc up -d serve
fi
# `up merge` creates and starts the shards (its dependencies), waits until
# every one has exited 0, then runs the merge and returns its exit code.
rc=0
dc up --exit-code-from merge merge || rc=$?
dc ps >&2 || true
log_dir=$results/$run_name
[[ -d $log_dir && -w $log_dir ]] || log_dir=$results
dc logs --no-color >"$log_dir/compose.log" 2>&1 || true
say "container logs: $log_dir/compose.log"
failed=0
for s in "${shard_services[@]}"; do
    id=$(dc ps -q "$s" 2>/dev/null || true)
    [[ -n $id ]] || continue
    code=$(docker inspect --format '{{.State.ExitCode}}' "$id")
    if [[ $code != 0 ]]; then
        say "$s exited $code; its log:"
        docker logs --tail 30 "$id" >&2 || true
        failed=1
    fi
done
if ((prometheus)); then
    # Everything but Prometheus, which stays up for a look at the run.
    others=("${shard_services[@]}" merge)
    ((serve)) && others+=(serve)
    dc rm -s -f "${others[@]}" >&2 || true
    pid=$(dc ps -q prometheus 2>/dev/null || true)
    say "Prometheus is left running (container ${pid:0:12}); remove it with: docker rm -f ${pid:0:12}"
else
    dc down --remove-orphans >&2 || true
fi
if ((failed)); then
    say "a shard did not complete successfully: no merge ran"
    exit 3
fi
merged=$results/$run_name/merged
if [[ ! -f $merged/summary.json ]]; then
    say "no merged summary at $merged (exit $rc)"
    ((rc != 0)) || rc=3
    exit "$rc"
fi
say "merged: $merged/summary.json, report: $merged/report.html (merge exit $rc)"
exit "$rc"
