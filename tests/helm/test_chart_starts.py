"""With the chart's default values the product starts (issue 13): `helm template` with no values, then the control
plane and a media node run as local processes with each container's rendered args and env, and with its rendered
volumes — the Secrets' rendered contents, read-only mounts really read-only (a private mount namespace per
process, `mount -o remount,bind,ro`: EROFS, as in a pod). A join then reaches the node.

Deviations from a pod, all forced by the test machine: bind addresses are 127.0.0.1 (not 0.0.0.0), ports are free
ones, the Redis URL is a local redis-server's, the node's pod name and host IP (fieldRefs) are given, and the
mount paths are directories under the test's tmp dir.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from residency.identity import load_or_create_node_key, public_text
from residency.signing import load_or_create_signing_key, public_key_pem
from tests.cluster import cluster as cl
from tests.helm.test_chart import env_of, named, render
from tests.support.ports import UDP, free_port
from tests.support.processes import Proc

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

HOST = "127.0.0.1"


def _root_mounts() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "read-only bind mounts need root and unshare"
    return None


class Pod:
    """One rendered container, as a local process: its mounts as directories, its env with paths rewritten."""

    def __init__(self, docs: list[dict[str, Any]], deployment: dict[str, Any], root: Path) -> None:
        self.spec = deployment["spec"]["template"]["spec"]
        (self.container,) = self.spec["containers"]
        self.root = root
        self.dirs: dict[str, Path] = {}  # mountPath -> local directory
        self.read_only: list[Path] = []
        volumes = {v["name"]: v for v in self.spec["volumes"]}
        secrets = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "Secret"}
        config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
        for m in self.container.get("volumeMounts", []):
            local = root / m["name"]
            local.mkdir(parents=True, exist_ok=True)
            self.dirs[m["mountPath"]] = local
            volume = volumes[m["name"]]
            if "secret" in volume:
                for key, value in secrets[volume["secret"]["secretName"]].items():
                    (local / key).write_bytes(base64.b64decode(value))
            # a ConfigMap the operator provides (caBundle's) is not rendered: its directory starts empty, filled by
            # the caller (tests/browser/test_rehearsal.py copies the test CA in)
            if "configMap" in volume and volume["configMap"]["name"] in config_maps:
                data = config_maps[volume["configMap"]["name"]]
                for item in volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]:
                    (local / item["path"]).write_text(data[item["key"]])
            for source in volume.get("projected", {}).get("sources", []):
                data = secrets[source["secret"]["name"]]
                for item in source["secret"]["items"]:
                    target = local / item["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(base64.b64decode(data[item["key"]]))
            if m.get("readOnly"):
                self.read_only.append(local)

    def path(self, container_path: str) -> str:
        for mount, local in sorted(self.dirs.items(), key=lambda kv: -len(kv[0])):
            if container_path == mount or container_path.startswith(mount + "/"):
                return str(local) + container_path[len(mount):]
        return container_path

    def paths(self, value: str) -> str:
        """A path, or a list `name=/path,name=/path` (CASTELLAN_RECORDING_REGION_VOLUMES), with every path local."""
        items = value.split(",")
        if all(re.match(r"^[a-z0-9._-]+=/", x) for x in items):
            return ",".join(f"{n}={self.path(v)}" for n, _, v in (x.partition("=") for x in items))
        return self.path(value)

    def env(self, overrides: dict[str, str], secret_refs: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, e in env_of(self.container).items():
            if name in overrides:
                out[name] = overrides[name]
            elif "value" in e:
                out[name] = self.paths(e["value"])
            elif "secretKeyRef" in e.get("valueFrom", {}):
                out[name] = secret_refs[name]
            else:
                raise AssertionError(f"{name}: no local value for {e}")
        return out

    def argv(self) -> list[str]:
        """The container's args, in a private mount namespace whose read-only mounts are read-only."""
        script = "".join(f'mount --bind "{d}" "{d}" && mount -o remount,bind,ro "{d}" "{d}" && '
                         for d in self.read_only)
        return ["unshare", "-m", "sh", "-c", script + 'exec "$@"', "sh", *cl.castellan(*self.container["args"])]


@pytest.mark.parametrize("own_secret", [False, True], ids=["chart-secret", "secret-without-audit-key"])
def test_the_default_values_start_and_take_a_join(tmp_path: Path, own_secret: bool) -> None:
    """`own_secret`: the operator's key Secret holds only `signing-keys.json` (as before this chart had an audit key):
    the audit key is then made on the data volume, not in the read-only mount."""
    if (reason := _root_mounts()) is not None:
        pytest.skip(reason)
    docs = render()  # no values: what `helm install castellan helm/castellan` deploys
    procs = cl.Processes()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CASTELLAN_")}
    try:
        redis = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis.start()
        cp_pod = Pod(docs, named(docs, "Deployment", "castellan-control-plane"), tmp_path / "cp")
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        cp_env = cp_pod.env({"CASTELLAN_HOST": HOST, "CASTELLAN_PORT": str(cp_port), "CASTELLAN_PUBLIC_URL": cp_url},
                            {"CASTELLAN_REDIS_URL": redis.url})
        key_dir = Path(cp_env["CASTELLAN_SIGNING_KEY_DIR"])
        assert key_dir in cp_pod.read_only  # the Secret mount that made the start fail with EROFS
        if own_secret:
            (key_dir / "audit-ed25519.pem").unlink()
        cp = procs.add(Proc("control-plane", cp_pod.argv(), tmp_path / "cp.log", env={**clean, **cp_env}))
        ready = cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 30)
        assert ready, cp.tail()

        # the audit key is the chart's (in the Secret), so every replica signs with it
        audit_key = (Path(cp_env["CASTELLAN_DB"]).parent / "keys" if own_secret else key_dir) / "audit-ed25519.pem"
        assert audit_key.exists() and not (own_secret and (key_dir / "audit-ed25519.pem").exists())
        published = httpx.get(f"{cp_url}/v1/audit/public-key").text.strip()
        assert published == public_key_pem(load_or_create_signing_key(audit_key)).strip()
        operator = (Path(cp_env["CASTELLAN_DB"]).parent / "operator.key").read_text().strip()
        op = {"Authorization": f"Bearer {operator}"}
        regions = httpx.get(f"{cp_url}/v1/operator/regions", headers=op).json()["regions"]
        assert [r["id"] for r in regions] == ["region-1"]  # from CASTELLAN_REGIONS
        keys = httpx.get(f"{cp_url}/v1/operator/node-keys", headers=op).json()["keys"]
        node_pod = Pod(docs, named(docs, "Deployment", "castellan-node-region-1"), tmp_path / "node")
        node_key = load_or_create_node_key(node_pod.path("/etc/castellan/node-key/node-key.pem"), create=False)
        assert [(k["region"], k["public_key"]) for k in keys] == [("region-1", public_text(node_key))]

        http_port, udp_port = free_port(), free_port(HOST, UDP)
        node_env = node_pod.env({"CASTELLAN_NODE_ID": "castellan-node-region-1-7d9f8-abcde", "CASTELLAN_HOST": HOST,
                                 "CASTELLAN_PUBLIC_IP": HOST, "CASTELLAN_INTERNAL_IP": HOST, "CASTELLAN_HTTP_PORT": str(http_port),
                                 "CASTELLAN_UDP_PORT": str(udp_port), "CASTELLAN_CONTROL_PLANE_URL": cp_url},
                                {"CASTELLAN_REDIS_URL": redis.url})
        procs.add(Proc("node", node_pod.argv(), tmp_path / "node.log", env={**clean, **node_env}))
        assert cl.wait_until(lambda: cl.placeable(cp_url).get("region-1") == 1, 40), procs.logs()

        assert httpx.post(f"{cp_url}/v1/tenants", json={"tenant": "acme", "name": "ACME", "jurisdiction": "EU"},
                          headers=op).status_code == 201
        link = httpx.post(f"{cp_url}/v1/tenants/acme/links", json={"title": "Board", "no_password": True},
                          headers=op).json()
        joined = httpx.post(f"{cp_url}/v1/join", json={"link": link["link"], "name": "Ada"})
        assert joined.status_code == 200, joined.text
        assert joined.json()["node"] == "castellan-node-region-1-7d9f8-abcde"
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
