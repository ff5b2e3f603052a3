"""The atheris entry point shared by every target: `python -m tests.fuzz.<target> [libFuzzer flags] [dirs]`.

The target module is imported again under `atheris.instrument_imports`, so the parsers it drives (the packages
below) are compiled with coverage feedback; modules the `-m` run already loaded are dropped first (pure Python
only: a C extension such as native.engine cannot be instrumented by atheris and stays loaded; its branches are
steered through native.reference, which mirrors them, and ASan watches its memory: campaign --asan).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

INSTRUMENTED = ("native", "sfu", "signalling", "residency", "aioice", "jwt", "starlette", "tests.fuzz")


def _ours(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in INSTRUMENTED)


def main(target: str) -> None:
    import atheris

    for name in [n for n in sys.modules if _ours(n)]:
        mod = sys.modules[name]
        if getattr(mod, "__file__", None) and str(mod.__file__).endswith(".py"):
            del sys.modules[name]
    with atheris.instrument_imports(include=list(INSTRUMENTED)):
        check: Callable[[bytes], None] = importlib.import_module(f"tests.fuzz.{target}").check
        from tests.fuzz.known import known_for
    known = known_for(target)

    def one_input(data: bytes) -> None:
        try:
            check(data)
        except Exception as e:
            if not any(k.matches(e) for k in known):
                raise

    atheris.Setup([_launcher(target), *sys.argv[1:]], one_input)
    atheris.Fuzz()


def _launcher(target: str) -> str:
    """An executable that runs this target again: libFuzzer re-executes argv[0] for -merge=1 and -fork, and
    under `python -m` argv[0] is the module's file, which is not executable."""
    path = Path(__file__).resolve().parents[2] / "build" / "fuzz" / "launch" / target
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tests.fuzz.{target} "$@"\n')
        path.chmod(0o755)
    return str(path)
