"""The pool's recorder page is handed its job by its own browser, never by a URL (recording/pool/launcher.py), and
that browser alone adds exactly its sink's origin to the page's connect-src. The browser half is proved in
tests/recording/test_recorder_pool_browser.py (a production control plane); here the pure parts, attacked."""

from __future__ import annotations

import json

import pytest

from recording.pool.launcher import job_script, page_address, recorder_job, sink_origin, with_sink
from signalling.control.csp import client_csp

ANSWER = {"ws_url": "wss://node-1.example.org/ws", "token": "h.p.s", "name": "ACME archive", "participant": "rec-1"}


def test_the_page_address_carries_nothing_of_the_job() -> None:
    job = recorder_job(ANSWER, "S" * 43, "ws://127.0.0.1:4567/tok")
    url = page_address("https://meet.example.org/")
    assert url == "https://meet.example.org/static/join.html"
    assert all(v not in url for v in job.values())


def test_the_job_is_data_not_code() -> None:
    hostile = {**ANSWER, "name": "'}); alert(1); ({'", "token": "</script><script>alert(1)</script>"}
    script = job_script(recorder_job(hostile, "S" * 43, "ws://127.0.0.1:4567/tok"))
    prefix = "Object.defineProperty(window, 'castellanRecorderJob', {value: Object.freeze("
    assert script.startswith(prefix)
    body = script[len(prefix):-len("), writable: false, configurable: false});")]
    assert json.loads(body)["name"] == hostile["name"]  # one JSON literal, whatever the strings hold


def test_only_the_sinks_origin_is_added_to_connect_src_and_nothing_else_changes() -> None:
    served = client_csp(("wss://node-1.example.org",))
    changed = with_sink(served, sink_origin("ws://127.0.0.1:4567/secret-token"))
    before = dict(d.strip().split(" ", 1) for d in served.split(";"))
    after = dict(d.strip().split(" ", 1) for d in changed.split(";"))
    assert after.keys() == before.keys()
    assert {k: v for k, v in after.items() if k != "connect-src"} == {k: v for k, v in before.items()
                                                                     if k != "connect-src"}
    assert after["connect-src"] == before["connect-src"] + " ws://127.0.0.1:4567"
    assert "secret-token" not in changed  # an origin, never the token in the sink's path
    assert with_sink("default-src 'none'", "ws://127.0.0.1:1") == "default-src 'none'; connect-src 'self' ws://127.0.0.1:1"


@pytest.mark.parametrize("sink", ["ws://evil.example.org:1/x", "wss://127.0.0.1:1/x", "ws://127.0.0.1/x",
                                  "ws://127.0.0.1.evil.org:1/x", "http://127.0.0.1:1/x", "ws://127.0.0.1:1 *;/x"])
def test_a_sink_off_loopback_or_without_a_port_is_refused(sink: str) -> None:
    with pytest.raises(ValueError):
        sink_origin(sink)
