"""Playing a recorded file through the admin API: a play ticket minted with the tenant's admin key (audited once,
who and which file), then the file's plaintext under that ticket, whole or by byte range, as a `<video>` element
fetches it. The hostile side: another tenant's key, a ticket used for another file, recording or tenant, an
altered, expired or orphaned ticket (its key revoked), names that climb out of the recording, ranges that make no
sense. A legal hold does not stop playback: it stops deletion."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from recording.archive import Recording
from recording.envelope import CHUNK
from signalling.control import playtickets
from tests.control.cp_env import Env, make_env
from tests.control.recording_env import add_file, admin_actor, record

BIG = "p-alice-cam-video.webm"


def _accesses(env: Env, tenant: str = "acme") -> list[Any]:
    return [r for r in env.residency.audit.tenant_records(tenant) if r.kind == "recording.accessed"]


def _with_video(env: Env, rec: Recording, size: int) -> bytes:
    """A video file of `size` bytes added to the recording as the recorder stores one (several envelope chunks)."""
    body = os.urandom(size)
    src = env.tmp / BIG
    src.write_bytes(body)
    add_file(env.config, rec, src, "video", participant="p-alice", codec="vp8")
    return body


def _plain(env: Env, rec: Recording, name: str) -> bytes:
    return (env.tmp / "recorder-work" / rec.id / name).read_bytes()  # what the recorder sealed


def _ticket(env: Env, rec: Recording, name: str, key: str | None = None, tenant: str = "acme") -> Any:
    return env.client.post(f"/v1/tenants/{tenant}/recordings/{rec.id}/files/{name}/play", json={},
                           headers={"Authorization": f"Bearer {key or env.admin_key}"})


def test_a_file_plays_whole_and_by_range_and_each_playback_is_audited_once(renv: Env) -> None:
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    video = _with_video(renv, rec, 2 * CHUNK + 12345)
    r = _ticket(renv, rec, BIG)
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["content_type"], t["kind"], t["size"]) == ("video/webm", "video", len(video))
    assert renv.admin_key not in t["url"] and t["url"].startswith(f"/v1/tenants/acme/recordings/{rec.id}/files/{BIG}/")
    whole = renv.client.get(t["url"])  # no Authorization: the ticket is the credential
    assert whole.status_code == 200 and whole.content == video
    assert whole.headers["content-type"] == "video/webm" and whole.headers["cache-control"] == "no-store"
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-length"] == str(len(video))
    # the ranges a <video> asks for while it seeks: across the envelope's chunk boundaries, open-ended, suffix
    n = len(video)
    for header, first, last in (("bytes=0-1", 0, 1), (f"bytes={CHUNK - 5}-{CHUNK + 5}", CHUNK - 5, CHUNK + 5),
                                (f"bytes={2 * CHUNK}-", 2 * CHUNK, n - 1), ("bytes=-100", n - 100, n - 1),
                                (f"bytes={n - 1}-{n + 999}", n - 1, n - 1)):
        part = renv.client.get(t["url"], headers={"Range": header})
        assert part.status_code == 206, (header, part.text)
        assert part.headers["content-range"] == f"bytes {first}-{last}/{n}", header
        assert part.content == video[first:last + 1], header
        assert part.headers["cache-control"] == "no-store"
    # an audio file is audio/webm
    a = _ticket(renv, rec, "p-bob-audio.webm").json()
    assert a["content_type"] == "audio/webm"
    assert renv.client.get(a["url"]).content == _plain(renv, rec, "p-bob-audio.webm")
    # two grants, two records: who, which file, which ticket; the range requests add none
    grants = _accesses(renv)
    assert [(g.actor, g.data["recording"], g.data["file"], g.data["purpose"], g.data["ticket"]) for g in grants] == [
        (admin_actor(renv), rec.id, BIG, "play", t["ticket"]), (admin_actor(renv), rec.id, "p-bob-audio.webm", "play",
                                                           a["ticket"])]


def test_a_range_that_makes_no_sense_is_416_with_the_size(renv: Env) -> None:
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    n = len(_plain(renv, rec, "p-alice-audio.webm"))
    url = _ticket(renv, rec, "p-alice-audio.webm").json()["url"]
    for header in (f"bytes={n}-", f"bytes={n + 5}-{n + 9}", "bytes=9-3", "bytes=0-1,4-5", "items=0-1", "bytes=-0",
                   "bytes=x-1", "bytes=5", "bytes=1-٣".encode(), "bytes=" + "9" * 30 + "-"):
        r = renv.client.get(url, headers={"Range": header})  # type: ignore[dict-item]
        assert (r.status_code, r.json()["error"]) == (416, "range_not_satisfiable"), (header, r.text)
        assert r.headers["content-range"] == f"bytes */{n}", header


def test_a_ticket_opens_its_own_file_of_its_own_recording_of_its_own_tenant_only(renv: Env) -> None:
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice", "p-bob": "Bob"})
    other = record(renv.config, renv.tmp, "standup", {"p-alice": "Alice"})
    theirs = record(renv.config, renv.tmp, "globex-board", {"p-alice": "Gus"}, tenant="globex")
    t = _ticket(renv, rec, "p-alice-audio.webm").json()
    ticket = t["url"].rsplit("/", 1)[1]
    assert len(ticket) == playtickets.LENGTH
    for path in (f"/v1/tenants/acme/recordings/{rec.id}/files/p-bob-audio.webm/media/{ticket}",  # another file
                 f"/v1/tenants/acme/recordings/{other.id}/files/p-alice-audio.webm/media/{ticket}",  # recording
                 f"/v1/tenants/globex/recordings/{theirs.id}/files/p-alice-audio.webm/media/{ticket}",  # tenant
                 f"/v1/tenants/acme/recordings/{rec.id}/files/chat.jsonl/media/{ticket}"):
        r = renv.client.get(path)
        assert (r.status_code, r.json()["error"]) == (403, "invalid_ticket"), (path, r.text)
    # one changed character anywhere in the ticket (its expiry, id, key or MAC): refused
    for i in (0, 15, 30, 79):
        c = ticket[i]
        forged = ticket[:i] + ("A" if c != "A" else "B") + ticket[i + 1:]
        r = renv.client.get(t["url"].replace(ticket, forged))
        assert (r.status_code, r.json()["error"]) == (403, "invalid_ticket"), i
    # a chat or timeline is not played (export it)
    r = _ticket(renv, rec, "chat.jsonl")
    assert (r.status_code, r.json()["error"]) == (422, "not_playable")
    assert [g.data["file"] for g in _accesses(renv)] == ["p-alice-audio.webm"]
    assert _accesses(renv, "globex") == []


def test_another_tenants_admin_gets_403_and_nothing_is_audited(renv: Env) -> None:
    globex = renv.other_tenant()
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    before = len(renv.residency.audit.tenant_records("acme"))
    r = _ticket(renv, rec, "p-alice-audio.webm", key=globex)
    assert (r.status_code, r.json()["error"]) == (403, "forbidden")
    # under its own tenant's path acme's recording does not exist
    r = _ticket(renv, rec, "p-alice-audio.webm", key=globex, tenant="globex")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")
    assert len(renv.residency.audit.tenant_records("acme")) == before
    assert _accesses(renv, "globex") == []


def test_an_expired_ticket_or_one_whose_key_was_revoked_is_refused(renv: Env) -> None:
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    url = _ticket(renv, rec, "p-alice-audio.webm").json()["url"]
    assert renv.client.get(url).status_code == 200
    assert renv.control.recordings is not None
    renv.control.recordings.clock = lambda: time.time() + playtickets.TTL + 1
    r = renv.client.get(url)
    assert (r.status_code, r.json()["error"]) == (410, "ticket_expired")
    renv.control.recordings.clock = time.time
    # a second admin key of the tenant mints a ticket, then is revoked: its tickets stop at once
    made = renv.client.post("/v1/tenants/acme/admin-keys", json={"label": "auditor"}, headers=renv.admin()).json()
    url2 = _ticket(renv, rec, "p-alice-audio.webm", key=made["key"]).json()["url"]
    assert renv.client.get(url2).status_code == 200
    r = renv.client.delete(f"/v1/tenants/acme/admin-keys/{made['key_id']}", headers=renv.admin())
    assert r.status_code == 200, r.text
    r = renv.client.get(url2)
    assert (r.status_code, r.json()["error"]) == (403, "invalid_ticket")
    # a deleted recording has nothing left to play
    renv.client.delete(f"/v1/tenants/acme/recordings/{rec.id}", headers=renv.admin())
    assert renv.client.get(url).status_code == 404


def test_a_recording_under_legal_hold_still_plays(renv: Env) -> None:
    rec = record(renv.config, renv.tmp, "inquiry", {"p-alice": "Alice"})
    r = renv.client.post("/v1/tenants/acme/recording-holds", json={"scope": "meeting", "target": "inquiry",
                                                                   "reason": "case 9"}, headers=renv.admin())
    assert r.status_code == 201
    t = _ticket(renv, rec, "p-alice-audio.webm")
    assert t.status_code == 201, t.text
    assert renv.client.get(t.json()["url"]).content == _plain(renv, rec, "p-alice-audio.webm")


def test_names_that_climb_out_of_the_recording_are_refused_and_nothing_is_read(renv: Env) -> None:
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    good = _ticket(renv, rec, "p-alice-audio.webm").json()["url"].rsplit("/", 1)[1]
    before = len(renv.residency.audit.tenant_records("acme"))
    base = f"/v1/tenants/acme/recordings/{rec.id}/files"
    for name in ("..", "...", "..%2Fdek.json", "..%2F..%2Facme%2Fdek.json", "%2E%2E", ".hidden", "a..b",
                 "p-alice-audio.webm%00", "dek.json", f"..%2F{rec.id}%2Fp-alice-audio.webm", "%2Fetc%2Fpasswd"):
        r = renv.client.post(f"{base}/{name}/play", json={}, headers=renv.admin())
        assert r.status_code in (400, 404), (name, r.status_code, r.text)
        g = renv.client.get(f"{base}/{name}/media/{good}")
        assert g.status_code in (400, 403, 404), (name, g.status_code, g.text)
        assert not g.headers.get("content-type", "").startswith(("video", "audio")), name
    assert len(renv.residency.audit.tenant_records("acme")) == before


def test_without_a_recording_volume_the_media_endpoint_says_so(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    try:
        r = env.client.get("/v1/tenants/acme/recordings/rec-0000000000000000/files/a.webm/media/" + "A" * 80)
        assert (r.status_code, r.json()["error"]) == (404, "recording_not_configured")
    finally:
        env.control.close()


def test_an_altered_sealed_file_is_a_503_with_no_plaintext_and_tickets_stay_out_of_the_access_log(renv: Env) -> None:
    from signalling.control.accesslog import redact

    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    url = _ticket(renv, rec, "p-alice-audio.webm").json()["url"]
    ticket = url.rsplit("/", 1)[1]
    assert ticket not in redact(url) and redact(url).endswith("/media/<redacted>")  # access log: no ticket
    assert renv.config.recording_volume is not None
    sealed = renv.config.recording_volume / "acme" / rec.id / "p-alice-audio.webm"
    body = bytearray(sealed.read_bytes())
    body[40] ^= 0x01  # inside the first chunk's ciphertext
    sealed.write_bytes(bytes(body))
    r = renv.client.get(url)
    assert (r.status_code, r.json()["error"]) == (503, "recording_unreadable"), r.text
    assert _plain(renv, rec, "p-alice-audio.webm")[:64] not in r.content


def test_a_seek_into_rearranged_chunks_is_a_503_and_a_range_past_the_end_is_416(renv: Env) -> None:
    """A ranged read opens only the chunks it needs, so each must still prove its place: someone with the volume
    swaps two chunks of a long file (or copies one over the next) and the player seeks into them."""
    rec = record(renv.config, renv.tmp, "board", {"p-alice": "Alice"})
    video = _with_video(renv, rec, 4 * CHUNK + 321)
    n = len(video)
    url = _ticket(renv, rec, BIG).json()["url"]
    # the end of a long file, without its beginning: exactly those bytes
    tail = renv.client.get(url, headers={"Range": f"bytes={n - CHUNK}-{n - 1}"})
    assert (tail.status_code, tail.content) == (206, video[n - CHUNK:])
    for header in (f"bytes={n}-", f"bytes={n + CHUNK}-{n + 2 * CHUNK}", f"bytes={5 * CHUNK}-"):
        r = renv.client.get(url, headers={"Range": header})
        assert (r.status_code, r.json()["error"]) == (416, "range_not_satisfiable"), header
        assert r.headers["content-range"] == f"bytes */{n}"
    assert renv.config.recording_volume is not None
    sealed = renv.config.recording_volume / "acme" / rec.id / BIG
    good = sealed.read_bytes()
    head, frame = 15, 4 + CHUNK + 16
    chunk = [good[head + i * frame:head + (i + 1) * frame] for i in range(4)]
    for label, body in (("swapped", good[:head] + chunk[0] + chunk[2] + chunk[1] + good[head + 3 * frame:]),
                        ("duplicated", good[:head] + chunk[0] + chunk[1] + chunk[1] + good[head + 3 * frame:])):
        sealed.write_bytes(body)
        r = renv.client.get(url, headers={"Range": f"bytes={2 * CHUNK + 7}-{2 * CHUNK + 99}"})
        assert (r.status_code, r.json()["error"]) == (503, "recording_unreadable"), (label, r.text)
        assert video[2 * CHUNK + 7:2 * CHUNK + 99] not in r.content and video[CHUNK + 7:CHUNK + 99] not in r.content
    sealed.write_bytes(good[:head + 3 * frame])  # the final chunk cut off: not the size the archive recorded
    r = renv.client.get(url, headers={"Range": f"bytes={CHUNK}-{CHUNK + 9}"})
    assert (r.status_code, r.json()["error"]) == (503, "recording_unreadable"), r.text
