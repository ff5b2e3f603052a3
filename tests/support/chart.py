"""The Helm chart rendered in-process (helm-python-sdk embeds Helm, offline), for tests that run what it renders:
`render(values)` -> manifests; `container(docs, kind, name)`; `env_values(container, secrets)` resolves a
container's env as the kubelet would from literal values and the rendered Secrets (fieldRefs from `fields`).

Helm (Go, loaded in-process) reads its environment when the library loads: HOME, the kubeconfig and the Helm/XDG
dirs point at an empty scratch directory first, so nothing touches the user's config or the network.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from pathlib import Path
from typing import Any

_SCRATCH = Path(tempfile.mkdtemp(prefix="castellan-helm-"))
for _var in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "HELM_CACHE_HOME",
             "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
    os.environ[_var] = str(_SCRATCH / _var.lower())
os.environ["KUBECONFIG"] = str(_SCRATCH / "no-kubeconfig")

import yaml  # noqa: E402
from helm_python import chart as hc  # noqa: E402

CHART = Path(__file__).resolve().parents[2] / "helm" / "castellan"
RELEASE = NAMESPACE = "castellan"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    files = hc.Chart.load(str(CHART)).render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [d for path, text in sorted(files.items()) if not path.endswith("NOTES.txt")
            for d in yaml.safe_load_all(text) if d]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def container(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The first container of workload `kind/name`."""
    return named(docs, kind, name)["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def env_values(docs: list[dict[str, Any]], c: dict[str, Any], fields: dict[str, str] | None = None) -> dict[str, str]:
    """The container's environment: literal values, secretKeyRefs into the rendered Secrets, fieldRefs from
    `fields` (e.g. {"status.hostIP": "10.0.0.1"}); a reference that cannot be resolved is a KeyError."""
    out: dict[str, str] = {}
    for e in c.get("env", []):
        if "value" in e:
            out[e["name"]] = str(e["value"])
            continue
        ref = e["valueFrom"]
        if "secretKeyRef" in ref:
            s = named(docs, "Secret", ref["secretKeyRef"]["name"])
            key = ref["secretKeyRef"]["key"]
            out[e["name"]] = (s.get("stringData", {}).get(key)
                              or base64.b64decode(s["data"][key]).decode())
        elif "fieldRef" in ref:
            out[e["name"]] = (fields or {})[ref["fieldRef"]["fieldPath"]]
        else:
            raise KeyError(f"{e['name']}: {sorted(ref)}")
    return out


def expand(args: list[str], env: dict[str, str]) -> list[str]:
    """Kubernetes' $(VAR) expansion in command/args."""
    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), a) for a in args]
