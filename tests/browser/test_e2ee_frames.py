"""The E2EE frame format, in the browser's own JS engine (Chromium, no network): SFrame header encoding
(RFC 9605 §4.3), H.264 emulation prevention, the clear codec bytes a node reads, and an encrypt -> decrypt round
trip through the worker's transforms, including tamper and wrong-key rejection."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.netns import CHROMIUM, REPO

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]

WORKER = REPO / "signalling" / "client" / "e2ee-worker.js"

CHECKS = r"""
async () => {
  const out = {};
  const hex = (u) => [...u].map((x) => x.toString(16).padStart(2, "0")).join("");
  // SFrame header: KID < 8 inline, larger KIDs as minimal big-endian bytes; 8-byte CTR
  const ctr = new Uint8Array([0, 0, 0, 0, 0, 0, 1, 2]);
  out.h3 = hex(encodeHeader(3, ctr));
  out.h300 = hex(encodeHeader(300, ctr));
  out.roundtrip = [];
  for (const kid of [0, 7, 8, 255, 256, 65535, 2 ** 32 + 5]) {
    const c = crypto.getRandomValues(new Uint8Array(8));
    const h = encodeHeader(kid, c);
    const d = decodeHeader(concat(new Uint8Array([9, 9]), h, new Uint8Array([1, 2, 3])), 2);
    out.roundtrip.push(d.kid === kid && hex(d.ctr) === hex(c) && d.length === h.length);
  }
  out.truncated = decodeHeader(new Uint8Array([0x8f, 1]), 0);
  // RBSP: escaping removes every start-code-like sequence and unescaping restores the bytes
  let rbspOk = true, noStart = true;
  for (let i = 0; i < 300; i++) {
    const n = Math.floor(Math.random() * 200);
    const b = new Uint8Array(n);
    for (let j = 0; j < n; j++) b[j] = Math.random() < 0.4 ? 0 : Math.floor(Math.random() * 4);
    const e = rbspEscape(b);
    if (hex(rbspUnescape(e)) !== hex(b)) rbspOk = false;
    for (let j = 0; j + 2 < e.length; j++) if (e[j] === 0 && e[j + 1] === 0 && e[j + 2] <= 2) noStart = false;
  }
  out.rbspOk = rbspOk;
  out.noStartCode = noStart;
  // H.264: clear through the first slice NAL header + 1 byte (SPS, PPS stay readable)
  const sps = [0, 0, 0, 1, 0x67, 1, 2, 3], pps = [0, 0, 0, 1, 0x68, 4, 5], idr = [0, 0, 1, 0x65, 0x88, 0x84, 9, 9, 9];
  out.h264Clear = h264Clear(new Uint8Array([...sps, ...pps, ...idr]));
  out.h264Len = sps.length + pps.length + 4 + 2 - 1;
  // transforms: encrypt then decrypt frames like the RTCRtp*Transform would hand them
  const key = crypto.getRandomValues(new Uint8Array(32));
  setKey(5, key.buffer);
  sendEpoch = 5;
  const mk = (bytes, type) => ({ data: new Uint8Array(bytes).buffer, type, getMetadata: () => ({}) });
  const run = async (fn, frame) => { const got = []; await fn(frame, { enqueue: (f) => got.push(f) }); return got; };
  const enc = encryptor({ operation: "encode", kind: "video", codec: "vp8", participant: "p-1" }, newStats({}));
  const dec = decryptor({ operation: "decode", kind: "video", codec: "vp8", participant: "p-1" }, newStats({}));
  const decOther = decryptor({ operation: "decode", kind: "video", codec: "vp8", participant: "p-2" }, newStats({}));
  const plain = Array.from({ length: 400 }, (_, i) => (i * 7) & 255);
  const [e1] = await run(enc, mk(plain, "key"));
  const ct = new Uint8Array(e1.data);
  out.vp8KeyClear = hex(ct.subarray(0, 10)) === hex(new Uint8Array(plain.slice(0, 10)));
  out.vp8Header = hex(ct.subarray(10, 11));
  out.overhead = ct.length - plain.length;
  out.bodyChanged = hex(ct.subarray(19, 60)) !== hex(new Uint8Array(plain.slice(10, 51)));
  const [d1] = await run(dec, mk(ct, "key"));
  out.decrypts = d1 !== undefined && hex(new Uint8Array(d1.data)) === hex(new Uint8Array(plain));
  const tampered = ct.slice(); tampered[5] ^= 1; // a clear byte: authenticated as AAD
  out.tamperedClear = (await run(dec, mk(tampered, "key"))).length;
  const tampered2 = ct.slice(); tampered2[ct.length - 1] ^= 1;
  out.tamperedTag = (await run(dec, mk(tampered2, "key"))).length;
  out.otherSender = (await run(decOther, mk(ct, "key"))).length; // per-sender keys
  const [e2] = await run(enc, mk(plain, "key"));
  out.nonceFresh = hex(new Uint8Array(e2.data).subarray(10, 19)) !== hex(ct.subarray(10, 19));
  // H.264 with escaping, and Opus (TOC byte clear)
  const encH = encryptor({ operation: "encode", kind: "video", codec: "h264", participant: "p-1" }, newStats({}));
  const decH = decryptor({ operation: "decode", kind: "video", codec: "h264", participant: "p-1" }, newStats({}));
  const h264 = [...sps, ...pps, ...idr, ...Array.from({ length: 500 }, (_, i) => (i % 5 === 0 ? 0 : i & 3))];
  const [eh] = await run(encH, mk(h264, "key"));
  const ehb = new Uint8Array(eh.data);
  let starts = 0;
  for (let j = 0; j + 2 < ehb.length; j++) if (ehb[j] === 0 && ehb[j + 1] === 0 && ehb[j + 2] === 1) starts++;
  out.h264Starts = starts;
  const [dh] = await run(decH, mk(ehb, "key"));
  out.h264RoundTrip = dh !== undefined && hex(new Uint8Array(dh.data)) === hex(new Uint8Array(h264));
  const encA = encryptor({ operation: "encode", kind: "audio", codec: "opus", participant: "p-1" }, newStats({}));
  const decA = decryptor({ operation: "decode", kind: "audio", codec: "opus", participant: "p-1" }, newStats({}));
  const opus = [0x78, 1, 2, 3, 4, 5, 6, 7];
  const [ea] = await run(encA, mk(opus));
  out.opusToc = new Uint8Array(ea.data)[0];
  const [da] = await run(decA, mk(new Uint8Array(ea.data)));
  out.opusRoundTrip = da !== undefined && hex(new Uint8Array(da.data)) === hex(new Uint8Array(opus));
  // no key: the sender drops the frame rather than sending it in clear
  sendEpoch = 6;
  out.noKeyDrops = (await run(enc, mk(plain, "delta"))).length;
  return out;
}
"""


def test_frame_format_in_chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            # a secure context (WebCrypto needs one), served by Playwright itself: nothing touches the network
            page.route(
                "https://castellan.test/**",
                lambda route: route.fulfill(
                    status=200, content_type="text/html", body="<!doctype html><title>frames</title>"
                ),
            )
            page.goto("https://castellan.test/")
            page.add_script_tag(content=WORKER.read_text())
            out = page.evaluate(CHECKS)
        finally:
            browser.close()
    assert out["h3"] == "3f0000000000000102"  # X=0 K=3 Y=1 C=7, then the CTR
    assert out["h300"] == "9f012c0000000000000102"  # X=1 K=1 (2 KID bytes: 0x012c), Y=1 C=7
    assert all(out["roundtrip"]) and out["truncated"] is None
    assert out["rbspOk"] and out["noStartCode"]
    assert out["h264Clear"] == out["h264Len"]
    assert out["vp8KeyClear"] and out["vp8Header"] == "5f"  # KID 5 inline
    assert out["overhead"] == 9 + 16  # SFrame header + GCM tag
    assert out["bodyChanged"] and out["decrypts"] and out["nonceFresh"]
    assert out["tamperedClear"] == 0 and out["tamperedTag"] == 0 and out["otherSender"] == 0
    assert out["h264Starts"] == 3 and out["h264RoundTrip"]  # only the original SPS/PPS/IDR start codes
    assert out["opusToc"] == 0x78 and out["opusRoundTrip"]
    assert out["noKeyDrops"] == 0
