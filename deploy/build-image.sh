#!/usr/bin/env bash
# Builds the rocketload container image from a release binary built on
# this host (see deploy/Dockerfile and deploy/README.md).
#
#   deploy/build-image.sh [--base IMAGE] [--tag TAG]... [--no-strip]
#
#   --base IMAGE  the Debian base (default debian:bookworm-slim); its glibc
#                 must be at least the host's, so use the host's release
#   --tag TAG     tag the image TAG instead of rocketload:<version> and
#                 rocketload:latest (repeatable)
#   --no-strip    keep the binary's line tables (bigger image, file:line
#                 in panic backtraces); by default debug info is stripped,
#                 symbols stay
#
# Environment: CARGO_TARGET_DIR (honoured, as cargo does), CARGO (the cargo
# to run, default cargo). Run it under `nice` on a shared machine: the
# build inherits it.
set -euo pipefail

die() {
    printf 'build-image: error: %s\n' "$*" >&2
    exit 1
}
say() { printf 'build-image: %s\n' "$*" >&2; }

usage() {
    sed -n '2,17s/^# \{0,1\}//p' "$0"
}

base=debian:bookworm-slim
tags=()
strip_debug=1
while (($#)); do
    case $1 in
    --base)
        (($# >= 2)) || die "--base needs an image name"
        base=$2
        shift 2
        ;;
    --base=*)
        base=${1#--base=}
        shift
        ;;
    --tag)
        (($# >= 2)) || die "--tag needs a tag"
        tags+=("$2")
        shift 2
        ;;
    --tag=*)
        tags+=("${1#--tag=}")
        shift
        ;;
    --no-strip)
        strip_debug=0
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
done
[[ -n $base ]] || die "--base is empty"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# The version of [package] in Cargo.toml.
version=$(awk '
    /^\[/ { in_package = ($0 == "[package]") }
    in_package && /^version[[:space:]]*=/ {
        sub(/^version[[:space:]]*=[[:space:]]*"/, ""); sub(/".*/, ""); print; exit
    }' Cargo.toml)
[[ -n $version ]] || die "no version in [package] of $repo/Cargo.toml"
if ((${#tags[@]} == 0)); then
    tags=("rocketload:$version" "rocketload:latest")
fi

# Docker first: a missing daemon should not cost a release build.
command -v docker >/dev/null 2>&1 ||
    die "docker is not installed (Debian: apt-get install docker.io)"
if ! docker_err=$(docker info 2>&1 >/dev/null); then
    case $docker_err in
    *"permission denied"*)
        die "cannot reach the docker daemon: permission denied (run as root or join the docker group)" ;;
    *)
        die "the docker daemon is not running or not reachable (${DOCKER_HOST:-unix:///var/run/docker.sock}):
  ${docker_err}
  start it (systemctl start docker, or as root:
  dockerd --bridge=none --iptables=false --ip-masq=false &)" ;;
    esac
fi
if ! docker image inspect "$base" >/dev/null 2>&1; then
    # local/...: a name made here (docker import), never on a registry.
    pulled=0
    if [[ $base != local/* ]]; then
        say "base image $base is not here; trying docker pull"
        docker pull "$base" >&2 && pulled=1
    fi
    if ((!pulled)); then
        die "base image $base is missing$( [[ $base == local/* ]] || echo ' and cannot be pulled').
  Without a registry, make a Debian base with debootstrap (as root):
    apt-get install debootstrap
    debootstrap --variant=minbase bookworm /tmp/bookworm-rootfs
    tar -C /tmp/bookworm-rootfs -c . | docker import - local/debian:bookworm
  then: $0 --base local/debian:bookworm"
    fi
fi

# The binary, built as cargo builds it here (CARGO_TARGET_DIR honoured;
# a relative one is relative to the repository, where cargo runs).
cargo=${CARGO:-cargo}
command -v "$cargo" >/dev/null 2>&1 || die "cargo not found (CARGO=$cargo)"
say "cargo build --release --locked (CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target})"
"$cargo" build --release --locked
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir=$repo/$target_dir
binary=$target_dir/release/rocketload
[[ -x $binary ]] || die "no binary at $binary after the build"

# A minimal context: the binary, scenarios/ and the Dockerfile, with the
# modes the image should have (the Dockerfile copies them as they are).
context=$(mktemp -d "${TMPDIR:-/tmp}/rocketload-image.XXXXXX")
trap 'rm -rf -- "$context"' EXIT
install -m 0755 "$binary" "$context/rocketload"
if ((strip_debug)); then
    if command -v strip >/dev/null 2>&1; then
        strip --strip-debug "$context/rocketload"
    else
        say "strip not found (binutils); the binary keeps its debug info"
    fi
fi
cp -R scenarios "$context/scenarios"
find "$context/scenarios" -type d -exec chmod 0755 {} +
find "$context/scenarios" -type f -exec chmod 0644 {} +
install -m 0644 deploy/Dockerfile "$context/Dockerfile"
say "context: $(du -sh "$context" | cut -f1) ($(du -h "$context/rocketload" | cut -f1) binary)"

tag_args=()
for t in "${tags[@]}"; do
    tag_args+=(--tag "$t")
done
# --network host: the daemon may run with --bridge=none, and the build's
# RUN step needs no network anyway.
say "docker build --build-arg BASE=$base ${tag_args[*]}"
docker build --network host \
    --build-arg "BASE=$base" \
    --build-arg "VERSION=$version" \
    "${tag_args[@]}" \
    "$context" >&2

for t in "${tags[@]}"; do
    size=$(docker image inspect --format '{{.Size}}' "$t")
    say "built $t ($((size / 1000000)) MB)"
done
