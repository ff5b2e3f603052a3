"""The tenant admin console under test: a real control plane (SQLite, residency, a node admin endpoint that
verifies the control plane's JWT) served by uvicorn on 127.0.0.1, Debian's Chromium driven by Playwright, and
axe-core (npm, pinned in tests/console/axe/package.json) injected into the page."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from signalling.control.config import ControlConfig
from tests.control.cp_env import Env, make_env
from tests.control.fake_node import FakeNode, fake_node
from tests.control.live import serve

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts" / "console"
CHROMIUM = os.environ.get("CASTELLAN_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


@dataclass
class Console:
    env: Env
    url: str
    node: FakeNode

    def api(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {key or self.env.admin_key}"}
        return self.env.client.request(method, path, headers=headers, **kw)


@contextmanager
def console_stack(tmp_path: Path, configure: Callable[[ControlConfig], None] | None = None) -> Iterator[Console]:
    holder: dict[str, Env] = {}
    with fake_node("node-eu-1", lambda: holder["env"].control.keyring.jwks()) as node:
        env = holder["env"] = make_env(tmp_path, node_http=node.url, configure=configure)
        env.residency.define_region("ch-1", "CH", "Zurich, CH", "Switzerland", actor="operator")
        stop = threading.Event()

        def heartbeat() -> None:  # the node's signed record stays fresh, as a live node's does
            while not stop.wait(1.0):
                env.residency.node_heartbeat("node-eu-1", 0.0)

        beats = threading.Thread(target=heartbeat, daemon=True)
        beats.start()
        try:
            with serve(env.client.app) as url:
                env.control.config.public_url = url
                yield Console(env, url, node)
        finally:
            stop.set()
            beats.join(5)
            env.control.close()


def launch(pw: Any) -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (scripts/setup.sh --test installs it)")
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True,  # type: ignore[no-any-return]
                              args=["--no-sandbox", "--disable-gpu", "--headless=new"])


def open_console(browser: Browser, url: str, errors: list[str], viewport: dict[str, int] | None = None) -> Page:
    ctx = browser.new_context(viewport=viewport or {"width": 1280, "height": 860})  # type: ignore[arg-type]
    ctx.set_default_timeout(60000)  # bounded waits, generous for a shared, loaded CI machine
    page = ctx.new_page()
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto(f"{url}/console", wait_until="load", timeout=60000)
    return page


def sign_in(page: Page, key: str) -> None:
    page.fill("#key", key)
    page.click("#sign-in-button")
    page.wait_for_selector("#console-view:not([hidden])", timeout=10000)


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe(page: Page, name: str) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is now (all written to
    artifacts/console/<name>-axe.json)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: npm ci --prefix tests/console/axe (scripts/setup.sh --test runs it)")
    # evaluated over the DevTools protocol: the page's CSP (no inline script) stays on while axe runs
    assert page.evaluate("() => {" + AXE.read_text() + "\n; return typeof window.axe; }") == "object"
    result = page.evaluate("async () => { const r = await axe.run(document); return r.violations.map(v => "
                           "({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target)})); }")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}-axe.json").write_text(json.dumps(result, indent=2))
    return [v for v in result if v["impact"] in ("serious", "critical")]
