#!/usr/bin/env bash
# Builds rocketload-prometheus:latest, the compose `metrics` profile's
# Prometheus, from Debian's `prometheus` package (apt inside the build, so
# the build needs Debian's mirror, not a registry):
#   deploy/compose/prometheus/build.sh [--base IMAGE]   (default local/debian:bookworm)
set -euo pipefail
base=local/debian:bookworm
if [[ ${1:-} == --base ]]; then
    base=${2:?--base needs an image}
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
docker image inspect "$base" >/dev/null 2>&1 ||
    { echo "prometheus/build.sh: error: no base image $base (deploy/test-image.sh makes local/debian:bookworm)" >&2; exit 1; }
docker build --network host --build-arg "BASE=$base" -t rocketload-prometheus:latest "$here"
