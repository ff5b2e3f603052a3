"""Shared by the SDP targets: fuzz bytes as offer text, and what a well-formed answer line is."""

from __future__ import annotations

import re

# RFC 8866 §9: an SDP line is <type>=<value>, the value any octets but NUL, CR and LF
_ANSWER_LINE = re.compile(r"[a-z]=[^\x00\r\n]*")
# RFC 8830 §2: msid-id and msid-appdata are 1*64token-char (RFC 4566 token-char)
_TOKEN = re.compile(r"[!#-'*+\-.0-9A-Z^-~]{1,64}")


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def answer_problems(answer: str) -> list[str]:
    """What a browser would refuse in an answer the node wrote: lines that are not <type>=<value> (NUL, a
    lone CR or LF inside), msid identifiers that are not 1-64 token characters."""
    problems = []
    if not answer.endswith("\r\n"):
        problems.append("answer does not end with CRLF")
    for line in answer[:-2].split("\r\n"):
        if not _ANSWER_LINE.fullmatch(line):
            problems.append(f"malformed answer line {line!r}")
        elif line.startswith("a=msid:") and not all(_TOKEN.fullmatch(x) for x in line[7:].split(" ")):
            problems.append(f"msid not made of 1-64 token characters: {line!r}")
    return problems
