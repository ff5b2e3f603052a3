"""Playwright driver for the recording proof, run INSIDE the loopback-only namespace:
`recorder_driver.py CONFIG`. Prints progress lines and, last, `RESULT {json}`. Every wait is bounded.

It plays the recorder process (recording/sink.py on 127.0.0.1) beside a recorder page in Debian's Chromium, and
three participants whose fake cameras play a video whose every frame carries its number (loadtests/media.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.sync_api import sync_playwright

from recording.sink import Sink, SinkServer
from tests.browser.driver import Participant, client_url, log, poll, wait_decoding, wait_http

ROOT = Path(__file__).resolve().parents[2]
REC_STATS = """async () => {
  const s = window.castellanApp.session, e = window.castellanApp.e2ee;
  const roster = e ? e.roster().map((m) => m.name) : [];
  let port = null; // the recorder's end of the selected pair, where the node sends (the first listed candidate
  if (s && s.pc) {  // can be another host candidate, and a loss rule on its port would drop nothing)
    const r = await s.pc.getStats(), by = {};
    r.forEach((x) => { by[x.id] = x; });
    r.forEach((x) => {
      const pair = x.type === 'transport' && x.selectedCandidatePairId ? by[x.selectedCandidatePairId] : null;
      const l = pair ? by[pair.localCandidateId] : null;
      if (l && l.protocol === 'udp' && pair.state === 'succeeded') port = l.port;
    });
  }
  const vp = window.castellanApp.viewports; // tile sizes told to the node: a recorder's page tells none
  return { roster, port, recorder: window.castellanRecorder ? window.castellanRecorder() : null,
           viewports: vp ? Object.fromEntries(vp.reporter.sent) : {},
           safety: e ? await e.safetyCode() : null, lock: document.getElementById('lock').textContent };
}"""


def browser_cpu(newest: bool = True) -> tuple[int, float]:
    """(pid, CPU seconds) of the newest Chromium browser process Playwright started and all its children: the
    recorder's, since it is launched last."""
    import psutil

    roots = [p for p in psutil.process_iter(["pid", "cmdline"])
             if p.info["cmdline"] and "--remote-debugging-pipe" in p.info["cmdline"]]
    root = max(roots, key=lambda p: p.info["pid"])
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return root.info["pid"], total


def scenario(pw: Any, cfg: dict[str, Any], result: dict[str, Any]) -> None:
    wait_http(cfg["base_url"] + "/static/join.html")
    wait_http(cfg["http_url"] + "/healthz")
    console: list[str] = []
    result["console"] = console
    workdir = Path(cfg["workdir"])
    server = SinkServer(Sink(workdir), token=cfg["sink_token"]).start()
    log("sink listening on port", server.port)
    cam = [f"--use-file-for-fake-video-capture={cfg['y4m']}"]
    parts = {k: Participant(pw, cfg, k, console, extra=cam) for k in ("A", "B", "C")}
    rec = Participant(pw, cfg, "REC", console, drop=("--use-fake-ui-for-media-stream",))  # publishes nothing
    try:
        for k, p in parts.items():
            p.open(client_url(cfg, cfg["tokens"][k], k, cfg["secret"]))
            log("opened", k)
        seen = wait_decoding(parts, timeout=120, min_frames=10)
        ids = {k: v["participant"] for k, v in seen.items()}
        if not all(parts[k].frames_from(ids[o], seen[k]) >= 10 for k in parts for o in parts if o != k):
            raise RuntimeError(f"participants do not decode each other: {json.dumps(seen)[:3000]}")
        log("participants decode each other")
        page, fragment = client_url(cfg, cfg["tokens"]["REC"], "ACME archive", cfg["secret"]).split("#", 1)
        rec.open(f"{page}&recorder={quote(server.url, safe='')}#{fragment}")
        assert rec.page is not None

        def tracks() -> int:
            st = server.call(server.sink.stats)
            return sum(1 for t in st["tracks"].values() if t["written"] > 0)

        n = poll(tracks, lambda x: x >= 6, timeout=float(cfg.get("tracks_timeout", 90)))
        if n < 6:
            diag = rec.page.evaluate("""() => ({recorder: window.castellanRecorder ? window.castellanRecorder() : null,
              log: window.castellanApp.e2ee ? window.castellanApp.e2ee.log.slice(-20) : null,
              session: window.castellanApp.session ? window.castellanApp.session.log.slice(-20) : null,
              href: location.href})""")
            raise RuntimeError(f"recorder records {n} of 6 tracks: {server.call(server.sink.stats)}; "
                               f"refused {server.refused}; page: {json.dumps(diag)}")
        log("recorder records every track")
        port = poll(lambda: rec.page.evaluate(REC_STATS)["port"], lambda x: x is not None, timeout=10)  # type: ignore[union-attr]
        loss = ["nft", "-f", "-"]
        rules = (f"table inet recloss {{\n chain out {{\n  type filter hook output priority 0;\n"
                 f"  udp sport {cfg['udp_port']} udp dport {port} numgen random mod 100 < {cfg['loss_percent']} counter drop\n"
                 f"  udp sport {cfg['udp_port']} udp dport {port} counter\n"
                 " }\n}\n")
        done = subprocess.run(loss, input=rules, text=True, capture_output=True, timeout=10)
        if done.returncode:
            raise RuntimeError(f"nft: {done.stderr}")
        result["loss_rule"] = rules
        log("loss toward the recorder:", rules)
        sent = []
        for i in range(2):
            for k, p in parts.items():
                text = f"{k} says {i}: minute {i} approved"
                assert p.page is not None
                p.page.evaluate("(t) => window.castellanChat(t)", text)
                sent.append(text)
                time.sleep(0.2)
        result["chat_sent"] = sent
        pid0, cpu0 = browser_cpu()
        t0 = time.monotonic()
        time.sleep(float(cfg["seconds"]))
        pid1, cpu1 = browser_cpu()
        result["recorder_page_cpu"] = {"pid": pid1, "same": pid0 == pid1, "cpu_s": round(cpu1 - cpu0, 2),
                                       "wall_s": round(time.monotonic() - t0, 2), "load1": os.getloadavg()[0]}
        views = {k: p.page.evaluate(REC_STATS) for k, p in {**parts, "REC": rec}.items()}  # type: ignore[union-attr]
        result["views"] = views
        result["ids"] = {k: p.stats()["participant"] for k, p in {**parts, "REC": rec}.items()}
        result["decoded"] = {k: {o: parts[k].frames_from(result["ids"][o]) for o in parts if o != k} for k in parts}
        rec_stats = rec.stats()
        result["recorder_video"] = rec_stats["video"]
        result["recorder_audio"] = rec_stats["audio"]
        poll(lambda: rec.page.evaluate(REC_STATS)["recorder"]["chat"], lambda c: c >= len(sent), timeout=10)  # type: ignore[union-attr]
        for k in ("B", "C"):  # they leave; A goes on while a bot captures what the node forwards
            parts[k].close()
        bot_out = Path(cfg["artifacts"]) / "recording-capture.json"
        subprocess.run([sys.executable, str(ROOT / "tests" / "browser" / "capture_bot.py"), cfg["ws_url"],
                        cfg["tokens"]["bot"], "6", str(bot_out), cfg["capture_dir"]], check=True, timeout=60,
                       cwd=ROOT, capture_output=True)
        result["capture"] = json.loads(bot_out.read_text())
        time.sleep(1)
        rec.page.evaluate("window.castellanApp.e2ee.worker.postMessage({type: 'record-bye'})")
        poll(lambda: server.call(lambda: server.sink.ended), bool, timeout=10)
        listed = subprocess.run(["nft", "list", "table", "inet", "recloss"], capture_output=True, text=True, timeout=10)
        result["loss_counters"] = [int(x) for x in re.findall(r"counter packets (\d+)", listed.stdout)]
    finally:
        for p in [*parts.values(), rec]:
            p.close()
        subprocess.run(["nft", "delete", "table", "inet", "recloss"], capture_output=True, timeout=10)
    result["sink"] = server.call(server.sink.stats)
    files = server.stop()
    result["files"] = [{"path": str(f.path), "participant": f.participant, "kind": f.kind, "codec": f.codec}
                       for f in files]


def main() -> int:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    result: dict[str, Any] = {}
    try:
        with sync_playwright() as pw:
            scenario(pw, cfg, result)
    except Exception:  # noqa: BLE001 - reported to the test, which fails with the traceback
        result["error"] = traceback.format_exc()
        log(result["error"])
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
