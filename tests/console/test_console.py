"""Issue 16, the tenant admin console in Debian's Chromium: each operation done in the page and its effect read
back through the API; every screen photographed (artifacts/console/) and checked by axe-core (no serious or
critical violation), on a desktop and a phone-sized screen. The hostile side: another tenant's admin, a link
holder's credentials, a name crafted as markup, a framing or cross-site page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from recording.pool.attestation import new_key
from tests.console.harness import PHONE, Console, axe, console_stack, launch, open_console, shot, sign_in
from tests.support.waiting import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Console]:
    with console_stack(tmp_path) as c:
        yield c


def checked(page: Page, name: str, errors: list[str], a11y: bool = True) -> None:
    """The screen photographed, accessible (axe: nothing serious or critical; once per kind of screen, as axe
    takes seconds on a loaded machine) and without script errors."""
    shot(page, name)
    if a11y:
        bad = axe(page, name)
        assert bad == [], bad
    assert errors == [], errors


def text(page: Page, selector: str) -> str:
    return str(page.locator(selector).inner_text())


def utc(page: Page, *ms: int) -> list[str]:
    """Times of day in UTC as the page writes them (format.js `clock`)."""
    return list(page.evaluate("(ms) => ms.map((m) => new Date(m).toISOString().slice(11, 19))", list(ms)))


SHOWN = "#player-media > :not([hidden])"  # the player's element on screen (the next segment's waits hidden)

# The page's own order of events, written as they happen: each play ticket asked (the console's fetch), what it
# granted (its URL), each `playing` and `ended` of the player's elements (media events do not bubble: caught on
# the way down) and each gap notice shown
WATCH = """() => {
  window.log = [];
  const fetch0 = window.fetch;
  window.fetch = (url, opts) => {
    const m = /\\/files\\/([^/]+)\\/play$/.exec(String(url));
    if (!m) return fetch0(url, opts);
    const file = decodeURIComponent(m[1]);
    window.log.push(['ticket', file]);
    return fetch0(url, opts).then((res) => {
      res.clone().json().then((j) => window.log.push(['granted', file, j.url]), () => {});
      return res;
    });
  };
  const box = document.getElementById('player-media');
  for (const kind of ['playing', 'ended']) {
    box.addEventListener(kind, (e) => window.log.push([kind, e.target.dataset.file, e.target.currentSrc,
                                                       e.target.hidden]), true);
  }
  const gap = document.getElementById('player-gap');
  let said = '';
  new MutationObserver(() => {
    const now = gap.hidden ? '' : gap.textContent;
    if (now && now !== said) window.log.push(['notice', now]);
    said = now;
  }).observe(gap, {childList: true, characterData: true, subtree: true, attributes: true});
}"""


def story(log: list[list[Any]]) -> list[tuple[str, str]]:
    """Tickets asked, segments starting and ending, in the page's order (a `playing` again after a stall in the
    same segment is the same start; when a grant's answer arrives is the network's, not the player's, business)."""
    out: list[tuple[str, str]] = []
    for kind, file, *_ in log:
        if kind in ("granted", "notice") or (kind == "playing" and ("playing", file) == next(
                (e for e in reversed(out) if e[0] == "playing"), None)):
            continue
        out.append((kind, file))
    return out


def test_sign_in_and_regions_change_with_an_audited_reason(browser: Browser, stack: Console) -> None:
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    checked(page, "sign-in", errors)
    page.fill("#key", "cak_0000000000000000.not-a-key")
    page.click("#sign-in-button")
    page.wait_for_selector("#sign-in-error:not(:empty)")  # (a string predicate would need eval: the CSP forbids it)
    assert "unknown or revoked" in text(page, "#sign-in-error")
    errors.clear()  # the 401 is logged by Chromium as a failed resource load
    sign_in(page, stack.env.admin_key)
    page.wait_for_selector("#region-rows tr[data-region='eu-1']")
    assert "jurisdiction EU" in text(page, "#jurisdiction")
    assert "Own jurisdiction" in text(page, "tr[data-region='eu-1']")
    assert page.is_checked("#allow-eu-1") and not page.is_checked("#allow-ch-1")
    checked(page, "regions", errors)
    # opt in to the adequate Swiss region, with its reason and the change's reason
    page.check("#allow-ch-1")
    page.fill("#optin-ch-1", "Swiss subsidiary; adequacy decision 2000/518/EC")
    page.click("#regions-save")
    assert "reason" in page.wait_for_selector("#regions-error:not(:empty)").inner_text()  # no reason: refused here
    page.fill("#regions-reason", "disaster recovery site")
    page.click("#regions-save")
    page.wait_for_selector("tr[data-region='ch-1'] .sub >> text=Opt-in by")
    doc = stack.api("GET", "/v1/tenants/acme").json()
    ch = {r["region"]: r for r in doc["regions"]}["ch-1"]
    assert ch["allowed"] and ch["opt_in"]["reason"] == "Swiss subsidiary; adequacy decision 2000/518/EC"
    assert doc["allowed_regions"] == ["ch-1", "eu-1"]
    assert "ch-1 have no media node" in text(page, "#region-warnings")
    checked(page, "regions-opt-in-warning", errors)
    audit = [r for r in stack.env.residency.audit.tenant_records("acme") if r.kind == "policy.changed"]
    assert [r.data["reason"] for r in audit] == ["disaster recovery site"]
    # back to the default
    page.fill("#regions-reason", "DR site closed")
    page.click("#regions-default")
    wait_until(lambda: stack.api("GET", "/v1/tenants/acme").json()["allowed_regions"] is None, 10, 0.1)
    page.wait_for_selector("#jurisdiction >> text=the default")


def test_links_are_created_listed_and_revoked(browser: Browser, stack: Console) -> None:
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    sign_in(page, stack.env.admin_key)
    page.click("a[data-tab='links']")
    page.wait_for_selector("#link-rows >> text=No link yet.")
    page.fill("#link-title", "Board meeting")
    page.fill("#link-password", "correct horse battery")
    page.select_option("#link-expires", "86400")
    page.fill("#link-cap", "5")
    page.check("#link-lobby")
    page.click("#link-create")
    page.wait_for_selector("#link-created:not([hidden])")
    join = page.input_value("#created-join")
    host = page.input_value("#created-host")
    links = stack.api("GET", "/v1/tenants/acme/links").json()["links"]
    assert len(links) == 1
    made = links[0]
    assert (made["title"], made["password_required"], made["lobby"], made["max_participants"]) == (
        "Board meeting", True, True, 5)
    assert abs(made["expires_at"] - made["created"] - 86400) < 5
    # the E2EE secret was made in the browser: in the fragment only, never stored
    assert join.startswith(f"{stack.url}/j/{made['link']}#k=") and len(join.split("#k=")[1]) == 43
    assert host.startswith(join) and "&h=" in host
    assert join.split("#k=")[1].encode() not in stack.env.control.store.dump()
    assert page.locator("#created-password").count() == 0  # typed, not generated: nothing to show
    page.wait_for_selector("tr[data-link] >> text=Board meeting")
    checked(page, "links-created", errors)
    # a generated password is shown once; weak ones are refused with the API's words
    page.fill("#link-title", "Standup")
    page.fill("#link-password", "password")
    page.click("#link-create")
    assert "common" in page.wait_for_selector("#link-error:not(:empty)").inner_text()
    errors.clear()  # the refused request is logged by Chromium
    page.fill("#link-password", "")
    page.click("#link-create")
    page.wait_for_selector("#created-password")
    generated = page.input_value("#created-password")
    assert len(generated) >= 16
    page.once("dialog", lambda d: d.accept())
    page.click(f"tr[data-link='{made['link']}'] button:has-text('Revoke')")
    page.wait_for_selector(f"tr[data-link='{made['link']}'] >> text=Revoked")
    assert stack.api("GET", f"/v1/tenants/acme/links/{made['link']}").json()["revoked"] is True
    assert stack.env.join(made["link"], password="correct horse battery").json()["error"] == "link_revoked"
    checked(page, "links-revoked", errors, a11y=False)


def test_a_link_carries_the_tenants_recorder_public_key_in_its_fragment_only(browser: Browser, stack: Console) -> None:
    """docs/recording.md, "Handing the link secret to the recorder": the admin pastes the key once (kept in this
    browser, never fetched from a server that could swap it); the links carry it as r= beside k=; a malformed key
    creates nothing."""
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    sign_in(page, stack.env.admin_key)
    page.click("a[data-tab='links']")
    before = len(stack.api("GET", "/v1/tenants/acme/links").json()["links"])
    page.fill("#link-title", "Recorded board")
    page.check("#link-no-password")
    page.fill("#link-recorder-key", "not-a-key")
    page.click("#link-create")
    assert "43 base64url" in page.wait_for_selector("#link-error:not(:empty)").inner_text()
    assert len(stack.api("GET", "/v1/tenants/acme/links").json()["links"]) == before  # nothing created
    _, public = new_key()
    page.fill("#link-recorder-key", public)
    page.click("#link-create")
    page.wait_for_selector("#link-created:not([hidden])")
    join, host = page.input_value("#created-join"), page.input_value("#created-host")
    assert join.split("#", 1)[1].startswith("k=") and join.endswith(f"&r={public}")
    assert host.startswith(join + "&h=")
    assert public.encode() not in stack.env.control.store.dump()
    assert page.input_value("#link-recorder-key") == public  # kept for the tenant's next link
    checked(page, "links-recorder-key", errors, a11y=True)


def test_live_meetings_show_where_and_how_many_and_one_is_ended(browser: Browser, stack: Console) -> None:
    link = stack.env.link(no_password=True, title="Quarterly review")
    room = [stack.env.join(link["link"]).json()["room"] for _ in range(3)][0]
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    sign_in(page, stack.env.admin_key)
    page.click("a[data-tab='meetings']")
    row = page.wait_for_selector(f"#meeting-rows tr[data-link='{link['link']}']")
    assert row is not None
    cells = row.inner_text()
    assert "Quarterly review" in cells and "EU Central — Frankfurt, DE (EU)" in cells and "node-eu-1" in cells
    assert page.inner_text(f"tr[data-link='{link['link']}'] td.count") == "3"
    # issue 19: the row's residency check runs the tenant's own verifier; this stack's node signed no receipt, so
    # the console must not call the meeting verified
    page.click(f"tr[data-link='{link['link']}'] button:has-text('Verify residency')")
    verdict = page.wait_for_selector(f"tr[data-link='{link['link']}'] .row-actions .warn-text")
    assert verdict is not None and "Not verified" in verdict.inner_text(), verdict and verdict.inner_text()
    summary = stack.api("GET", f"/v1/tenants/acme/meetings/{room}/residency").json()
    assert summary["verified"] is False and summary["error"]["code"], summary
    checked(page, "meetings", errors)
    page.once("dialog", lambda d: d.accept())
    page.click(f"tr[data-link='{link['link']}'] button:has-text('End')")
    page.wait_for_selector("#meetings-empty:not([hidden])")
    assert stack.node.ended == [("acme", room)]
    assert stack.api("GET", "/v1/tenants/acme/meetings").json()["meetings"] == []
    ends = [r for r in stack.env.residency.audit.tenant_records("acme") if r.kind == "meeting.end"]
    assert len(ends) == 1 and ends[0].actor.startswith("admin-key:")
    checked(page, "meetings-ended", errors, a11y=False)


def test_audit_is_browsed_exported_and_verified_in_the_browser(browser: Browser, stack: Console,
                                                                 tmp_path: Path) -> None:
    stack.env.link(no_password=True, title="Audited")
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    sign_in(page, stack.env.admin_key)
    page.click("a[data-tab='audit']")
    page.click("#audit-load")
    page.wait_for_selector("#audit-rows tr >> text=link.create")
    page.click("#audit-verify")
    verdict = page.wait_for_selector("#audit-result.ok").inner_text()
    assert verdict.startswith("Verified the loaded log:") and "tenant:acme" in verdict
    checked(page, "audit-verified", errors)
    with page.expect_download() as dl:
        page.click("#audit-export")
    saved = tmp_path / "export.jsonl"
    dl.value.save_as(saved)
    text = saved.read_text()
    assert '"kind":"link.create"' in text and text.rstrip().splitlines()[-1].startswith('{"signature"')
    # the same file, one record edited: the browser says which and why
    lines = text.splitlines()
    edited = next(i for i, line in enumerate(lines) if '"kind":"link.create"' in line)
    lines[edited] = lines[edited].replace('"title":"Audited"', '"title":"Innocent"')
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    page.set_input_files("#audit-file", str(tampered))
    verdict = page.wait_for_selector("#audit-result.bad").inner_text()
    assert "Verification failed for tampered.jsonl" in verdict and "hash_mismatch" in verdict
    # a truncated file (last records and head dropped, a head re-attached) is caught too
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(text.splitlines()[:2] + text.splitlines()[-1:]) + "\n")
    page.set_input_files("#audit-file", str(cut))
    page.wait_for_selector("#audit-result.bad >> text=head_mismatch")
    checked(page, "audit-tampered", errors, a11y=False)
    page.fill("#audit-filter", "link.")
    assert all("link." in r for r in page.locator("#audit-rows tr td:nth-child(3)").all_inner_texts())


def test_a_phone_sized_screen(browser: Browser, stack: Console) -> None:
    stack.env.link(no_password=True, title="On the go")
    errors: list[str] = []
    page = open_console(browser, stack.url, errors, viewport=PHONE)
    checked(page, "phone-sign-in", errors, a11y=False)
    sign_in(page, stack.env.admin_key)
    page.wait_for_selector("#region-rows tr[data-region='eu-1']")
    checked(page, "phone-regions", errors, a11y=False)
    page.click("a[data-tab='links']")
    page.wait_for_selector("tr[data-link] >> text=On the go")
    checked(page, "phone-links", errors)
    # nothing wider than the screen but the tables' own scroll boxes
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


# -- attacks -------------------------------------------------------------------------------------------------------
def test_another_tenants_admin_sees_only_its_own_tenant(browser: Browser, stack: Console) -> None:
    r = stack.env.client.post("/v1/tenants", json={"tenant": "globex", "name": "Globex", "jurisdiction": "EU"},
                              headers=stack.env.op())
    assert r.status_code == 201
    other = stack.env.client.post("/v1/tenants/globex/admin-keys", json={}, headers=stack.env.op()).json()["key"]
    secret = stack.env.link(no_password=True, title="ACME secret board")
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    sign_in(page, other)
    assert page.inner_text("#who") == "Globex"
    assert page.eval_on_selector_all("#tenant-pick option", "os => os.map(o => o.value)") == ["globex"]
    page.click("a[data-tab='links']")
    page.wait_for_selector("#link-rows >> text=No link yet.")
    assert "ACME" not in page.content()
    # the page's own key, aimed at tenant acme by hand: refused by the API
    answers = page.evaluate("""async (link) => {
        const key = sessionStorage.getItem('castellan-admin-key');
        const h = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
        const calls = [['GET', '/v1/tenants/acme'], ['GET', '/v1/tenants/acme/links'],
                       ['PUT', '/v1/tenants/acme/regions', {default: true, reason: 'takeover'}],
                       ['POST', `/v1/tenants/acme/links/${link}/revoke`, {end_meeting: true}],
                       ['GET', '/v1/tenants/acme/audit']];
        const out = [];
        for (const [m, p, b] of calls) {
            const r = await fetch(p, { method: m, headers: h, body: b ? JSON.stringify(b) : undefined });
            out.push([r.status, (await r.json()).error]);
        }
        return out;
    }""", secret["link"])
    assert answers == [[403, "forbidden"]] * 5
    assert stack.api("GET", f"/v1/tenants/acme/links/{secret['link']}").json()["revoked"] is False


def test_a_link_holders_credentials_do_not_open_the_console(browser: Browser, stack: Console) -> None:
    link = stack.env.link(no_password=True, title="Team")
    token = stack.env.join(link["link"], host_key=link["host_key"]).json()["token"]
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    for credential in (link["host_key"], token, link["link"], f"cak_{link['host_key']}"):
        page.fill("#key", credential)
        page.click("#sign-in-button")
        page.wait_for_selector("#sign-in-error:not(:empty)")
        assert page.inner_text("#sign-in-error") == "This key is unknown or revoked."
        assert page.is_hidden("#console-view")
        page.evaluate("document.querySelector('#sign-in-error').textContent = ''")


def test_names_crafted_as_markup_are_shown_as_text(browser: Browser, stack: Console) -> None:
    evil_name = '<img src=x onerror="window.pwned=1">ACME'
    r = stack.env.client.post("/v1/tenants", json={"tenant": "evil", "name": evil_name, "jurisdiction": "UK"},
                              headers=stack.env.op())
    assert r.status_code == 201 and r.json()["warnings"][0]["code"] == "no_region"  # no UK region here
    key = stack.env.client.post("/v1/tenants/evil/admin-keys", json={}, headers=stack.env.op()).json()["key"]
    title = '<script>window.pwned=2</script><b onmouseover="window.pwned=3">Board</b>'
    r = stack.env.client.post("/v1/tenants/evil/links", json={"title": title, "no_password": True},
                              headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201
    errors: list[str] = []
    page = open_console(browser, stack.url, errors)
    sign_in(page, key)
    page.wait_for_selector("#jurisdiction:not(:empty)")
    assert page.inner_text("#who") == evil_name
    assert evil_name in page.inner_text("#jurisdiction")
    # and the tenant is told plainly that its meetings cannot run anywhere yet
    assert "No region is allowed for this tenant (jurisdiction UK)" in page.inner_text("#region-warnings [role=alert]")
    checked(page, "regions-no-region", errors)
    page.click("a[data-tab='links']")
    cell = page.wait_for_selector("#link-rows td")
    assert cell is not None and cell.inner_text() == title
    page.hover("#link-rows td")
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("document.querySelectorAll('#content img, #content script, #content b, header img').length") == 0
    checked(page, "xss-names-as-text", errors, a11y=False)


def test_headers_refuse_framing_cross_site_use_and_foreign_scripts(browser: Browser, stack: Console) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    from tests.control.live import serve

    r = stack.env.client.get("/console")
    h = r.headers
    assert h["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in h["content-security-policy"]
    assert "connect-src 'self'" in h["content-security-policy"] and "unsafe" not in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff" and h["cache-control"] == "no-store"
    assert "set-cookie" not in h
    for path in ("/console/../handlers.py", "/console/.gitignore", "/console/nothing.js"):
        assert stack.env.client.get(path).status_code == 404, path
    # another site frames the console and posts to the API with the browser's ambient credentials
    hostile = Starlette(routes=[Route("/", lambda req: HTMLResponse(
        f'<iframe id="f" src="{stack.url}/console"></iframe><script>'
        f'fetch("{stack.url}/v1/tenants/acme/regions", {{method: "PUT", credentials: "include", mode: "no-cors",'
        f' headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{default: true, reason: "csrf"}})}})'
        f'.then(() => document.title = "sent", () => document.title = "blocked");'
        f'fetch("{stack.url}/v1/tenants", {{credentials: "include"}}).then(() => window.read = "yes",'
        f' () => window.read = "no");</script>'))])
    errors: list[str] = []
    with serve(hostile) as evil:
        page = browser.new_page()
        page.goto(evil, wait_until="load")
        page.wait_for_function("window.read !== undefined && document.title !== ''")
        assert page.evaluate("window.read") == "no"  # no CORS: another origin reads nothing
        frame = page.frame_locator("#f")
        assert frame.locator("#sign-in").count() == 0  # the console refused to render in a frame
        page.close()
    before = stack.api("GET", "/v1/tenants/acme").json()
    assert before["allowed_regions"] is None and before["version"] == 1
    assert not [x for x in stack.env.residency.audit.tenant_records("acme") if x.kind.startswith("policy.")]
    assert errors == []


def test_recordings_are_listed_held_refused_deletion_under_hold_exported_and_released(
        browser: Browser, tmp_path: Path) -> None:
    import subprocess
    import sys
    import tarfile

    from signalling.cli.options import iso
    from tests.control.recording_env import record, with_recording

    with console_stack(tmp_path, configure=with_recording(tmp_path)) as stack:
        link = stack.env.link(no_password=True, title="Board")["link"]
        rec = record(stack.env.config, tmp_path, "board-2026", {"p-alice": "Alice", "p-bob": "Bob"}, link=link)
        errors: list[str] = []
        page = open_console(browser, stack.url, errors)
        sign_in(page, stack.env.admin_key)
        page.click("a[data-tab='recordings']")
        row = f"#recording-rows tr[data-recording='{rec.id}']"
        page.wait_for_selector(row)
        cells = text(page, row)
        assert "board-2026" in cells and "Alice (p-alice)" in cells and "Bob (p-bob)" in cells and "eu-1" in cells
        assert rec.ended_at is not None
        for column, t in ((5, rec.started_at), (6, rec.ended_at)):  # ISO 8601 UTC to the second, as the CLI prints
            assert page.inner_text(f"{row} td:nth-child({column})") == iso(t)
        assert "p-alice-audio.webm · audio" in cells and "Not held" in cells
        assert "allowed" in text(page, "#rec-policy-now")
        # a legal hold on the meeting, placed in the page
        page.select_option("#hold-scope", "meeting")
        page.fill("#hold-target", "board-2026")
        page.fill("#hold-reason", "FCA request 42")
        page.click("#hold-place")
        page.wait_for_selector("#hold-rows tr[data-hold]")
        (hold,) = stack.api("GET", "/v1/tenants/acme/recording-holds").json()["holds"]
        assert (hold["scope"], hold["target"], hold["reason"]) == ("meeting", "board-2026", "FCA request 42")
        page.wait_for_selector(f"{row} .held")
        # delete under the hold: refused, said plainly, nothing deleted
        page.once("dialog", lambda d: d.accept())
        page.click(f"{row} button:has-text('Delete')")
        verdict = page.wait_for_selector("#rec-verdict.bad").inner_text()
        assert verdict.startswith(f"Refused: recording {rec.id} is under legal hold"), verdict
        assert [r["id"] for r in stack.api("GET", "/v1/tenants/acme/recordings").json()["recordings"]] == [rec.id]
        errors.clear()  # the 409 is logged by Chromium as a failed resource load
        checked(page, "recordings-held-delete-refused", errors)
        # the signed export, downloaded from the page, verifies offline
        with page.expect_download() as dl:
            page.click(f"{row} button:has-text('Export')")
        tar = tmp_path / "export.tar"
        dl.value.save_as(tar)
        with tarfile.open(tar) as t:
            t.extractall(tmp_path / "pkg", filter="data")
        pub = tmp_path / "audit.pub.pem"
        pub.write_text(stack.env.client.get("/v1/audit/public-key").text)
        ok = subprocess.run([sys.executable, "-m", "signalling.cli", "recording", "verify", str(tmp_path / "pkg" / rec.id),
                             "--public-key", str(pub)], capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0 and "OK: recording" in ok.stdout, ok.stdout + ok.stderr
        # released in the page: the deletion then goes through
        page.once("dialog", lambda d: d.accept())
        page.click(f"#hold-rows tr[data-hold='{hold['hold']}'] button:has-text('Release')")
        page.wait_for_selector("#hold-rows >> text=No active legal hold.")
        assert stack.api("GET", "/v1/tenants/acme/recording-holds").json()["holds"] == []
        page.once("dialog", lambda d: d.accept())
        page.click(f"{row} button:has-text('Delete')")
        page.wait_for_selector("#recording-rows >> text=No recording yet.")
        assert page.inner_text("#rec-verdict") == f"Deleted recording {rec.id}."
        assert stack.api("GET", "/v1/tenants/acme/recordings").json()["recordings"] == []
        kinds = [r.kind for r in stack.env.residency.audit.tenant_records("acme") if r.kind.startswith("recording.")]
        for kind in ("recording.hold_placed", "recording.delete_refused", "recording.exported",
                     "recording.hold_released", "recording.deleted"):
            assert kind in kinds, kinds
        checked(page, "recordings-deleted", errors, a11y=False)


def test_a_recorded_video_plays_in_the_console_under_a_hold_without_the_key_in_any_url(
        browser: Browser, tmp_path: Path) -> None:
    from tests.control.recording_env import add_file, record, with_recording
    from tests.recording.webm_clip import vp8_webm

    with console_stack(tmp_path, configure=with_recording(tmp_path)) as stack:
        rec = record(stack.env.config, tmp_path, "board-2026", {"p-alice": "Alice"})
        clip = vp8_webm(tmp_path / "p-alice-cam-video.webm", seconds=4.0)
        add_file(stack.env.config, rec, clip, "video", participant="p-alice", codec="vp8")
        r = stack.api("POST", "/v1/tenants/acme/recording-holds",
                      json={"scope": "meeting", "target": "board-2026", "reason": "case 12"})
        assert r.status_code == 201, r.text  # a hold stops deletion, not playback
        errors: list[str] = []
        page = open_console(browser, stack.url, errors)
        media: list[tuple[str, int, str | None]] = []
        page.on("response", lambda res: media.append((res.url, res.status, res.request.headers.get("range")))
                if "/media/" in res.url else None)
        urls: list[str] = []
        page.on("request", lambda req: urls.append(req.url))
        sign_in(page, stack.env.admin_key)
        page.click("a[data-tab='recordings']")
        row = f"#recording-rows tr[data-recording='{rec.id}']"
        page.wait_for_selector(f"{row} .held")
        assert page.locator(f"{row} button.play").count() == 2  # audio and video; the chat and timeline are not
        page.focus(f"{row} button[data-file='{clip.name}']")
        page.keyboard.press("Enter")  # by keyboard
        page.wait_for_selector("#player[open] video")
        assert page.get_attribute("#player video", "aria-label") == f"Video of p-alice: {clip.name}"
        assert page.evaluate("() => document.activeElement === document.querySelector('#player video')")

        def playing(renewing: bool = False) -> object:
            """The player's video past 1 s; `renewing`: its ticket expires first, so until the page has asked for a
            new one the element shows that refusal (an error) — not a failure unless the page says so."""
            state = page.evaluate("() => { const v = document.querySelector('#player video'); return v && "
                                  "{t: v.currentTime, ready: v.readyState, w: v.videoWidth, err: v.error && "
                                  "v.error.code, said: document.getElementById('player-error').textContent}; }")
            if renewing and state and state["err"] and not state["said"]:
                return None
            assert not state or not state["err"], state
            return state if state and state["ready"] >= 2 and state["t"] > 1.0 else None

        state = wait_until(playing, 60, 0.2)
        assert state, page.evaluate("() => { const v = document.querySelector('#player video'); return "
                                    "[v.currentTime, v.readyState, v.networkState, v.paused]; }")
        assert state["w"] == 320  # a decoded frame: the decoder read the stream's size
        # Chromium fetched it with Range from the ticket's URL; the admin key is in no URL it ever asked for
        assert media and all(status in (200, 206) for _, status, _ in media), media
        assert any(rng is not None and status == 206 for _, status, rng in media), media
        assert not [u for u in urls if stack.env.admin_key in u or stack.env.admin_key.split(".")[1] in u]
        checked(page, "recordings-playing", errors)
        page.keyboard.press("Escape")  # the dialog closes, the player stops and goes
        page.wait_for_selector("#player", state="hidden")
        page.wait_for_selector("#player-media video", state="detached")
        grants = [x for x in stack.env.residency.audit.tenant_records("acme") if x.kind == "recording.accessed"]
        assert [(g.data["file"], g.data["purpose"]) for g in grants] == [(clip.name, "play")]
        assert grants[0].actor.startswith("admin-key:")
        # a ticket that has expired by the time the player fetches (a long pause, then a seek): refused (410),
        # the page gets one new ticket (a second grant, audited) and plays on from the new URL
        import time

        from signalling.control.playtickets import TTL

        assert stack.env.control.recordings is not None
        minted = iter([time.time() - TTL - 60])  # the next ticket is minted already expired
        stack.env.control.recordings.clock = lambda: next(minted, time.time())
        media.clear()
        # each ticket's answer comes 1 s late (a loaded control plane): the refused element waits that long for its
        # renewal, which a poll every 0.2 s sees — it once failed the test 1 run in 7 as the renewal took > 0.2 s
        page.evaluate("() => { const f0 = window.fetch; window.fetch = (url, opts) => /\\/play$/.test(String(url)) "
                      "? new Promise((ok) => setTimeout(ok, 1000)).then(() => f0(url, opts)) : f0(url, opts); }")
        page.click(f"{row} button[data-file='{clip.name}']")
        state = wait_until(lambda: playing(renewing=True), 60, 0.2)
        assert state, (text(page, "#player-error"), media)
        assert [status for _, status, _ in media][0] == 410 and 206 in [status for _, status, _ in media], media
        assert text(page, "#player-error") == ""
        grants = [x for x in stack.env.residency.audit.tenant_records("acme") if x.kind == "recording.accessed"]
        assert len(grants) == 3 and len({g.data["ticket"] for g in grants}) == 3


def test_a_segmented_recording_is_listed_by_track_and_plays_segment_after_segment(
        browser: Browser, tmp_path: Path) -> None:
    """docs/recording.md "Segments": an hour of one camera is 60 files. The page lists each track once (span,
    segments, size), chat and timeline once with their slices, and plays a track as one: the next segment's ticket
    (a grant each, audited) is asked while the one before it still plays, and at `ended` its preloaded element
    takes over with no request after; the admin jumps to a segment from the player. A display name crafted as
    markup shows as text."""
    import os

    from tests.control.recording_env import record_segmented, with_recording
    from tests.recording.webm_clip import vp8_webm

    crafted = "<img src=x onerror=alert(1)>"
    tracks = {("p-alice", "v1", "video"): lambda n, path: vp8_webm(path, seconds=2.5),
              ("p-alice", "v2", "video"): lambda n, path: (path.write_bytes(os.urandom(900)), path)[1] if n == 2 else None,
              ("p-bob", "a1", "audio"): lambda n, path: (path.write_bytes(os.urandom(1200)), path)[1]}
    with console_stack(tmp_path, configure=with_recording(tmp_path)) as stack:
        rec = record_segmented(stack.env.config, tmp_path, "board-2026", {"p-alice": "Alice", "p-bob": crafted},
                               tracks, segments=3, segment_ms=2500)
        segs = rec.parts[0]["segments"]
        assert [s["segment"] for s in segs] == [1, 2, 3] and len(rec.files) == 3 + 1 + 3 + 3 + 3
        errors: list[str] = []
        page = open_console(browser, stack.url, errors)
        sign_in(page, stack.env.admin_key)
        page.click("a[data-tab='recordings']")
        row = f"#recording-rows tr[data-recording='{rec.id}']"
        page.wait_for_selector(f"{row} li[data-track]")
        listed = {page.get_attribute(f"{row} li[data-track] >> nth={i}", "data-track"): text(
            page, f"{row} li[data-track] >> nth={i}") for i in range(page.locator(f"{row} li[data-track]").count())}
        assert list(listed) == ["p-alice-v1-video.part1.webm", "p-alice-v2-video.part1.webm",
                                "p-bob-a1-audio.part1.webm", "chat.jsonl", "timeline.jsonl"], listed
        assert page.locator(f"{row} td:nth-child(7) > ul > li").count() == 5  # nothing listed file by file
        camera = listed["p-alice-v1-video.part1.webm"]
        assert camera.startswith("Alice (p-alice) · video · 3 segments"), camera
        span = page.evaluate("([a, b]) => [new Date(a).toISOString().slice(11, 19), new Date(b).toISOString()"
                             ".slice(11, 19)]", [segs[0]["from_ms"], segs[-1]["to_ms"]])
        assert f"{span[0]}–{span[1]} UTC (7.5 s)" in camera, camera
        assert listed["p-alice-v2-video.part1.webm"].startswith("Alice (p-alice) · video · 1 segment")  # its own
        assert listed["p-bob-a1-audio.part1.webm"].startswith(f"{crafted} (p-bob) · audio")  # text, never markup
        assert page.locator("#recording-rows img").count() == 0
        assert listed["chat.jsonl"].startswith("chat · 3 slices") and listed["timeline.jsonl"].startswith("timeline")
        assert page.locator(f"{row} button.play").count() == 3  # the three media tracks; chat and timeline are not
        page.focus(f"{row} li[data-track='chat.jsonl'] summary")
        page.keyboard.press("Enter")  # the slices open by keyboard
        slices = text(page, f"{row} li[data-track='chat.jsonl'] ul.slices")
        assert [line.split(" · ")[0] for line in slices.splitlines()] == [f"chat.seg{n:04d}.jsonl" for n in (1, 2, 3)]
        checked(page, "recordings-segmented", errors)
        # played by keyboard: segment 1, then by itself 2 and 3 as one, each from its own ticket asked ahead
        page.evaluate(WATCH)
        page.focus(f"{row} button[data-track='p-alice-v1-video.part1.webm']")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#player[open] {SHOWN}")
        first = "p-alice-v1-video.part1.seg0001.webm"
        assert page.get_attribute(SHOWN, "aria-label") == f"Video of Alice (p-alice): segment 1 of 3 ({first})"
        assert text(page, "#player-position").startswith("Playing segment 1 (1 of 3)")
        assert page.evaluate(f"() => document.activeElement === document.querySelector('{SHOWN}')")
        assert page.locator("#player video").count() == 2  # the one shown and the next one's, hidden

        def now() -> dict[str, Any]:
            state: dict[str, Any] = page.evaluate(
                f"() => {{ const v = document.querySelector('{SHOWN}'); return {{file: v.dataset.file, "
                "t: v.currentTime, ended: v.ended, err: v.error && v.error.code, log: window.log}; }")
            assert not state["err"], state
            return state

        def ended(count: int) -> dict[str, Any] | None:
            state = now()
            return state if state["ended"] and len([e for e in state["log"] if e[0] == "ended"]) >= count else None

        files = [f"p-alice-v1-video.part1.seg000{n}.webm" for n in (1, 2, 3)]
        state = wait_until(lambda: ended(3), 60, 0.1)
        assert state, (now(), text(page, "#player-error"))
        # each segment's ticket was asked while the one before it still played (past its half), so at `ended` the
        # next element took over without asking anything: one ticket per segment, none after an `ended`
        assert story(state["log"]) == [("ticket", files[0]), ("playing", files[0]), ("ticket", files[1]),
                                       ("ended", files[0]), ("playing", files[1]), ("ticket", files[2]),
                                       ("ended", files[1]), ("playing", files[2]), ("ended", files[2])], state["log"]
        granted = {e[1]: e[2] for e in state["log"] if e[0] == "granted"}
        shown = [e for e in state["log"] if e[0] == "playing"]
        assert all(not e[3] and e[2].endswith(granted[e[1]]) for e in shown), (shown, granted)  # its own ticket's URL
        assert len(set(granted.values())) == 3 and all(f"/files/{f}/media/" in granted[f] for f in files), granted
        assert state["file"] == files[2] and page.input_value("#player-segment") == "2"
        assert text(page, "#player-position").startswith("Playing segment 3 (3 of 3)")
        assert page.is_hidden("#player-gap")  # its segments meet: nothing to say between them
        checked(page, "recordings-segment-playing", errors)
        # a jump back to segment 2 from the player, by keyboard: it plays again, then 3 follows
        page.evaluate("() => { window.log = []; }")
        page.focus("#player-segment")
        page.keyboard.press("ArrowUp")
        state = wait_until(lambda: ended(2), 60, 0.1)
        assert state and story(state["log"]) == [("ticket", files[1]), ("playing", files[1]), ("ticket", files[2]),
                                                 ("ended", files[1]), ("playing", files[2]), ("ended", files[2])], \
            (now(), text(page, "#player-error"))
        page.keyboard.press("Escape")
        page.wait_for_selector("#player-media video", state="detached")
        grants = [x.data["file"] for x in stack.env.residency.audit.tenant_records("acme")
                  if x.kind == "recording.accessed"]
        assert grants == [*files, *files[1:]], grants
        # played again and paused the moment segment 2's ticket came and its file is preloaded (in the same turn, so
        # segment 1 cannot end first): choosing segment 2 in the player plays that preload — not a second ticket,
        # not a second grant of the same segment
        page.evaluate("""() => {
          window.log = [];
          const box = document.getElementById('player-media');
          new MutationObserver((_, seen) => {
            if (!box.querySelector('[hidden][src]')) return;
            seen.disconnect();
            box.querySelector(':not([hidden])').pause();
          }).observe(box, {subtree: true, attributes: true, attributeFilter: ['src']});
        }""")
        page.click(f"{row} button[data-track='p-alice-v1-video.part1.webm']")
        page.wait_for_function(f"() => {{ const v = document.querySelector('{SHOWN}'); return v && v.paused && "
                               "document.querySelector('#player-media [hidden][src]'); }")
        page.select_option("#player-segment", "1")
        state = wait_until(lambda: ended(2), 60, 0.1)
        assert state and story(state["log"]) == [("ticket", files[0]), ("playing", files[0]), ("ticket", files[1]),
                                                 ("playing", files[1]), ("ticket", files[2]), ("ended", files[1]),
                                                 ("playing", files[2]), ("ended", files[2])], \
            (now(), text(page, "#player-error"))
        page.keyboard.press("Escape")
        page.wait_for_selector("#player-media video", state="detached")
        grants = [x.data["file"] for x in stack.env.residency.audit.tenant_records("acme")
                  if x.kind == "recording.accessed"]
        assert grants == [*files, *files[1:], *files], grants  # one grant per segment played
        # the Data subjects page lists Alice's segmented tracks the same way: each once, with its segments
        page.click("a[data-tab='subjects']")
        page.fill("#subject-query", "p-alice")
        page.click("#subject-find-button")
        page.wait_for_selector("#subject-detail:not([hidden])")
        mine = text(page, f"#subject-recordings tr[data-recording='{rec.id}']")
        assert "p-alice-v1-video.part1.webm · video · 3 segments" in mine, mine
        assert "p-alice-v2-video.part1.webm · video · 1 segment" in mine and "seg0001" not in mine, mine
        assert "p-bob" not in mine, mine
        assert errors == [], errors


def _recorded_with_gaps(stack: Console, tmp_path: Path, cause: str) -> Any:
    """A meeting recorded in 2.5-s segments whose spans do not all meet: Alice's camera has nothing in segment 2
    of part 1 (the track's own gap), part 1's recorder is lost at its end (`cause`) and part 2 takes over 4.5 s
    later (the recording's gap) — made as the pool makes it, through the archive on the same database and volume,
    on a clock of its own so the spans are exact."""
    import json

    from recording.archive import Archive
    from recording.policy import RecordingPolicy
    from recording.sealing import seal_segment
    from recording.sink import Segment, TrackFile
    from recording.store import LocalVolumeStore, TenantVault
    from residency.db import Database
    from tests.control.recording_env import pool_volume
    from tests.recording.archive_world import TENANT_KEYS
    from tests.recording.webm_clip import vp8_webm

    config = stack.env.config
    t0 = 1_800_000_000_000
    clock = [t0 / 1000]
    db = Database(config.database())
    try:
        archive = Archive(db, TenantVault(LocalVolumeStore(pool_volume(config, "eu-1")), TENANT_KEYS),
                          clock=lambda: clock[0])
        archive.set_policy("acme", RecordingPolicy.ALLOWED, "admin:alice")
        rec = archive.begin("acme", "board-2026", None, {"participant": "rec-1", "recorder": "r-eu"}, "eu-1",
                            "recorder:r-eu", session="s-gap")
        work = tmp_path / "recorder-work"
        work.mkdir()

        def seal(part: int, n: int, from_ms: int, camera: bool) -> None:
            files = [TrackFile(vp8_webm(work / f"p-alice-v1-video.part{part}.seg{n:04d}.webm", seconds=2.5),
                               "p-alice", "v1", "video", "vp8")] if camera else []
            audio = work / f"p-bob-a1-audio.part{part}.seg{n:04d}.webm"
            audio.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(600))
            files.append(TrackFile(audio, "p-bob", "a1", "audio", "opus"))
            timeline = work / f"timeline.seg{n:04d}.jsonl"
            timeline.write_text("".join(json.dumps({"kind": "join", "participant": p, "name": name, "t": from_ms})
                                        + "\n" for p, name in (("p-alice", "Alice"), ("p-bob", "Bob"))))
            seal_segment(archive, "acme", rec.id, Segment(n, from_ms, from_ms + 2500, files, [(timeline, "timeline")]),
                         "recorder-pool:r-eu", part=part)

        for n in (1, 2, 3):
            seal(1, n, t0 + (n - 1) * 2500, camera=n != 2)
        clock[0] = (t0 + 9000) / 1000
        archive.recorder_lost("acme", rec.id, 1, "recorder-pool:r-eu", cause, last_ms=t0 + 7500)
        clock[0] = (t0 + 12000) / 1000
        archive.recorder_moved("acme", rec.id, "eu-1", {"participant": "rec-2", "recorder": "r-eu-2"},
                               "recorder-pool:r-eu-2")
        seal(2, 1, t0 + 12000, camera=True)
        clock[0] = (t0 + 15000) / 1000
        return archive.finish("acme", rec.id, {"p-alice": "Alice", "p-bob": "Bob"}, "recorder-pool:r-eu-2")
    finally:
        db.close()


def test_a_gap_between_segments_is_shown_as_the_player_crosses_it_and_nothing_is_granted_ahead_of_time(
        browser: Browser, tmp_path: Path) -> None:
    """What was not recorded is said, not skipped silently: the track's own gap (Alice's camera had nothing in
    segment 2) when the player goes from segment 1 to 3, and the recorder's death at the end of part 1 (part 2
    continues, 4.5 s later). The cause comes from the recorder's side: crafted as markup, it shows as text. An
    admin who stops at once has asked for no segment ahead: one grant, for the one segment that played. A next
    segment whose sealed file was altered is not asked for again and again ahead: its failure is said."""
    from tests.control.recording_env import with_recording

    crafted = "<img src=x onerror=alert(1)>"
    with console_stack(tmp_path, configure=with_recording(tmp_path)) as stack:
        rec = _recorded_with_gaps(stack, tmp_path, crafted)
        assert [(g["from_ms"] % 100_000, g["to_ms"] % 100_000) for g in rec.gaps] == [(7500, 12000)], rec.gaps
        errors: list[str] = []
        page = open_console(browser, stack.url, errors)
        sign_in(page, stack.env.admin_key)
        page.click("a[data-tab='recordings']")
        row = f"#recording-rows tr[data-recording='{rec.id}']"
        camera = f"{row} li[data-track='p-alice-v1-video.part1.webm']"
        page.wait_for_selector(camera)
        assert "2 parts, 1 gap (4.5 s)" in text(page, row)
        listed = text(page, camera)
        assert listed.startswith("Alice (p-alice) · video · part 1 · 2 segments"), listed
        assert "1 gap not recorded (2.5 s)" in listed, listed
        assert "gap" not in text(page, f"{row} li[data-track='p-bob-a1-audio.part1.webm']")  # its segments meet
        page.evaluate(WATCH)
        # the player paused the moment it starts: nothing near its end, so nothing asked ahead
        page.evaluate("() => document.getElementById('player-media').addEventListener('playing', (e) => "
                      "e.target.pause(), {capture: true, once: true})")
        page.click(f"{camera} button.play")
        page.wait_for_function(f"() => {{ const v = document.querySelector('{SHOWN}'); return v && v.paused && "
                               "window.log.some((e) => e[0] === 'playing'); }")
        first, third = "p-alice-v1-video.part1.seg0001.webm", "p-alice-v1-video.part1.seg0003.webm"
        options = page.locator("#player-segment option").all_inner_texts()
        assert len(options) == 2 and options[1].startswith("Segment 3:") and options[1].endswith(
            "(after 2.5 s not recorded)"), options
        assert story(page.evaluate("() => window.log")) == [("ticket", first), ("playing", first)]
        page.keyboard.press("Escape")
        page.wait_for_selector("#player-media video", state="detached")

        def grants() -> list[str]:
            return [x.data["file"] for x in stack.env.residency.audit.tenant_records("acme")
                    if x.kind == "recording.accessed"]

        assert grants() == [first]  # one segment played, one granted: none ahead of time
        # played through: 1, then across the camera's gap to 3, then the recorder's death
        page.evaluate("() => { window.log = []; }")
        page.click(f"{camera} button.play")

        def ends(count: int) -> list[list[Any]] | None:
            log: list[list[Any]] = page.evaluate("() => window.log")
            return log if len([e for e in log if e[0] == "ended"]) >= count else None

        log = wait_until(lambda: ends(2), 60, 0.1)
        assert log and story(log) == [("ticket", first), ("playing", first), ("ticket", third), ("ended", first),
                                      ("playing", third), ("ended", third)], log
        # each notice said at the `ended` that crosses what was not recorded (so before the next one plays)
        segs, gap = rec.parts[0]["segments"], rec.gaps[0]
        hole = utc(page, segs[0]["to_ms"], segs[2]["from_ms"])
        lost = utc(page, gap["from_ms"], gap["to_ms"])
        said = [(e[0], e[1]) for e in log if e[0] in ("ended", "notice")]
        assert said == [
            ("ended", first),
            ("notice", f"Not recorded: 2.5 s of this track, {hole[0]}–{hole[1]} UTC, between segment 1 and segment 3: "
                       "the track had no media then."),
            ("ended", third),
            ("notice", f"Not recorded: 4.5 s, {lost[0]}–{lost[1]} UTC, after this part: the recorder was lost "
                       f"({crafted}). Part 2 continues the recording from {lost[1]} UTC; play it from the list.")], said
        assert page.is_visible("#player-gap")
        assert page.locator("#player img").count() == 0  # the cause is text, never markup
        checked(page, "recordings-gap-notice", errors)
        page.keyboard.press("Escape")
        page.wait_for_selector("#player-media video", state="detached")
        assert page.is_hidden("#player-gap")
        assert grants() == [first, first, third]  # exactly one grant per segment played
        assert errors == [], errors
        # segment 3's sealed file altered on the volume: its preload fails (503) and is not asked for ahead again;
        # at its turn it is tried once more with the ticket it has, renewed once (one more grant), then said
        from tests.control.recording_env import pool_volume

        sealed = pool_volume(stack.env.config, "eu-1") / "acme" / rec.id / third
        body = bytearray(sealed.read_bytes())
        body[40] ^= 0x01  # inside the first chunk's ciphertext
        sealed.write_bytes(bytes(body))
        page.evaluate("() => { window.log = []; }")
        page.click(f"{camera} button.play")
        page.wait_for_function("() => document.getElementById('player-error').textContent !== ''")
        assert text(page, "#player-error").startswith("This file cannot be played here (media error"), \
            text(page, "#player-error")
        log = page.evaluate("() => window.log")
        assert story(log) == [("ticket", first), ("playing", first), ("ticket", third), ("ended", first),
                              ("ticket", third)], log
        page.keyboard.press("Escape")
        page.wait_for_selector("#player-media video", state="detached")
        assert grants() == [first, first, third, first, third, third]
        assert [e for e in errors if "status of 503" not in e] == [], errors  # the browser logs each refused fetch


def test_a_data_subject_is_found_exported_refused_erasure_under_hold_then_erased(
        browser: Browser, tmp_path: Path) -> None:
    """The GDPR page: a participant found by display name, what is held about them shown (with the hold that
    will refuse the erasure), their export downloaded, the erasure asked for (a typed confirmation; Cancel and
    a wrong id erase nothing), refused whole under the hold and said so, then done once the hold is released."""
    import json
    import tarfile

    from tests.control.recording_env import record, with_recording

    with console_stack(tmp_path, configure=with_recording(tmp_path)) as stack:
        board = record(stack.env.config, tmp_path, "board-2026", {"p-alice": "Alice", "p-bob": "Bob Builder"})
        standup = record(stack.env.config, tmp_path, "standup", {"p-bob": "Bob Builder"})
        crafted = "<img src=x onerror=alert(1)>"
        record(stack.env.config, tmp_path, "lunch", {"p-eve": crafted})
        hold = stack.api("POST", "/v1/tenants/acme/recording-holds",
                         json={"scope": "participant", "target": "p-alice", "reason": "tribunal 3"}).json()["hold"]
        assert stack.env.config.recording_volume is not None
        volume = stack.env.config.recording_volume

        def sealed() -> dict[str, bytes]:
            return {str(p.relative_to(volume)): p.read_bytes() for p in sorted(volume.rglob("*")) if p.is_file()}

        def audited(kind: str) -> list[Any]:
            return [r for r in stack.env.residency.audit.tenant_records("acme") if r.kind == kind]

        errors: list[str] = []
        page = open_console(browser, stack.url, errors)
        sign_in(page, stack.env.admin_key)
        page.click("a[data-tab='subjects']")
        page.wait_for_selector("#subject-rows tr[data-participant='p-eve']")
        assert page.locator("#subject-rows tr").count() == 3  # everyone in the recordings, before a search
        assert crafted in text(page, "#subject-rows tr[data-participant='p-eve']")  # a name is text, never markup
        assert page.locator("#subjects img").count() == 0
        page.fill("#subject-query", "builder")
        page.click("#subject-find-button")
        page.wait_for_selector("#subject-detail:not([hidden])")
        assert page.locator("#subject-rows tr").count() == 1
        assert text(page, "#subject-title") == "Bob Builder (p-bob)"
        rows = {r: text(page, f"#subject-recordings tr[data-recording='{r}']") for r in (board.id, standup.id)}
        assert "p-bob-audio.webm · audio" in rows[board.id] and f"Held: {hold}" in rows[board.id], rows
        assert "tribunal 3" in rows[board.id] and "Not held" in rows[standup.id]
        assert "p-alice-audio" not in rows[board.id]  # nobody else's tracks
        assert f"Erasure will be refused: legal hold {hold}" in text(page, "#subject-held-note")
        checked(page, "subjects-held", errors)
        # the export: their tracks and lines, as the API gives it
        with page.expect_download() as dl:
            page.click("#subject-export")
        tar = tmp_path / "bob.tar"
        dl.value.save_as(tar)
        assert dl.value.suggested_filename == "subject-p-bob.tar"
        with tarfile.open(tar) as t:
            t.extractall(tmp_path / "bob", filter="data")
        index = json.loads((tmp_path / "bob" / "subject-p-bob" / "index.json").read_text())
        assert sorted(e["recording"] for e in index["recordings"]) == sorted([board.id, standup.id])
        (exported,) = audited("recording.subject_exported")
        assert exported.actor.startswith("admin-key:") and exported.data["participant"] == "p-bob"
        # the confirmation: Cancel, or a wrong id, erases nothing and asks the API nothing
        before = sealed()
        page.click("#subject-erase")
        page.wait_for_selector("#erase-dialog[open]")
        assert page.evaluate("() => document.activeElement === document.getElementById('erase-confirm')")
        assert "2 recordings. This cannot be undone" in text(page, "#erase-what")
        checked(page, "subjects-erase-confirm", errors)
        page.click("#erase-cancel")
        page.wait_for_selector("#erase-dialog", state="hidden")
        page.click("#subject-erase")
        page.fill("#erase-confirm", "p-alice")
        page.click("#erase-go")
        page.wait_for_selector("#erase-error:not(:empty)")
        assert page.locator("#erase-dialog[open]").count() == 1
        assert not audited("recording.subject_erase_refused") and not audited("recording.subject_erased")
        # the right id: the API refuses it whole under the hold, and the page says so
        page.fill("#erase-confirm", "p-bob")
        page.click("#erase-go")
        verdict = page.wait_for_selector("#subject-verdict.bad").inner_text()
        assert verdict.startswith("Refused: participant p-bob is in recordings under legal hold") and hold in verdict
        assert "nothing was erased" in verdict, verdict
        assert sealed() == before
        (refused,) = audited("recording.subject_erase_refused")
        assert refused.actor.startswith("admin-key:")
        errors.clear()  # the 409 is logged by Chromium as a failed resource load
        checked(page, "subjects-erase-refused", errors, a11y=False)
        # released (on the Recordings page or here through the API), found again: no warning, erased
        assert stack.api("POST", f"/v1/tenants/acme/recording-holds/{hold}/release", json={}).status_code == 200
        page.click("#subject-find-button")
        page.wait_for_selector("#subject-held-note", state="hidden")
        page.click("#subject-erase")
        page.fill("#erase-confirm", "p-bob")
        page.click("#erase-go")
        verdict = page.wait_for_selector("#subject-verdict.ok").inner_text()
        assert verdict.startswith("Erased p-bob from 2 recordings"), verdict
        page.wait_for_selector("#subject-detail", state="hidden")
        assert 'No participant of this tenant\'s recordings matches "builder"' in text(page, "#subject-count")
        listed = {r["id"]: r for r in stack.api("GET", "/v1/tenants/acme/recordings").json()["recordings"]}
        assert listed[board.id]["participants"] == {"p-alice": "Alice"}
        assert not [k for k in sealed() if k.endswith("p-bob-audio.webm")]
        (erased,) = audited("recording.subject_erased")
        assert erased.data["erased"] == sorted([board.id, standup.id])
        checked(page, "subjects-erased", errors, a11y=False)
