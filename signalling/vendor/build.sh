#!/bin/sh
# Builds ../client/vendor/ts-mls.js and ../client/vendor/icons.js (the Lucide icons the client uses, icons.mjs) from
# the pinned packages (package-lock.json) and checks their SHA-256 against ts-mls.js.sha256 / icons.js.sha256, so
# every machine serves byte-for-byte what was reviewed. The lockfile also pins axe-core (tests/browser only).
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
node icons.mjs ../client/vendor/icons.js
for f in ts-mls.js icons.js; do
  sum=$(sha256sum "../client/vendor/$f" | cut -d' ' -f1)
  if [ "${1:-}" = "--update" ]; then
    echo "$sum  $f" > "$f.sha256"
    echo "$f: $sum (recorded)"
  elif [ "$sum  $f" != "$(cat "$f.sha256")" ]; then
    echo "$f: $sum differs from $f.sha256: the build is not reproducible or a dependency changed" >&2
    exit 1
  else
    echo "$f: $sum (as recorded)"
  fi
done
