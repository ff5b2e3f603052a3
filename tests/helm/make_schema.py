"""Generates helm/castellan/values.schema.json (run it after changing the values; the JSON is committed).

Strict on purpose: additionalProperties is false on every Castellan block, so a typo in a key fails
`helm install/lint/template` instead of being ignored. Kubernetes-typed blocks (resources, affinity, tolerations,
probes) are only type-checked here; the rendered objects are validated against the Kubernetes schemas in
tests/helm/test_chart.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "helm" / "castellan" / "values.schema.json"
OBJ = {"type": "object"}
ARR = {"type": "array"}
STR = {"type": "string"}
BOOL = {"type": "boolean"}


def INT(mn: int | None = None, mx: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"type": "integer"}
    if mn is not None:
        d["minimum"] = mn
    if mx is not None:
        d["maximum"] = mx
    return d


def strict(props: dict[str, Any], required: list[str] | None = None, desc: str | None = None) -> dict[str, Any]:
    """An object that rejects unknown keys."""
    d: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": props}
    if required:
        d["required"] = required
    if desc:
        d["description"] = desc
    return d


UNPRIV = {**INT(1024, 65535), "description": "Unprivileged port (the containers run as non-root without NET_BIND_SERVICE)."}
ENV = {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": STR}}}
LABELS = {"type": "object", "additionalProperties": STR}
RES = strict({"requests": OBJ, "limits": OBJ, "claims": ARR})
PROBE = {"type": ["object", "null"]}
INTORPCT = {"oneOf": [INT(0), {"type": "string", "pattern": "^[0-9]+%$"}]}
image3p = strict({"registry": STR, "repository": {**STR, "minLength": 1}, "tag": {**STR, "minLength": 1},
                  "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}}, ["repository", "tag"])

SIZE = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"}
SECRET_REF = {"existingSecret": STR, "key": {**STR, "minLength": 1}}
pool_props = {
    "replicas": {**INT(0), "description": "Recorder pool pods in this region."},
    "capacity": {**INT(1, 64), "description": "Recorders (one Chromium each) a pod runs at once (--capacity)."},
    "clientUrl": {"type": "string", "pattern": "^(https?://.+)?$",
                  "description": "Where the recorder page is served (--client-url): the deployment's public URL (its production client)."},
    "controlPlaneUrl": {"type": "string", "pattern": "^(https?://.+)?$",
                        "description": "--control-plane-url of the pool; empty: the in-cluster Service (http)."},
    "image": strict({"registry": STR, "repository": STR, "tag": STR,
                     "digest": {"type": "string", "pattern": "^(sha256:[a-f0-9]{64})?$"}},
                    desc="Castellan with the recorder extra and Chromium; empty repository: the chart's image."),
    "chromium": {"type": "string", "pattern": "^/"},
    "workdir": strict({"sizeLimit": SIZE}, ["sizeLimit"],
                      desc="The open part files (clear until sealed), on a memory-backed emptyDir of this size."),
    "terminationGracePeriodSeconds": INT(10),
    "pdb": strict({"enabled": BOOL, "maxUnavailable": INTORPCT}),
    "resources": RES,
    "poolKey": strict(SECRET_REF, desc="The Secret holding this region's recorder pool key (crk_...)."),
    "linkSecrets": strict(SECRET_REF, desc="The Secret holding the link secrets file (JSON {link: secret})."),
    "recorderKeys": strict(SECRET_REF, desc="The Secret holding the tenants' recorder keys (JSON {tenant: key})."),
    "existingClaim": {**STR, "description": "This pool's own recording volume (the control plane mounts it too); empty: recording.volume's."},
    "podAnnotations": LABELS, "podLabels": LABELS,
    "nodeSelector": LABELS, "affinity": OBJ, "tolerations": ARR,
    "priorityClassName": STR,
    "extraEnv": ENV,
}
node_props = {
    "replicas": INT(0),
    "controlPlaneUrl": {"type": "string", "pattern": "^(https?://.+)?$",
                        "description": "--control-plane-url of the nodes; empty: the in-cluster Service (http)."},
    "httpPort": UNPRIV,
    "udpPort": {**UNPRIV, "description": "The node's one UDP port (ICE-lite)."},
    "hostNetwork": BOOL,
    "hostPort": BOOL,
    "publicIPSource": {"enum": ["hostIP", "podIP"]},
    "publicIP": {"type": "string", "anyOf": [{"maxLength": 0}, {"format": "ipv4"}, {"format": "ipv6"}]},
    "antiAffinity": {"enum": ["required", "preferred", "none"]},
    "capacity": {**INT(1), "description": "Participants at load 1.0 (--capacity)."},
    "resumeGrace": {"type": "number", "minimum": 0, "description": "Seconds a dropped participant may resume (--resume-grace)."},
    "revocationsMaxAge": {"type": "number", "minimum": 1,
                          "description": "Refuse joins when revoked links could not be refreshed this long (--revocations-max-age)."},
    "lastN": {**INT(0), "description": "Video of the N most recent speakers per participant (0: everyone's)."},
    "audioN": {**INT(0), "description": "Audio of the N loudest plus the dominant speaker (0: everyone's)."},
    "mediaWorkers": {**INT(0, 16), "description": "Media worker threads (0: one per core the node is given)."},
    "terminationGracePeriodSeconds": {**INT(30), "description": "Long enough for meetings to end while the node drains."},
    "drain": strict({"preStop": BOOL, "marginSeconds": INT(0)}),
    "updateStrategy": strict({"type": {"enum": ["RollingUpdate", "Recreate"]},
                              "rollingUpdate": strict({"maxSurge": INTORPCT, "maxUnavailable": INTORPCT})}, ["type"]),
    "pdb": {"type": "object", "additionalProperties": False,
            "properties": {"enabled": BOOL, "maxUnavailable": INTORPCT,
                           "minAvailable": {**INTORPCT, "description": "When set, used instead of maxUnavailable."}}},
    "resources": RES,
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
    "podAnnotations": LABELS, "podLabels": LABELS,
    "nodeSelector": LABELS, "affinity": OBJ, "tolerations": ARR, "topologySpreadConstraints": ARR,
    "priorityClassName": STR,
    "extraEnv": ENV,
}
turn_common = {
    "image": image3p,
    "replicas": INT(0),
    "hostNetwork": BOOL,
    "port": UNPRIV,
    "relayPortRange": strict({"min": UNPRIV, "max": UNPRIV}, ["min", "max"]),
    "realm": {**STR, "minLength": 1},
    "existingSecret": STR,
    "tls": strict({"enabled": BOOL, "port": {**INT(1, 65535), "description": "TURN over TLS; 443 passes most "
                                                 "firewalls (below 1024 the container gets NET_BIND_SERVICE)."},
                   "secretName": STR}),
    "credentialTTL": {**INT(60, 604800), "description": "Seconds a TURN credential is valid (CASTELLAN_TURN_TTL)."},
    "resources": RES,
}
turn_region = {**turn_common,
    "enabled": BOOL,
    "host": {**STR, "description": "DNS name browsers use for this region's TURN (required when enabled)."},
    "publicIP": {"type": "string", "anyOf": [{"maxLength": 0}, {"format": "ipv4"}, {"format": "ipv6"}]},
    "allowedPeerIPs": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-fA-F:.]+(-[0-9a-fA-F:.]+)?$"},
                       "minItems": 1,
                       "description": "This region's node addresses (coturn syntax: IP or IP-IP range); every other "
                                      "peer is denied. Required when enabled."},
    "nodeSelector": LABELS, "affinity": OBJ, "tolerations": ARR,
}
INGRESS_HOSTS = {"type": "array", "items": strict({
    "host": STR,
    "paths": {"type": "array", "items": strict({
        "path": STR, "pathType": {"enum": ["Prefix", "Exact", "ImplementationSpecific"]}},
        ["path", "pathType"])}}, ["host", "paths"])}
INGRESS_TLS = {"type": "array", "items": strict({"secretName": STR, "hosts": {"type": "array", "items": STR}}, ["hosts"])}
region_props = {
    "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 16,
             "description": "Region id (--region), a DNS label of at most 16 characters."},
    "jurisdiction": {"type": "string", "pattern": "^[A-Z][A-Z0-9-]{1,15}$",
                     "description": "Jurisdiction code of residency/jurisdictions.json, e.g. EU, UK, US."},
    "location": STR,
    "displayName": STR,
    "nodeKey": strict({
        "existingSecret": {**STR, "description": "A Secret with `node-key.pem` (Ed25519, PKCS#8 PEM); empty: generated."},
        "publicKeys": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
                       "description": "Public keys to enroll for this region (`castellan node-key public`)."},
    }),
    "nodeAddresses": {"type": "array", "items": {"type": "string", "pattern": "^[0-9.]+(-[0-9.]+)?$"},
                      "description": "The region's node addresses (IPv4 or IPv4-IPv4): the signalling gateway's only "
                                     "targets and, by default, its TURN's only peers."},
    **node_props,
    "turn": strict(turn_region),
    "ingress": strict({"enabled": BOOL, "className": STR, "annotations": LABELS, "hosts": INGRESS_HOSTS,
                       "tls": INGRESS_TLS},
                      desc="The region's own Ingress (its ingress controller) setting controlPlane.regionHeader to "
                           "the region's name; hosts and tls default to controlPlane.ingress's."),
}
schema = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Castellan Helm chart values",
    "type": "object",
    "additionalProperties": False,
    "required": ["image", "controlPlane", "node", "regions", "redis"],
    "properties": {
        "global": OBJ,
        "nameOverride": STR,
        "fullnameOverride": {**STR, "maxLength": 40},
        "clusterDomain": {**STR, "minLength": 1},
        "commonLabels": LABELS,
        "image": strict({"registry": STR, "repository": {**STR, "minLength": 1}, "tag": STR,
                         "digest": {"type": "string", "pattern": "^(sha256:[a-f0-9]{64})?$"},
                         "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]}}, ["repository"]),
        "imagePullSecrets": {"type": "array", "items": strict({"name": STR}, ["name"])},
        "serviceAccount": strict({"create": BOOL, "name": STR, "annotations": LABELS}),
        "automountServiceAccountToken": BOOL,
        "podSecurityContext": OBJ,
        "securityContext": OBJ,
        "logLevel": {"enum": ["debug", "info", "warning", "error", "critical"]},
        "logFormat": {"enum": ["json", "text"]},
        "caBundle": strict({"existingSecret": STR, "configMap": STR, "key": {**STR, "minLength": 1}},
                           desc="CA bundle the control plane and nodes trust (CASTELLAN_CA_BUNDLE, SSL_CERT_FILE): "
                                "a Secret or a ConfigMap."),
        "extraEnv": ENV,
        "transparencyLog": strict({"keySecret": STR, "key": {**STR, "minLength": 1}},
                                  desc="The Secret holding the key that signs the tenants' transparency-log heads "
                                       "(CASTELLAN_LOG_KEY; docs/residency.md). Empty: the audit key."),
        "controlPlane": strict({
            "replicas": INT(0),
            "port": UNPRIV,
            "publicUrl": {"type": "string", "pattern": "^(https?://[^\\s/]+(/.*)?)?$"},
            "dbPath": {"type": "string", "pattern": "^/.+/[^/]+$"},
            "database": strict({
                "url": {"type": "string", "pattern": "^(postgres(ql)?://.+)?$",
                        "description": "postgresql://user:password@host:5432/db (the chart keeps it in a Secret)"},
                "existingSecret": STR,
                "existingSecretKey": {"type": "string", "minLength": 1},
                "schemaUpgrade": {"enum": ["auto", "never"]},
            }, desc="PostgreSQL for several replicas (CASTELLAN_DATABASE_URL); empty: the SQLite file dbPath"),
            "trustForwardedFor": {"type": ["boolean", "null"]},
            "trustedProxies": {"type": "array", "items": {
                "type": "string", "pattern": "^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$"},
                "description": "CIDRs of the proxies in front (--trusted-proxies); empty: private networks"},
            "forwardedHops": {**INT(0, 8), "description": "proxies in front that append to X-Forwarded-For "
                                                          "(--forwarded-hops); 0: walk past every trusted proxy"},
            "regionHeader": {"type": "string", "pattern": "^([A-Za-z0-9][A-Za-z0-9-]{0,63})?$",
                             "description": "--region-header: the header each region's Ingress sets to its region "
                                            "id (e.g. X-Castellan-Region); empty: not read"},
            "regionHeaderBy": {"enum": ["nginx", ""],
                               "description": "nginx: the chart's Ingresses set it with ingress-nginx's "
                                              "configuration-snippet; \"\": your annotations do"},
            "resources": RES,
            "service": strict({"type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}, "annotations": LABELS}),
            "ingress": strict({
                "enabled": BOOL, "className": STR, "annotations": LABELS, "hosts": INGRESS_HOSTS, "tls": INGRESS_TLS,
            }),
            "persistence": strict({"enabled": BOOL, "existingClaim": STR, "storageClass": STR,
                                   "accessModes": {"type": "array", "items": {"enum": ["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]}, "minItems": 1},
                                   "size": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"}}),
            "pdb": strict({"enabled": BOOL, "maxUnavailable": INTORPCT}),
            "terminationGracePeriodSeconds": INT(0),
            "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
            "podAnnotations": LABELS, "podLabels": LABELS,
            "nodeSelector": LABELS, "affinity": OBJ, "tolerations": ARR, "topologySpreadConstraints": ARR,
            "priorityClassName": STR,
            "extraEnv": ENV,
        }),
        "signingKeys": strict({"existingSecret": STR, "mountPath": {"type": "string", "pattern": "^/"}, "onVolume": BOOL}),
        "redis": strict({
            "url": {"type": "string", "pattern": "^(rediss?://.+)?$"},
            "existingSecret": STR,
            "existingSecretKey": {**STR, "minLength": 1},
            "bundled": strict({
                "enabled": BOOL,
                "image": image3p,
                "password": {"type": "string", "pattern": "^[A-Za-z0-9._~-]*$",
                             "description": "URL-safe characters only (it is embedded in the Redis URL)."},
                "maxmemory": {"type": "string", "pattern": "^[0-9]+(kb|mb|gb)?$"},
                "resources": RES,
                "persistence": strict({"enabled": BOOL, "storageClass": STR, "size": STR}),
                "nodeSelector": LABELS, "affinity": OBJ, "tolerations": ARR,
            }),
        }),
        "node": strict(node_props, desc="Defaults for every region's media nodes."),
        "regions": {"type": "array", "minItems": 1, "items": strict(region_props, ["name", "jurisdiction"])},
        "turn": strict(turn_common, desc="Defaults for every region's TURN."),
        "gateway": strict({
            "enabled": {"type": ["boolean", "null"], "description": "null: on exactly when the Ingress is enabled."},
            "replicas": INT(0), "port": UNPRIV, "image": image3p,
            "trustedProxies": {"type": "array", "items": STR},
            "terminationGracePeriodSeconds": INT(0), "resources": RES, "podAnnotations": LABELS,
            "nodeSelector": LABELS, "affinity": OBJ, "tolerations": ARR,
        }, desc="The signalling gateway: wss:// to every node on the deployment's own domain."),
        "recording": strict({
            "enabled": BOOL,
            "volume": strict({"existingClaim": STR, "storageClass": STR,
                              "accessModes": {"type": "array", "items": {"enum": ["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]}, "minItems": 1},
                              "size": SIZE, "mountPath": {"type": "string", "pattern": "^/.+"}}),
            "s3": strict({"regions": {"type": "array", "items": {**strict({
                "region": {**STR, "minLength": 1},
                "endpoint": {"type": "string", "pattern": "^https?://[^/@?#]+/?$"},
                "bucket": {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
                "signingRegion": STR, "prefix": STR,
                "credentialsSecret": {**STR, "minLength": 1, "description": "A Secret you create with access-key-id and secret-access-key."},
                "caBundle": BOOL}, required=["region", "endpoint", "bucket", "credentialsSecret"]),
                "description": "A region whose recordings are in an S3-compatible bucket instead of on a volume."}}},
                desc="S3-compatible object storage per region (docs/deploy.md, Recordings in S3)."),
            "tenantKeys": strict(SECRET_REF, desc="The Secret holding the tenant keys file (required when enabled)."),
            "signingKey": strict(SECRET_REF, desc="The Secret holding the export signing key; empty: the audit key."),
            "pool": strict(pool_props, desc="Defaults for every recorder pool."),
            "pools": {"type": "array", "items": {**strict({"region": STR, **pool_props}),
                                                 "description": "One recorder pool Deployment; region required."}},
        }, desc="Compliance recording: the control plane's recording volume and keys, one recorder pool per region."),
        "metrics": strict({
            "serviceMonitor": strict({"enabled": BOOL, "whenOperatorPresent": BOOL,
                                      "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                      "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                                      "labels": LABELS}),
            "grafanaDashboard": strict({"enabled": BOOL, "label": {**STR, "minLength": 1}, "labelValue": STR,
                                        "folder": STR, "namespace": STR}),
        }),
    },
}


def build() -> dict[str, Any]:
    return schema


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(OUT)
