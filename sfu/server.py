"""`castellan node`: one media node process (Starlette signalling on uvicorn + uvloop, the engine on one UDP port).

Join tokens are verified against the control plane's JWKS (`--control-plane-url`), or, for tests and local
runs, against an Ed25519 key ring directory (`--signing-key-dir`) or a JWKS file (`--jwks-file`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import uvicorn

from residency.audit import AuditLog
from residency.model import Node as NodeRecord
from residency.registry import RedisRegistry
from sfu import logs
from sfu.app.serving import node_server_settings
from sfu.config import NodeConfig
from sfu.factory import build_node
from signalling.tokens import HttpRevocations, Jwks, TokenVerifier, parse_jwks

log = logging.getLogger("castellan.node")
T = TypeVar("T")


def _env(name: str, default: T) -> str | T:
    return os.environ.get("CASTELLAN_" + name.upper().replace("-", "_"), default)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="castellan node", description="run a Castellan media node")
    ap.add_argument("--node-id", default=_env("node_id", "node-1"))
    ap.add_argument("--region", default=_env("region", "local"))
    ap.add_argument("--host", default=_env("host", "127.0.0.1"), help="HTTP/WebSocket bind address")
    ap.add_argument("--http-port", type=int, default=int(_env("http_port", 7880)))
    ap.add_argument("--udp-host", default=_env("udp_host", None), help="UDP bind address (default: --host)")
    ap.add_argument("--udp-port", type=int, default=int(_env("udp_port", 40000)))
    ap.add_argument("--public-ip", default=_env("public_ip", None), help="address in SDP candidates (default: UDP bind)")
    ap.add_argument("--control-plane-url", default=_env("control_plane_url", None))
    ap.add_argument("--jwks-file", default=_env("jwks_file", None))
    ap.add_argument("--redis-url", default=_env("redis_url", None))
    ap.add_argument("--resume-grace", type=float, default=float(_env("resume_grace", 30.0)))
    ap.add_argument("--drain-deadline", type=float, default=float(_env("drain_deadline", 3600.0)),
                    help="on SIGTERM: take no new participants, ask them to move, exit when empty or after this")
    ap.add_argument("--data-dir", default=_env("data_dir", ".castellan-node"), help="node-local audit log")
    ap.add_argument("--capacity", type=int, default=int(_env("capacity", 200)), help="participants at load 1.0")
    ap.add_argument("--last-n", type=int, default=int(_env("last_n", 0)),
                    help="each subscriber receives video of the N most recent speakers only (0: everyone's)")
    ap.add_argument("--audio-n", type=int, default=int(_env("audio_n", 0)),
                    help="... and audio of the N loudest plus the dominant speaker (0: everyone's)")
    ap.add_argument("--nack-buffer-mb", type=int, default=int(_env("nack_buffer_mb", 256)),
                    help="memory for retransmissions to subscribers without RTX, node-wide (512 KiB each)")
    ap.add_argument("--log-level", default=_env("log_level", "info"))
    ap.add_argument("--log-format", default=_env("log_format", "json"), choices=["json", "text"])
    return ap.parse_args(argv)


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


def jwks_from_url(url: str) -> Callable[[], Jwks]:
    def fetch() -> Jwks:
        with urllib.request.urlopen(url.rstrip("/") + "/.well-known/jwks.json", timeout=5) as r:  # noqa: S310
            return parse_jwks(json.loads(r.read()))

    return fetch


def jwks_from_file(path: str) -> Callable[[], Jwks]:
    def fetch() -> Jwks:
        with open(path) as f:
            return parse_jwks(json.load(f))

    return fetch


async def serve(args: argparse.Namespace) -> None:
    udp_host = args.udp_host or args.host
    config = NodeConfig(
        node_id=args.node_id,
        region=args.region,
        host=udp_host,
        udp_port=args.udp_port,
        public_ip=args.public_ip or udp_host,
        resume_grace=args.resume_grace,
        last_n=max(0, args.last_n),
        audio_n=max(0, args.audio_n),
        nack_buffer_mb=max(0, args.nack_buffer_mb),
    )
    if args.control_plane_url:
        jwks = JwksSource(jwks_from_url(args.control_plane_url))
    elif args.jwks_file:
        jwks = JwksSource(jwks_from_file(args.jwks_file), ttl=2.0)
    else:
        raise SystemExit("castellan node: give --control-plane-url or --jwks-file to verify join tokens")
    verifier = TokenVerifier(jwks, config.node_id)
    revocations = HttpRevocations(args.control_plane_url) if args.control_plane_url else None
    if args.redis_url:
        os.makedirs(args.data_dir, exist_ok=True)
        record = NodeRecord(
            id=config.node_id, region=config.region, public_ip=config.public_ip, udp_port=config.udp_port,
            ws_url=f"ws://{config.public_ip}:{args.http_port}/ws", http_url=f"http://{config.public_ip}:{args.http_port}",
            capacity=args.capacity,
        )
        built = build_node(config, verifier, registry=RedisRegistry(args.redis_url),
                           audit=AuditLog(os.path.join(args.data_dir, "node-audit.db")), record=record,
                           capacity=args.capacity, revocations=revocations)
    else:
        # no registry: a standalone node (tests, benchmarks) still refuses tokens for another region
        built = build_node(config, verifier, capacity=args.capacity, revocations=revocations)
    node = built.node
    server = _Server(uvicorn.Config(built.app, host=args.host, port=args.http_port, log_level=args.log_level.lower(),
                                    log_config=None, access_log=False, loop="none", **node_server_settings()))
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
    await server.serve()


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
