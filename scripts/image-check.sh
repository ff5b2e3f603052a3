#!/usr/bin/env bash
# Builds the chart's image and the recorder pool's image from the Containerfile with Debian's podman, from this
# machine's own package sources only (no image pulled from a registry), then runs them the way the chart's pods do
# (scripts/image_check.py). As root; about 15 minutes on 2 cores, not part of the CI suite (docs/deploy.md, "Image").
#
#   sudo scripts/image-check.sh              # base + build both images + run the checks
#   sudo scripts/image-check.sh --no-build   # only the checks, on images built before
#
# The base, localhost/debian:12-slim, is Debian 12 made here by debootstrap (minbase) from the apt mirror this
# machine uses, imported as a local image and passed as the Containerfile's DEBIAN_IMAGE.
# The build runs on the host network (apt and pip reach their sources as on the host) and sees pip's
# configuration of this machine read-only: its CA bundle, find-links, local indexes and constraints.
# Env: IMAGE, RECORDER_IMAGE (tags), WORK (base rootfs and logs; default /var/tmp/castellan-image).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' helm/castellan/Chart.yaml)
IMAGE=${IMAGE:-localhost/castellan/castellan:$VERSION}
RECORDER_IMAGE=${RECORDER_IMAGE:-localhost/castellan/castellan-recorder:$VERSION}
BASE=localhost/debian:12-slim
WORK=${WORK:-/var/tmp/castellan-image}
BUILD=1
[ "${1:-}" = "--no-build" ] && BUILD=0
[ "$(id -u)" -eq 0 ] || { echo "run as root (podman's rootful storage, debootstrap)" >&2; exit 1; }
mkdir -p "$WORK"

missing=""
for tool in podman:podman debootstrap:debootstrap runc:runc; do
  command -v "${tool%%:*}" >/dev/null || missing="$missing ${tool#*:}"
done
if [ -n "$missing" ]; then
  echo "== apt: installing$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# This VM's quirks, each found by the first run here (docs/deploy.md, "Image"):
# - crun (podman's default runtime) refuses the hybrid cgroup layout ("cgroups in hybrid mode not supported, drop
#   all controllers from cgroupv2": cgroup v1 plus a v2 hierarchy holding hugetlb); runc runs there.
# - root lacks CAP_SYS_RESOURCE, so podman's default RLIMIT_NOFILE/NPROC (1048576) cannot be set ("setrlimit
#   RLIMIT_NOFILE: Operation not permitted"): the limits are given below the host's own.
PODMAN=(podman --runtime "${PODMAN_RUNTIME:-runc}")
read -r -a LIMITS <<< "${PODMAN_ULIMITS:---ulimit=nofile=16384:16384 --ulimit=nproc=8192:8192}"

if [ $BUILD -eq 1 ]; then
  if ! "${PODMAN[@]}" image exists "$BASE"; then
    echo "== base: debootstrap --variant=minbase bookworm"
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    mirror=${mirror:-http://deb.debian.org/debian}
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" > "$WORK/debootstrap.log"
    # the host's sources (bookworm, -updates, -security), as debian:12-slim has them; no package lists or debs
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      rm -f "$WORK/rootfs/etc/apt/sources.list"
      cp /etc/apt/sources.list.d/debian.sources "$WORK/rootfs/etc/apt/sources.list.d/"
    fi
    rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/cache/apt/*.bin "$WORK"/rootfs/var/lib/apt/lists/*
    tar -C "$WORK/rootfs" -c . | "${PODMAN[@]}" import --quiet - "$BASE" >/dev/null
    rm -rf "$WORK/rootfs"
  fi

  # pip as on the host, inside the build's RUN steps: the same indexes, wheels and constraints, read-only
  pip_mounts=()
  pip_conf="$WORK/pip.conf"
  if [ -f /etc/pip.conf ] || [ -n "${PIP_CERT:-}" ]; then
    {
      echo "[global]"
      echo "cert = /run/castellan-build/ca.crt"
      for d in /opt/wheels; do [ -d $d ] && echo "find-links = $d" && pip_mounts+=(-v "$d:$d:ro"); done
      idx=""
      for d in /opt/pypi /opt/pypi-more; do [ -d $d/simple ] && idx="$idx file://$d/simple" && pip_mounts+=(-v "$d:$d:ro"); done
      [ -n "$idx" ] && echo "extra-index-url =$idx"
      [ -f /etc/xdg/pip/constraints.txt ] && echo "constraint = /etc/xdg/pip/constraints.txt" \
        && pip_mounts+=(-v /etc/xdg/pip:/etc/xdg/pip:ro)
    } > "$pip_conf"
    pip_mounts+=(-v "$pip_conf:/etc/pip.conf:ro" -v "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}:/run/castellan-build/ca.crt:ro")
  fi

  build() {  # tag, log, extra build args...
    local tag=$1 log=$2; shift 2
    echo "== podman build $tag $*  (log: $log)"
    local t0=$SECONDS
    "${PODMAN[@]}" build "${LIMITS[@]}" --network=host --build-arg "DEBIAN_IMAGE=$BASE" "$@" "${pip_mounts[@]}" \
      -f Containerfile -t "$tag" . > "$log" 2>&1 || { tail -40 "$log" >&2; exit 1; }
    echo "   built in $((SECONDS - t0)) s: $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$tag" | numfmt --to=si)B"
  }
  build "$IMAGE" "$WORK/build.log"
  build "$RECORDER_IMAGE" "$WORK/build-recorder.log" --build-arg EXTRAS=run,recorder --build-arg RUNTIME_PACKAGES=chromium
fi

echo "== running the images as the chart's pods run them"
run_flags=()
for l in "${LIMITS[@]}"; do run_flags+=("--run-flag=$l"); done
flock /tmp/castellan-heavy.lock nice -n 19 env PYTHONPATH="$ROOT" "$ROOT/.venv/bin/python" scripts/image_check.py \
  --image "$IMAGE" --recorder-image "$RECORDER_IMAGE" "--podman-arg=--runtime=${PODMAN_RUNTIME:-runc}" "${run_flags[@]}"
