"""docs/protocol.md is complete for an outside client (issue 13): every error code the node or the control plane
can send appears in it. The codes are found by scanning the code (every way a code is raised or sent), not
listed by hand, so a new code without documentation fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"

# (files, pattern whose group 1 is a code that reaches a client, prefix the client sees)
SOURCES: list[tuple[str, str, str]] = [
    ("signalling/**/*.py", r'ApiError\(\s*\d+,\s*"([a-z_]+)"', ""),
    ("sfu/**/*.py", r'(?:ProtocolError|JoinRefused)\(\s*"([a-z_]+)"', ""),
    ("sfu/**/*.py", r'"code":\s*"([a-z_]+)"', ""),
    ("sfu/**/*.py", r'_closer\([^)]*"([a-z_]+)"\)', ""),
    ("sfu/app/signalling.py", r'^\s+"([a-z_]+)":\s*"', ""),  # _REFUSALS
    ("signalling/tokens/*.py", r'TokenError\(\s*"([a-z_]+)"', "token_"),
    ("residency/*.py", r'(?:AdmissionRefused|PlacementRefused|InvalidInput|NotFound|Conflict|PolicyViolation|'
                       r'RegistryError|CatalogueError)\(\s*"([a-z_]+)"', ""),
    ("residency/enforcement.py", r'_refuse\(\s*"([a-z_]+)"', ""),
    # the archive's refusals reach the admin API as they are (signalling/control/recordings.py)
    ("recording/*.py", r'(?:RecordingError|super\(\)\.__init__)\(\s*"([a-z_]+)"', ""),
]
# residency's check_id builds `invalid_<kind>_id`
CHECK_ID = re.compile(r'check_id\(\s*"([a-z]+)"')


def codes_in_code() -> dict[str, str]:
    found: dict[str, str] = {}
    for glob, pattern, prefix in SOURCES:
        for path in ROOT.glob(glob):
            text = path.read_text()
            for code in re.findall(pattern, text, flags=re.M):
                found.setdefault(prefix + code, str(path.relative_to(ROOT)))
            for kind in CHECK_ID.findall(text):
                found.setdefault(f"invalid_{kind}_id", str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_codes_it_should() -> None:
    found = codes_in_code()
    # one of each kind, so a broken pattern cannot pass silently
    for code in ("slow_down", "placement_refused", "bad_json", "link_revoked", "join_timeout", "too_slow",
                 "dtls_failed", "token_replayed", "node_not_registered", "revocations_stale", "region_changed",
                 "invalid_tenant_id", "malformed_claims", "legal_hold", "link_cannot_loosen"):
        assert code in found, code
    assert len(found) > 80, len(found)


def test_every_error_code_is_in_docs_protocol() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", DOC.read_text()))
    missing = {code: where for code, where in codes_in_code().items() if code not in documented}
    assert not missing, f"error codes missing from docs/protocol.md: {missing}"
