#!/usr/bin/env bash
# Installs everything the product needs on a fresh Debian 12 machine (idempotent):
# apt packages, libsrtp 2.x built against OpenSSL (static, -fPIC), the venv, and the Cython build.
# Usage: scripts/setup.sh [--test]   (--test adds the test-only needs: chromium, redis, postgresql, tshark,
# nftables, nginx and coturn — started by the tests themselves, never as services)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WITH_TEST=0
[ "${1:-}" = "--test" ] && WITH_TEST=1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# libpq5: the PostgreSQL client library psycopg 3 loads (the production store, CASTELLAN_DATABASE_URL)
pkgs="build-essential pkg-config libssl-dev dpkg-dev python3-venv python3-dev iproute2 libpq5"
# postgresql: tests start their own clusters from its binaries (tests/support/postgres.py), never the system one
[ $WITH_TEST -eq 1 ] && pkgs="$pkgs chromium redis-server postgresql tshark tcpdump nftables nginx coturn"
# softhsm2: a PKCS#11 token for the transparency log's signing key (tests/residency/test_log_key.py)
[ $WITH_TEST -eq 1 ] && pkgs="$pkgs softhsm2"
# Node.js + npm: building/checking the client's vendored MLS bundle and the E2EE module tests (tests/client).
# A machine that already has a node (e.g. from another repository) keeps it.
[ $WITH_TEST -eq 1 ] && ! command -v node >/dev/null && pkgs="$pkgs nodejs"
[ $WITH_TEST -eq 1 ] && ! command -v npm >/dev/null && pkgs="$pkgs npm"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "== apt: installing$missing"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ $WITH_TEST -eq 1 ] && [ -d /run/systemd/system ]; then
  # the tests run nginx and coturn on addresses they choose; the packages' own services must not listen here
  for svc in nginx coturn; do $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true; done
fi

# libsrtp2 from Debian's *source* package, configured against OpenSSL (Debian's binary uses NSS, 3-4x slower).
SRTP_DIR="$ROOT/build/libsrtp"
if [ ! -f "$SRTP_DIR/libsrtp2.a" ]; then
  echo "== building libsrtp2 (OpenSSL) from Debian's source package"
  if ! ls /etc/apt/sources.list.d/castellan-src.sources >/dev/null 2>&1; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee /etc/apt/sources.list.d/castellan-src.sources >/dev/null
    else
      grep '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | $SUDO tee /etc/apt/sources.list.d/castellan-src.list >/dev/null
    fi
    $SUDO apt-get update -qq
  fi
  rm -rf "$ROOT/build/srtp-src" && mkdir -p "$ROOT/build/srtp-src"
  (cd "$ROOT/build/srtp-src" && apt-get source -qq libsrtp2 >/dev/null 2>&1)
  src=$(ls -d "$ROOT"/build/srtp-src/libsrtp2-*/ | head -1)
  (cd "$src" && ./configure -q --enable-openssl CFLAGS="-O2 -fPIC" >/dev/null && make -s -j"$(nproc)" libsrtp2.a >/dev/null)
  grep -q '#define OPENSSL 1' "$src/crypto/include/config.h" || { echo "libsrtp not configured with OpenSSL" >&2; exit 1; }
  mkdir -p "$SRTP_DIR/include/srtp2"
  cp "$src/libsrtp2.a" "$SRTP_DIR/"
  cp "$src"/include/srtp.h "$SRTP_DIR/include/srtp2/"
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $PY"
  "$PY" -m venv .venv
fi
extras="run"
[ $WITH_TEST -eq 1 ] && extras="run,test"
stamp=".venv/.castellan-$extras-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "== pip: installing dependencies ($extras)"
  mkdir -p build
  .venv/bin/pip install -q --upgrade pip setuptools wheel cython 2>&1 | grep -v "^WARNING: Location" || true
  if ! .venv/bin/pip install -q -e ".[$extras]" --no-build-isolation > build/pip.log 2>&1; then
    grep -v "^WARNING: Location" build/pip.log >&2; exit 1
  fi
  touch "$stamp"
fi
if command -v node >/dev/null && command -v npm >/dev/null; then
  echo "== client: ts-mls bundle (signalling/vendor/build.sh: pinned lockfile, hash checked)"
  signalling/vendor/build.sh
  if [ $WITH_TEST -eq 1 ]; then
    echo "== tests: axe-core for the console's accessibility check (tests/console/axe: pinned lockfile)"
    npm ci --prefix tests/console/axe --no-audit --no-fund --loglevel=error
    echo "== tests: an S3-compatible server for the recording store (tests/support/s3rver: pinned lockfile)"
    npm ci --prefix tests/support/s3rver --no-audit --no-fund --loglevel=error
  fi
fi
echo "== building native extension"
.venv/bin/python setup.py -q build_ext --inplace >/dev/null
echo "== setup done"
