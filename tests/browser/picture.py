"""Is a participant's camera seen at another page? Its decoding (getStats) and its picture: the tile's <video>
drawn into a canvas, and a screenshot of the tile as shown — lightness, since a black tile is all dark and
Chromium's fake camera is mostly light (a green background with a moving pie)."""

from __future__ import annotations

import base64
import time
from typing import Any

from playwright.sync_api import Page

from tests.browser.driver import poll


def _decoded(page: Page, pid: str) -> dict[str, int]:
    s = page.evaluate("window.castellanStats()")
    v = [x for x in s["video"] if x.get("participant") == pid]
    return {k: sum(x.get(k, 0) for x in v) for k in ("framesDecoded", "frameWidth", "frameHeight")}


# the decoded picture of participant `pid`'s camera tile (its <video> drawn into a canvas), and where it is shown
PICTURE = """(pid) => {
  const tile = [...document.querySelectorAll('#grid .tile:not(.self)')].find((t) => t.dataset.participant === pid
    && !t.classList.contains('joining'));
  const v = tile && tile.querySelector('video');
  if (!v) return {found: false};
  const r = v.getBoundingClientRect();
  const out = {found: true, hidden: v.hidden, videoWidth: v.videoWidth, videoHeight: v.videoHeight,
    readyState: v.readyState, paused: v.paused, box: [r.x, r.y, r.width, r.height],
    tileBox: [tile.clientWidth, tile.clientHeight]};
  if (!v.videoWidth) return out;
  const c = document.createElement('canvas');
  c.width = 64; c.height = 48;
  const g = c.getContext('2d', {willReadFrequently: true});
  g.drawImage(v, 0, 0, c.width, c.height);
  return {...out, ...window.__lightness(g.getImageData(0, 0, c.width, c.height).data)};
}"""
# pixels' lightness: the mean luma and the share of pixels that are not dark (Chromium's fake camera: a green
# background with a moving pie; a black tile is all dark)
LIGHTNESS = """() => { window.__lightness = (d) => {
  let sum = 0, light = 0;
  for (let i = 0; i < d.length; i += 4) {
    const y = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
    sum += y;
    if (y > 48) light++;
  }
  const n = d.length / 4;
  return {meanLuma: Math.round(sum / n), lightShare: Math.round(100 * light / n) / 100};
}; }"""
# the same measure on a PNG screenshot of the tile (what a person sees, CSS included)
SCREEN = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const img = await createImageBitmap(new Blob([bytes], {type: 'image/png'}));
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const g = c.getContext('2d', {willReadFrequently: true});
  g.drawImage(img, 0, 0);
  return window.__lightness(g.getImageData(0, 0, c.width, c.height).data);
}"""


def picture(page: Page, pid: str) -> dict[str, Any]:
    """The decoded picture of `pid`'s camera at `page`, and a screenshot of its <video> on the page."""
    page.evaluate(LIGHTNESS)
    out: dict[str, Any] = page.evaluate(PICTURE, pid)
    if out.get("found") and not out.get("hidden") and out["box"][2] > 0 and out["box"][3] > 0:
        x, y, w, h = out["box"]
        png = page.screenshot(clip={"x": x, "y": y, "width": w, "height": h}, timeout=60000)
        out["screen"] = page.evaluate(SCREEN, base64.b64encode(png).decode())
    return out


def seen(page: Page, pid: str, timeout: float = 45) -> dict[str, Any]:
    """`pid`'s camera at `page` once decoding grows and the picture is light (or the last look after `timeout`)."""
    base = _decoded(page, pid)["framesDecoded"]
    s = poll(lambda: _decoded(page, pid), lambda x: x["framesDecoded"] > base + 20, timeout=timeout, interval=0.5)
    deadline = time.monotonic() + timeout
    pic = picture(page, pid)
    while time.monotonic() < deadline and not (pic.get("lightShare", 0) > 0.5 and
                                               pic.get("screen", {}).get("lightShare", 0) > 0.3):
        time.sleep(1.0)
        pic = picture(page, pid)
    return {"decoded": s["framesDecoded"] - base, "frameWidth": s["frameWidth"], "frameHeight": s["frameHeight"],
            "picture": pic}


def assert_visible(seen: dict[str, Any]) -> None:
    """A camera as another participant sees it: decoding goes on, and the picture (decoded, and on screen) is not
    black — the fake camera's picture is mostly light."""
    assert seen["decoded"] > 20 and seen["frameWidth"] > 0 and seen["frameHeight"] > 0, seen
    pic = seen["picture"]
    assert pic["found"] and not pic["hidden"] and pic["videoWidth"] > 0, pic
    assert pic["lightShare"] > 0.5, pic  # the decoded frames
    assert pic["screen"]["lightShare"] > 0.3, pic  # the tile as shown (a letterbox may be dark)
