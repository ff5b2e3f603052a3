"""The node's HTTP side: WebSocket signalling (docs/protocol.md), health, metrics and the control plane's
admin calls. Starlette, explicit routes; every malformed message gets a clear error, never a crash."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from sfu.admission import JoinRefused
from sfu.negotiation.sdp import SdpError
from sfu.node import Node
from sfu.participant import Participant
from signalling.tokens import TokenError, TokenVerifier

log = logging.getLogger("castellan.signalling")
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]

PROTOCOL_VERSION = 1
MAX_MESSAGE = 256 * 1024
MAX_CHAT = 16 * 1024
STATIC = Path(__file__).parent / "static"


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


class NodeSignalling:
    def __init__(
        self,
        node: Node,
        verifier: TokenVerifier,
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        self.node = node
        self.verifier = verifier
        self.metrics = metrics
        self.bad_messages = 0

    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        p: Participant | None = None
        writer: asyncio.Task[None] | None = None
        try:
            while True:
                raw = await ws.receive_text()
                try:
                    msg = self._decode(raw)
                    if p is None:
                        p = self._attach(msg)
                        writer = asyncio.create_task(self._writer(ws, p))
                        continue
                    await self._handle(p, msg)
                except ProtocolError as e:
                    self.bad_messages += 1
                    if p is None:
                        await ws.send_json(_error(e.code, e.message))
                    else:
                        p.send(_error(e.code, e.message))
                except Exception:  # noqa: BLE001 - a bug on one message must not end the session
                    log.exception("signalling message failed")
                    err = _error("internal_error", "the node could not process this message")
                    if p is None:
                        await ws.send_json(err)
                    else:
                        p.send(err)
        except WebSocketDisconnect:
            pass
        except Exception:  # noqa: BLE001 - a broken socket or bad frame ends only this connection
            log.exception("signalling connection failed")
        finally:
            if writer is not None:
                writer.cancel()
            if p is not None and not p.left:
                self.node.detach(p)

    def _decode(self, raw: str) -> dict[str, Any]:
        if len(raw) > MAX_MESSAGE:
            raise ProtocolError("too_large", f"message larger than {MAX_MESSAGE} bytes")
        try:
            msg = json.loads(raw)
        except ValueError:
            raise ProtocolError("bad_json", "message is not JSON") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ProtocolError("bad_message", "message must be an object with a string 'type'")
        return msg

    def _attach(self, msg: dict[str, Any]) -> Participant:
        kind = msg["type"]
        try:
            if kind == "join":
                token = msg.get("token")
                if not isinstance(token, str):
                    raise ProtocolError("bad_message", "join needs a 'token' string")
                claims = self.verifier.verify(token)
                p = self.node.join(claims)
                p.send(self.node.snapshot(p))
                return p
            if kind == "resume":
                pid, secret = msg.get("participant"), msg.get("secret")
                if not isinstance(pid, str) or not isinstance(secret, str):
                    raise ProtocolError("bad_message", "resume needs 'participant' and 'secret' strings")
                p = self.node.resume(pid, secret)
                p.send(self.node.snapshot(p, resumed=True))
                return p
        except TokenError as e:
            raise ProtocolError(f"token_{e.code}", e.message) from None
        except JoinRefused as e:  # every node-side refusal (sfu/admission.py)
            raise ProtocolError(e.code, e.message) from None
        raise ProtocolError("not_joined", "send 'join' (or 'resume') first")

    async def _writer(self, ws: WebSocket, p: Participant) -> None:
        try:
            while True:
                msg = await p.outbox.get()
                await ws.send_json(msg)
                if msg.get("type") == "left":
                    await ws.close()
                    return
        except (WebSocketDisconnect, RuntimeError, asyncio.CancelledError):
            return

    async def _handle(self, p: Participant, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if p.left:
            raise ProtocolError("not_joined", "this participant has left")
        if kind == "offer":
            offer = msg.get("sdp")
            subs = msg.get("subscriptions", {})
            if not isinstance(offer, str):
                raise ProtocolError("bad_message", "offer needs an 'sdp' string")
            if not isinstance(subs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in subs.items()):
                raise ProtocolError("bad_message", "'subscriptions' must map mid strings to track id strings")
            try:
                answer = self.node.handle_offer(p, offer, subs)
            except SdpError as e:
                raise ProtocolError("bad_sdp", str(e)) from None
            publications = {mid: t.id for mid, t in p.published.items()}
            p.send({"type": "answer", "sdp": answer, "seq": msg.get("seq"), "publications": publications})
        elif kind == "chat":
            data = msg.get("data")
            if not isinstance(data, str) or len(data) > MAX_CHAT:
                raise ProtocolError("bad_message", f"chat 'data' must be a string up to {MAX_CHAT} bytes")
            p.room.broadcast({"type": "chat", "from": p.id, "data": data}, exclude=p)
        elif kind == "mute":
            track = next((t for t in p.published.values() if t.id == msg.get("track")), None)
            if track is None:
                raise ProtocolError("unknown_track", "no such published track")
            track.muted = bool(msg.get("muted"))
            p.room.broadcast({"type": "track_muted", "track": track.id, "muted": track.muted}, exclude=p)
        elif kind == "viewport":
            sub = next((x for x in p.subscriptions.values() if x.track.id == msg.get("track")), None)
            w, h = msg.get("width"), msg.get("height")
            if sub is None:
                raise ProtocolError("unknown_track", "no such subscribed track")
            if not isinstance(w, int) or not isinstance(h, int) or not (0 <= w <= 16384 and 0 <= h <= 16384):
                raise ProtocolError("bad_message", "viewport needs integer 'width' and 'height' (0-16384)")
            sub.viewport = (w, h)
        elif kind == "ping":
            p.send({"type": "pong", "t": msg.get("t")})
        elif kind == "leave":
            self.node.leave(p, reason="left")
        else:
            raise ProtocolError("unknown_type", f"unknown message type {kind!r}")

    # ---------------------------------------------------------------- HTTP

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "node": self.node.config.node_id})

    async def readyz(self, request: Request) -> Response:
        node = self.node
        ready = node.engine is not None and not node.draining and node.registry_ok
        body = {"ready": ready, "draining": node.draining, "registry": "ok" if node.registry_ok else "unreachable"}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def stats(self, request: Request) -> Response:
        return JSONResponse(self.node.stats())

    async def metrics_endpoint(self, request: Request) -> Response:
        if self.metrics is None:
            return Response("", media_type="text/plain")
        return Response(self.metrics(), media_type="text/plain; version=0.0.4")

    async def end_room(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not self._admin_ok(auth[7:]):
            return JSONResponse({"error": "unauthorized", "message": "a control-plane admin token is required"}, status_code=401)
        ended = self.node.end_room(request.path_params["tenant"], request.path_params["room"], reason="ended_by_admin")
        return JSONResponse({"ended": ended}, status_code=200 if ended else 404)

    def _admin_ok(self, token: str) -> bool:
        """A control-plane admin token with the `room:end` scope."""
        try:
            self.verifier.verify_admin(token, scope="room:end")
            return True
        except Exception:  # noqa: BLE001 - any refusal (or an unreadable key set) is a 401
            return False

    async def dev_page(self, request: Request) -> Response:
        return FileResponse(STATIC / "dev" / "minimal.html")

    async def dev_script(self, request: Request) -> Response:
        return FileResponse(STATIC / "dev" / "minimal.js", media_type="text/javascript")


def create_node_app(signalling: NodeSignalling, lifespan: Lifespan | None = None) -> Starlette:
    s = signalling
    routes = [
        WebSocketRoute("/ws", s.websocket),
        Route("/healthz", s.healthz),
        Route("/readyz", s.readyz),
        Route("/stats", s.stats),
        Route("/metrics", s.metrics_endpoint),
        Route("/admin/rooms/{tenant}/{room}/end", s.end_room, methods=["POST"]),
        Route("/dev/minimal", s.dev_page),
        Route("/dev/minimal.js", s.dev_script),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
