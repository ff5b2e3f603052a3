"""Replays every fuzz corpus input through its target (CI, seconds): the seeds, and every input a campaign found
interesting or that once failed (each a regression test for its fix). `known/<target>/` holds failures in code
other branches own; those must still fail as recorded, until fixed (then the input moves to the corpus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.known import KNOWN_DIR, known_for
from tests.fuzz.targets import NATIVE_TARGETS, TARGETS, check_function, corpus_files


def _needs_engine(target: str) -> None:
    if target in NATIVE_TARGETS or target in ("offer", "node_ws"):
        pytest.importorskip("native.engine")


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replays_cleanly(target: str) -> None:
    _needs_engine(target)
    files = corpus_files(target)
    assert files, f"tests/fuzz/corpus/{target}/ is empty: run python -m tests.fuzz.seeds"
    check = check_function(target)
    for path in files:
        try:
            check(path.read_bytes())
        except Exception as e:
            raise AssertionError(f"{target}: {path.name} fails: {e!r}") from e


def _known_inputs() -> list[tuple[str, Path]]:
    return [(t, p) for t in TARGETS for p in sorted((KNOWN_DIR / t).glob("*")) if p.is_file()]


@pytest.mark.parametrize(("target", "path"), _known_inputs(), ids=lambda x: getattr(x, "name", x))
def test_known_findings_still_fail_as_reported(target: str, path: Path) -> None:
    _needs_engine(target)
    with pytest.raises(Exception) as caught:
        check_function(target)(path.read_bytes())
    assert any(k.matches(caught.value) for k in known_for(target)), \
        f"{path} fails differently now: {caught.value!r}"


def test_known_findings_all_fail() -> None:
    """The day a known finding is fixed, this says so: move its input to tests/fuzz/corpus/<target>/ and drop
    its entry from tests/fuzz/known.py."""
    fixed = []
    for target, path in _known_inputs():
        _needs_engine(target)
        try:
            check_function(target)(path.read_bytes())
        except Exception:  # noqa: BLE001 - still failing, as recorded
            continue
        fixed.append(str(path))
    assert not fixed, f"fixed: move to the corpus and drop from known.py: {fixed}"
