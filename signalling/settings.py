"""Every `CASTELLAN_*` environment variable the three processes read, and how the Helm chart sets it: one table that
the chart, the product and docs/contracts.md are held against (tests/helm/test_settings.py).

`chart` says which values key sets the variable (the chart renders it into the process's env), or, when it starts
with "not set:", why the chart leaves it alone (an operator can still pass it through `extraEnv`). `reader` is the
flag (`castellan control-plane` / `castellan node` / `castellan recorder-pool`) that reads it; `None` only for rows
another branch makes real, named in `pending` — the test fails for any unread variable the chart sets that is not listed there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    process: str  # "control-plane", "node" or "recorder-pool"
    reader: str | None  # the flag that reads it
    chart: str  # the values key that sets it, or "not set: why"
    pending: str = ""  # the work that makes an unread variable real


CONTROL_PLANE = "control-plane"
NODE = "node"
RECORDER_POOL = "recorder-pool"

SETTINGS: tuple[Setting, ...] = (
    # control plane
    Setting("CASTELLAN_HOST", CONTROL_PLANE, "--host", "fixed: 0.0.0.0 in the pod"),
    Setting("CASTELLAN_PORT", CONTROL_PLANE, "--port", "controlPlane.port"),
    Setting("CASTELLAN_DB", CONTROL_PLANE, "--db", "controlPlane.dbPath"),
    Setting("CASTELLAN_DATABASE_URL", CONTROL_PLANE, "--database-url",
            "controlPlane.database.url / existingSecret (a Secret)"),
    Setting("CASTELLAN_SCHEMA_UPGRADE", CONTROL_PLANE, "--schema-upgrade", "controlPlane.database.schemaUpgrade"),
    Setting("CASTELLAN_REDIS_URL", CONTROL_PLANE, "--redis-url", "redis.url / redis.existingSecret / redis.bundled"),
    Setting("CASTELLAN_SIGNING_KEY_DIR", CONTROL_PLANE, "--signing-key-dir", "signingKeys.mountPath / onVolume"),
    Setting("CASTELLAN_PUBLIC_URL", CONTROL_PLANE, "--public-url", "controlPlane.publicUrl / ingress"),
    Setting("CASTELLAN_TRUST_FORWARDED_FOR", CONTROL_PLANE, "--trust-forwarded-for", "controlPlane.trustForwardedFor"),
    Setting("CASTELLAN_TRUSTED_PROXIES", CONTROL_PLANE, "--trusted-proxies", "controlPlane.trustedProxies"),
    Setting("CASTELLAN_FORWARDED_HOPS", CONTROL_PLANE, "--forwarded-hops", "controlPlane.forwardedHops"),
    Setting("CASTELLAN_REGION_HEADER", CONTROL_PLANE, "--region-header", "controlPlane.regionHeader"),
    Setting("CASTELLAN_NODE_ORIGINS", CONTROL_PLANE, "--node-origins",
            "not set: every registered node's WebSocket origin (controlPlane.extraEnv to pin a list)"),
    Setting("CASTELLAN_REGIONS", CONTROL_PLANE, "--regions", "regions"),
    Setting("CASTELLAN_NODE_KEYS", CONTROL_PLANE, "--node-keys", "regions[].nodeKey.publicKeys"),
    Setting("CASTELLAN_NODE_KEY_DIR", CONTROL_PLANE, "--node-key-dir", "regions[].nodeKey (generated Secrets)"),
    Setting("CASTELLAN_LOG_KEY", CONTROL_PLANE, "--log-key", "transparencyLog.keySecret (a Secret of its own)"),
    Setting("CASTELLAN_LOG_KEY_PKCS11_MODULE", CONTROL_PLANE, "--log-key-pkcs11-module",
            "not set: an HSM's module is deployment-specific (controlPlane.extraEnv, the module in your image)"),
    Setting("CASTELLAN_LOG_KEY_PKCS11_TOKEN", CONTROL_PLANE, "--log-key-pkcs11-token",
            "not set: with CASTELLAN_LOG_KEY_PKCS11_MODULE (controlPlane.extraEnv)"),
    Setting("CASTELLAN_LOG_KEY_PKCS11_LABEL", CONTROL_PLANE, "--log-key-pkcs11-label",
            "not set: with CASTELLAN_LOG_KEY_PKCS11_MODULE (controlPlane.extraEnv)"),
    Setting("CASTELLAN_LOG_KEY_PKCS11_PIN_FILE", CONTROL_PLANE, "--log-key-pkcs11-pin-file",
            "not set: with CASTELLAN_LOG_KEY_PKCS11_MODULE (controlPlane.extraEnv; the PIN file from a Secret)"),
    Setting("CASTELLAN_RECORDING_VOLUME", CONTROL_PLANE, "--recording-volume",
            "not set: the chart gives every region its volume (CASTELLAN_RECORDING_REGION_VOLUMES)"),
    Setting("CASTELLAN_RECORDING_REGION_VOLUMES", CONTROL_PLANE, "--recording-region-volumes",
            "recording.enabled: every region on recording.volume, or on its pool's recording.pools[].existingClaim"),
    Setting("CASTELLAN_RECORDING_REGION_S3", CONTROL_PLANE, "--recording-region-s3",
            "recording.s3.regions (a ConfigMap file; each region's credentials a Secret mount)"),
    Setting("CASTELLAN_RECORDING_TENANT_KEYS", CONTROL_PLANE, "--recording-tenant-keys",
            "recording.tenantKeys.existingSecret (a file in a Secret mount)"),
    Setting("CASTELLAN_RECORDING_SIGNING_KEY", CONTROL_PLANE, "--recording-signing-key",
            "recording.signingKey.existingSecret (a file in a Secret mount; empty: the audit key)"),
    Setting("CASTELLAN_RECORDER_POOL_KEY_DIR", CONTROL_PLANE, "--recorder-pool-key-dir",
            "recording.pools[].poolKey (the chart-generated Secrets)"),
    Setting("CASTELLAN_CA_BUNDLE", CONTROL_PLANE, "--ca-bundle", "caBundle.existingSecret"),
    Setting("CASTELLAN_LOG_LEVEL", CONTROL_PLANE, "--log-level", "logLevel"),
    Setting("CASTELLAN_OPERATOR_KEY", CONTROL_PLANE, "CASTELLAN_OPERATOR_KEY",
            "not set: a secret of your own, through controlPlane.extraEnv (secretKeyRef); else written to the volume"),
    # node
    Setting("CASTELLAN_NODE_ID", NODE, "--node-id", "fixed: the pod's name"),
    Setting("CASTELLAN_REGION", NODE, "--region", "regions[].name"),
    Setting("CASTELLAN_HOST", NODE, "--host", "fixed: 0.0.0.0 in the pod"),
    Setting("CASTELLAN_HTTP_PORT", NODE, "--http-port", "node.httpPort"),
    Setting("CASTELLAN_UDP_HOST", NODE, "--udp-host", "not set: the pod binds every address (--host)"),
    Setting("CASTELLAN_UDP_PORT", NODE, "--udp-port", "node.udpPort"),
    Setting("CASTELLAN_PUBLIC_IP", NODE, "--public-ip", "node.publicIP / node.publicIPSource"),
    Setting("CASTELLAN_CONTROL_PLANE_URL", NODE, "--control-plane-url", "fixed: the control plane's Service"),
    Setting("CASTELLAN_JWKS_FILE", NODE, "--jwks-file", "not set: tests and benchmarks (the chart uses the URL)"),
    Setting("CASTELLAN_REDIS_URL", NODE, "--redis-url", "redis.url / redis.existingSecret / redis.bundled"),
    Setting("CASTELLAN_RESUME_GRACE", NODE, "--resume-grace", "node.resumeGrace"),
    Setting("CASTELLAN_DRAIN_DEADLINE", NODE, "--drain-deadline",
            "node.terminationGracePeriodSeconds - node.drain.marginSeconds"),
    Setting("CASTELLAN_DATA_DIR", NODE, "--data-dir", "fixed: an emptyDir"),
    Setting("CASTELLAN_NODE_KEY", NODE, "--node-key", "regions[].nodeKey"),
    Setting("CASTELLAN_CA_BUNDLE", NODE, "--ca-bundle", "caBundle.existingSecret / configMap"),
    Setting("CASTELLAN_REVOCATIONS_MAX_AGE", NODE, "--revocations-max-age", "node.revocationsMaxAge"),
    Setting("CASTELLAN_CAPACITY", NODE, "--capacity", "node.capacity"),
    Setting("CASTELLAN_LAST_N", NODE, "--last-n", "node.lastN"),
    Setting("CASTELLAN_AUDIO_N", NODE, "--audio-n", "node.audioN"),
    Setting("CASTELLAN_LOG_LEVEL", NODE, "--log-level", "logLevel"),
    Setting("CASTELLAN_LOG_FORMAT", NODE, "--log-format", "logFormat"),
    Setting("CASTELLAN_NACK_BUFFER_MB", NODE, "--nack-buffer-mb",
            "not set: the default 256 MiB (node.extraEnv to change it)"),
    Setting("CASTELLAN_MEDIA_WORKERS", NODE, "--media-workers", "node.mediaWorkers"),
    Setting("CASTELLAN_TURN_URLS", NODE, "--turn-urls", "regions[].turn (the region's coturn URLs)"),
    Setting("CASTELLAN_TURN_SECRET", NODE, "--turn-secret", "regions[].turn (the region's generated Secret)"),
    Setting("CASTELLAN_TURN_TTL", NODE, "--turn-ttl", "turn.credentialTTL"),
    Setting("CASTELLAN_INTERNAL_IP", NODE, "--internal-ip", "fixed: the pod's hostIP/podIP"),
    Setting("CASTELLAN_PUBLIC_WS_URL", NODE, "--public-ws-url", "gateway (wss://<public host>/node/{internal_ip}/ws)"),
    Setting("CASTELLAN_TRUSTED_PROXIES", NODE, "--trusted-proxies", "gateway.trustedProxies"),
    Setting("CASTELLAN_FORWARDED_HOPS", NODE, "--forwarded-hops", "not set: walk past every trusted proxy"),
    Setting("CASTELLAN_TLS_CERT", NODE, "--tls-cert", "not set: TLS ends at the Ingress (docs/deploy.md, TLS)"),
    Setting("CASTELLAN_TLS_KEY", NODE, "--tls-key", "not set: TLS ends at the Ingress (docs/deploy.md, TLS)"),
    # recorder pool (`castellan recorder-pool`, recording/pool/__main__.py ENV)
    Setting("CASTELLAN_CONTROL_PLANE_URL", RECORDER_POOL, "--control-plane-url",
            "recording.pool.controlPlaneUrl (empty: the control plane's Service)"),
    Setting("CASTELLAN_RECORDER_POOL_KEY_FILE", RECORDER_POOL, "--key-file", "recording.pools[].poolKey (a Secret)"),
    Setting("CASTELLAN_RECORDER_POOL_ID", RECORDER_POOL, "--pool-id", "fixed: the pod's name"),
    Setting("CASTELLAN_RECORDER_POOL_CAPACITY", RECORDER_POOL, "--capacity", "recording.pool.capacity"),
    Setting("CASTELLAN_CLIENT_URL", RECORDER_POOL, "--client-url", "recording.pool.clientUrl"),
    Setting("CASTELLAN_DATABASE_URL", RECORDER_POOL, "--database", "controlPlane.database (the control plane's Secret)"),
    Setting("CASTELLAN_RECORDING_VOLUME", RECORDER_POOL, "--volume",
            "recording.volume, or recording.pools[].existingClaim (not set for a region in recording.s3)"),
    Setting("CASTELLAN_RECORDING_S3", RECORDER_POOL, "--s3",
            "recording.s3.regions[] of the pool's region (a ConfigMap file; its credentials a Secret mount)"),
    Setting("CASTELLAN_RECORDING_TENANT_KEYS", RECORDER_POOL, "--tenant-keys", "recording.tenantKeys (a Secret)"),
    Setting("CASTELLAN_RECORDER_LINK_SECRETS", RECORDER_POOL, "--link-secrets", "recording.pools[].linkSecrets (a Secret)"),
    Setting("CASTELLAN_RECORDER_KEY", RECORDER_POOL, "--recorder-key", "recording.pools[].recorderKeys (a Secret)"),
    Setting("CASTELLAN_RECORDER_WORKDIR", RECORDER_POOL, "--workdir",
            "fixed: a memory emptyDir (recording.pool.workdir.sizeLimit)"),
    Setting("CASTELLAN_RECORDER_SEGMENT_SECONDS", RECORDER_POOL, "--segment-seconds",
            "not set: the default, 60 s sealed segments (docs/recording.md, Segments); extraEnv to change it"),
    Setting("CASTELLAN_CHROMIUM", RECORDER_POOL, "--chromium", "recording.pool.chromium"),
    Setting("CASTELLAN_LOG_LEVEL", RECORDER_POOL, "--log-level", "logLevel"),
)


def of(process: str) -> dict[str, Setting]:
    return {s.name: s for s in SETTINGS if s.process == process}
