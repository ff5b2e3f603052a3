#!/usr/bin/env bash
# Installs the test needs (apt: chromium, redis-server, tshark, nftables; venv; the Cython build) and runs the
# whole suite. Extra arguments go to pytest, e.g. scripts/test.sh -k forwarding
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PYTHONDONTWRITEBYTECODE=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
