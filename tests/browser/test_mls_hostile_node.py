"""Issue 12, the hostile-node proof: real Chromium running the real client, the real node, and between them a
proxy (tests/browser/hostile_node.py) playing a malicious node — it injects a ghost member, forges `from`, replays,
reorders and drops handshake messages, tells a joiner it is alone, and announces huge epochs. In every case the
honest members accept no key and no member that did not come from an authorised commit, and their screens show
the truth: the roster (tiles, members list), the lock and the safety code."""

from __future__ import annotations

import pytest

from tests.browser.test_mls_meeting import meeting_config, run

pytestmark = [pytest.mark.browser, pytest.mark.netns, pytest.mark.timeout(300)]


def hostile(attack: str) -> dict:
    cfg, jwks = meeting_config(f"mls-{attack}", ["A", "B", "C", "D"], f"hostile-{attack}")
    return run(f"mls-{attack}", "mls_hostile", {**cfg, "attack": attack}, jwks, timeout=240)


def same_group(rec: dict, keys: tuple[str, ...] = ("A", "B")) -> dict:
    """The honest pages agree (epoch, roster, safety code), are green, and list exactly their roster."""
    first = rec[keys[0]]
    for k in keys:
        assert rec[k]["epoch"] == first["epoch"] and rec[k]["roster"] == first["roster"], rec
        assert rec[k]["safety"] == first["safety"] is not None, rec
        assert rec[k]["members"] == rec[k]["roster"], rec[k]
        assert rec[k]["lock"] == "green", rec[k]
        assert "ghost" not in rec[k]["roster"]
    return first


def test_ghost_member_is_refused_and_shown_as_not_in_the_group():
    r = hostile("ghost")
    before, after = r["before"], r["after"]
    g = same_group(after)
    assert g["epoch"] == before["A"]["epoch"] and g["roster"] == before["A"]["roster"]
    assert g["safety"] == before["A"]["safety"]
    for k in ("A", "B"):
        ghost_tiles = [t for t in after[k]["tiles"] if t["participant"] == "ghost"]
        # the node says it is here: shown, but as not in the encrypted group, and with no media
        assert ghost_tiles and all(t["member"] == "joining" and not t["hasMedia"] for t in ghost_tiles), after[k]
        assert "ghost" in after[k]["joining"] and "ghost" not in after[k]["members"]
        assert sum(after[k]["refusals"].values()) >= 1, after[k]["refusals"]
