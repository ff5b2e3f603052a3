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


def same_group(rec: dict, keys: tuple[str, ...] = ("A", "B"), outside: str | None = None) -> dict:
    """The honest pages agree (epoch, roster, safety code), list exactly their roster, and their lock is green;
    when the node lists `outside` (not in the group), it is listed as not in the encrypted group, and the lock
    stays green (it cannot read the members: docs/e2ee.md "Lock states")."""
    first = rec[keys[0]]
    for k in keys:
        assert rec[k]["epoch"] == first["epoch"] and rec[k]["roster"] == first["roster"], rec
        assert rec[k]["safety"] == first["safety"] is not None, rec
        assert rec[k]["members"] == rec[k]["roster"], rec[k]
        assert rec[k]["lock"] == "green", rec[k]
        if outside is not None:
            assert outside in rec[k]["joining"] and outside not in rec[k]["members"], rec[k]
        assert "ghost" not in rec[k]["roster"]
    return first


def test_ghost_member_is_refused_and_shown_as_not_in_the_group():
    r = hostile("ghost")
    before, after = r["before"], r["after"]
    g = same_group(after, outside="ghost")  # listed as not in the group; the members' lock stays green
    assert g["epoch"] == before["A"]["epoch"] and g["roster"] == before["A"]["roster"]
    assert g["safety"] == before["A"]["safety"]
    assert after["A"]["refusals"]["refused_key_packages"] >= 1 and after["A"]["refusals"]["refused_commits"] >= 1
    for k in ("A", "B"):
        ghost_tiles = [t for t in after[k]["tiles"] if t["participant"] == "ghost"]
        # the node says it is here: shown, but as not in the encrypted group, and with no media
        assert ghost_tiles and all(t["member"] == "joining" and not t["hasMedia"] for t in ghost_tiles), after[k]
        assert "ghost" in after[k]["joining"] and "ghost" not in after[k]["members"]
        assert sum(after[k]["refusals"].values()) >= 1, after[k]["refusals"]


def test_forged_from_adds_nobody_in_a_name_the_credential_does_not_carry():
    """Carol's KeyPackage relabelled as a ghost's: refused (her credential names her); so Carol, whom the node does
    list, stays "joining" on the honest screens — never a member under someone else's name."""
    r = hostile("forged_from")
    after, ids = r["after"], r["ids"]
    g = same_group(after, outside=ids["C"])
    assert g["roster"] == r["before"]["A"]["roster"] and g["epoch"] == r["before"]["A"]["epoch"]
    for k in ("A", "B"):
        assert after[k]["refusals"]["refused_key_packages"] >= 1, after[k]["refusals"]
        carol = [t for t in after[k]["tiles"] if t["participant"] == ids["C"]]
        assert carol and all(t["member"] == "joining" and not t["hasMedia"] for t in carol), after[k]["tiles"]
        assert ids["C"] in after[k]["joining"]
    assert after["C"]["epoch"] is None and after["C"]["lock"] == "amber", after["C"]  # she knows she is not in


def test_replayed_handshake_messages_change_nothing():
    r = hostile("replay")
    before, after = r["before_replay"], r["after"]
    g = same_group(after)
    assert g["epoch"] == before["A"]["epoch"] and g["roster"] == before["A"]["roster"] and len(g["roster"]) == 2
    assert g["safety"] == before["A"]["safety"]
    for k in ("A", "B"):
        for key, n in after[k]["frames"].items():  # media went on
            assert n > before[k]["frames"].get(key, 0), (k, key)


def test_dropped_and_reordered_commits_show_amber_then_recover():
    r = hostile("reorder_drop")
    assert r["held"] >= 1
    dropping = r["dropping"]
    # Bob was kept from the commit that added Carol: he is not on the others' epoch, and his screen does not
    # claim otherwise (never green on an epoch the others left), nor does he show Carol as a member
    assert dropping["B"]["epoch"] < dropping["A"]["epoch"]
    assert dropping["B"]["lock"] != "green", dropping["B"]
    carol = dropping["C"]["participant"]
    assert carol not in dropping["B"]["roster"] and carol in dropping["B"]["joining"]
    assert dropping["B"]["safety"] != dropping["A"]["safety"]
    # handed over in reverse order, the commits are applied in order (or fetched again): all three agree
    assert r["recovered"], r["after"]
    same_group(r["after"], ("A", "B", "C"))


def test_a_joiner_told_it_is_alone_shows_itself_alone_and_no_one_decrypts_it():
    """The old client showed a green lock on a link-derived key; now Carol's group is hers alone, her members list
    says so, her safety code matches nobody's, and the honest members show her as not in their group, with no
    media."""
    r = hostile("alone")
    after, ids = r["after"], r["ids"]
    c = after["C"]
    assert c["roster"] == [ids["C"]] and c["members"] == [ids["C"]]
    assert not c["tiles"]  # nobody is shown to her as being in her meeting
    assert "only you in the group" in c["lockText"], c["lockText"]  # green, but never a quiet green
    g = same_group(after, outside=ids["C"])
    assert g["roster"] == sorted([ids["A"], ids["B"]])
    assert c["safety"] != g["safety"]
    for k in ("A", "B"):
        tiles = [t for t in after[k]["tiles"] if t["participant"] == ids["C"]]
        assert tiles and all(t["member"] == "joining" and not t["hasMedia"] for t in tiles), after[k]["tiles"]


def test_huge_epochs_are_ignored_and_the_group_still_works():
    r = hostile("huge_epoch")
    before, after = r["before"], r["after"]
    g = same_group(after)
    assert g["epoch"] == before["A"]["epoch"] and g["roster"] == before["A"]["roster"]
    assert g["safety"] == before["A"]["safety"]
    assert r["recovered"], r["with_carol"]
    w = same_group(r["with_carol"], ("A", "B", "C"))
    assert w["epoch"] == g["epoch"] + 1
    assert not [line for line in r["console"] if "pageerror" in line], r["console"]


def test_a_forged_resync_makes_no_member_leave_the_group():
    """Finding 2 of the first hostile-node run: one forged `mls_resync` made every member drop its group; a forged
    "no group" (`epoch: null`) still did (finding 5)."""
    r = hostile("forged_resync")
    before, during, after = r["before"], r["during"], r["after"]
    for k in ("A", "B"):  # meanwhile: still in the group, amber while asking for what it may have missed
        assert during[k]["epoch"] == before[k]["epoch"] and during[k]["roster"] == before[k]["roster"], during[k]
        assert during[k]["lock"] == "amber" and "missed commits" in during[k]["reason"], during[k]
        assert during[k]["refusals"]["refused_resyncs"] == 4, during[k]["refusals"]
    assert r["recovered"], after
    g = same_group(after)
    assert g["epoch"] == before["A"]["epoch"] and g["safety"] == before["A"]["safety"]
    assert r["key_packages_sent"] == 0 and r["creates_sent"] == 0  # nobody asked to be added again, or made a group
    for k in ("A", "B"):
        for key, n in after[k]["frames"].items():
            assert n > before[k]["frames"].get(key, 0), (k, key)


def test_a_joiner_with_a_wrong_link_is_in_no_roster_and_is_told():
    """Finding 4: a wrong-link joiner used to be added (then kept out of the epoch by the link PSK), and counted as
    a member on the honest screens. Now no member adds a KeyPackage without the link proof."""
    r = hostile("wrong_link")
    before, after, ids = r["before"], r["after"], r["ids"]
    g = same_group(after, outside=ids["C"])
    assert g["epoch"] == before["A"]["epoch"] and g["roster"] == before["A"]["roster"] and ids["C"] not in g["roster"]
    for k in ("A", "B"):
        assert after[k]["refusals"]["refused_key_packages"] >= 1, after[k]["refusals"]
        carol = [t for t in after[k]["tiles"] if t["participant"] == ids["C"]]
        assert carol and all(t["member"] == "joining" and not t["hasMedia"] for t in carol), after[k]["tiles"]
    c = after["C"]
    assert c["epoch"] is None and c["lock"] == "amber" and "link may be wrong or outdated" in c["reason"], c
