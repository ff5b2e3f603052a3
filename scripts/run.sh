#!/usr/bin/env bash
# Installs what the product needs and runs it in one process: control plane + one media node, SQLite,
# the in-memory registry and a demo tenant; prints a join link. Extra arguments go to `castellan dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/castellan dev "$@"
