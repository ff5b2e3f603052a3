"""The chart's per-region S3 option (recording.s3; docs/deploy.md, "Recordings in S3"): a region listed there has
its recorder pool seal into its bucket and the control plane read and delete there, its location in a ConfigMap
the product parses (recording/s3config.py), its credentials a Secret the operator made, mounted as files — never a
value, an env var or a ConfigMap entry. The other regions stay on their volumes. Rendered with the real Helm and
validated against the Kubernetes schemas (tests/helm/test_chart.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recording.s3config import ACCESS_KEY_FILE, SECRET_FILE, load_location, parse_region_s3
from tests.helm.test_chart import CHART, HelmError, env_of, hc, named, notes, render, validate_all
from tests.helm.test_recording import mounted_file, pod_of, recording_values, secret_file

EU1 = {"region": "eu-1", "endpoint": "https://s3.eu-central-1.example.org", "bucket": "castellan-rec-eu-1",
       "signingRegion": "eu-central-1", "credentialsSecret": "castellan-s3-eu-1"}
EU2 = {"region": "eu-2", "endpoint": "https://objects.eu-2.example.org:9000", "bucket": "castellan-rec-eu-2",
       "prefix": "recordings", "credentialsSecret": "castellan-s3-eu-2", "caBundle": True}


def s3_values() -> dict[str, Any]:
    """recording_values (an eu-1 pool on the shared volume, a us-1 pool on its own claim), with eu-1 and eu-2 (no
    pool) in S3 buckets instead, and the chart's CA bundle for eu-2's endpoint."""
    v = recording_values()
    v["recording"]["s3"] = {"regions": [EU1, EU2]}
    v["caBundle"] = {"existingSecret": "corp-ca"}
    return v


RECORDING_S3 = s3_values()


def _configmap_file(docs: list[dict[str, Any]], pod: dict[str, Any], path: str, tmp: Path) -> Path:
    """The ConfigMap file a pod sees at `path`, written to tmp (for the product's own parser)."""
    mount, volume = mounted_file(pod, path)
    assert mount.get("readOnly") is True and "configMap" in volume, (path, volume)
    key = path[len(mount["mountPath"].rstrip("/")) + 1:]
    data = named(docs, "ConfigMap", volume["configMap"]["name"])["data"]
    out = tmp / key
    out.write_text(data[key])
    return out


def test_s3_values_render_valid_kubernetes_and_lint() -> None:
    docs = render(RECORDING_S3)
    validate_all(docs)
    hc.Chart.load(str(CHART)).validate_schema(RECORDING_S3)
    told = notes(RECORDING_S3)  # what `helm install` says the recordings are kept on
    assert "eu-1's in S3 bucket castellan-rec-eu-1 at https://s3.eu-central-1.example.org" in told
    assert "castellan-recorder-pool-eu-1, S3 bucket castellan-rec-eu-1" in told and "volume recordings-us-1" in told


def test_the_control_plane_reads_each_s3_regions_bucket_with_credentials_from_its_secret(tmp_path: Path) -> None:
    docs = render(RECORDING_S3)
    pod = pod_of(docs, "castellan-control-plane")
    env = env_of(pod["containers"][0])
    # the volumes of the regions on volumes only: us-1 on its claim; eu-1 and eu-2 in their buckets
    assert env["CASTELLAN_RECORDING_REGION_VOLUMES"]["value"] == "us-1=/var/lib/castellan/recordings-us-1"
    locations = parse_region_s3(_configmap_file(docs, pod, env["CASTELLAN_RECORDING_REGION_S3"]["value"],
                                                tmp_path).read_text())
    assert sorted(locations) == ["eu-1", "eu-2"]
    assert (locations["eu-1"].endpoint, locations["eu-1"].bucket, locations["eu-1"].signing_region) == \
        ("https://s3.eu-central-1.example.org", "castellan-rec-eu-1", "eu-central-1")
    assert (locations["eu-2"].prefix, locations["eu-2"].signing_region) == ("recordings/", "us-east-1")
    for region, loc in locations.items():
        for name in (ACCESS_KEY_FILE, SECRET_FILE):  # each region's own Secret, as files
            assert secret_file(pod, f"{loc.credentials_dir}/{name}") == f"castellan-s3-{region}"
    assert locations["eu-2"].ca_bundle is not None
    assert secret_file(pod, str(locations["eu-2"].ca_bundle)) == "corp-ca"
    assert locations["eu-1"].ca_bundle is None


def test_an_s3_regions_pool_seals_into_its_bucket_and_mounts_no_recording_volume(tmp_path: Path) -> None:
    docs = render(RECORDING_S3)
    pool = pod_of(docs, "castellan-recorder-eu-1")
    env = env_of(pool["containers"][0])
    assert "CASTELLAN_RECORDING_VOLUME" not in env
    assert not [v for v in pool["volumes"] if "persistentVolumeClaim" in v]
    loc = load_location(_configmap_file(docs, pool, env["CASTELLAN_RECORDING_S3"]["value"], tmp_path))
    cp_locations = parse_region_s3(_configmap_file(
        docs, pod_of(docs, "castellan-control-plane"),
        env_of(pod_of(docs, "castellan-control-plane")["containers"][0])["CASTELLAN_RECORDING_REGION_S3"]["value"],
        tmp_path / "..").read_text())
    assert loc == cp_locations["eu-1"]  # the very bucket the control plane reads eu-1's recordings in
    for name in (ACCESS_KEY_FILE, SECRET_FILE):
        assert secret_file(pool, f"{loc.credentials_dir}/{name}") == "castellan-s3-eu-1"
    # its ConfigMap volume holds its own region's location only
    (cm,) = [v for v in pool["volumes"] if "configMap" in v]
    assert cm["configMap"]["items"] == [{"key": "eu-1.json", "path": "eu-1.json"}]
    # the pool on a volume (us-1) is as before
    us = env_of(pod_of(docs, "castellan-recorder-us-1")["containers"][0])
    assert "CASTELLAN_RECORDING_S3" not in us and us["CASTELLAN_RECORDING_VOLUME"]["value"]


def test_the_pools_env_is_what_its_parser_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    from recording.pool.__main__ import parse_args

    env = env_of(pod_of(render(RECORDING_S3), "castellan-recorder-eu-1")["containers"][0])
    for name, e in env.items():
        if name.startswith("CASTELLAN_") and "value" in e:
            monkeypatch.setenv(name, e["value"])
    for name in ("CASTELLAN_DATABASE_URL", "CASTELLAN_RECORDER_POOL_ID"):  # from a Secret, from the pod name
        monkeypatch.setenv(name, "from-kubernetes")
    args = parse_args([])
    assert args.s3 == "/etc/castellan/recording-s3/eu-1.json" and args.volume is None


def test_no_credential_in_values_env_or_a_config_map() -> None:
    docs = render(RECORDING_S3)
    for d in docs:
        if d["kind"] == "ConfigMap" and "recording-s3" in d["metadata"]["name"]:
            for value in d["data"].values():
                for loc in ([json.loads(value)] if "endpoint" in json.loads(value) else json.loads(value).values()):
                    assert set(loc) <= {"endpoint", "bucket", "credentials", "signing_region", "prefix", "ca_bundle"}
    made = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    assert not {n for n in made if "s3" in n}, "the operator makes the credentials Secret, never the chart"


@pytest.mark.parametrize("change, message", [
    ({"region": "ap-1"}, r"recording.s3.regions\[0\].region: \"ap-1\" is not one of the chart's regions"),
    ({"credentialsSecret": ""}, r"recording/s3/regions/0/credentialsSecret"),
    ({"secretAccessKey": "hunter2"}, r"secretAccessKey"),
    ({"endpoint": "https://AK:hunter2@s3.example.org"}, r"recording/s3/regions/0/endpoint"),
    ({"bucket": "Not_A_Bucket"}, r"recording/s3/regions/0/bucket"),
])
def test_bad_s3_values_are_refused(change: dict[str, Any], message: str) -> None:
    v = s3_values()
    v["recording"]["s3"]["regions"][0] = {**EU1, **change}
    with pytest.raises(HelmError, match=message):
        render(v)


def test_a_region_with_both_a_bucket_and_its_own_claim_is_refused() -> None:
    v = s3_values()
    v["recording"]["pools"][0]["existingClaim"] = "recordings-eu-1"
    with pytest.raises(HelmError, match=r"a region has a volume or a bucket, not both"):
        render(v)
    v = s3_values()
    v["recording"]["s3"]["regions"].append(dict(EU1))
    with pytest.raises(HelmError, match=r"region \"eu-1\" is listed twice"):
        render(v)
    v = s3_values()
    v["caBundle"] = {}
    with pytest.raises(HelmError, match=r"caBundle.*is not set"):
        render(v)
