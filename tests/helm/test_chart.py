"""The Helm chart (helm/castellan) and the Containerfile.

Lints and renders the chart with a real Helm (helm-python-sdk embeds Helm 4, offline), validates every rendered
manifest strictly against the Kubernetes schemas (kubernetes-validate, bundled schemas, offline), and checks
what matters to an operator: one media-node pool per region, its UDP port, drain, PDB, region-scoped TURN,
Redis modes, the schema, the ServiceMonitor toggle, the dashboard's metric names, the image build file.

    .venv/bin/python -m pytest tests/helm -q
    .venv/bin/python -m pytest tests/helm -q -s -k resource_list     # prints the rendered resources
"""
from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shlex
import tempfile
from pathlib import Path
from typing import Any

# Helm (Go, loaded in-process) reads its environment when the library loads: point HOME, the kubeconfig and the
# Helm/XDG dirs at an empty scratch directory first, so nothing touches the user's config or the network.
_SCRATCH = Path(tempfile.mkdtemp(prefix="castellan-helm-"))
for _var in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HELM_CACHE_HOME",
             "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
    os.environ[_var] = str(_SCRATCH / _var.lower())
os.environ["KUBECONFIG"] = str(_SCRATCH / "no-kubeconfig")

import kubernetes_validate  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from helm_python import chart as hc  # noqa: E402
from helm_python.errors import HelmError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "castellan"
EXAMPLE = CHART / "examples" / "three-regions.yaml"
K8S_VERSION = "1.33.0"  # a fixed, recent Kubernetes for strict schema validation
RELEASE, NAMESPACE = "castellan", "castellan"
# Kinds from CRDs: kubernetes-validate has no schema for them; checked structurally below.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


# -- helpers ---------------------------------------------------------------------------------------------------
def example_values() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Renders the chart like `helm template` and returns the manifests (NOTES.txt left out)."""
    files = hc.Chart.load(str(CHART)).render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def notes(values: dict[str, Any] | None = None) -> str:
    files = hc.Chart.load(str(CHART)).render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for path, text in files.items() if path.endswith("NOTES.txt"))


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def component(docs: list[dict[str, Any]], kind: str, comp: str) -> list[dict[str, Any]]:
    return [d for d in of_kind(docs, kind)
            if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == comp]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _load_script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), Path(__file__).with_name(name))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def validate_all(docs: list[dict[str, Any]]) -> None:
    assert docs
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            assert doc["metadata"]["name"] and doc["spec"], where
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where} is not a valid Kubernetes {K8S_VERSION} object: {exc.message} "
                        f"(at {'.'.join(str(p) for p in exc.path)})")
        labels = doc["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
                    "helm.sh/chart"):
            assert key in labels, f"{where} lacks label {key}"
        assert len(doc["metadata"]["name"]) <= 63, where


# A values set that turns on every optional branch (hostPort mode, Ingress with TLS, TURN with TLS, bundled
# Redis persistence, PDB minAvailable, several control-plane replicas on a ReadWriteMany claim).
EVERYTHING: dict[str, Any] = {
    "controlPlane": {
        "replicas": 2,
        "persistence": {"accessModes": ["ReadWriteMany"], "storageClass": "shared"},
        "ingress": {"enabled": True, "className": "nginx",
                    "hosts": [{"host": "meet.example.org", "paths": [{"path": "/", "pathType": "Prefix"}]}],
                    "tls": [{"secretName": "meet-tls", "hosts": ["meet.example.org"]}]},
    },
    "redis": {"bundled": {"persistence": {"enabled": True}}},
    "node": {"pdb": {"enabled": True, "minAvailable": 1}},
    "regions": [
        {"name": "eu-1", "jurisdiction": "EU", "hostNetwork": False, "hostPort": True, "publicIPSource": "podIP",
         "nodeAddresses": ["10.1.0.0-10.1.255.255"],
         "antiAffinity": "preferred",
         "turn": {"enabled": True, "host": "turn.eu-1.example.org", "hostNetwork": False,
                  "allowedPeerIPs": ["10.0.0.0-10.0.255.255"], "tls": {"enabled": True, "secretName": "turn-tls"}}},
        {"name": "ch-1", "jurisdiction": "CH", "hostNetwork": False, "hostPort": False, "publicIP": "192.0.2.10",
         "nodeAddresses": ["10.2.0.7"],
         "antiAffinity": "none", "replicas": 1, "drain": {"preStop": False, "marginSeconds": 0}},
    ],
    "metrics": {"serviceMonitor": {"enabled": True}},
}


# -- lint -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["default", "three-regions", "everything"])
def test_lint_strict(case: str) -> None:
    values = {"default": None, "three-regions": example_values(), "everything": EVERYTHING}[case]
    report = hc.lint(str(CHART), values, strict=True, kube_version=f"v{K8S_VERSION}", namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    assert report["errors"] == [], report
    # Only the informational "icon is recommended" may remain; no warnings or errors.
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_lint_reports_a_typo_in_values() -> None:
    report = hc.lint(str(CHART), {"regoins": []}, strict=True, kube_version=f"v{K8S_VERSION}")
    assert any("regoins" in e for e in report["errors"]), report
    assert any(m["severity"] == 3 and m["path"] == "values.yaml" for m in report["messages"]), report


def test_helm_is_v4() -> None:
    import helm_python
    assert helm_python.helm_sdk_version().startswith("v4."), helm_python.helm_sdk_version()


# -- render + strict Kubernetes validation -------------------------------------------------------------------
@pytest.mark.parametrize("case", ["default", "three-regions", "everything"])
def test_rendered_manifests_are_valid_kubernetes(case: str) -> None:
    values = {"default": None, "three-regions": example_values(), "everything": EVERYTHING}[case]
    validate_all(render(values))


def test_resource_list(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints what the three-region example renders (run with -s)."""
    docs = render(example_values())
    lines = [f"{d['kind']}/{d['metadata']['name']}" for d in docs]
    with capsys.disabled():
        print(f"\nhelm/castellan with examples/three-regions.yaml renders {len(lines)} resources:")
        for line in sorted(lines):
            print("  " + line)
    assert len(lines) == len(set(lines)), "duplicate resources"


def test_default_values_render_a_working_trial() -> None:
    docs = render()
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    assert kinds == sorted([
        "ServiceAccount/castellan",
        "Secret/castellan-signing-keys",
        "Secret/castellan-node-key-region-1",
        "Secret/castellan-redis-url",
        "Deployment/castellan-redis", "Service/castellan-redis",
        "Deployment/castellan-control-plane", "Service/castellan-control-plane",
        "PersistentVolumeClaim/castellan-control-plane-data",
        "Deployment/castellan-node-region-1", "PodDisruptionBudget/castellan-node-region-1",
        "Service/castellan-nodes",
        "ConfigMap/castellan-dashboard",
    ]), kinds
    text = notes()
    assert "region-1 (EU)" in text and "trials only" in text


# -- control plane ---------------------------------------------------------------------------------------------
def test_control_plane() -> None:
    docs = render(example_values())
    dep = named(docs, "Deployment", "castellan-control-plane")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][0] == "control-plane"
    env = env_of(c)
    assert env["CASTELLAN_PORT"]["value"] == "8000"
    assert env["CASTELLAN_HOST"]["value"] == "0.0.0.0"
    assert env["CASTELLAN_DB"]["value"].startswith("/data/")
    assert env["CASTELLAN_PUBLIC_URL"]["value"] == "https://meet.example.org"
    assert env["CASTELLAN_TRUST_FORWARDED_FOR"]["value"] == "true"  # behind the Ingress
    assert env["CASTELLAN_FORWARDED_HOPS"]["value"] == "1"  # the Ingress controller's entry, read from the right
    assert "CASTELLAN_TRUSTED_PROXIES" not in env  # the control plane's default: private networks
    assert env["CASTELLAN_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "castellan-redis", "key": "redis-url"}
    regions = json.loads(env["CASTELLAN_REGIONS"]["value"])
    assert [(r["id"], r["jurisdiction"]) for r in regions] == [("eu-1", "EU"), ("eu-2", "EU"), ("us-1", "US")]
    assert all(set(r) == {"id", "jurisdiction", "location", "display_name"} for r in regions)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    keys = next(v for v in pod["volumes"] if v["name"] == "signing-keys")
    assert keys["secret"]["secretName"] == "castellan-signing-keys"
    assert {"name": "signing-keys", "mountPath": env["CASTELLAN_SIGNING_KEY_DIR"]["value"], "readOnly": True} \
        in c["volumeMounts"]
    default_env = env_of(named(render(), "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]
                         ["containers"][0])
    assert default_env["CASTELLAN_TRUST_FORWARDED_FOR"]["value"] == "false"  # no proxy in front
    assert "CASTELLAN_FORWARDED_HOPS" not in default_env
    cdn = example_values()
    cdn["controlPlane"].update(trustedProxies=["10.244.0.0/16", "fd00::/8"], forwardedHops=2)
    cdn_env = env_of(named(render(cdn), "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]
                     ["containers"][0])
    assert cdn_env["CASTELLAN_TRUSTED_PROXIES"]["value"] == "10.244.0.0/16,fd00::/8"
    assert cdn_env["CASTELLAN_FORWARDED_HOPS"]["value"] == "2"
    assert "CASTELLAN_PUBLIC_URL" not in default_env
    ing = named(docs, "Ingress", "castellan-control-plane")
    assert ing["spec"]["tls"] == [{"hosts": ["meet.example.org"], "secretName": "meet-example-org-tls"}]
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"]) for p in paths] == [
        ("/node/", "castellan-gateway"), ("/", "castellan-control-plane")], "node signalling goes to the gateway"


def test_each_regions_ingress_tells_the_control_plane_its_region() -> None:
    """Region hints (docs/deploy.md): each region's Ingress — same host, same routes, through the region's own
    ingress controller — sets the region header to its region; the main Ingress clears a header a client wrote;
    the control plane reads the header (and believes it from its trusted proxies only)."""
    docs = render(example_values())
    env = env_of(named(docs, "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]["containers"][0])
    assert env["CASTELLAN_REGION_HEADER"]["value"] == "X-Castellan-Region"
    assert env["CASTELLAN_TRUST_FORWARDED_FOR"]["value"] == "true"
    snippet = "nginx.ingress.kubernetes.io/configuration-snippet"
    main = named(docs, "Ingress", "castellan-control-plane")
    assert main["metadata"]["annotations"][snippet] == 'proxy_set_header X-Castellan-Region "";'
    for region in ("eu-1", "eu-2", "us-1"):
        ing = named(docs, "Ingress", f"castellan-control-plane-{region}")
        assert ing["spec"]["ingressClassName"] == f"nginx-{region}"
        assert ing["metadata"]["annotations"][snippet] == f'proxy_set_header X-Castellan-Region "{region}";'
        assert ing["metadata"]["labels"]["castellan.io/region"] == region
        assert ing["spec"]["rules"] == main["spec"]["rules"] and ing["spec"]["tls"] == main["spec"]["tls"]
    # an operator's own snippet is kept, after the header's line; another controller: the operator's annotations
    own = example_values()
    own["controlPlane"]["ingress"]["annotations"][snippet] = "more_set_headers \"X-Frame-Options: DENY\";"
    own["regions"][1]["ingress"]["hosts"] = [{"host": "eu-2.meet.example.org",
                                              "paths": [{"path": "/", "pathType": "Prefix"}]}]
    docs = render(own)
    assert named(docs, "Ingress", "castellan-control-plane")["metadata"]["annotations"][snippet] == (
        'proxy_set_header X-Castellan-Region "";\nmore_set_headers "X-Frame-Options: DENY";')
    assert [r["host"] for r in named(docs, "Ingress", "castellan-control-plane-eu-2")["spec"]["rules"]] == [
        "eu-2.meet.example.org"]
    traefik = example_values()
    traefik["controlPlane"]["regionHeaderBy"] = ""
    traefik["regions"][0]["ingress"]["annotations"] = {
        "traefik.ingress.kubernetes.io/router.middlewares": "castellan-region-eu-1@kubernetescrd"}
    ing = named(render(traefik), "Ingress", "castellan-control-plane-eu-1")
    assert ing["metadata"]["annotations"] == traefik["regions"][0]["ingress"]["annotations"]
    # refused: a region Ingress without the header or its controller, a header nobody is trusted to set
    no_header = example_values()
    no_header["controlPlane"]["regionHeader"] = ""
    with pytest.raises(HelmError, match="set it"):
        render(no_header)
    no_class = example_values()
    del no_class["regions"][2]["ingress"]["className"]
    with pytest.raises(HelmError, match=r"regions\[us-1\].ingress.className"):
        render(no_class)
    untrusted = example_values()
    untrusted["controlPlane"]["trustForwardedFor"] = False
    with pytest.raises(HelmError, match="needs trustForwardedFor"):
        render(untrusted)
    bad = example_values()
    bad["controlPlane"]["regionHeader"] = 'X-Region "x"; proxy_pass http://evil'
    with pytest.raises(HelmError):
        render(bad)  # the schema: a header name only, nothing to inject into the snippet
    assert not [d for d in render() if d["kind"] == "Ingress"]  # the default install: no Ingress at all


def test_control_plane_database() -> None:
    """PostgreSQL: the URL (it holds a password) reaches the control plane from a Secret only, never as a value."""
    url = "postgresql://castellan:s3cret-pw@db.example.internal:5432/castellan"
    values = example_values()
    values["controlPlane"].update(replicas=2, database={"url": url})
    docs = render(values)
    env = env_of(named(docs, "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]["containers"][0])
    assert env["CASTELLAN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "castellan-database-url", "key": "url"}
    assert env["CASTELLAN_SCHEMA_UPGRADE"]["value"] == "auto"
    secret = named(docs, "Secret", "castellan-database-url")
    assert base64.b64decode(secret["data"]["url"]).decode() == url
    assert "s3cret-pw" not in json.dumps([d for d in docs if d["kind"] != "Secret"])
    assert not of_kind(docs, "PersistentVolumeClaim")  # no SQLite volume: replicas are free to spread
    pod = named(docs, "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]
    assert next(v for v in pod["volumes"] if v["name"] == "data") == {"name": "data", "emptyDir": {}}
    values["controlPlane"]["database"] = {"existingSecret": "pg-app", "existingSecretKey": "uri", "schemaUpgrade": "never"}
    docs = render(values)
    env = env_of(named(docs, "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]["containers"][0])
    assert env["CASTELLAN_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "pg-app", "key": "uri"}
    assert env["CASTELLAN_SCHEMA_UPGRADE"]["value"] == "never"
    assert not [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "castellan-database-url"]
    default_env = env_of(named(render(), "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]
                         ["containers"][0])
    assert "CASTELLAN_DATABASE_URL" not in default_env  # SQLite by default


def test_generated_signing_key_is_a_keyring_the_control_plane_can_open(tmp_path: Path) -> None:
    secret = named(render(), "Secret", "castellan-signing-keys")
    ring_json = base64.b64decode(secret["data"]["signing-keys.json"])
    ring = json.loads(ring_json)
    (key,) = ring["keys"]
    assert len(key["kid"]) == 11 and key["retired"] is None and "BEGIN PRIVATE KEY" in key["pem"]
    tokens = pytest.importorskip("signalling.tokens")
    (tmp_path / tokens.KEYRING_FILE).write_bytes(ring_json)
    keyring = tokens.KeyRing.open(tmp_path)
    assert [k.kid for k in keyring.keys] == [key["kid"]]
    assert keyring.jwks()["keys"][0]["crv"] == "Ed25519"
    # Bring-your-own: no generated Secret, the control plane mounts the named one.
    docs = render({"signingKeys": {"existingSecret": "my-keys"}})
    assert not [d for d in of_kind(docs, "Secret") if d["metadata"]["name"].endswith("signing-keys")]
    pod = named(docs, "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]
    assert next(v for v in pod["volumes"] if v["name"] == "signing-keys")["secret"]["secretName"] == "my-keys"
    # On the data volume: no Secret, no mount, the directory next to the database (castellan keys rotate works).
    docs = render({"signingKeys": {"onVolume": True}})
    assert not [d for d in of_kind(docs, "Secret") if d["metadata"]["name"].endswith("signing-keys")]
    pod = named(docs, "Deployment", "castellan-control-plane")["spec"]["template"]["spec"]
    assert env_of(pod["containers"][0])["CASTELLAN_SIGNING_KEY_DIR"]["value"] == "/data/keys"
    assert all(v["name"] != "signing-keys" for v in pod["volumes"])


# -- media nodes -----------------------------------------------------------------------------------------------
def test_one_node_pool_per_region() -> None:
    values = example_values()
    docs = render(values)
    nodes = component(docs, "Deployment", "node")
    assert sorted(d["metadata"]["name"] for d in nodes) == \
        ["castellan-node-eu-1", "castellan-node-eu-2", "castellan-node-us-1"]
    pdbs = {p["metadata"]["name"]: p for p in component(docs, "PodDisruptionBudget", "node")}
    for region in values["regions"]:
        name = region["name"]
        dep = named(docs, "Deployment", f"castellan-node-{name}")
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        (c,) = pod["containers"]
        env = env_of(c)
        assert dep["spec"]["replicas"] == region["replicas"]
        assert c["args"] == ["node"]
        assert env["CASTELLAN_REGION"]["value"] == name
        assert "CASTELLAN_JURISDICTION" not in env  # nothing reads it: the region's jurisdiction is in CASTELLAN_REGIONS
        assert env["CASTELLAN_NODE_KEY"]["value"] == "/etc/castellan/node-key/node-key.pem"
        assert env["CASTELLAN_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["CASTELLAN_PUBLIC_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
        assert env["CASTELLAN_CONTROL_PLANE_URL"]["value"] == \
            "http://castellan-control-plane.castellan.svc.cluster.local:8000"
        assert env["CASTELLAN_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "castellan-redis"
        # The pool: the region's nodeSelector, the shared tolerations, the region's affinity kept.
        assert pod["nodeSelector"] == {"castellan.io/pool": name}
        assert pod["tolerations"][0]["key"] == "castellan.io/media"
        if "affinity" in region:
            assert pod["affinity"]["nodeAffinity"] == region["affinity"]["nodeAffinity"]
        # The UDP port, reachable on the host (hostNetwork), one node per host.
        udp = region.get("udpPort", values["node"]["udpPort"])
        assert env["CASTELLAN_UDP_PORT"]["value"] == str(udp)
        assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
        assert {"name": "media", "containerPort": udp, "hostPort": udp, "protocol": "UDP"} in c["ports"]
        (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "node"
        # Drain: preStop that signals and waits, a grace period for meetings, a drain deadline inside it.
        pre = c["lifecycle"]["preStop"]["exec"]["command"]
        assert pre[:2] == ["/bin/sh", "-c"] and "kill -TERM 1" in pre[2] and "while kill -0 1" in pre[2]
        assert pod["terminationGracePeriodSeconds"] == 7200
        assert int(env["CASTELLAN_DRAIN_DEADLINE"]["value"]) == 7200 - 60
        assert spec["progressDeadlineSeconds"] > pod["terminationGracePeriodSeconds"]
        # Probes and resources.
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert c["resources"]["requests"]["cpu"] == "4" and c["resources"]["limits"]["memory"] == "4Gi"
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        # PDB selects exactly this region's pods.
        pdb = pdbs[f"castellan-node-{name}"]
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
        assert spec["selector"]["matchLabels"]["castellan.io/region"] == name
        labels = spec["template"]["metadata"]["labels"]
        assert labels["castellan.io/region"] == name and labels["castellan.io/jurisdiction"] == region["jurisdiction"]


def test_node_network_modes() -> None:
    docs = render(EVERYTHING)
    eu = named(docs, "Deployment", "castellan-node-eu-1")["spec"]["template"]["spec"]
    (c,) = eu["containers"]
    assert "hostNetwork" not in eu and "dnsPolicy" not in eu
    assert {"name": "media", "containerPort": 40000, "hostPort": 40000, "protocol": "UDP"} in c["ports"]
    http = next(p for p in c["ports"] if p["name"] == "http")
    assert "hostPort" not in http
    assert env_of(c)["CASTELLAN_PUBLIC_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert "preferredDuringSchedulingIgnoredDuringExecution" in eu["affinity"]["podAntiAffinity"]
    assert "lifecycle" in c
    ch = named(docs, "Deployment", "castellan-node-ch-1")["spec"]["template"]["spec"]
    (c,) = ch["containers"]
    assert {"name": "media", "containerPort": 40000, "protocol": "UDP"} in c["ports"]
    assert env_of(c)["CASTELLAN_PUBLIC_IP"] == {"name": "CASTELLAN_PUBLIC_IP", "value": "192.0.2.10"}
    assert "affinity" not in ch and "lifecycle" not in c
    pdb = named(docs, "PodDisruptionBudget", "castellan-node-ch-1")
    assert pdb["spec"] == {"minAvailable": 1, "selector": pdb["spec"]["selector"]}


def test_region_keys_merge_over_node_defaults() -> None:
    docs = render({"node": {"tolerations": [{"key": "a", "operator": "Exists"}],
                            "nodeSelector": {"kubernetes.io/os": "linux"}},
                   "regions": [{"name": "r1", "jurisdiction": "EU", "hostNetwork": False, "tolerations": [],
                                "nodeSelector": {"pool": "r1"}, "resources": {"requests": {"cpu": "8"}},
                                "drain": {"marginSeconds": 0}},
                               {"name": "r2", "jurisdiction": "EU"}]})
    r1 = named(docs, "Deployment", "castellan-node-r1")["spec"]["template"]["spec"]
    r2 = named(docs, "Deployment", "castellan-node-r2")["spec"]["template"]["spec"]
    # Scalars and lists on the region win, even false and [].
    assert "hostNetwork" not in r1 and "tolerations" not in r1
    assert r2["hostNetwork"] is True and r2["tolerations"] == [{"key": "a", "operator": "Exists"}]
    # Maps merge key by key.
    assert r1["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "r1"}
    assert r1["containers"][0]["resources"] == {"requests": {"cpu": "8", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    assert "preStop" in r1["containers"][0]["lifecycle"]
    assert env_of(r1["containers"][0])["CASTELLAN_DRAIN_DEADLINE"]["value"] == "3600"
    assert r2["containers"][0]["resources"]["requests"]["cpu"] == "2"


# -- TURN ------------------------------------------------------------------------------------------------------
def test_turn_is_region_scoped() -> None:
    values = example_values()
    docs = render(values)
    turns = {d["metadata"]["name"]: d for d in component(docs, "Deployment", "turn")}
    assert sorted(turns) == ["castellan-turn-eu-1", "castellan-turn-us-1"]
    for region in ("eu-1", "us-1"):
        pod = turns[f"castellan-turn-{region}"]["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        assert pod["nodeSelector"] == {"castellan.io/pool": region}, "TURN runs on its region's pool"
        assert env_of(c)["TURN_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == f"castellan-turn-{region}"
        assert "--use-auth-secret" in c["args"]
        assert "--denied-peer-ip=0.0.0.0-255.255.255.255" in c["args"]
        spec_region = next(r for r in values["regions"] if r["name"] == region)
        for ip in spec_region["nodeAddresses"]:  # the TURN's peers default to the region's node addresses
            assert f"--allowed-peer-ip={ip}" in c["args"]
        # Only this region's nodes hold this region's TURN secret.
        node = named(docs, "Deployment", f"castellan-node-{region}")["spec"]["template"]["spec"]
        env = env_of(node["containers"][0])
        assert env["CASTELLAN_TURN_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == f"castellan-turn-{region}"
        assert env["CASTELLAN_TURN_URLS"]["value"].startswith(f"turn:turn-{region}.example.org:3478")
        named(docs, "Secret", f"castellan-turn-{region}")
        named(docs, "PodDisruptionBudget", f"castellan-turn-{region}")
    eu2 = env_of(named(docs, "Deployment", "castellan-node-eu-2")["spec"]["template"]["spec"]["containers"][0])
    assert "CASTELLAN_TURN_SECRET" not in eu2 and "CASTELLAN_TURN_URLS" not in eu2
    secrets = {d["metadata"]["name"]: d["data"]["static-auth-secret"] for d in component(docs, "Secret", "turn")}
    assert len(set(secrets.values())) == 2, "each region has its own TURN secret"


def test_turn_tls_and_required_host() -> None:
    docs = render(EVERYTHING)
    (c,) = named(docs, "Deployment", "castellan-turn-eu-1")["spec"]["template"]["spec"]["containers"]
    assert "--cert=/etc/coturn/tls/tls.crt" in c["args"]
    node_env = env_of(named(docs, "Deployment", "castellan-node-eu-1")["spec"]["template"]["spec"]["containers"][0])
    assert "turns:turn.eu-1.example.org:443?transport=tcp" in node_env["CASTELLAN_TURN_URLS"]["value"]
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}, "TLS on 443"
    assert "--no-tcp-relay" in c["args"] and "--allowed-peer-ip=10.0.0.0-10.0.255.255" in c["args"]
    assert node_env["CASTELLAN_TURN_TTL"]["value"] == "86400"
    with pytest.raises(HelmError, match="turn.host"):
        render({"regions": [{"name": "r1", "jurisdiction": "EU", "turn": {"enabled": True}}]})
    # fail closed: a TURN that would relay anywhere is not rendered
    with pytest.raises(HelmError, match="allowedPeerIPs"):
        render({"regions": [{"name": "r1", "jurisdiction": "EU", "turn": {"enabled": True, "host": "t.example.org"}}]})


# -- Redis -----------------------------------------------------------------------------------------------------
def test_redis_modes() -> None:
    bundled = render()
    dep = named(bundled, "Deployment", "castellan-redis")
    args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--requirepass" in args and "--save" in args  # password, no persistence by default
    assert not component(bundled, "PersistentVolumeClaim", "redis")
    url = base64.b64decode(named(bundled, "Secret", "castellan-redis-url")["data"]["redis-url"]).decode()
    assert re.fullmatch(r"redis://:[A-Za-z0-9]{32}@castellan-redis\.castellan\.svc\.cluster\.local:6379/0", url)

    external = render({"redis": {"url": "rediss://:pw@redis.internal:6380/0", "bundled": {"enabled": False}}})
    assert not component(external, "Deployment", "redis")
    secret = named(external, "Secret", "castellan-redis-url")
    assert base64.b64decode(secret["data"]["redis-url"]) == b"rediss://:pw@redis.internal:6380/0"

    existing = render({"redis": {"existingSecret": "ops-redis", "existingSecretKey": "url",
                                 "bundled": {"enabled": False}}})
    assert not component(existing, "Secret", "redis") and not component(existing, "Deployment", "redis")
    for dep in of_kind(existing, "Deployment"):
        env = env_of(dep["spec"]["template"]["spec"]["containers"][0])
        assert env["CASTELLAN_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "ops-redis", "key": "url"}

    with pytest.raises(HelmError, match="bundled.enabled=false"):
        render({"redis": {"url": "redis://r:6379/0"}})
    with pytest.raises(HelmError, match="redis"):
        render({"redis": {"bundled": {"enabled": False}}})


# -- values.schema.json and template checks ---------------------------------------------------------------------
@pytest.mark.parametrize("values, where", [
    ({"regoins": []}, "regoins"),                                          # typo in a top-level key
    ({"node": {"udpPort": "40000/udp"}}, "/node/udpPort"),                 # bad type
    ({"node": {"udpPort": 80}}, "/node/udpPort"),                          # privileged port
    ({"node": {"hostNetwork": "yes"}}, "/node/hostNetwork"),
    ({"node": {"nodeselector": {}}}, "nodeselector"),                      # typo inside a block
    ({"controlPlane": {"replicas": "two"}}, "/controlPlane/replicas"),
    ({"regions": []}, "/regions"),
    ({"regions": [{"name": "EU_1", "jurisdiction": "EU"}]}, "/regions/0/name"),
    ({"regions": [{"name": "eu-1"}]}, "jurisdiction"),
    ({"regions": [{"name": "eu-1", "jurisdiction": "EU", "turn": {"enabeld": True}}]}, "enabeld"),
    ({"node": {"publicIPSource": "externalIP"}}, "/node/publicIPSource"),
    ({"logLevel": "verbose"}, "/logLevel"),
    ({"metrics": {"serviceMonitor": {"enabled": "true"}}}, "/metrics/serviceMonitor/enabled"),
])
def test_schema_rejects(values: dict[str, Any], where: str) -> None:
    chart = hc.Chart.load(str(CHART))
    with pytest.raises(HelmError) as exc:
        chart.validate_schema(values)
    assert where in str(exc.value)
    with pytest.raises(HelmError):
        render(values)


def test_schema_is_generated() -> None:
    """values.schema.json is what tests/helm/make_schema.py generates (edit the generator, then run it)."""
    mod = _load_script("make_schema.py")
    assert json.loads((CHART / "values.schema.json").read_text()) == mod.build()
    # Every key of values.yaml is described (the schema would reject the chart's own defaults otherwise).
    hc.Chart.load(str(CHART)).validate_schema(None)


def test_schema_accepts_examples() -> None:
    chart = hc.Chart.load(str(CHART))
    chart.validate_schema(None)
    chart.validate_schema(example_values())
    chart.validate_schema(EVERYTHING)


def test_template_checks() -> None:
    with pytest.raises(HelmError, match="listed twice"):
        render({"regions": [{"name": "a", "jurisdiction": "EU"}, {"name": "a", "jurisdiction": "US"}]})
    with pytest.raises(HelmError, match="ReadWriteOnce"):
        render({"controlPlane": {"replicas": 2}})
    with pytest.raises(HelmError, match="publicIP"):
        render({"regions": [{"name": "a", "jurisdiction": "EU", "publicIP": "192.0.2.1", "replicas": 2}]})
    docs = render({"regions": [{"name": "a", "jurisdiction": "EU", "updateStrategy": {"type": "Recreate"}}]})
    assert named(docs, "Deployment", "castellan-node-a")["spec"]["strategy"] == {"type": "Recreate"}


# -- metrics ---------------------------------------------------------------------------------------------------
def test_servicemonitor_only_when_enabled() -> None:
    assert not of_kind(render(), "ServiceMonitor")
    assert not of_kind(render({"metrics": {"serviceMonitor": {"enabled": False}}}), "ServiceMonitor")
    docs = render({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}})
    (sm,) = of_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prom"
    (ep,) = sm["spec"]["endpoints"]
    assert ep["port"] == "http" and ep["path"] == "/metrics"
    assert {"sourceLabels": ["__meta_kubernetes_pod_label_castellan_io_region"], "targetLabel": "region"} \
        in ep["relabelings"]
    selector = sm["spec"]["selector"]["matchLabels"]
    scraped = [s for s in of_kind(docs, "Service")
               if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())]
    assert sorted(s["metadata"]["name"] for s in scraped) == ["castellan-control-plane", "castellan-nodes"]
    for svc in scraped:
        assert any(p["name"] == "http" for p in svc["spec"]["ports"])


def contract_metrics() -> set[str]:
    text = (ROOT / "docs" / "contracts.md").read_text()
    section = text[text.index("## Metric names"):]
    section = section[:section.find("\n## ", 5)] if "\n## " in section[5:] else section
    return set(re.findall(r"\bcastellan_[a-z_]+[a-z]\b", section))


def test_dashboard_uses_the_contract_metric_names() -> None:
    docs = render()
    cm = named(docs, "ConfigMap", "castellan-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(cm["data"]["castellan-overview.json"])
    assert dashboard["uid"] == "castellan-overview"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = set(re.findall(r"\bcastellan_[a-z_]+[a-z]\b", "\n".join(exprs)))
    contract = contract_metrics()
    assert len(contract) >= 15, contract
    assert used <= contract, f"not in docs/contracts.md: {sorted(used - contract)}"
    assert contract <= used, f"not on the dashboard: {sorted(contract - used)}"
    for expr in exprs:
        for counter in re.findall(r"\bcastellan_[a-z_]+_total\b", expr):
            assert f"rate({counter}" in expr, f"{counter} used without rate(): {expr}"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # The committed JSON is what tests/helm/make_dashboard.py generates.
    mod = _load_script("make_dashboard.py")
    assert json.loads((CHART / "dashboards" / "castellan-overview.json").read_text()) == mod.build()
    # Elsewhere when asked, and absent when disabled.
    other = named(render({"metrics": {"grafanaDashboard": {"namespace": "monitoring"}}}), "ConfigMap",
                  "castellan-dashboard")
    assert other["metadata"]["namespace"] == "monitoring"
    assert not of_kind(render({"metrics": {"grafanaDashboard": {"enabled": False}}}), "ConfigMap")


# -- Containerfile ---------------------------------------------------------------------------------------------
def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_containerfile_builds_from_files_that_exist() -> None:
    ins = _instructions(ROOT / "Containerfile")
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS build")
    assert "debian:12" in (ROOT / "Containerfile").read_text()
    for word, rest in ins:
        if word != "COPY":
            continue
        parts = shlex.split(rest)
        if any(p.startswith("--from") for p in parts):
            continue
        for src in [p for p in parts if not p.startswith("--")][:-1]:
            if src == ".":
                continue
            assert (ROOT / src).exists(), f"Containerfile copies {src}, which does not exist"
    runs = " ".join(rest for word, rest in ins if word == "RUN")
    assert "scripts/setup.sh" in runs, "libsrtp2 must be built the way scripts/setup.sh builds it"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "--enable-openssl" in setup and "apt-get source" in setup
    assert "pip install" in runs and "--no-build-isolation" in runs
    user = [rest for word, rest in ins if word == "USER"]
    assert user and not user[-1].startswith(("0", "root")), "the image must run as non-root"
    (entry,) = [json.loads(rest) for word, rest in ins if word == "ENTRYPOINT"]
    assert entry[-1] == "castellan" and "tini" in entry[0]
    ignore = [line.strip() for line in (ROOT / ".containerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    for must in (".venv", "build", ".git", "**/*.so"):
        assert must in ignore, f".containerignore must exclude {must}"
    for needed in ("native", "signalling", "scripts", "pyproject.toml", "setup.py"):
        assert needed not in ignore
    # The chart's defaults match the image: its user, and tini forwarding the preStop's SIGTERM.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert f"{values['podSecurityContext']['runAsUser']}:" in user[-1]


def test_the_images_build_args_agree_with_the_chart_and_the_docs() -> None:
    """What scripts/image-check.sh builds (a long run, not here) rests on these: every `--build-arg` the docs and
    scripts give is an ARG of the Containerfile, its extras exist, the recorder's image gets Debian's chromium where
    the pool looks for it, both stages start from DEBIAN_IMAGE, and the image's version is the chart's tag."""
    import tomllib

    text = (ROOT / "Containerfile").read_text()
    ins = _instructions(ROOT / "Containerfile")
    args = {rest.partition("=")[0]: rest.partition("=")[2] for word, rest in ins if word == "ARG"}
    assert {"DEBIAN_IMAGE", "EXTRAS", "RUNTIME_PACKAGES"} <= set(args)
    assert args["EXTRAS"] == "run" and args["RUNTIME_PACKAGES"] == '""'
    assert [rest.split()[0] for word, rest in ins if word == "FROM"] == ["${DEBIAN_IMAGE}"] * 2
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    given: dict[str, set[str]] = {}
    for path in ("docs/deploy.md", "Containerfile", "scripts/image-check.sh", "README.md"):
        for name, value in re.findall(r"--build-arg[ =]\"?([A-Z_]+)=([^\s\"`]+)", (ROOT / path).read_text()):
            assert name in args, f"{path}: --build-arg {name}, which the Containerfile does not declare"
            given.setdefault(name, set()).add(value.rstrip("`"))
    assert "run,recorder" in given["EXTRAS"] and "chromium" in given["RUNTIME_PACKAGES"]
    for value in given["EXTRAS"]:
        assert set(value.split(",")) <= set(extras), value
    assert any(r.startswith("playwright") for r in extras["recorder"])
    launcher = (ROOT / "recording" / "pool" / "launcher.py").read_text()
    assert '"CASTELLAN_CHROMIUM", "/usr/bin/chromium"' in launcher  # where Debian's chromium package puts it
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert f'org.opencontainers.image.version="{chart_yaml["appVersion"]}"' in text


def test_every_third_party_import_of_the_product_is_an_install_dependency() -> None:
    """The image installs `.[run]` (`.[run,recorder]` for the pool), not the test extra: a module the product
    imports that only the test extra brings works in the dev venv and fails in the image (httpx did: the node
    would not start). Dependencies of the declared ones count, with the extras asked for."""
    import ast
    import sys
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name as canon

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(r for e in ("run", "recorder", "hsm")
                                          for r in project["optional-dependencies"][e])]
    todo = [(canon(r.name), frozenset(r.extras)) for r in map(Requirement, declared)]
    seen: set[tuple[str, frozenset[str]]] = set()
    installable: set[str] = set()
    while todo:
        dist, asked = todo.pop()
        if (dist, asked) in seen:
            continue
        seen.add((dist, asked))
        installable.add(dist)
        for sub in map(Requirement, metadata.requires(dist) or []):
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (asked or {""})):
                todo.append((canon(sub.name), frozenset(sub.extras)))
    dists = metadata.packages_distributions()
    first_party = {"sfu", "signalling", "residency", "recording", "native", "loadtests", "tests"}
    missing: dict[str, list[str]] = {}
    for package in ("sfu", "signalling", "residency", "recording"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {n.split(".")[0] for n in names} - first_party - set(sys.stdlib_module_names):
                    if not {canon(d) for d in dists.get(top, [])} & installable:
                        missing.setdefault(top, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported by the product but not an install dependency: {missing}"


# -- signalling gateway (TLS to every node on the deployment's own domain) --------------------------------------
def test_gateway_routes_only_to_the_regions_nodes_and_nodes_advertise_wss() -> None:
    docs = render(example_values())
    conf = named(docs, "ConfigMap", "castellan-gateway")["data"]["nginx.conf"]
    assert "203.0.113.0-203.0.113.63 7880;  # eu-1" in conf and "203.0.113.64-203.0.113.127 7880;  # eu-2" in conf
    assert "198.51.100.0-198.51.100.31 7880;  # us-1" in conf and 'default "";' in conf
    assert 'if ($node_port = "") { return 404; }' in conf, "an address outside every region is never forwarded to"
    named(docs, "Deployment", "castellan-gateway")
    named(docs, "PodDisruptionBudget", "castellan-gateway")
    for region in ("eu-1", "eu-2", "us-1"):
        env = env_of(named(docs, "Deployment", f"castellan-node-{region}")["spec"]["template"]["spec"]["containers"][0])
        assert env["CASTELLAN_PUBLIC_WS_URL"]["value"] == "wss://meet.example.org/node/{internal_ip}/ws"
        assert env["CASTELLAN_INTERNAL_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
        assert "10.0.0.0/8" in env["CASTELLAN_TRUSTED_PROXIES"]["value"]
    # the default install (no Ingress) has no gateway; a gateway without node addresses is refused
    assert not [d for d in render() if d["metadata"]["name"] == "castellan-gateway"]
    with pytest.raises(HelmError, match="nodeAddresses"):
        render({"gateway": {"enabled": True}, "controlPlane": {"publicUrl": "https://meet.example.org"}})
    with pytest.raises(HelmError, match="publicUrl"):
        render({"gateway": {"enabled": True}, "regions": [{"name": "r1", "jurisdiction": "EU",
                                                           "nodeAddresses": ["10.0.0.1"]}]})


def test_ca_bundle_is_trusted_by_the_control_plane_and_the_nodes() -> None:
    docs = render({"caBundle": {"configMap": "castellan-ca"}, "redis": {"url": "rediss://redis.internal:6380/0",
                                                                       "bundled": {"enabled": False}},
                   "node": {"controlPlaneUrl": "https://meet.example.org"}})
    for name in ("castellan-control-plane", "castellan-node-region-1"):
        spec = named(docs, "Deployment", name)["spec"]["template"]["spec"]
        c = spec["containers"][0]
        assert env_of(c)["SSL_CERT_FILE"]["value"] == "/etc/castellan/ca/ca.crt"
        assert {"name": "ca-bundle", "mountPath": "/etc/castellan/ca", "readOnly": True} in c["volumeMounts"]
        assert {"name": "ca-bundle", "configMap": {"name": "castellan-ca"}} in spec["volumes"]
    node = env_of(named(docs, "Deployment", "castellan-node-region-1")["spec"]["template"]["spec"]["containers"][0])
    assert node["CASTELLAN_CONTROL_PLANE_URL"]["value"] == "https://meet.example.org"


def test_node_writes_its_audit_log_to_a_volume_not_the_read_only_root() -> None:
    spec = named(render(), "Deployment", "castellan-node-region-1")["spec"]["template"]["spec"]
    c = spec["containers"][0]
    data_dir = env_of(c)["CASTELLAN_DATA_DIR"]["value"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "data", "mountPath": data_dir} in c["volumeMounts"]
    assert {"name": "data", "emptyDir": {}} in spec["volumes"]
