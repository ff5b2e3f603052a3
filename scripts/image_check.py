"""Runs the built images the way the chart's pods run them, and checks that they serve (scripts/image-check.sh).

The chart is rendered with its default values (tests/support/chart.py, Helm in-process, offline); the control
plane's and the region's node Deployment's container then each run in `podman run` from the built image, with:

- the rendered args (the image's ENTRYPOINT is tini -- castellan) and the rendered env (Secrets resolved as the
  kubelet would, fieldRefs given), passed by name (`-e NAME`), so no Secret value is on a command line;
- the pod's securityContext: user runAsUser:runAsGroup plus the fsGroup, a read-only root filesystem, every
  capability dropped, no privilege escalation, podman's default seccomp profile (RuntimeDefault);
- the rendered volumes as host directories bind-mounted at their mountPaths (emptyDirs owned by the fsGroup,
  Secrets' rendered files root:fsGroup with the volume's defaultMode), `readOnly` mounts read-only.

Deviations from a pod, forced by this machine's network rule (traffic only to loopback): the host network with
127.0.0.1 as the bind, public and internal address and free ports, and a local redis-server as Redis.
Then: /healthz and /readyz of both, the node placeable in the control plane, a tenant, a link and a join that lands
on the node; inside the running containers the uid, no capabilities and EROFS on the root filesystem. With
`--recorder-image`, the recorder pool's image: `castellan recorder-pool --help`, and Debian's Chromium launched
headless by Playwright with the pool's own flags (recording.pool.launcher) under the same securityContext
(HOME=/tmp on an emptyDir, as recorder-pool.yaml sets), loading the join page of the control plane running in
the first image.

    PYTHONPATH=. .venv/bin/python scripts/image_check.py --image localhost/castellan/castellan:0.1.0 \
        [--recorder-image localhost/castellan/castellan-recorder:0.1.0] [--podman-arg=--runtime=runc ...]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.cluster import cluster as cl
from tests.support import chart
from tests.support.ports import UDP, free_port

HOST = "127.0.0.1"
PREFIX = "castellan-image-check-"


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def security_flags(pod_spec: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """The pod's and container's securityContext as podman flags; anything this does not translate is refused,
    so a new setting in the chart cannot go unchecked here."""
    pod, ctr = pod_spec.get("securityContext", {}), container.get("securityContext", {})
    known_pod = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
    known_ctr = {"allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities"}
    if set(pod) - known_pod or set(ctr) - known_ctr:
        raise SystemExit(f"untranslated securityContext keys: {sorted(set(pod) - known_pod)} {sorted(set(ctr) - known_ctr)}")
    assert pod["runAsNonRoot"] and pod["runAsUser"] != 0
    assert pod.get("seccompProfile", {}).get("type") == "RuntimeDefault"  # podman's default profile
    flags = [f"--user={pod['runAsUser']}:{pod['runAsGroup']}", f"--group-add={pod['fsGroup']}"]
    if ctr.get("readOnlyRootFilesystem"):
        # podman's --read-only also mounts tmpfs on /tmp, /run, /var/tmp: off, only the pod's volumes are writable
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if ctr.get("allowPrivilegeEscalation") is False:
        flags.append("--security-opt=no-new-privileges")
    assert ctr["capabilities"] == {"drop": ["ALL"]}, ctr["capabilities"]
    return [*flags, "--cap-drop=ALL"]


def volume_flags(docs: list[dict[str, Any]], pod_spec: dict[str, Any], container: dict[str, Any], root: Path) -> list[str]:
    """Each volumeMount as a bind mount of a host directory holding what the kubelet would put there."""
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    secrets = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "Secret"}
    group = pod_spec["securityContext"]["fsGroup"]
    flags = []
    for m in container.get("volumeMounts", []):
        local = root / m["name"]
        local.mkdir(parents=True)
        v = volumes[m["name"]]
        if "secret" in v or "projected" in v:
            if "secret" in v:
                mode = v["secret"].get("defaultMode", 0o644)
                files = {k: val for k, val in secrets[v["secret"]["secretName"]].items()}
            else:
                mode = v["projected"].get("defaultMode", 0o644)
                files = {item["path"]: secrets[src["secret"]["name"]][item["key"]]
                         for src in v["projected"]["sources"] for item in src["secret"]["items"]}
            for path, value in files.items():
                target = local / path
                for d in [*reversed(target.relative_to(local).parents[:-1]), Path(".")]:
                    (local / d).mkdir(exist_ok=True)
                    os.chown(local / d, 0, group)
                    os.chmod(local / d, 0o750)
                target.write_bytes(base64.b64decode(value))
                os.chown(target, 0, group)
                os.chmod(target, mode)
        elif "emptyDir" in v or "persistentVolumeClaim" in v:
            os.chown(local, 0, group)  # fsGroup: group-owned, group-writable, setgid
            os.chmod(local, 0o2770)
        else:
            raise SystemExit(f"volume {m['name']}: not translated here: {sorted(v)}")
        flags.append(f"--volume={local}:{m['mountPath']}" + (":ro" if m.get("readOnly") else ""))
    return flags


class Container:
    """One `podman run` in the foreground (its log in a file); `stop()` removes it whatever happened."""

    def __init__(self, podman: list[str], name: str, image: str, flags: list[str], env: dict[str, str],
                 args: list[str], log: Path) -> None:
        self.podman, self.name, self.log = podman, PREFIX + name, log
        subprocess.run([*podman, "rm", "-f", "--ignore", self.name], capture_output=True, check=False)
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        argv = [*podman, "run", "--rm", f"--name={self.name}", "--network=host", *flags,
                *(f"--env={k}" for k in sorted(env)), image, *args]
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, **env})

    def exec(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.podman, "exec", self.name, *cmd], capture_output=True, text=True, timeout=60,
                              check=False)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        subprocess.run([*self.podman, "stop", "--time=10", "--ignore", self.name], capture_output=True, check=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(20)
        subprocess.run([*self.podman, "rm", "-f", "--ignore", self.name], capture_output=True, check=False)
        self._out.close()


def wait(what: str, predicate: Callable[[], Any], timeout: float, *logs: Container) -> None:
    def done() -> Any:
        if any(c.proc.poll() is not None for c in logs):
            return "exited"
        return predicate()

    if cl.wait_until(done, timeout) in (None, False, "exited"):
        for c in logs:
            print(f"--- {c.name}\n{c.tail()}", file=sys.stderr)
        raise SystemExit(f"FAILED: {what} (within {timeout:.0f} s)")
    print(f"   ok: {what}", flush=True)


def check(what: str, ok: bool, detail: str = "") -> None:
    if not ok:
        raise SystemExit(f"FAILED: {what}: {detail}")
    print(f"   ok: {what}" + (f" ({detail})" if detail else ""), flush=True)


def confined(c: Container, uid: int) -> None:
    """What the pod's securityContext promises, seen from inside the running container."""
    ident = c.exec("id", "-u").stdout.strip()
    check(f"{c.name} runs as uid {uid}", ident == str(uid), ident)
    caps = {line.split(":")[0]: line.split()[1] for line in c.exec("grep", "^Cap", "/proc/1/status").stdout.splitlines()}
    check(f"{c.name}: no capabilities", set(caps.values()) == {"0000000000000000"}, json.dumps(caps))
    nnp = c.exec("grep", "^NoNewPrivs", "/proc/1/status").stdout.split()
    check(f"{c.name}: no new privileges", nnp[-1:] == ["1"], " ".join(nnp))
    touch = c.exec("touch", "/opt/castellan/venv/x")
    check(f"{c.name}: root filesystem read-only", touch.returncode != 0 and "Read-only" in touch.stderr,
          touch.stderr.strip())


@contextlib.contextmanager
def running(started: list[Container]) -> Iterator[list[Container]]:
    try:
        yield started
    finally:
        for c in reversed(started):
            c.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--recorder-image")
    ap.add_argument("--podman-arg", action="append", default=[], help="a global podman flag (repeatable)")
    ap.add_argument("--run-flag", action="append", default=[], help="a `podman run` flag the machine needs")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, volumes)")
    a = ap.parse_args()
    podman = ["podman", *a.podman_arg]
    work = Path(tempfile.mkdtemp(prefix=PREFIX))
    os.chmod(work, 0o755)
    started = time.monotonic()
    docs = chart.render({})  # the default values: what `helm install castellan helm/castellan` deploys
    cp_dep, node_dep = (chart.named(docs, "Deployment", n) for n in ("castellan-control-plane", "castellan-node-region-1"))
    image_ref = cp_dep["spec"]["template"]["spec"]["containers"][0]["image"]
    check("the chart's image reference names the image built", a.image.removeprefix("localhost/") == image_ref,
          f"chart {image_ref}, built {a.image}")
    procs = cl.Processes()
    with running([]) as containers:
        try:
            redis = procs.add(cl.RedisProc(work / "redis", free_port()))
            redis.start()

            step("control plane (the chart's castellan-control-plane container)")
            spec = cp_dep["spec"]["template"]["spec"]
            (ctr,) = spec["containers"]
            uid = spec["securityContext"]["runAsUser"]
            cp_port = free_port()
            cp_url = f"http://{HOST}:{cp_port}"
            env = {**chart.env_values(docs, ctr), "CASTELLAN_HOST": HOST, "CASTELLAN_PORT": str(cp_port),
                   "CASTELLAN_PUBLIC_URL": cp_url, "CASTELLAN_REDIS_URL": redis.url}
            flags = [*security_flags(spec, ctr), *volume_flags(docs, spec, ctr, work / "cp"), *a.run_flag]
            cp = Container(podman, "control-plane", a.image, flags, env, ctr["args"], work / "cp.log")
            containers.append(cp)
            wait(f"control plane /healthz on {cp_url}", lambda: httpx.get(f"{cp_url}/healthz", timeout=2).status_code == 200,
                 90, cp)
            wait("control plane /readyz", lambda: httpx.get(f"{cp_url}/readyz", timeout=2).status_code == 200, 30, cp)
            confined(cp, uid)
            data = work / "cp" / "data"  # the control plane's data volume (dbPath's directory)
            operator = (data / "operator.key").read_text().strip()
            op = {"Authorization": f"Bearer {operator}"}
            regions = httpx.get(f"{cp_url}/v1/operator/regions", headers=op).json()["regions"]
            check("regions from CASTELLAN_REGIONS", [r["id"] for r in regions] == ["region-1"], json.dumps(regions))

            step("media node (the chart's castellan-node-region-1 container)")
            spec = node_dep["spec"]["template"]["spec"]
            (ctr,) = spec["containers"]
            http_port, udp_port = free_port(), free_port(HOST, UDP)
            node_id = "castellan-node-region-1-image-check"
            fields = {"metadata.name": node_id, "status.podIP": HOST, "status.hostIP": HOST}
            node_url = f"http://{HOST}:{http_port}"
            env = {**chart.env_values(docs, ctr, fields), "CASTELLAN_HOST": HOST, "CASTELLAN_HTTP_PORT": str(http_port),
                   "CASTELLAN_UDP_PORT": str(udp_port), "CASTELLAN_CONTROL_PLANE_URL": cp_url,
                   "CASTELLAN_REDIS_URL": redis.url}
            flags = [*security_flags(spec, ctr), *volume_flags(docs, spec, ctr, work / "node"), *a.run_flag]
            node = Container(podman, "node", a.image, flags, env, ctr["args"], work / "node.log")
            containers.append(node)
            wait(f"node /healthz on {node_url}", lambda: httpx.get(f"{node_url}/healthz", timeout=2).status_code == 200,
                 90, node)
            wait("node placeable in region-1", lambda: cl.placeable(cp_url).get("region-1") == 1, 60, cp, node)
            confined(node, uid)

            step("a join through the control plane lands on the node")
            r = httpx.post(f"{cp_url}/v1/tenants", json={"tenant": "acme", "name": "ACME", "jurisdiction": "EU"},
                           headers=op)
            check("tenant created", r.status_code == 201, r.text)
            link = httpx.post(f"{cp_url}/v1/tenants/acme/links", json={"title": "Board", "no_password": True},
                              headers=op).json()
            joined = httpx.post(f"{cp_url}/v1/join", json={"link": link["link"], "name": "Ada"})
            check("join placed on the node", joined.status_code == 200 and joined.json().get("node") == node_id,
                  joined.text[:200])

            if a.recorder_image:
                recorder(podman, a, docs, cp_url, work)
        finally:
            procs.stop_all()
    print(f"== all checks passed in {time.monotonic() - started:.0f} s (work dir {work})")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


CHROMIUM_CHECK = """
import json, sys
from playwright.sync_api import sync_playwright
from recording.pool.launcher import ARGS, CHROMIUM
url = sys.argv[1]
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    page = b.new_page()
    page.goto(url)
    print(json.dumps({"version": b.version, "title": page.title(),
                      "webrtc": page.evaluate("typeof RTCPeerConnection"),
                      "subtle": page.evaluate("typeof crypto.subtle.importKey")}))
    b.close()
"""


def recorder(podman: list[str], a: argparse.Namespace, docs: list[dict[str, Any]], cp_url: str, work: Path) -> None:
    """The pool's image under the pool's securityContext (the same chart values) and its /tmp emptyDir."""
    step("recorder pool image")
    spec = chart.named(docs, "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]
    (ctr,) = spec["containers"]
    tmp = work / "recorder-tmp"
    tmp.mkdir()
    os.chown(tmp, 0, spec["securityContext"]["fsGroup"])
    os.chmod(tmp, 0o2770)
    flags = [*security_flags(spec, ctr), f"--volume={tmp}:/tmp", *a.run_flag]
    base = [*podman, "run", "--rm", "--network=host", *flags, "--env=HOME=/tmp"]
    r = subprocess.run([*base, a.recorder_image, "recorder-pool", "--help"], capture_output=True, text=True,
                       timeout=120, check=False)
    check("castellan recorder-pool --help", r.returncode == 0 and "--chromium" in r.stdout, r.stderr[-500:])
    t0 = time.monotonic()
    r = subprocess.run([*base, "--entrypoint=/opt/castellan/venv/bin/python", a.recorder_image, "-c", CHROMIUM_CHECK,
                        f"{cp_url}/static/join.html"], capture_output=True, text=True, timeout=180, check=False)
    check("Debian's Chromium headless (Playwright, the pool's flags) loads the control plane's join page",
          r.returncode == 0, (r.stdout + r.stderr)[-1500:])
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    check("the page has WebRTC and WebCrypto", seen["webrtc"] == "function" and seen["subtle"] == "function",
          f"{json.dumps(seen)}, {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
