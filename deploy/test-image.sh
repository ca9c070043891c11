#!/usr/bin/env bash
# CI check of the container image, end to end, as root:
#   1. docker.io (and, when the base must be made, debootstrap) installed
#      with apt-get when missing;
#   2. a docker daemon: the one that answers, else one started here
#      (dockerd --bridge=none --iptables=false --ip-masq=false) and stopped
#      again on exit, by its PID only;
#   3. the base image local/debian:bookworm, made with debootstrap when
#      absent (kept in the daemon's store for the next run);
#   4. deploy/build-image.sh --base local/debian:bookworm;
#   5. `docker run --rm --network host -v DIR:/results rocketload:latest
#      run scenarios/smoke.yaml` (the embedded server on 127.0.0.1): exit 0
#      and a summary.json in DIR.
# Every phase prints its duration; a summary of them closes the run.
# Containers only ever use --network host; no network is created.
#
# Environment: BASE_IMAGE (default local/debian:bookworm), DEBIAN_MIRROR
# (debootstrap's mirror, default http://deb.debian.org/debian),
# DOCKERD_TIMEOUT (seconds to wait for a started daemon, default 60),
# CARGO_TARGET_DIR (passed on to the build).
set -euo pipefail

base=${BASE_IMAGE:-local/debian:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
dockerd_timeout=${DOCKERD_TIMEOUT:-60}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf 'test-image: %s\n' "$*" >&2; }
die() {
    printf 'test-image: FAIL: %s\n' "$*" >&2
    exit 1
}

timings=()
phase_start=0
phase_name=
begin() {
    phase_name=$1
    phase_start=$(date +%s.%N)
    say "== $phase_name"
}
end() {
    local secs
    secs=$(awk -v a="$phase_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    timings+=("$(printf '%-12s %7ss' "$phase_name" "$secs")")
    say "== $phase_name: ${secs}s"
}

# What this script made, undone on any exit: the temp dirs, and the dockerd
# it started (by its PID; a daemon that was already running is left alone).
dockerd_pid=
work=$(mktemp -d "${TMPDIR:-/tmp}/rocketload-test-image.XXXXXX")
cleanup() {
    local rc=$?
    if [[ -n $dockerd_pid ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
        say "stopping the dockerd started here (pid $dockerd_pid)"
        kill -TERM "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 1 30); do
            kill -0 "$dockerd_pid" 2>/dev/null || break
            sleep 1
        done
        if kill -0 "$dockerd_pid" 2>/dev/null; then
            say "dockerd $dockerd_pid still up after 30 s; SIGKILL"
            kill -KILL "$dockerd_pid" 2>/dev/null || true
        fi
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    # --one-file-system: never into a mount debootstrap may have left
    # (a bind-mounted /dev or /proc inside the rootfs after a failure).
    rm -rf --one-file-system -- "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

apt_updated=0
apt_install() {
    [[ $(id -u) == 0 ]] || die "need root to apt-get install $*"
    if ((!apt_updated)); then
        apt-get update -q >&2
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

# 1. docker
begin install
if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io"
    apt_install docker.io
fi
end

# 2. a daemon
begin dockerd
if docker info >/dev/null 2>&1; then
    say "a docker daemon answers already; using it (and leaving it running)"
else
    [[ $(id -u) == 0 ]] || die "no docker daemon answers, and only root can start one"
    say "starting dockerd --bridge=none --iptables=false --ip-masq=false (log: $work/dockerd.log)"
    dockerd --bridge=none --iptables=false --ip-masq=false >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    deadline=$((SECONDS + dockerd_timeout))
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            tail -n 30 "$work/dockerd.log" >&2 || true
            dockerd_pid=
            die "dockerd exited during start-up (log above)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 30 "$work/dockerd.log" >&2 || true
            die "dockerd (pid $dockerd_pid) did not answer within ${dockerd_timeout}s"
        fi
        sleep 1
    done
    say "dockerd pid $dockerd_pid is up"
fi
end

# 3. the base image
begin debootstrap
if docker image inspect "$base" >/dev/null 2>&1; then
    say "$base is present; nothing to make"
else
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    rootfs=$work/rootfs
    say "debootstrap --variant=minbase bookworm $rootfs $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    }
    # Slim it as debian:*-slim is (117 MB -> about 70 MB): no docs but the
    # copyrights, no man/info pages, no translations, no downloaded
    # packages or apt lists; the dpkg excludes keep later installs slim too.
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-slim" <<'EOF_SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF_SLIM
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/*
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$base" >/dev/null
    rm -rf --one-file-system -- "$rootfs"
    say "imported $base"
fi
end

# 4. the image
begin build
"$repo/deploy/build-image.sh" --base "$base"
end

# 5. a smoke run in it
begin run
results=$work/results
mkdir "$results"
# The image runs as a non-root user; a bind mount keeps the host dir's
# owner, so hand the dir to that uid (read from the image, not assumed).
uid=$(docker run --rm --network host --entrypoint id rocketload:latest -u)
gid=$(docker run --rm --network host --entrypoint id rocketload:latest -g)
chown "$uid:$gid" "$results"
say "docker run --rm --network host -v $results:/results rocketload:latest run scenarios/smoke.yaml (uid $uid)"
rc=0
docker run --rm --network host -v "$results:/results" \
    rocketload:latest run scenarios/smoke.yaml || rc=$?
((rc == 0)) || die "the smoke run in the image exited $rc"
summary=$(find "$results" -name summary.json -print -quit)
[[ -n $summary ]] || die "no summary.json under $results"
say "summary: ${summary#"$results"/} ($(stat -c %s "$summary") bytes, owner $(stat -c %u:%g "$summary"))"
end

say "image:"
docker images rocketload >&2
say "timings:"
for t in "${timings[@]}"; do
    printf '  %s\n' "$t" >&2
done
say "passed"
