#!/usr/bin/env bash
# Installs the test needs (apt: chromium, redis-server, postgresql, tshark, nftables; venv; the Cython build), checks the
# style (ruff, then mypy: strict for the packages listed in pyproject.toml's [[tool.mypy.overrides]]) and runs
# the whole suite. Extra arguments go to pytest, e.g. scripts/test.sh -k forwarding
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff check ."
if ! .venv/bin/ruff check .; then
  echo "scripts/test.sh: FAILED at 'ruff check .' (style/lint); fix the findings above (many: .venv/bin/ruff check --fix .)" >&2
  exit 1
fi
echo "== mypy (files and strictness from pyproject.toml [tool.mypy])"
if ! .venv/bin/mypy; then
  echo "scripts/test.sh: FAILED at 'mypy' (types); fix the findings above before the tests run" >&2
  exit 1
fi

exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@"
