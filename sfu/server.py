"""`castellan node`: one media node process (Starlette signalling on uvicorn + uvloop, the engine on one UDP port).

Join tokens are verified against the control plane's JWKS (`--control-plane-url`), or, for tests and local
runs, against an Ed25519 key ring directory (`--signing-key-dir`) or a JWKS file (`--jwks-file`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from residency.audit import AuditLog
from residency.errors import InvalidInput
from residency.identity import NodeSigner, load_or_create_node_key, public_text
from residency.model import Node as NodeRecord
from residency.registry import RedisRegistry
from residency.relay import RelayEndpoint
from sfu import logs
from sfu.app.address import public_ws_url
from sfu.app.serving import node_server_settings
from sfu.cascade.keysource import NodeKeysSource, node_keys_from_url
from sfu.cascade.peers import believing
from sfu.cascade.relays import RelaySetup
from sfu.config import NodeConfig
from sfu.factory import build_node
from sfu.receipts import ReceiptLedger, http_sender
from sfu.turn import TurnConfig
from sfu.turn import from_settings as turn_from_settings
from signalling.control.clientaddr import ForwardedRule, parse_networks
from signalling.tokens import HttpRevocations, Jwks, TokenVerifier, parse_jwks
from signalling.tokens.revocations import check_url, tls_context

log = logging.getLogger("castellan.node")
T = TypeVar("T")


def _env(name: str, default: T) -> str | T:
    return os.environ.get("CASTELLAN_" + name.upper().replace("-", "_"), default)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    return parser().parse_args(argv)


def parser() -> argparse.ArgumentParser:
    """Every flag also reads CASTELLAN_<FLAG> (signalling/settings.py lists them and how the chart sets them)."""
    ap = argparse.ArgumentParser(prog="castellan node", description="run a Castellan media node")
    ap.add_argument("--node-id", default=_env("node_id", "node-1"))
    ap.add_argument("--region", default=_env("region", "local"))
    ap.add_argument("--host", default=_env("host", "127.0.0.1"), help="HTTP/WebSocket bind address")
    ap.add_argument("--http-port", type=int, default=int(_env("http_port", 7880)))
    ap.add_argument("--udp-host", default=_env("udp_host", None), help="UDP bind address (default: --host)")
    ap.add_argument("--udp-port", type=int, default=int(_env("udp_port", 40000)))
    ap.add_argument("--public-ip", default=_env("public_ip", None), help="address in SDP candidates (default: UDP bind)")
    ap.add_argument("--internal-ip", default=_env("internal_ip", None),
                    help="address the deployment's own processes reach this node's HTTP at (the signalling gateway, "
                         "the control plane's admin calls; default: --public-ip)")
    ap.add_argument("--control-plane-url", default=_env("control_plane_url", None))
    ap.add_argument("--jwks-file", default=_env("jwks_file", None))
    ap.add_argument("--redis-url", default=_env("redis_url", None))
    ap.add_argument("--resume-grace", type=float, default=float(_env("resume_grace", 30.0)))
    ap.add_argument("--drain-deadline", type=float, default=float(_env("drain_deadline", 3600.0)),
                    help="on SIGTERM: take no new participants, ask them to move, exit when empty or after this")
    ap.add_argument("--data-dir", default=_env("data_dir", ".castellan-node"), help="node-local audit log")
    ap.add_argument("--node-key", default=_env("node_key", None),
                    help="the node's Ed25519 private key (PEM), whose public key the operator enrolled for --region "
                         "(default: <data dir>/node-key.pem, created on first start)")
    ap.add_argument("--ca-bundle", default=_env("ca_bundle", None),
                    help="CA certificates (PEM) to verify the control plane's https certificate (default: the system's)")
    ap.add_argument("--revocations-max-age", type=float, default=float(_env("revocations_max_age", 30.0)),
                    help="refuse joins (revocations_stale) when the revoked-links list could not be refreshed for "
                         "this many seconds")
    ap.add_argument("--capacity", type=int, default=int(_env("capacity", 200)), help="participants at load 1.0")
    ap.add_argument("--last-n", type=int, default=int(_env("last_n", 0)),
                    help="each subscriber receives video of the N most recent speakers only (0: everyone's)")
    ap.add_argument("--audio-n", type=int, default=int(_env("audio_n", 0)),
                    help="... and audio of the N loudest plus the dominant speaker (0: everyone's)")
    # TLS (docs/deploy.md, "TLS"): the URL browsers open, and the node's own certificate when it terminates TLS
    ap.add_argument("--public-ws-url", default=_env("public_ws_url", None),
                    help="WebSocket URL the join answer names, a template over {node_id} {region} {public_ip} "
                         "{public_ip_dashed} {http_port}, e.g. wss://meet.example.org/node/{node_id}/ws "
                         "(default: ws[s]://<public ip>:<http port>/ws)")
    ap.add_argument("--tls-cert", default=_env("tls_cert", None), help="PEM certificate chain: serve https/wss")
    ap.add_argument("--tls-key", default=_env("tls_key", None), help="PEM private key of --tls-cert")
    ap.add_argument("--trusted-proxies", default=_env("trusted_proxies", ""),
                    help="CIDRs of the reverse proxies in front of the node's signalling (e.g. the gateway's pod "
                         "network): their X-Forwarded-For names the client for the per-address caps (default: none)")
    ap.add_argument("--forwarded-hops", type=int, default=int(_env("forwarded_hops", 0)),
                    help="proxies appending to X-Forwarded-For in front of the node (0: walk past every trusted one)")
    # the region's TURN (sfu/turn.py): `joined` carries short-lived credentials for it
    ap.add_argument("--turn-urls", default=_env("turn_urls", None),
                    help="comma-separated turn:/turns: URLs of this region's TURN (coturn use-auth-secret)")
    ap.add_argument("--turn-secret", default=_env("turn_secret", None),
                    help="coturn's static-auth-secret (prefer the env var CASTELLAN_TURN_SECRET: argv is visible)")
    ap.add_argument("--turn-ttl", type=int, default=int(_env("turn_ttl", 86400)),
                    help="seconds a TURN credential stays valid")
    ap.add_argument("--nack-buffer-mb", type=int, default=int(_env("nack_buffer_mb", 256)),
                    help="memory for retransmissions to subscribers without RTX, node-wide (512 KiB each)")
    ap.add_argument("--media-workers", type=int, default=int(_env("media_workers", 0)),
                    help="media worker threads forwarding packets (0: one per core the node is given, its CPU "
                         "limit included; at most 16)")
    ap.add_argument("--log-level", default=_env("log_level", "info"))
    ap.add_argument("--log-format", default=_env("log_format", "json"), choices=["json", "text"])
    return ap


class JwksSource:
    """The control plane's published keys, refreshed at most every `ttl` seconds (and on an unknown kid)."""

    def __init__(self, fetch: Callable[[], Jwks], ttl: float = 30.0) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._keys: Jwks = {"keys": []}
        self._at = 0.0

    def __call__(self) -> Jwks:
        if time.monotonic() - self._at > self._ttl:
            try:
                self._keys = self._fetch()
                self._at = time.monotonic()
            except Exception as e:  # noqa: BLE001 - keep the last good keys
                log.warning("JWKS refresh failed: %s", e)
        return self._keys


def jwks_from_url(url: str, context: ssl.SSLContext | None = None) -> Callable[[], Jwks]:
    check_url(url, "--control-plane-url")

    def fetch() -> Jwks:
        with urllib.request.urlopen(url.rstrip("/") + "/.well-known/jwks.json", timeout=5,  # noqa: S310
                                    context=context) as r:
            return parse_jwks(json.loads(r.read(1024 * 1024)))

    return fetch


def jwks_from_file(path: str) -> Callable[[], Jwks]:
    def fetch() -> Jwks:
        with open(path) as f:
            return parse_jwks(json.load(f))

    return fetch


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def turn_config(args: argparse.Namespace) -> TurnConfig | None:
    try:
        return turn_from_settings(args.turn_urls, args.turn_secret, args.turn_ttl)
    except ValueError as e:
        raise SystemExit(f"castellan node: {e}") from None


def tls_files(args: argparse.Namespace) -> tuple[str, str] | None:
    if not args.tls_cert and not args.tls_key:
        return None
    if not (args.tls_cert and args.tls_key):
        raise SystemExit("castellan node: --tls-cert and --tls-key go together")
    for path in (args.tls_cert, args.tls_key):
        if not os.access(path, os.R_OK):
            raise SystemExit(f"castellan node: cannot read {path}")
    return args.tls_cert, args.tls_key


async def serve(args: argparse.Namespace) -> None:
    udp_host = args.udp_host or args.host
    tls = tls_files(args)
    config = NodeConfig(
        node_id=args.node_id,
        region=args.region,
        host=udp_host,
        udp_port=args.udp_port,
        public_ip=args.public_ip or udp_host,
        resume_grace=args.resume_grace,
        last_n=max(0, args.last_n),
        audio_n=max(0, args.audio_n),
        turn=turn_config(args),
        trusted_proxies=tuple(p.strip() for p in args.trusted_proxies.split(",") if p.strip()),
        forwarded_hops=args.forwarded_hops,
        nack_buffer_mb=max(0, args.nack_buffer_mb),
        media_workers=max(0, args.media_workers),
    )
    try:
        context = tls_context(args.ca_bundle)
    except (OSError, ssl.SSLError) as e:
        raise SystemExit(f"castellan node: --ca-bundle {args.ca_bundle}: {e}") from None
    try:
        ForwardedRule(parse_networks(config.trusted_proxies), config.forwarded_hops)
        internal_ip = args.internal_ip or config.public_ip
        ws_url = public_ws_url(args.public_ws_url, node_id=config.node_id, region=config.region,
                               public_ip=config.public_ip, internal_ip=internal_ip, http_port=args.http_port,
                               tls=tls is not None)
    except ValueError as e:
        raise SystemExit(f"castellan node: {e}") from None
    if args.control_plane_url:
        try:
            jwks = JwksSource(jwks_from_url(args.control_plane_url, context))
        except ValueError as e:
            raise SystemExit(f"castellan node: {e}") from None
    elif args.jwks_file:
        jwks = JwksSource(jwks_from_file(args.jwks_file), ttl=2.0)
    else:
        raise SystemExit("castellan node: give --control-plane-url or --jwks-file to verify join tokens")
    verifier = TokenVerifier(jwks, config.node_id)
    revocations = (HttpRevocations(args.control_plane_url, max_age=args.revocations_max_age, context=context)
                   if args.control_plane_url else None)
    if args.redis_url:
        os.makedirs(args.data_dir, exist_ok=True)
        signer = NodeSigner(node_key(args))
        record = NodeRecord(
            id=config.node_id, region=config.region, public_ip=config.public_ip, udp_port=config.udp_port,
            ws_url=ws_url, http_url=f"{'https' if tls else 'http'}://{_host(internal_ip)}:{args.http_port}",
            capacity=args.capacity,
        )
        registry = RedisRegistry(args.redis_url)
        # relays need the enrolled node keys, which only the control plane publishes (never Redis)
        relay = relay_setup(config, signer, registry, args.control_plane_url, context) if args.control_plane_url \
            else None
        built = build_node(config, verifier, registry=registry,
                           audit=AuditLog(os.path.join(args.data_dir, "node-audit.db")), record=record,
                           capacity=args.capacity, revocations=revocations, signer=signer, relay=relay)
    else:
        # no registry: a standalone node (tests, benchmarks) still refuses tokens for another region, and still
        # audits host actions (sfu/host.py) in its data directory
        os.makedirs(args.data_dir, exist_ok=True)
        built = build_node(config, verifier, capacity=args.capacity, revocations=revocations,
                           audit=AuditLog(os.path.join(args.data_dir, "node-audit.db")))
    node = built.node
    ledger = None
    if args.redis_url and args.control_plane_url:
        # signed receipts of the meetings this node carries (docs/residency.md)
        def jurisdiction() -> str | None:
            region = registry.get_region(config.region)
            return region.jurisdiction if region is not None else None

        ledger = ReceiptLedger(node, signer.key, config.region, jurisdiction,
                               http_sender(args.control_plane_url, context))
    server = _Server(uvicorn.Config(built.app, host=args.host, port=args.http_port, log_level=args.log_level.lower(),
                                    log_config=None, access_log=False, loop="none", **node_server_settings(),
                                    ssl_certfile=tls[0] if tls else None, ssl_keyfile=tls[1] if tls else None))
    loop = asyncio.get_running_loop()

    async def drain() -> None:
        node.draining = True
        if built.agent is not None:  # the registry first: the participants told to move ask the control plane
            await built.agent.announce()
        log.info("draining: no new participants; asking %d to move", len(node.by_id))
        for room in list(node.rooms.values()):
            room.broadcast({"type": "drain", "reason": "node_draining", "deadline": args.drain_deadline})
        deadline = loop.time() + args.drain_deadline
        while node.by_id and loop.time() < deadline:
            await asyncio.sleep(0.5)
        log.info("drained (%d participants left behind)", len(node.by_id))
        server.should_exit = True

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(drain()))
        loop.add_signal_handler(signal.SIGINT, lambda: setattr(server, "should_exit", True))
    receipts = asyncio.create_task(ledger.run()) if ledger is not None else None
    # what start-up built (modules, the app, the config: >100,000 objects) lives as long as the process: the
    # cyclic collector skips it from now on, so the housekeeping's collection after sessions end (sfu/heap.py)
    # walks only what came since
    gc.collect()
    gc.freeze()
    try:
        await server.serve()
    finally:
        if receipts is not None and ledger is not None:
            receipts.cancel()
            await asyncio.to_thread(ledger.close)  # the final receipts of the meetings still here


def relay_setup(config: NodeConfig, signer: NodeSigner, registry: RedisRegistry, control_plane_url: str,
                context: ssl.SSLContext | None) -> RelaySetup:
    """Relaying with other nodes: the control plane's enrolled keys, the registry records they vouch for, and the
    tenant's allowed regions from the registry's tenant view (as NodeGuard reads them for joins)."""
    keys = NodeKeysSource(node_keys_from_url(control_plane_url, context))

    def allowed(tenant: str) -> frozenset[str]:
        view = registry.get_tenant_view(tenant)
        return view.allowed_regions if view is not None else frozenset()

    def home(tenant: str, room: str) -> str | None:
        placement = registry.get_placement(tenant, room)
        return placement.node if placement is not None else None

    return RelaySetup(RelayEndpoint(config.node_id, config.region, signer.key),
                      believing(keys, registry.list_nodes, max_age=registry.node_ttl + 2.0, clock=time.time), allowed,
                      home)


def node_key(args: argparse.Namespace) -> Ed25519PrivateKey:
    """The node's key: --node-key (a Secret mount: must exist), else <data dir>/node-key.pem, made on first start.
    Its public half is logged, so the operator can enroll it (`castellan node-key enroll`)."""
    path = args.node_key or os.path.join(args.data_dir, "node-key.pem")
    try:
        key = load_or_create_node_key(path, create=args.node_key is None)
    except (InvalidInput, OSError) as e:
        raise SystemExit(f"castellan node: node key: {getattr(e, 'message', e)}") from None
    log.info("node key %s (public %s): the control plane places rooms here once it is enrolled for region %s "
             "(castellan node-key enroll --region %s --public-key=%s)", NodeSigner(key).key_id, public_text(key),
             args.region, args.region, public_text(key))
    return key


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: SIGTERM means drain, which this module handles."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure(args.log_level, args.log_format, node=args.node_id, region=args.region)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
