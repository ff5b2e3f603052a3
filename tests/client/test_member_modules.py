"""The browser client's E2EE modules (signalling/client/e2ee*, MLS member and SFrame), tested in Node.js.

The tests themselves are `node --test` files beside this one (*.test.mjs); this file runs them so CI does, and
checks that the vendored ts-mls bundle is exactly what its pinned lockfile builds (the hash a reviewer can
compare: signalling/vendor/ts-mls.js.sha256).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "signalling" / "vendor"
BUNDLE = ROOT / "signalling" / "client" / "vendor" / "ts-mls.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is installed by scripts/setup.sh --test")


def _node_flags() -> list[str]:
    """Node 18 (Debian 12's) needs WebCrypto on globalThis switched on; 19+ has it."""
    assert NODE is not None
    major = int(subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout.lstrip("v").split(".")[0])
    return ["--experimental-global-webcrypto"] if major < 19 else []


def _recorded_sha256() -> str:
    return (VENDOR / "ts-mls.js.sha256").read_text().split()[0]


def test_vendored_bundle_is_the_recorded_one() -> None:
    assert hashlib.sha256(BUNDLE.read_bytes()).hexdigest() == _recorded_sha256()


def test_bundle_build_is_reproducible(tmp_path: Path) -> None:
    """Rebuilding from the lockfile gives the same bytes (a changed dependency or a non-deterministic build fails)."""
    assert NODE is not None
    if not (VENDOR / "node_modules" / "esbuild").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=VENDOR, check=True, timeout=300)
    out = tmp_path / "ts-mls.js"
    subprocess.run([NODE, "build.mjs", str(out)], cwd=VENDOR, check=True, timeout=120)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == _recorded_sha256()


def test_member_modules_in_node() -> None:
    """MLS member and SFrame tests: the attacks of issue 12 at module level (tests/client/*.test.mjs)."""
    assert NODE is not None
    files = sorted(str(p) for p in (ROOT / "tests" / "client").glob("*.test.mjs"))
    assert files
    run = subprocess.run([NODE, *_node_flags(), "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=600)
    passed = re.search(r"^# pass (\d+)$", run.stdout, re.M)
    failed = re.search(r"^# fail (\d+)$", run.stdout, re.M)
    assert run.returncode == 0 and failed and failed.group(1) == "0", run.stdout[-6000:] + run.stderr[-2000:]
    assert passed and int(passed.group(1)) >= 25
