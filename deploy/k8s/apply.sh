#!/usr/bin/env bash
# Apply the rocketload kustomization with a fresh shared start time.
#
#   deploy/k8s/apply.sh [--lead SECONDS] [--dry-run] [DIR] [-- KUBECTL_ARGS...]
#
# DIR is the kustomization (default: this directory; an overlay of yours
# works too). Writes START_AT = now + lead (default 60 s; it must cover
# scheduling, the image pull and provisioning) and RUN_ID (the results
# directory, /results/RUN_ID/) into the rocketload-start ConfigMap through
# a temporary overlay, deletes the previous rocketload Jobs (a Job's pod
# template cannot be changed in place; results stay on the volume) and
# applies. --dry-run prints the manifests instead. KUBECTL_ARGS go to every
# kubectl call (e.g. -n NAMESPACE, --context C).
set -euo pipefail

lead=60
dry_run=0
dir=$(dirname "$0")
kubectl_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --lead) lead=${2:?--lead needs seconds}; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        --) shift; kubectl_args=("$@"); break ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "apply.sh: unknown option $1" >&2; exit 2 ;;
        *) dir=$1; shift ;;
    esac
done
case $lead in
    '' | *[!0-9]*) echo "apply.sh: --lead takes whole seconds, not '$lead'" >&2; exit 2 ;;
esac
[ -f "$dir/kustomization.yaml" ] || { echo "apply.sh: no kustomization.yaml in $dir" >&2; exit 2; }
if [ -f "$dir/secret.env.example" ] && [ ! -f "$dir/secret.env" ]; then
    echo "apply.sh: $dir/secret.env is missing: cp secret.env.example secret.env and fill it in" >&2
    exit 2
fi

start=$(date -u -d "+${lead} seconds" +%Y-%m-%dT%H:%M:%SZ)
run_id=$(date -u -d "$start" +%Y%m%dT%H%M%SZ)
overlay=$(mktemp -d)
trap 'rm -rf "$overlay"' EXIT
# kustomize takes only a relative path to a base.
base=$(realpath --relative-to="$overlay" "$dir")
cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $base
configMapGenerator:
  - name: rocketload-start
    behavior: replace
    literals:
      - START_AT=$start
      - RUN_ID=$run_id
YAML

if [ "$dry_run" = 1 ]; then
    kubectl kustomize "$overlay"
    exit 0
fi
kubectl "${kubectl_args[@]}" delete job rocketload-shards rocketload-merge --ignore-not-found --wait=true
kubectl "${kubectl_args[@]}" apply -k "$overlay"
echo "START_AT=$start; results in /results/$run_id/ (shard-0.., merged/report.html)"
echo "verdict: kubectl ${kubectl_args[*]} wait --for=condition=complete job/rocketload-merge --timeout=2h"
