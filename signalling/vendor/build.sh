#!/bin/sh
# Builds ../client/vendor/ts-mls.js from the pinned packages (package-lock.json) and checks its SHA-256 against
# ts-mls.js.sha256, so every machine serves byte-for-byte the bundle that was reviewed.
# Usage: signalling/vendor/build.sh [--update]   (--update: write the new hash instead of checking it)
set -eu
cd "$(dirname "$0")"
if ! cmp -s package-lock.json node_modules/.castellan-lock 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.castellan-lock
fi
out=../client/vendor/ts-mls.js
mkdir -p ../client/vendor
node build.mjs "$out"
# the bundle must stand alone: no import left but the optional providers' dynamic ones
if grep -nE '^import |from "@' "$out"; then echo "ts-mls bundle has static imports: see above" >&2; exit 1; fi
sum=$(sha256sum "$out" | cut -d' ' -f1)
if [ "${1:-}" = "--update" ]; then
  echo "$sum  ts-mls.js" > ts-mls.js.sha256
  echo "ts-mls bundle: $sum (recorded)"
elif [ "$sum  ts-mls.js" != "$(cat ts-mls.js.sha256)" ]; then
  echo "ts-mls bundle: $sum differs from ts-mls.js.sha256: the build is not reproducible or a dependency changed" >&2
  exit 1
else
  echo "ts-mls bundle: $sum (as recorded)"
fi
