"""The join-storm benchmark runs end to end (tiny: a few users for a few seconds) and reports no errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_joinstorm_runner_reports_both_paths_without_errors() -> None:
    out = subprocess.run([sys.executable, "-m", "loadtests.joinstorm.run", "--users", "4", "--seconds", "3",
                          "--rooms", "5"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "token path (link -> token)" in out.stdout and "password check (Argon2id)" in out.stdout
