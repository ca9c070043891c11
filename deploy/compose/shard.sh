#!/usr/bin/env bash
# One shard of a composed run (mounted into the image by
# docker-compose.yml; the image's entrypoint is replaced by this script).
#
# Environment (set by docker-compose.yml from up.sh or your shell):
#   SHARD_INDEX, SHARD_COUNT  this shard, I of N
#   SCENARIO                  scenario path inside the image
#   START_AT                  RFC 3339 time shared by every shard
#   RUN_DIR                   the run's directory on the volume
#   RC_URL                    target base URL(s), comma-separated
#   RUN_ARGS                  extra `rocketload run` arguments (split on spaces)
#   METRICS_PORT_BASE         when set, --metrics-listen 127.0.0.1:BASE+I
#   TARGET_WAIT               seconds to wait for the target's port (default 60)
#
# Exit: rocketload's, except that 1 (a threshold of this shard failed) is
# turned into 0: the shard's results are written, and the merge judges the
# whole run again; any other failure (2 bad input, 74 not written, 130
# interrupted) stops the merge from running.
set -euo pipefail

say() { printf 'shard %s/%s: %s\n' "${SHARD_INDEX:-?}" "${SHARD_COUNT:-?}" "$*" >&2; }

: "${SHARD_INDEX:?}" "${SHARD_COUNT:?}" "${SCENARIO:?}" "${START_AT:?}" "${RUN_DIR:?}" "${RC_URL:?}"

targets=()
IFS=', ' read -r -a urls <<<"$RC_URL"
for url in "${urls[@]}"; do
    [[ -n $url ]] && targets+=(--target "$url")
done
((${#targets[@]})) || { say "RC_URL names no URL"; exit 2; }

# Wait until the first target accepts TCP connections (the serve profile's
# server starts beside the shards), at most TARGET_WAIT seconds.
first=${urls[0]}
scheme=${first%%://*}
hostport=${first#*://}
hostport=${hostport%%/*}
if [[ $hostport == \[*\]* ]]; then # [v6]:port
    host=${hostport%%]*}
    host=${host#[}
    rest=${hostport#*]}
    port=${rest#:}
elif [[ $hostport == *:* ]]; then
    host=${hostport%:*}
    port=${hostport##*:}
else
    host=$hostport
    port=
fi
[[ -n $port ]] || { [[ $scheme == https ]] && port=443 || port=80; }
deadline=$((SECONDS + ${TARGET_WAIT:-60}))
until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
    if ((SECONDS >= deadline)); then
        say "the target $host:$port did not accept a connection within ${TARGET_WAIT:-60}s"
        exit 2
    fi
    sleep 0.5
done

metrics=()
if [[ -n ${METRICS_PORT_BASE:-} ]]; then
    metrics=(--metrics-listen "127.0.0.1:$((METRICS_PORT_BASE + SHARD_INDEX))")
fi
extra=()
if [[ -n ${RUN_ARGS:-} ]]; then
    read -r -a extra <<<"$RUN_ARGS"
fi

out=$RUN_DIR/shards/shard-$SHARD_INDEX
say "rocketload run $SCENARIO --shard $SHARD_INDEX/$SHARD_COUNT --start-at $START_AT --out $out ${targets[*]} ${metrics[*]} ${extra[*]}"
rc=0
rocketload run "$SCENARIO" --shard "$SHARD_INDEX/$SHARD_COUNT" --start-at "$START_AT" \
    --out "$out" --quiet "${targets[@]}" "${metrics[@]}" "${extra[@]}" || rc=$?
if ((rc == 1)); then
    say "a threshold of this shard failed (exit 1); the merge judges the whole run"
    exit 0
fi
exit "$rc"
