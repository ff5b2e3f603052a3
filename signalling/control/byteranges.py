"""HTTP Range (RFC 9110 §14) for a recorded file: one range per request (what a media element asks for), which
the vault then reads by opening only the envelope chunks it touches (recording/store.py `get_range`). Anything
else — several ranges, another unit, a malformed or unsatisfiable range — is refused with 416, never answered
with a guess."""

from __future__ import annotations

_MAX_DIGITS = 19


class RangeNotSatisfiable(Exception):
    pass


def _number(text: str) -> int:
    text = text.strip()
    if not text or len(text) > _MAX_DIGITS or not (text.isascii() and text.isdigit()):
        raise RangeNotSatisfiable(f"not a byte position: {text!r}")
    return int(text)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive, or None for the whole file (no Range header)."""
    if header is None:
        return None
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes" or "," in spec:
        raise RangeNotSatisfiable("one byte range (bytes=first-last) is served")
    first, dash, last = spec.strip().partition("-")
    if not dash:
        raise RangeNotSatisfiable("a byte range is first-last, first- or -suffix")
    if not first.strip():  # the last N bytes
        n = _number(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable("empty suffix range")
        return max(0, size - n), size - 1
    start = _number(first)
    end = _number(last) if last.strip() else size - 1
    if start > end or start >= size:
        raise RangeNotSatisfiable(f"range {start}-{end} is outside the file's {size} bytes")
    return start, min(end, size - 1)
