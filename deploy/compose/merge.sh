#!/usr/bin/env bash
# The merge of a composed run (mounted into the image by
# docker-compose.yml): runs once every shard has completed, merges
# RUN_DIR/shards/* into RUN_DIR/merged and renders
# RUN_DIR/merged/report.html.
# Exit: the merge's (0 every merged threshold holds, 1 one failed, 2 bad
# input, 74 not written), or the report's when the merge passed and the
# report could not be written.
set -euo pipefail
: "${RUN_DIR:?}"
rc=0
rocketload merge "$RUN_DIR/shards" -o "$RUN_DIR/merged" || rc=$?
if ((rc == 0 || rc == 1)); then
    rocketload report "$RUN_DIR/merged" -o "$RUN_DIR/merged/report.html"
    printf 'merge: wrote %s/merged (summary.json, report.html); exit %s\n' "$RUN_DIR" "$rc" >&2
fi
exit "$rc"
