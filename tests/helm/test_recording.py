"""The chart's compliance recording (issue 15; docs/deploy.md, "Recording"): the control plane's recording volume
and keys, and one recorder pool Deployment per region, pinned to that region's node pool like its media nodes,
its clear working files in memory, every key from a Secret the operator made. Rendered with the real Helm
(tests/helm/test_chart.py's render) and validated strictly against the Kubernetes schemas.

    .venv/bin/python -m pytest tests/helm/test_recording.py -q
"""
from __future__ import annotations

import argparse
import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helm.test_chart import (
    CHART,
    K8S_VERSION,
    NAMESPACE,
    HelmError,
    component,
    env_of,
    example_values,
    hc,
    named,
    notes,
    of_kind,
    render,
    validate_all,
)

PG_PASSWORD = "pg-s3cret-password"


def recording_values() -> dict[str, Any]:
    """The three-region example with PostgreSQL and recording on: a pool in eu-1 (two pods, on the control plane's
    shared volume) and one in us-1 (its recordings on its own region's claim)."""
    v = example_values()
    v["controlPlane"]["replicas"] = 2
    v["controlPlane"]["database"] = {"url": f"postgresql://castellan:{PG_PASSWORD}@db.internal:5432/castellan"}
    v["recording"] = {
        "enabled": True,
        "tenantKeys": {"existingSecret": "castellan-recording-tenant-keys"},
        "signingKey": {"existingSecret": "castellan-recording-signing-key"},
        "pool": {"clientUrl": "https://recorder-client.internal"},
        "pools": [
            {"region": "eu-1", "replicas": 2, "capacity": 3,
             "poolKey": {"existingSecret": "castellan-recorder-pool-eu-1"},
             "linkSecrets": {"existingSecret": "castellan-link-secrets-eu-1"},
             "recorderKeys": {"existingSecret": "tenants-recorder-keys"}},
            {"region": "us-1", "existingClaim": "recordings-us-1", "workdir": {"sizeLimit": "1Gi"},
             "resources": {"limits": {"memory": "4Gi"}},
             "poolKey": {"existingSecret": "castellan-recorder-pool-us-1", "key": "crk"},
             "linkSecrets": {"existingSecret": "castellan-link-secrets-us-1"}},
        ],
    }
    return v


RECORDING = recording_values()


def pod_of(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return named(docs, "Deployment", name)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def mounted_file(pod: dict[str, Any], path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The mount and the volume a file path in the container lies in (the longest matching mount path)."""
    (c,) = pod["containers"]
    mounts = [m for m in c["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")]
    assert mounts, f"{path} is on no volume"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    return mount, volume


def secret_file(pod: dict[str, Any], path: str) -> str:
    """The Secret a file path comes from, read-only, with the file's key in it; fails otherwise."""
    mount, volume = mounted_file(pod, path)
    assert mount.get("readOnly") is True, f"{path}: a key on a writable mount"
    assert "secret" in volume, f"{path}: not from a Secret ({volume})"
    key = path[len(mount["mountPath"].rstrip("/")) + 1:]
    items = volume["secret"].get("items")
    assert items is None or {"key": key, "path": key} in items, f"{path}: {key} is not projected"
    return volume["secret"]["secretName"]  # type: ignore[no-any-return]


# -- what renders -----------------------------------------------------------------------------------------------
def test_recording_values_render_valid_kubernetes_and_lint() -> None:
    docs = render(RECORDING)
    validate_all(docs)
    names = [f"{d['kind']}/{d['metadata']['name']}" for d in docs]
    assert len(names) == len(set(names))
    report = hc.lint(str(CHART), RECORDING, strict=True, kube_version=f"v{K8S_VERSION}", namespace=NAMESPACE)
    assert report["errors"] == [] and [m for m in report["messages"] if m["severity"] >= 2] == [], report
    hc.Chart.load(str(CHART)).validate_schema(RECORDING)


def test_one_pool_per_configured_region_pinned_like_its_media_nodes() -> None:
    docs = render(RECORDING)
    pools = {d["metadata"]["name"]: d for d in component(docs, "Deployment", "recorder-pool")}
    assert sorted(pools) == ["castellan-recorder-eu-1", "castellan-recorder-us-1"]  # none for eu-2
    for region, replicas in (("eu-1", 2), ("us-1", 1)):
        dep = pools[f"castellan-recorder-{region}"]
        pod = dep["spec"]["template"]["spec"]
        node = pod_of(docs, f"castellan-node-{region}")
        assert dep["spec"]["replicas"] == replicas
        # the region's node pool, exactly as its media nodes reach it
        assert pod["nodeSelector"] == node["nodeSelector"] == {"castellan.io/pool": region}
        assert pod["tolerations"] == node["tolerations"]
        assert pod.get("affinity", {}).get("nodeAffinity") == node["affinity"].get("nodeAffinity")
        assert "podAntiAffinity" not in pod.get("affinity", {}), "the nodes' one-per-host rule is theirs"
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert labels["castellan.io/region"] == region
        assert labels["castellan.io/jurisdiction"] == ("US" if region == "us-1" else "EU")
        (c,) = pod["containers"]
        assert c["args"] == ["recorder-pool"]
        env = env_of(c)
        assert env["CASTELLAN_RECORDER_POOL_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["CASTELLAN_CONTROL_PLANE_URL"]["value"] == \
            "http://castellan-control-plane.castellan.svc.cluster.local:8000"
        assert env["CASTELLAN_CLIENT_URL"]["value"] == "https://recorder-client.internal"
        assert env["CASTELLAN_RECORDER_POOL_CAPACITY"]["value"] == ("3" if region == "eu-1" else "2")
        # every key from the Secret the operator made for this region
        assert secret_file(pod, env["CASTELLAN_RECORDER_POOL_KEY_FILE"]["value"]) == \
            f"castellan-recorder-pool-{region}"
        assert secret_file(pod, env["CASTELLAN_RECORDER_LINK_SECRETS"]["value"]) == f"castellan-link-secrets-{region}"
        if region == "eu-1":  # the tenants' recorder keys, where given (docs/recording.md, the handover)
            assert secret_file(pod, env["CASTELLAN_RECORDER_KEY"]["value"]) == "tenants-recorder-keys"
        else:
            assert "CASTELLAN_RECORDER_KEY" not in env
        assert secret_file(pod, env["CASTELLAN_RECORDING_TENANT_KEYS"]["value"]) == "castellan-recording-tenant-keys"
        assert env["CASTELLAN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == \
            {"name": "castellan-database-url", "key": "url"}
        # the clear part files: memory only, of a bounded size
        mount, volume = mounted_file(pod, env["CASTELLAN_RECORDER_WORKDIR"]["value"] + "/job-1/part")
        assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "2Gi" if region == "eu-1" else "1Gi"}
        # the sealed objects: the shared recording volume, or the region's own claim
        _, vol = mounted_file(pod, env["CASTELLAN_RECORDING_VOLUME"]["value"] + "/acme/dek.json")
        assert vol["persistentVolumeClaim"]["claimName"] == \
            ("castellan-recordings" if region == "eu-1" else "recordings-us-1")
        # locked down like the other workloads; Chromium's profile on a writable /tmp, not the image
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
        assert env["HOME"]["value"] == "/tmp" and mounted_file(pod, "/tmp/.config")[1]["emptyDir"] == {}
        assert "hostNetwork" not in pod and "hostPort" not in json.dumps(c)
        assert pod["terminationGracePeriodSeconds"] >= 60, "time to seal the running recordings"
        # its PDB covers this pool's pods only (not the region's media nodes, not the other pool)
        pdb = named(docs, "PodDisruptionBudget", f"castellan-recorder-{region}")
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert selector == dep["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == "recorder-pool" and selector["castellan.io/region"] == region
    assert pools["castellan-recorder-us-1"]["spec"]["template"]["spec"]["containers"][0]["resources"] == \
        {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}


def test_a_pool_may_narrow_its_placement_within_the_region() -> None:
    values = recording_values()
    values["recording"]["pools"][0]["nodeSelector"] = {"castellan.io/recorders": "true"}
    values["recording"]["pools"][0]["tolerations"] = [{"key": "castellan.io/recorder", "operator": "Exists"}]
    pod = pod_of(render(values), "castellan-recorder-eu-1")
    assert pod["nodeSelector"] == {"castellan.io/pool": "eu-1", "castellan.io/recorders": "true"}
    assert pod["tolerations"] == [{"key": "castellan.io/recorder", "operator": "Exists"}]


def test_control_plane_gets_the_recording_volume_and_keys_from_secrets() -> None:
    docs = render(RECORDING)
    pod = pod_of(docs, "castellan-control-plane")
    env = env_of(pod["containers"][0])
    assert "CASTELLAN_RECORDING_VOLUME" not in env  # one volume per region instead
    # each region's recordings on the claim its pool seals onto: us-1's own claim, the shared one for eu-1 (its
    # pool has none of its own) and eu-2 (no pool)
    volumes = dict(x.split("=") for x in env["CASTELLAN_RECORDING_REGION_VOLUMES"]["value"].split(","))
    assert sorted(volumes) == ["eu-1", "eu-2", "us-1"]
    claims = {}
    for region, path in volumes.items():
        mount, volume = mounted_file(pod, path + "/acme/dek.json")
        assert mount["mountPath"] == path and not mount.get("readOnly"), "deletions and erasure write there"
        claims[region] = volume["persistentVolumeClaim"]["claimName"]
    assert claims == {"eu-1": "castellan-recordings", "eu-2": "castellan-recordings", "us-1": "recordings-us-1"}
    for region in ("eu-1", "us-1"):  # the very claim that region's pool seals onto
        pool = pod_of(docs, f"castellan-recorder-{region}")
        _, vol = mounted_file(pool, env_of(pool["containers"][0])["CASTELLAN_RECORDING_VOLUME"]["value"] + "/x/y")
        assert vol["persistentVolumeClaim"]["claimName"] == claims[region], region
    assert secret_file(pod, env["CASTELLAN_RECORDING_TENANT_KEYS"]["value"]) == "castellan-recording-tenant-keys"
    assert secret_file(pod, env["CASTELLAN_RECORDING_SIGNING_KEY"]["value"]) == "castellan-recording-signing-key"
    pvc = named(docs, "PersistentVolumeClaim", "castellan-recordings")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], "the control plane and the eu-1 pool share it"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # without a signing key Secret: the audit key signs exports (no variable, no mount)
    values = recording_values()
    values["recording"]["signingKey"] = {"existingSecret": ""}
    cp = pod_of(render(values), "castellan-control-plane")
    assert "CASTELLAN_RECORDING_SIGNING_KEY" not in env_of(cp["containers"][0])
    assert all(v["name"] != "recording-signing-key" for v in cp["volumes"])
    # an existing claim: no PVC, and both the control plane and the shared pool mount it
    values = recording_values()
    values["recording"]["volume"] = {"existingClaim": "corp-recordings"}
    docs = render(values)
    assert not [d for d in of_kind(docs, "PersistentVolumeClaim") if "recordings" in d["metadata"]["name"]]
    for name in ("castellan-control-plane", "castellan-recorder-eu-1"):
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod_of(docs, name)["volumes"]
                  if v["name"] == "recordings"]
        assert claims == ["corp-recordings"], name


def test_no_secret_value_in_an_env_value_or_a_config_map() -> None:
    docs = render(RECORDING)
    plain = json.dumps([d for d in docs if d["kind"] != "Secret"])
    assert PG_PASSWORD not in plain
    keyed = ("CASTELLAN_RECORDER_POOL_KEY_FILE", "CASTELLAN_RECORDER_LINK_SECRETS", "CASTELLAN_RECORDING_TENANT_KEYS",
             "CASTELLAN_RECORDING_SIGNING_KEY", "CASTELLAN_RECORDER_KEY")
    seen = set()
    for dep in of_kind(docs, "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        for c in pod["containers"]:
            for name, e in env_of(c).items():
                if name in keyed:  # a path into a read-only Secret mount, never the key itself
                    secret_file(pod, e["value"])
                    seen.add(name)
                elif name == "CASTELLAN_DATABASE_URL":
                    assert set(e["valueFrom"]) == {"secretKeyRef"}, dep["metadata"]["name"]
    assert seen == set(keyed)
    # the chart makes no Secret of its own for recording: every key is one the operator created
    made = {d["metadata"]["name"] for d in of_kind(docs, "Secret")}
    assert not {n for n in made if "record" in n or "link-secret" in n or "tenant-key" in n}, made
    assert not [d for d in of_kind(docs, "ConfigMap") if "crk_" in json.dumps(d) or "PRIVATE KEY" in json.dumps(d)]


def test_recording_disabled_renders_nothing_new() -> None:
    base = example_values()
    off = recording_values()
    off["recording"]["enabled"] = False
    off["controlPlane"] = copy.deepcopy(base["controlPlane"])  # everything else as the example
    before, after = render(base), render(off)
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in before)
    assert sorted(f"{d['kind']}/{d['metadata']['name']}" for d in after) == kinds
    for docs in (before, after, render()):
        assert not component(docs, "Deployment", "recorder-pool")
        pod = pod_of(docs, "castellan-control-plane")
        assert not [n for n in env_of(pod["containers"][0]) if n.startswith("CASTELLAN_RECORDING")]
        assert not [v for v in pod["volumes"] if v["name"].startswith("recording")]
    assert "Recording" not in notes(base)
    assert "Recorder pools" in notes(RECORDING)


# -- refused at template time -----------------------------------------------------------------------------------
def _with(change: dict[str, Any] | None = None, pool: dict[str, Any] | None = None,
          drop: tuple[str, ...] = ()) -> dict[str, Any]:
    v = recording_values()
    if change:
        for path, value in change.items():
            *parents, last = path.split(".")
            d = v
            for p in parents:
                d = d[p]
            d[last] = value
    if pool is not None:
        v["recording"]["pools"][0].update(pool)
    for key in drop:
        v["recording"]["pools"][0].pop(key)
    return v


@pytest.mark.parametrize("values, message", [
    (_with(drop=("region",)), r"recording.pools\[0\]: a recorder pool needs a region \(one of: eu-1, eu-2, us-1\)"),
    (_with(pool={"region": "ap-1"}), r"recording.pools\[0\].region: \"ap-1\" is not one of the chart's regions"),
    (_with(pool={"region": "us-1"}), r"region \"us-1\" is listed twice"),
    (_with(pool={"replicas": -1}), r"recording/pools/0/replicas"),
    (_with({"recording.tenantKeys": {"existingSecret": ""}}), r"recording.tenantKeys.existingSecret"),
    (_with(pool={"linkSecrets": {"existingSecret": ""}, "recorderKeys": {"existingSecret": ""}}),
     r"pools\[eu-1\].linkSecrets.existingSecret or recording.pools\[eu-1\].recorderKeys.existingSecret"),
    (_with({"recording.pool": {"clientUrl": ""}}), r"pools\[eu-1\].clientUrl: .*production client"),
    (_with({"controlPlane.database": {"url": ""}, "controlPlane.replicas": 1}), r"must be PostgreSQL"),
    (_with({"recording.volume": {"accessModes": ["ReadWriteOnce"]}}), r"must be ReadWriteMany"),
])
def test_bad_values_are_refused_at_template_time(values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError, match=message):
        render(values)


def test_good_variants_of_the_refused_values_render() -> None:
    """The checks refuse exactly what cannot work: with each pool on its own claim the control plane's volume may
    be ReadWriteOnce; zero replicas is a pool switched off (no PDB)."""
    v = _with({"recording.volume": {"accessModes": ["ReadWriteOnce"]}}, pool={"existingClaim": "recordings-eu-1"})
    assert named(render(v), "PersistentVolumeClaim", "castellan-recordings")["spec"]["accessModes"] == ["ReadWriteOnce"]
    # a pool with the tenants' recorder keys and no link secrets: no link-secrets file at all
    pod = pod_of(render(_with(pool={"linkSecrets": {"existingSecret": ""}})), "castellan-recorder-eu-1")
    env = env_of(pod["containers"][0])
    assert "CASTELLAN_RECORDER_LINK_SECRETS" not in env and not [v for v in pod["volumes"] if v["name"] == "link-secrets"]
    assert secret_file(pod, env["CASTELLAN_RECORDER_KEY"]["value"]) == "tenants-recorder-keys"
    docs = render(_with(pool={"replicas": 0}))
    assert named(docs, "Deployment", "castellan-recorder-eu-1")["spec"]["replicas"] == 0
    assert not [d for d in of_kind(docs, "PodDisruptionBudget") if d["metadata"]["name"] == "castellan-recorder-eu-1"]
    # pools listed but recording off: nothing checked, nothing rendered
    off = _with({"recording.enabled": False, "recording.tenantKeys": {"existingSecret": ""}}, pool={"region": "ap-1"})
    assert not component(render(off), "Deployment", "recorder-pool")


@pytest.mark.parametrize("values, where", [
    ({"recording": {"enabeld": True}}, "enabeld"),
    ({"recording": {"pools": [{"region": "eu-1", "replcas": 2}]}}, "replcas"),
    ({"recording": {"pool": {"capacity": 0}}}, "/recording/pool/capacity"),
    ({"recording": {"pool": {"workdir": {"sizeLimit": "lots"}}}}, "/recording/pool/workdir/sizeLimit"),
    ({"recording": {"volume": {"accessModes": ["ReadWriteSometimes"]}}}, "/recording/volume/accessModes"),
])
def test_schema_rejects_recording_typos(values: dict[str, Any], where: str) -> None:
    with pytest.raises(HelmError) as exc:
        hc.Chart.load(str(CHART)).validate_schema(values)
    assert where in str(exc.value)


def test_the_containerfile_builds_the_pools_image_from_build_arguments() -> None:
    """The default image stays as it was (the `run` extra, no Chromium); the pool's adds the `recorder` extra and
    Debian's chromium through the two build arguments docs/deploy.md names."""
    import tomllib

    text = (CHART.parents[1] / "Containerfile").read_text()
    assert "ARG EXTRAS=run\n" in text and '".[${EXTRAS}]"' in text
    assert 'ARG RUNTIME_PACKAGES=""\n' in text and "ca-certificates ${RUNTIME_PACKAGES}" in text
    extras = tomllib.loads((CHART.parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {d.split(">")[0] for d in extras["recorder"]} == {"av", "playwright"}
    guide = (CHART.parents[1] / "docs" / "deploy.md").read_text()
    assert "--build-arg EXTRAS=run,recorder --build-arg RUNTIME_PACKAGES=chromium" in guide


def test_a_generated_pool_key_is_enrolled_by_the_control_plane_and_works_for_its_region_only(tmp_path: Path) -> None:
    """No poolKey.existingSecret: the chart generates the region's key into a Secret, the pool mounts it and the
    control plane mounts every generated one as <dir>/<region>/pool-key and enrolls it at start. Played through
    the real control plane: the files as rendered, read by its CLI, the key announcing as the pool would."""
    from signalling.cli.control_plane import _pool_keys, add_parser
    from signalling.control.recorderpools import CONFIGURED_KEY
    from tests.control.cp_env import make_env
    from tests.control.recording_env import with_recording

    values = recording_values()
    for pool in values["recording"]["pools"]:
        pool["poolKey"] = {}
    docs = render(values)
    secrets = {d["metadata"]["name"]: d["data"] for d in of_kind(docs, "Secret")}
    keys = {r: base64.b64decode(secrets[f"castellan-recorder-{r}"]["pool-key"]).decode() for r in ("eu-1", "us-1")}
    assert all(CONFIGURED_KEY.fullmatch(k) for k in keys.values()), keys
    assert keys["eu-1"] != keys["us-1"]
    for region in ("eu-1", "us-1"):  # each pool mounts its own region's key only
        pod = pod_of(docs, f"castellan-recorder-{region}")
        env = env_of(pod["containers"][0])
        assert secret_file(pod, env["CASTELLAN_RECORDER_POOL_KEY_FILE"]["value"]) == f"castellan-recorder-{region}"
        assert json.dumps(pod).count("castellan-recorder-") == json.dumps(pod).count(f"castellan-recorder-{region}")
    cp = pod_of(docs, "castellan-control-plane")
    key_dir = env_of(cp["containers"][0])["CASTELLAN_RECORDER_POOL_KEY_DIR"]["value"]
    mount, volume = mounted_file(cp, key_dir + "/eu-1/pool-key")
    assert mount["readOnly"] is True and mount["mountPath"] == key_dir
    # the kubelet's projection, then the control plane's own reading of it
    for source in volume["projected"]["sources"]:
        for item in source["secret"]["items"]:
            target = tmp_path / "keys" / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(secrets[source["secret"]["name"]][item["key"]]))
    top = argparse.ArgumentParser()
    add_parser(top.add_subparsers())
    configured = _pool_keys(top.parse_args(["control-plane", "--recorder-pool-key-dir", str(tmp_path / "keys")]))
    assert configured == [("eu-1", keys["eu-1"]), ("us-1", keys["us-1"])]
    recording = with_recording(tmp_path)

    def configure(config: Any) -> None:
        recording(config)
        config.pool_keys = configured

    env = make_env(tmp_path, configure=configure)
    try:
        for region, key in keys.items():
            r = env.client.post(f"/v1/recorder-pools/castellan-recorder-{region}-5d8f7-abcde/announce",
                                json={"capacity": 2, "running": []}, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200 and r.json()["region"] == region, r.text
        # with an existing Secret the chart generates nothing and the control plane mounts nothing
        docs = render(RECORDING)
        assert "CASTELLAN_RECORDER_POOL_KEY_DIR" not in env_of(pod_of(docs, "castellan-control-plane")["containers"][0])
    finally:
        env.control.close()
