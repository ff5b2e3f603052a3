"""The differential check shared by the native targets: the engine and native.reference give the same answer
(a refusal - None - included) on the same input, or the target fails with both answers shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Disagreement(AssertionError):
    pass


def agree(what: str, native: Callable[..., Any], reference: Callable[..., Any], *args: Any) -> Any:
    got, want = native(*args), reference(*args)
    if got != want:
        shown = ", ".join(repr(a)[:200] for a in args)
        raise Disagreement(f"{what}({shown}): engine {got!r} != reference {want!r}")
    return got
