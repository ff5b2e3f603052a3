"""With recording values the chart's control plane and recorder pool start and talk (issue 15): `helm template` with
recording on (PostgreSQL, one pool with a chart-generated key), then the control plane and the pool run as local
processes with each container's rendered args, env and volumes (tests/helm/test_chart_starts.py's Pod: Secrets'
contents written out, read-only mounts really read-only). The control plane enrolls the generated pool key from
its projected mount, serves the recording API from the mounted volume and tenant keys, and the pool process,
configured only by its rendered env, announces itself with that key — for the key's region (no job: no Chromium
is started here; tests/recording/test_recorder_pool_browser.py records a meeting through the pool process).

The Secrets the operator creates (tenant keys, link secrets, export signing key, a region's S3 credentials) are given
as the cluster would hold them; the second test puts one region's recordings in an S3 bucket (recording.s3) on a
real S3 server on loopback. Deviations from a pod as in test_chart_starts.py (loopback addresses, free ports, the fieldRefs given).
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from recording.archive import Archive
from recording.s3 import S3Store
from recording.s3config import load_location, load_region_s3
from recording.store import LocalVolumeStore, TenantVault
from residency.db import Database
from tests.cluster import cluster as cl
from tests.control.recording_env import TENANT_KEYS
from tests.fixtures.s3 import StartS3
from tests.helm.test_chart import env_of, named, render
from tests.helm.test_chart_starts import HOST, Pod, _root_mounts
from tests.recording.archive_world import recorded
from tests.support.ports import free_port
from tests.support.processes import Proc

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def _ed25519_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())


def _secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    """A Secret the operator created in the cluster (kubectl create secret generic ...)."""
    return {"kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


def test_the_control_plane_enrolls_the_generated_pool_key_and_the_pool_announces_with_it(
        tmp_path: Path, pg_url: str) -> None:
    if (reason := _root_mounts()) is not None:
        pytest.skip(reason)
    values = {
        "controlPlane": {"database": {"url": pg_url}},
        "regions": [{"name": "eu-1", "jurisdiction": "EU"}, {"name": "us-1", "jurisdiction": "US"}],
        "recording": {"enabled": True, "volume": {"accessModes": ["ReadWriteMany"]},
                      "tenantKeys": {"existingSecret": "castellan-recording-tenant-keys"},
                      "signingKey": {"existingSecret": "castellan-recording-signing-key"},
                      "pool": {"clientUrl": "http://127.0.0.1:9/"},
                      "pools": [{"region": "eu-1", "linkSecrets": {"existingSecret": "castellan-link-secrets-eu-1"}},
                                {"region": "us-1", "replicas": 0, "existingClaim": "recordings-us-1",
                                 "linkSecrets": {"existingSecret": "castellan-link-secrets-us-1"}}]},
    }
    tenant_keys = {t: {"id": i, "key": base64.b64encode(k).decode()} for t, (i, k) in TENANT_KEYS.items()}
    docs = render(values) + [
        _secret("castellan-recording-tenant-keys", {"tenant-keys.json": json.dumps(tenant_keys).encode()}),
        _secret("castellan-recording-signing-key", {"recording-signing-key.pem": _ed25519_pem()}),
        _secret("castellan-link-secrets-eu-1", {"link-secrets.json": b"{}"}),
        _secret("castellan-link-secrets-us-1", {"link-secrets.json": b"{}"}),
    ]
    generated = base64.b64decode(named(docs, "Secret", "castellan-recorder-eu-1")["data"]["pool-key"]).decode()
    procs = cl.Processes()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CASTELLAN_")}
    try:
        redis_proc = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis_proc.start()
        refs = {"CASTELLAN_REDIS_URL": redis_proc.url, "CASTELLAN_DATABASE_URL": pg_url}
        cp_pod = Pod(docs, named(docs, "Deployment", "castellan-control-plane"), tmp_path / "cp")
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        cp_env = cp_pod.env({"CASTELLAN_HOST": HOST, "CASTELLAN_PORT": str(cp_port), "CASTELLAN_PUBLIC_URL": cp_url},
                            refs)
        # the keys are files in read-only Secret mounts, the volume a writable mount
        for name in ("CASTELLAN_RECORDING_TENANT_KEYS", "CASTELLAN_RECORDING_SIGNING_KEY"):
            assert Path(cp_env[name]).parent in cp_pod.read_only and Path(cp_env[name]).is_file(), name
        assert Path(cp_env["CASTELLAN_RECORDER_POOL_KEY_DIR"]) in cp_pod.read_only
        assert (Path(cp_env["CASTELLAN_RECORDER_POOL_KEY_DIR"]) / "eu-1" / "pool-key").read_text() == generated
        cp = procs.add(Proc("control-plane", cp_pod.argv(), tmp_path / "cp.log", env={**clean, **cp_env}))
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 60), cp.tail()

        operator = (Path(cp_env["CASTELLAN_DB"]).parent / "operator.key").read_text().strip()
        op = {"Authorization": f"Bearer {operator}"}
        keys = httpx.get(f"{cp_url}/v1/recorder-pool-keys", headers=op).json()["keys"]
        assert sorted(k["region"] for k in keys) == ["eu-1", "us-1"]  # us-1's pool (no pods yet) has its key too
        (key,) = [k for k in keys if k["region"] == "eu-1"]
        assert generated.startswith(f"crk_{key['key_id']}.") and not key["revoked"]
        # the recording API is configured (the volume and the tenant keys from their mounts)
        assert httpx.post(f"{cp_url}/v1/tenants", json={"tenant": "acme", "name": "ACME", "jurisdiction": "EU"},
                          headers=op).status_code == 201
        r = httpx.get(f"{cp_url}/v1/tenants/acme/recordings", headers=op)
        assert r.status_code == 200 and r.json()["recordings"] == [], r.text
        # one volume per region: us-1's pool seals onto its own claim, which the control plane mounts and reads
        # that region's recordings on; a region the chart does not have is refused, not looked for elsewhere
        volumes = dict(x.split("=") for x in cp_env["CASTELLAN_RECORDING_REGION_VOLUMES"].split(","))
        assert volumes["us-1"] == cp_pod.path("/var/lib/castellan/recordings-us-1") != volumes["eu-1"]
        db = Database(pg_url)
        try:
            us = recorded(Archive(db, TenantVault(LocalVolumeStore(volumes["us-1"]), TENANT_KEYS)), tmp_path,
                          "board", {"p-alice": "Alice"}, region="us-1")
            stray = recorded(Archive(db, TenantVault(LocalVolumeStore(volumes["eu-1"]), TENANT_KEYS)), tmp_path,
                             "stray", {"p-bob": "Bob"}, region="ap-1")
        finally:
            db.close()
        r = httpx.get(f"{cp_url}/v1/tenants/acme/recordings/{us.id}/export", headers=op)
        assert r.status_code == 200, r.text
        with tarfile.open(fileobj=io.BytesIO(r.content)) as t:
            member = t.extractfile(f"{us.id}/p-alice-audio.webm")
            assert member is not None
            assert member.read() == (tmp_path / us.id / "p-alice-audio.webm").read_bytes()
        r = httpx.get(f"{cp_url}/v1/tenants/acme/recordings/{stray.id}/export", headers=op)
        assert (r.status_code, r.json()["error"]) == (503, "no_store_for_region"), r.text

        pool_pod = Pod(docs, named(docs, "Deployment", "castellan-recorder-eu-1"), tmp_path / "pool")
        pool_id = "castellan-recorder-eu-1-6c9d4f7b8-x2k9q"
        pool_env = pool_pod.env({"CASTELLAN_RECORDER_POOL_ID": pool_id, "CASTELLAN_CONTROL_PLANE_URL": cp_url}, refs)
        assert Path(pool_env["CASTELLAN_RECORDER_POOL_KEY_FILE"]).read_text() == generated
        assert env_of(pool_pod.container)["CASTELLAN_RECORDER_WORKDIR"]["value"] == "/var/lib/castellan/recorder"
        pool = procs.add(Proc("recorder-pool", pool_pod.argv(), tmp_path / "pool.log", env={**clean, **pool_env}))
        registry = redis.Redis.from_url(redis_proc.url, decode_responses=True)

        def announced() -> dict[str, Any] | None:
            found = [str(k) for k in registry.keys("*recorder_pool*") if str(k).endswith(pool_id)]
            return json.loads(str(registry.get(found[0]) or "null")) if found else None

        doc = cl.wait_until(announced, 60)
        assert doc, procs.logs()
        assert doc["region"] == "eu-1" and doc["key_id"] == key["key_id"] and doc["capacity"] == 2
        assert pool.alive(), pool.tail()
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()


def test_an_s3_region_from_the_chart_is_read_in_its_bucket_and_its_pool_starts_on_it(
        tmp_path: Path, pg_url: str, s3_server: StartS3) -> None:
    """`recording.s3.regions` as shipped: the control plane and eu-1's pool run with their rendered env, the
    ConfigMap's location files and the operator's credentials Secret as mounted files. The control plane exports
    a recording of eu-1 from eu-1's bucket (a real S3 server on loopback) and refuses one of a region the chart
    has no store for; the pool, configured only by its rendered env, opens its bucket and announces. Deviation
    beyond test_chart_starts.py's: the container paths inside the location files (the credentials' directory)
    are rewritten to the test's mount directories, as those of env values are."""
    if (reason := _root_mounts()) is not None:
        pytest.skip(reason)
    server = s3_server("castellan-rec-eu-1")
    values = {
        "controlPlane": {"database": {"url": pg_url}},
        "regions": [{"name": "eu-1", "jurisdiction": "EU"}, {"name": "us-1", "jurisdiction": "US"}],
        "recording": {"enabled": True, "volume": {"accessModes": ["ReadWriteMany"]},
                      "tenantKeys": {"existingSecret": "castellan-recording-tenant-keys"},
                      "pool": {"clientUrl": "http://127.0.0.1:9/"},
                      "s3": {"regions": [{"region": "eu-1", "endpoint": server.endpoint,
                                          "bucket": "castellan-rec-eu-1", "credentialsSecret": "castellan-s3-eu-1"}]},
                      "pools": [{"region": "eu-1", "linkSecrets": {"existingSecret": "castellan-link-secrets-eu-1"}}]},
    }
    tenant_keys = {t: {"id": i, "key": base64.b64encode(k).decode()} for t, (i, k) in TENANT_KEYS.items()}
    docs = render(values) + [
        _secret("castellan-recording-tenant-keys", {"tenant-keys.json": json.dumps(tenant_keys).encode()}),
        _secret("castellan-link-secrets-eu-1", {"link-secrets.json": b"{}"}),
        _secret("castellan-s3-eu-1", {"access-key-id": server.access_key.encode(),
                                      "secret-access-key": server.secret.encode()}),
    ]
    procs = cl.Processes()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CASTELLAN_")}

    def localized(pod: Pod, location_file: str) -> None:
        f = Path(location_file)
        doc = json.loads(f.read_text())
        for loc in (doc.values() if "endpoint" not in doc else [doc]):
            loc["credentials"] = pod.path(loc["credentials"])
        f.write_text(json.dumps(doc))

    try:
        redis_proc = procs.add(cl.RedisProc(tmp_path / "redis", free_port()))
        redis_proc.start()
        refs = {"CASTELLAN_REDIS_URL": redis_proc.url, "CASTELLAN_DATABASE_URL": pg_url}
        cp_pod = Pod(docs, named(docs, "Deployment", "castellan-control-plane"), tmp_path / "cp")
        cp_port = free_port()
        cp_url = f"http://{HOST}:{cp_port}"
        cp_env = cp_pod.env({"CASTELLAN_HOST": HOST, "CASTELLAN_PORT": str(cp_port), "CASTELLAN_PUBLIC_URL": cp_url},
                            refs)
        assert "CASTELLAN_RECORDING_REGION_VOLUMES" in cp_env  # us-1 stays on the shared volume
        assert "eu-1" not in cp_env["CASTELLAN_RECORDING_REGION_VOLUMES"]
        localized(cp_pod, cp_env["CASTELLAN_RECORDING_REGION_S3"])
        locations = load_region_s3(cp_env["CASTELLAN_RECORDING_REGION_S3"])
        assert locations["eu-1"].credentials_dir in cp_pod.read_only  # the Secret, mounted read-only
        cp = procs.add(Proc("control-plane", cp_pod.argv(), tmp_path / "cp.log", env={**clean, **cp_env}))
        assert cl.wait_until(lambda: httpx.get(f"{cp_url}/readyz", timeout=1).status_code == 200, 60), cp.tail()
        operator = (Path(cp_env["CASTELLAN_DB"]).parent / "operator.key").read_text().strip()
        op = {"Authorization": f"Bearer {operator}"}
        assert httpx.post(f"{cp_url}/v1/tenants", json={"tenant": "acme", "name": "ACME", "jurisdiction": "EU"},
                          headers=op).status_code == 201
        db = Database(pg_url)
        try:
            eu = recorded(Archive(db, TenantVault(S3Store(locations["eu-1"]), TENANT_KEYS)), tmp_path, "board",
                          {"p-alice": "Alice"}, region="eu-1")
            stray = recorded(Archive(db, TenantVault(S3Store(locations["eu-1"]), TENANT_KEYS)), tmp_path,
                             "stray", {"p-bob": "Bob"}, region="ap-1")
        finally:
            db.close()
        assert f"acme/{eu.id}/p-alice-audio.webm" in server.objects("castellan-rec-eu-1")
        r = httpx.get(f"{cp_url}/v1/tenants/acme/recordings/{eu.id}/export", headers=op)
        assert r.status_code == 200, r.text
        with tarfile.open(fileobj=io.BytesIO(r.content)) as t:
            member = t.extractfile(f"{eu.id}/p-alice-audio.webm")
            assert member is not None
            assert member.read() == (tmp_path / eu.id / "p-alice-audio.webm").read_bytes()
        r = httpx.get(f"{cp_url}/v1/tenants/acme/recordings/{stray.id}/export", headers=op)
        assert (r.status_code, r.json()["error"]) == (503, "no_store_for_region"), r.text
        assert server.secret not in cp.output()

        pool_pod = Pod(docs, named(docs, "Deployment", "castellan-recorder-eu-1"), tmp_path / "pool")
        pool_id = "castellan-recorder-eu-1-6c9d4f7b8-s3s3s"
        pool_env = pool_pod.env({"CASTELLAN_RECORDER_POOL_ID": pool_id, "CASTELLAN_CONTROL_PLANE_URL": cp_url}, refs)
        assert "CASTELLAN_RECORDING_VOLUME" not in pool_env
        localized(pool_pod, pool_env["CASTELLAN_RECORDING_S3"])
        assert load_location(pool_env["CASTELLAN_RECORDING_S3"]).identity == locations["eu-1"].identity
        pool = procs.add(Proc("recorder-pool", pool_pod.argv(), tmp_path / "pool.log", env={**clean, **pool_env}))
        registry = redis.Redis.from_url(redis_proc.url, decode_responses=True)

        def announced() -> bool:
            return any(str(k).endswith(pool_id) for k in registry.keys("*recorder_pool*"))

        assert cl.wait_until(announced, 60), procs.logs()
        assert pool.alive(), pool.tail()
        assert server.secret not in pool.output()
    except BaseException:
        print(procs.logs())
        raise
    finally:
        procs.stop_all()
