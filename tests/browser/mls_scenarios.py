"""Issue 12's browser scenarios, run by tests/browser/driver.py inside the loopback-only namespace: MLS meetings
of real Chromium clients through the real node — churn, and a hostile node (tests/browser/hostile_node.py)
between the browsers and the node. Each returns its evidence in `result`; the tests assert on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Playwright

from tests.browser.driver import Participant, client_url, log, poll, wait_http
from tests.browser.hostile_node import HostileNode, Link, Msg

PROXY_PORT = 7890

# what one page knows about its group, read from the E2EE object and from the DOM the user sees
STATE_JS = """async () => {
  const a = window.castellanApp, e = a.e2ee, s = a.session;
  const st = e ? e.status() : null;
  const stats = await window.castellanStats();
  const lock = document.getElementById('lock');
  return {
    participant: s && s.me ? s.me.participant : null,
    epoch: e ? e.epoch() : null,
    roster: e ? e.roster().map((m) => m.participant).sort() : [],
    names: e ? e.roster().map((m) => m.name) : [],
    warnings: e ? e.roster().filter((m) => m.warning).map((m) => [m.participant, m.warning]) : [],
    status: st,
    safety: e ? await e.safetyCode() : null,
    lockState: lock.dataset.state || null, lock: lock.textContent,
    tiles: [...document.querySelectorAll('#grid .tile:not(.self)')].map((t) => ({participant: t.dataset.participant,
      member: t.dataset.member, warning: t.dataset.warning, videoShown: !t.querySelector('video').hidden,
      hasMedia: !!t.querySelector('video').srcObject, problem: t.querySelector('.problem').hidden ? '' :
      t.querySelector('.problem').textContent})),
    members: [...document.querySelectorAll('#members-list li')].map((l) => l.dataset.participant).sort(),
    joining: [...document.querySelectorAll('#members-joining li')].map((l) => l.dataset.participant).sort(),
    safetyShown: document.getElementById('safety').textContent, safetyEpoch: a.safetyEpoch ?? null,
    video: stats.video, log: e ? e.log.slice(-40) : [], sessionLog: s ? s.log.slice(-20) : [],
  };
}"""


def state(p: Participant) -> dict[str, Any]:
    assert p.page is not None
    return p.page.evaluate(STATE_JS)  # type: ignore[no-any-return]


def states(parts: dict[str, Participant]) -> dict[str, dict[str, Any]]:
    return {k: state(p) for k, p in parts.items()}


def decoded_from(s: dict[str, Any], pid: str) -> int:
    return sum(v["framesDecoded"] for v in s["video"] if v.get("participant") == pid)


def agreed(x: dict[str, dict[str, Any]], n: int) -> bool:
    """Every page on one epoch with n members, the same safety code, green, and its list showing that roster."""
    epochs = {v["epoch"] for v in x.values()}
    codes = {v["safety"] for v in x.values()}
    return (len(epochs) == 1 and None not in epochs and len(codes) == 1 and None not in codes
            and all(len(v["roster"]) == n and v["members"] == v["roster"] and v["lockState"] == "green"
                    for v in x.values()))


def all_decoding(parts: dict[str, Participant], timeout: float, more_than: dict[str, int] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Until every page decodes video from every other page (beyond `more_than[k/o]` frames)."""
    base = more_than or {}

    def ok(x: dict[str, dict[str, Any]]) -> bool:
        ids = {k: v["participant"] for k, v in x.items()}
        return all(decoded_from(x[k], ids[o]) > base.get(f"{k}/{o}", 0) for k in x for o in x if o != k)

    return poll(lambda: states(parts), ok, timeout, 0.5)  # type: ignore[no-any-return]


def frame_counts(x: dict[str, dict[str, Any]]) -> dict[str, int]:
    ids = {k: v["participant"] for k, v in x.items()}
    return {f"{k}/{o}": decoded_from(x[k], ids[o]) for k in x for o in x if o != k}


def summary(x: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: {"participant": v["participant"], "epoch": v["epoch"], "roster": v["roster"], "safety": v["safety"], "lock": v["lockState"],
                "reason": (v["status"] or {}).get("reason")} for k, v in x.items()}


def _open(pw: Playwright, cfg: dict[str, Any], parts: dict[str, Participant], console: list[str], key: str,
          ws_url: str | None = None, secret: str | None = None, codec: str | None = None) -> Participant:
    c = dict(cfg, ws_url=ws_url or cfg["ws_url"])
    p = parts[key] = Participant(pw, cfg, key, console)
    p.open(client_url(c, cfg["tokens"][key], key, secret or cfg["secret"], codec=codec))
    return p


def _close(parts: dict[str, Participant], key: str) -> None:
    p = parts.pop(key)
    if p.page is not None:
        p.page.click("#btn-leave")
        time.sleep(0.3)
    p.close()


# ---------------------------------------------------------------------------------------------------- churn


def mls_churn(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Three participants join and leave in churn (A, B, C; C leaves; D joins; B leaves; E joins): after every
    change, every page is on one new epoch with the same safety code, shows exactly the roster, decodes the others'
    video and stays green."""
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    parts: dict[str, Participant] = {}
    steps: list[dict[str, Any]] = []
    result["steps"] = steps
    try:
        def settle(label: str, n: int) -> None:
            s = poll(lambda: states(parts), lambda x: agreed(x, n), 30, 0.5)
            before = frame_counts(s)
            s2 = all_decoding(parts, 20, before)
            steps.append({"step": label, "agreed": agreed(s, n), "summary": summary(s), "frames_before": before,
                          "frames_after": frame_counts(s2), "tiles": {k: v["tiles"] for k, v in s2.items()}})
            log(label, summary(s))

        _open(pw, cfg, parts, console, "A")
        time.sleep(1.5)
        _open(pw, cfg, parts, console, "B")
        settle("A+B", 2)
        _open(pw, cfg, parts, console, "C")
        settle("A+B+C", 3)
        _close(parts, "C")
        settle("C left", 2)
        _open(pw, cfg, parts, console, "D")
        settle("D joined", 3)
        _close(parts, "B")
        settle("B left", 2)
        _open(pw, cfg, parts, console, "E")
        settle("E joined", 3)
        parts["A"].shot(Path(cfg["artifacts"]), "mls-churn.png", result)
    finally:
        result["final"] = {k: {"log": v["log"], "sessionLog": v["sessionLog"]} for k, v in
                           (states(parts).items() if parts else [])}
        for p in parts.values():
            p.close()


# ---------------------------------------------------------------------------------------------------- reuse

# a page's receiving m-lines: which mid carries whose track, and the offer's bytes per receiving m-line
MLINES_JS = """() => {
  const s = window.castellanApp.session, pc = s.pc;
  const offer = pc.localDescription ? pc.localDescription.sdp : '';
  const sections = offer.split(/\\r\\n(?=m=)/).slice(1).map((t) => ({
    mid: (t.match(/a=mid:(\\S+)/) || [])[1], kind: t.slice(2, 7),
    bytes: t.split('\\r\\n').filter((l) => l && !l.startsWith('a=candidate') && l !== 'a=end-of-candidates')
      .join('\\r\\n').length + 2,  // without candidates (how many were gathered varies)
    dir: (t.match(/a=(sendrecv|sendonly|recvonly|inactive)/) || [])[1],
    pts: (t.match(/^m=\\S+ \\d+ \\S+ (.*)/) || [])[1]}));
  const owner = {};
  for (const [tr, tid] of s.trackOf) { const d = s.tracks.get(tid); if (tr.mid !== null && d) owner[tr.mid] = d.participant; }
  const codecs = {};
  for (const [tr] of s.trackOf) if (tr.mid !== null) codecs[tr.mid] = (tr.receiver.getParameters().codecs || []).map((c) => c.mimeType);
  return {transceivers: pc.getTransceivers().length, owner, sections, codecs,
          answer: pc.remoteDescription ? pc.remoteDescription.sdp : '', offer};
}"""


# bytes of one receiving m-line in this Chromium's offer, without candidates: with every codec it knows, and
# trimmed to the track's codec (+ RTX) as the client does (a throwaway connection, nothing is sent)
OFFER_SIZES_JS = """async () => {
  const { receiveCodec } = await import('/static/session.js');
  const pc = new RTCPeerConnection();
  const out = {};
  for (const [kind, codec] of [['audio', 'opus'], ['video', 'vp8'], ['video', 'h264']]) {
    const cs = RTCRtpReceiver.getCapabilities(kind).codecs;
    pc.addTransceiver(kind, {direction: 'recvonly'});
    pc.addTransceiver(kind, {direction: 'recvonly'}).setCodecPreferences([receiveCodec(cs, kind, codec),
      ...(kind === 'video' ? cs.filter((c) => c.mimeType === 'video/rtx') : [])]);
  }
  const sdp = (await pc.createOffer()).sdp;
  pc.close();
  const b = sdp.split(/\\r\\n(?=m=)/).slice(1).map((t) => t.split('\\r\\n').filter((l) => l &&
    !l.startsWith('a=candidate') && l !== 'a=end-of-candidates').join('\\r\\n').length + 2);
  return {audio: {all: b[0], trimmed: b[1]}, vp8: {all: b[2], trimmed: b[3]}, h264: {all: b[4], trimmed: b[5]}};
}"""


def mlines(p: Participant) -> dict[str, Any]:
    assert p.page is not None
    return p.page.evaluate(MLINES_JS)  # type: ignore[no-any-return]


def mls_reuse(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """A, B and C in an E2EE meeting (VP8); B leaves; D joins sending H.264, and at A and C its tracks take the
    m-lines B's had (reused, the receiving codecs trimmed to the track's: the video m-line's codec and payload
    types change). Every page then sees every other page's camera: frames decoded and a picture not black."""
    from tests.browser.picture import seen

    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    parts: dict[str, Participant] = {}
    try:
        _open(pw, cfg, parts, console, "A")
        time.sleep(1.5)
        _open(pw, cfg, parts, console, "B")
        _open(pw, cfg, parts, console, "C")
        s = poll(lambda: states(parts), lambda x: agreed(x, 3), 40, 0.5)
        assert agreed(s, 3), summary(s)
        all_decoding(parts, 30)
        ids = {k: v["participant"] for k, v in s.items()}
        result["before"] = {k: mlines(parts[k]) for k in ("A", "C")}
        _close(parts, "B")
        s = poll(lambda: states(parts), lambda x: agreed(x, 2), 30, 0.5)
        assert agreed(s, 2), summary(s)
        _open(pw, cfg, parts, console, "D", codec="h264")
        s = poll(lambda: states(parts), lambda x: agreed(x, 3), 40, 0.5)
        result["agreed"] = agreed(s, 3)
        result["summary"] = summary(s)
        ids["D"] = s["D"]["participant"]
        result["ids"] = ids
        result["after"] = {k: mlines(parts[k]) for k in ("A", "C", "D")}
        assert parts["A"].page is not None
        result["offer_bytes"] = parts["A"].page.evaluate(OFFER_SIZES_JS)
        log("bytes per receiving m-line", result["offer_bytes"])
        result["seen"] = {}
        for k, p in parts.items():
            assert p.page is not None
            for o in parts:
                if o != k:
                    result["seen"][f"{k}/{o}"] = seen(p.page, ids[o], timeout=30)
                    log("seen", k, o, result["seen"][f"{k}/{o}"])
    finally:
        result["final"] = {k: {"log": v["log"], "sessionLog": v["sessionLog"], "video": v["video"]} for k, v in
                           (states(parts).items() if parts else [])}
        for p in parts.values():
            p.close()


# ---------------------------------------------------------------------------------------------------- the departed

# the state a departing member could keep: its epoch's exporter secret (the MLS state's part frame keys come from;
# ts-mls state objects hold functions, so they cannot be cloned whole) and the SFrame base key derived from it
SAVE_JS = """async () => {
  const m = window.castellanApp.e2ee.member;
  const mls = await import('/static/vendor/ts-mls.js');
  const sf = await import('/static/e2ee/sframe.js');
  // copies (the live state is zeroed as the member moves on): its epoch's exporter secret, and what it derives
  const exporter = m.group.keySchedule.exporterSecret.slice();
  const base = await mls.mlsExporter(exporter, sf.EXPORTER_LABEL, new Uint8Array(0), sf.NK, m.cs);
  window.__saved = {epoch: m.epoch, exporter: Array.from(exporter), base: Array.from(base),
    leaves: window.castellanApp.e2ee.roster().map((l) => [l.leaf, l.participant])};
  return {epoch: m.epoch, leaves: window.__saved.leaves};
}"""

# tries each captured frame under its own sender: the leaf its SFrame KID names (KID = leaf << 8 | epoch mod 256),
# mapped to a participant by the key holder's roster; a frame whose leaf is in no roster counts as `unknown_leaf`
TRY_JS = """async ({frames, saved, asEpoch}) => {
  const sf = await import('/static/e2ee/sframe.js');
  const codec = await import('/static/e2ee/codec.js');
  let k = saved ? window.__saved : null;
  if (k && asEpoch !== null) k = {...k, epoch: asEpoch};  // the old key tried as if it were the new epoch's
  if (!k) {  // a current member's keys, the control: the same frames must open with them
    const m = window.castellanApp.e2ee.member;
    const mls = await import('/static/vendor/ts-mls.js');
    const base = await mls.mlsExporter(m.group.keySchedule.exporterSecret, sf.EXPORTER_LABEL, new Uint8Array(0), sf.NK, m.cs);
    k = {epoch: m.epoch, base: Array.from(base), leaves: window.castellanApp.e2ee.roster().map((l) => [l.leaf, l.participant])};
  }
  const byLeaf = new Map(k.leaves);
  const out = {epoch: k.epoch, opened: 0, tried: 0, reasons: {}, senders: {}};
  for (const b64 of frames) {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const info = {kind: 'video', codec: 'vp8', keyframe: !(data[0] & 1)};
    const hdr = sf.decodeHeader(data.subarray(codec.clearBytes(info, data).n));
    const leaf = hdr ? Math.floor(hdr.kid / 2 ** sf.EPOCH_BITS) : null;
    const participant = leaf === null ? undefined : byLeaf.get(leaf);
    out.tried += 1;
    let reason;
    if (participant === undefined) reason = hdr ? 'unknown_leaf' : 'malformed';
    else {
      out.senders[participant] = (out.senders[participant] || 0) + 1;
      const fc = new sf.FrameCrypto();
      fc.setEpoch({epoch: k.epoch, baseKey: new Uint8Array(k.base), leaves: k.leaves, myLeaf: -1});
      const r = await fc.decrypt(data, {...info, participant});
      if (r.ok) { out.opened += 1; continue; }
      reason = r.reason;
    }
    out.reasons[reason] = (out.reasons[reason] || 0) + 1;
  }
  return out;
}"""


def mls_departed(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Carol saves her state (MLS group state, her epoch's SFrame key) and leaves; once Alice and Bob are on the
    epoch of her removal and 1.5 s more have passed, a bot records what the node forwards. Carol's saved state
    opens none of those frames; Alice's current keys open them (the control)."""
    import base64
    import subprocess
    import sys

    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    art = Path(cfg["artifacts"])
    parts: dict[str, Participant] = {}
    try:
        _open(pw, cfg, parts, console, "A")
        time.sleep(1.5)
        _open(pw, cfg, parts, console, "B")
        _open(pw, cfg, parts, console, "C")
        s = poll(lambda: states(parts), lambda x: agreed(x, 3), 40, 0.5)
        assert agreed(s, 3), summary(s)
        all_decoding(parts, 20)
        carol = parts.pop("C")
        assert carol.page is not None
        result["saved"] = carol.page.evaluate(SAVE_JS)
        carol.page.click("#btn-leave")
        s = poll(lambda: states(parts), lambda x: agreed(x, 2), 30, 0.5)
        assert agreed(s, 2), summary(s)
        result["removal_epoch"] = s["A"]["epoch"]
        result["remaining"] = sorted(v["participant"] for v in s.values())
        time.sleep(1.5)  # frames sent ≥ 1 s after the removal commit
        capture = art / "departed-capture"
        for f in capture.glob("*"):
            f.unlink()
        out = art / "departed-capture.json"
        subprocess.run([sys.executable, str(Path(__file__).with_name("capture_bot.py")), cfg["ws_url"],
                        cfg["tokens"]["bot"], "10", str(out), str(capture)], capture_output=True, timeout=60, check=False)
        frames = [base64.b64encode(f.read_bytes()).decode() for f in sorted(capture.glob("video-*.vp8"))]
        result["captured"] = len(frames)
        result["epoch_after"] = state(parts["A"])["epoch"]
        result["departed"] = carol.page.evaluate(TRY_JS, {"frames": frames, "saved": True, "asEpoch": None})
        result["departed_relabelled"] = carol.page.evaluate(
            TRY_JS, {"frames": frames, "saved": True, "asEpoch": result["epoch_after"]})
        assert parts["A"].page is not None
        result["member"] = parts["A"].page.evaluate(TRY_JS, {"frames": frames, "saved": False, "asEpoch": None})
        log("departed", result["saved"], result["removal_epoch"], result["departed"], result["member"])
        carol.close()
    finally:
        for p in parts.values():
            p.close()


# ---------------------------------------------------------------------------------------------------- hostile node


class Attack:
    """What one hostile-node scenario has to hand: the proxy, the pages, and what it found."""

    def __init__(self, pw: Playwright, cfg: dict[str, Any], proxy: HostileNode, parts: dict[str, Participant],
                 console: list[str], result: dict[str, Any]) -> None:
        self.pw, self.cfg, self.proxy, self.parts, self.console, self.result = pw, cfg, proxy, parts, console, result

    def id(self, key: str) -> str:
        return str(state(self.parts[key])["participant"])

    def open(self, key: str, secret: str | None = None) -> Participant:
        return _open(self.pw, self.cfg, self.parts, self.console, key, ws_url=self.proxy.url, secret=secret)

    def record(self, label: str, keys: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
        s = {k: state(p) for k, p in self.parts.items() if keys is None or k in keys}
        self.result[label] = {k: {**summary({k: v})[k], "tiles": v["tiles"], "members": v["members"],
                                  "joining": v["joining"], "refusals": (v["status"] or {}).get("refusals"),
                                  "warnings": v["warnings"], "lockText": v["lock"], "safetyEpoch": v["safetyEpoch"],
                                  "safetyShown": v["safetyShown"], "frames": frame_counts(s) if len(s) > 1 else {}}
                              for k, v in s.items()}
        log(label, summary(s))
        return s


def _mls(link: Link, kind: str, direction: str = "from_node") -> list[Msg]:
    return [m for m in getattr(link, direction) if m.get("type") == kind]


def attack_ghost(x: Attack) -> None:
    """The node announces a participant that never joined, forwards a KeyPackage in its name (a real one, lifted
    from Bob's own join) and a commit from it (a real one, replayed from Alice's first)."""
    a, b = x.id("A"), x.id("B")
    la, lb = x.proxy.link(a), x.proxy.link(b)
    kp = _mls(lb, "mls_key_package", "to_node")[0]["data"]
    old_commit = _mls(la, "mls_commit", "to_node")[0]
    epoch = state(x.parts["A"])["epoch"]
    for link in (la, lb):
        link.inject({"type": "presence", "changes": [{"type": "participant_joined",
                                                      "participant": {"id": "ghost", "name": "Ghost"}}]})
        link.inject({"type": "mls_join_request", "from": "ghost", "data": kp})
        link.inject({"type": "mls_commit", "from": "ghost", "epoch": epoch, "commit": old_commit["commit"]})
    time.sleep(6)  # past every member's commit timer (rank × 1.5 s)
    x.record("after")


def attack_forged_from(x: Attack) -> None:
    """Carol joins for real; the node relabels her KeyPackage as coming from a ghost, and relabels the commits and
    Welcome it relays as coming from someone else."""
    a, b = x.id("A"), x.id("B")

    def down(link: Link, m: Msg) -> list[Msg]:
        if m.get("type") == "mls_join_request":
            return [{**m, "from": "ghost"}]
        if m.get("type") in ("mls_commit", "mls_welcome"):
            return [{**m, "from": "ghost"}]
        return [m]

    x.proxy.down = down
    x.open("C")
    time.sleep(8)
    x.record("after")
    x.result["ids"] = {"A": a, "B": b, "C": x.id("C")}


def _churn_c(x: Attack) -> None:
    """Carol joins and leaves, so the pages have seen commits to replay."""
    x.open("C")
    poll(lambda: states(x.parts), lambda s: agreed(s, 3), 30, 0.5)
    _close(x.parts, "C")
    poll(lambda: states(x.parts), lambda s: agreed(s, 2), 30, 0.5)


def attack_replay(x: Attack) -> None:
    """After Carol joined and left, the node replays to Alice and Bob every handshake message it relayed before:
    as they were, and relabelled with the current epoch; and Carol's old Welcome to Bob."""
    a, b = x.id("A"), x.id("B")
    _churn_c(x)
    x.record("before_replay")
    epoch = state(x.parts["A"])["epoch"]
    for pid in (a, b):
        link = x.proxy.link(pid)
        old = [m for ln in x.proxy.links for m in ln.from_node if m.get("type") in ("mls_commit", "mls_welcome",
                                                                                    "mls_join_request")]
        for m in old:
            link.inject(m)
            if m["type"] == "mls_commit":
                link.inject({**m, "epoch": epoch})
    time.sleep(6)
    x.record("after")


def attack_reorder_drop(x: Attack) -> None:
    """While Carol joins and Dee joins, the node withholds every commit from Bob; then hands them over in
    reverse order."""
    b = x.id("B")
    held: list[Msg] = []

    def down(link: Link, m: Msg) -> list[Msg]:
        if link.participant == b and m.get("type") in ("mls_commit", "mls_resync"):
            held.append(m)
            return []
        return [m]

    x.proxy.down = down
    x.open("C")
    time.sleep(8)
    x.record("dropping")
    x.proxy.down = None
    lb = x.proxy.link(b)
    for m in reversed(held):
        lb.inject(m)
    x.result["held"] = len(held)
    s = poll(lambda: states(x.parts), lambda s: agreed(s, 3), 30, 0.5)
    x.result["recovered"] = agreed(s, 3)
    x.record("after")


def attack_alone(x: Attack) -> None:
    """The node tells Carol she is alone (no group, nobody here, no tracks), answers her `mls_create` itself and
    keeps every later handshake message from her."""
    first = len(x.proxy.links)  # Carol's connection is the next one

    def down(link: Link, m: Msg) -> list[Msg]:
        if link.n >= first:
            if m.get("type") == "joined":
                return [{**m, "mls": {"epoch": None}, "participants": [], "tracks": []}]
            if m.get("type") in ("presence", "participant_joined", "participant_left", "track_published") or \
                    str(m.get("type")).startswith("mls_"):
                return []
        return [m]

    def up(link: Link, m: Msg) -> list[Msg]:
        if link.n >= first and str(m.get("type")).startswith("mls_"):
            if m["type"] == "mls_create":
                link.inject({"type": "mls_created", "epoch": 0})
            return []
        return [m]

    x.proxy.down, x.proxy.up = down, up
    x.open("C")
    time.sleep(8)
    x.record("after")
    x.result["ids"] = {k: x.id(k) for k in ("A", "B", "C")}


def attack_huge_epoch(x: Attack) -> None:
    """The node announces epochs no group has reached (2^53 − 1, 2^53, 1e300) in commits, rejections, creations
    and Welcomes; then Carol joins for real: the group must still work."""
    a, b = x.id("A"), x.id("B")
    old_commit = _mls(x.proxy.link(a), "mls_commit", "to_node")[0]["commit"]
    for pid in (a, b):
        link = x.proxy.link(pid)
        for e in (2**53 - 1, 2**53, 1e300, -1):
            link.inject({"type": "mls_commit", "from": a if pid == b else b, "epoch": e, "commit": old_commit})
            link.inject({"type": "mls_commit_rejected", "epoch": e, "reason": "stale_epoch"})
            link.inject({"type": "mls_created", "epoch": e})
            link.inject({"type": "mls_welcome", "from": a, "epoch": e, "data": old_commit})
    time.sleep(4)
    x.record("after")
    x.open("C")
    s = poll(lambda: states(x.parts), lambda s: agreed(s, 3), 30, 0.5)
    x.result["recovered"] = agreed(s, 3)
    x.record("with_carol")


def attack_forged_resync(x: Attack) -> None:
    """The node tells Alice and Bob that what they missed is gone (`mls_resync`): on its word alone, with a
    GroupInfo that is not one, and with the real GroupInfo of the epoch they are in (replayed); and that the room
    has no group any more (epoch null). The old client dropped its group on the first (and, until the `codecs`
    branch, on the last); now each member keeps it, asks for commits (amber meanwhile), and is green again on
    the same epoch."""
    a, b = x.id("A"), x.id("B")
    epoch = state(x.parts["A"])["epoch"]
    real = _mls(x.proxy.link(a), "mls_commit", "to_node")[0]["group_info"]  # Alice's commit that added Bob
    kps = len(_mls(x.proxy.link(a), "mls_key_package", "to_node")) + len(_mls(x.proxy.link(b), "mls_key_package", "to_node"))
    creates = len(_mls(x.proxy.link(a), "mls_create", "to_node")) + len(_mls(x.proxy.link(b), "mls_create", "to_node"))
    before = frame_counts(states(x.parts))
    for pid in (a, b):
        link = x.proxy.link(pid)
        link.inject({"type": "mls_resync", "epoch": epoch + 1})
        link.inject({"type": "mls_resync", "epoch": epoch + 5, "group_info": "AAAA"})
        link.inject({"type": "mls_resync", "epoch": epoch + 1, "group_info": real})
        link.inject({"type": "mls_resync", "epoch": None})
    time.sleep(1)
    x.record("during")
    s = poll(lambda: states(x.parts), lambda s: agreed(s, 2), 40, 0.5)
    x.result["recovered"] = agreed(s, 2)
    all_decoding(x.parts, 20, before)
    x.record("after")
    x.result["key_packages_sent"] = (len(_mls(x.proxy.link(a), "mls_key_package", "to_node")) +
                                     len(_mls(x.proxy.link(b), "mls_key_package", "to_node")) - kps)
    x.result["creates_sent"] = len(_mls(x.proxy.link(a), "mls_create", "to_node")) + len(
        _mls(x.proxy.link(b), "mls_create", "to_node")) - creates


def attack_wrong_link(x: Attack) -> None:
    """Carol opens the meeting with a wrong (or outdated) link secret: the node lists her and forwards her
    KeyPackage; the members must not add her, and her own screen must say why she is not in."""
    import base64
    import secrets as _secrets

    wrong = base64.urlsafe_b64encode(_secrets.token_bytes(32)).rstrip(b"=").decode()
    x.open("C", secret=wrong)
    time.sleep(11)  # past the joiner's 8-s notice (JOIN_WAIT_MS), counted from when her page has joined
    # on a loaded machine her page may take seconds to join: wait (bounded) for the notice, then read everyone
    poll(lambda: summary(states({"C": x.parts["C"]}))["C"]["reason"] or "",
         lambda reason: "link may be wrong" in reason, 20, 0.5)
    x.record("after")
    x.result["ids"] = {k: x.id(k) for k in ("A", "B", "C")}


ATTACKS: dict[str, Callable[[Attack], None]] = {
    "ghost": attack_ghost, "forged_from": attack_forged_from, "replay": attack_replay,
    "reorder_drop": attack_reorder_drop, "alone": attack_alone, "huge_epoch": attack_huge_epoch,
    "forged_resync": attack_forged_resync, "wrong_link": attack_wrong_link,
}


def mls_hostile(pw: Playwright, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    """Alice and Bob meet through the hostile node; then `cfg['attack']` runs (ATTACKS)."""
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    parts: dict[str, Participant] = {}
    proxy = HostileNode(cfg["ws_url"], PROXY_PORT).start()
    try:
        x = Attack(pw, cfg, proxy, parts, console, result)
        x.open("A")
        time.sleep(1.5)
        x.open("B")
        s = poll(lambda: states(parts), lambda s: agreed(s, 2), 30, 0.5)
        assert agreed(s, 2), summary(s)
        x.record("before")
        ATTACKS[cfg["attack"]](x)
        parts["A"].shot(Path(cfg["artifacts"]), f"mls-hostile-{cfg['attack']}.png", result)
        result["dropped"] = len(proxy.dropped)
    finally:
        result["final"] = {k: {"log": v["log"], "sessionLog": v["sessionLog"]} for k, v in
                           (states(parts).items() if parts else [])}
        for p in parts.values():
            p.close()
        proxy.stop()


SCENARIOS: dict[str, Callable[[Playwright, dict[str, Any], dict[str, Any]], None]] = {
    "mls_churn": mls_churn,
    "mls_hostile": mls_hostile,
    "mls_departed": mls_departed,
    "mls_reuse": mls_reuse,
}
__all__ = ["SCENARIOS", "HostileNode", "Link", "Msg", "PROXY_PORT"]
