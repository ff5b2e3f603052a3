"""The E2EE member modules in Debian's Chromium: the vendored ts-mls bundle over this browser's WebCrypto (Ed25519,
X25519, AES-GCM, HKDF), the MLS member, SFrame, and the module worker that seals frames (tests/client/browser.html).

The same modules are tested in depth in Node.js (tests/client/); this proves they run where users run them. The
page and modules are served from a loopback-only HTTP server; nothing else is contacted.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CASTELLAN_CHROMIUM", "/usr/bin/chromium")


class _Files(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript", ".mjs": "text/javascript"}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return


@pytest.fixture
def files_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(ROOT)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_member_modules_in_chromium(files_url: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    from tests.browser.driver import CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{files_url}/tests/client/browser.html", wait_until="load", timeout=15000)
            page.wait_for_function("window.result !== undefined", timeout=60000)
            result = page.evaluate("window.result")
        finally:
            browser.close()
    assert "error" not in result, result.get("error")
    assert not errors, errors
    assert result["epochs"] == [2, 2, 2]
    assert result["rosters"] == ["alice,bob,carol"] * 3
    assert len(set(result["codes"])) == 1 and result["codes"][0]
    assert result["after"] == [[3, "alice,carol"], [3, "alice,carol"]]
    assert result["frame"] is True
    assert result["replay"] == "replay"
    assert result["workers"] == [[3], [3]]  # each worker holds its member's epoch (epoch 2 dropped after the grace)
