"""The node's HTTP side: WebSocket signalling (docs/protocol.md), health, metrics and the control plane's
admin calls. Starlette, explicit routes; every malformed message gets a clear error, never a crash."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from sfu.admission import JoinRefused
from sfu.app.address import node_path
from sfu.app.limits import (
    CLOSE_JOIN_TIMEOUT,
    CLOSE_REGION_WITHDRAWN,
    CLOSE_RESUMED_ELSEWHERE,
    CLOSE_TOO_SLOW,
    CLOSE_TRY_AGAIN,
    MAX_CHAT,
    SignallingLimits,
)
from sfu.app.pending import PendingConnections, address_key
from sfu.e2ee import messages as handshake
from sfu.e2ee.messages import HandshakeError
from sfu.host import HostError
from sfu.host import parse as parse_host_action
from sfu.negotiation.sdp import SdpError
from sfu.node import Node
from sfu.participant import Participant
from sfu.ratelimit import TokenBucket
from sfu.room import Room, Shared
from signalling.control.clientaddr import ForwardedRule, parse_networks
from signalling.tokens import TokenError, TokenVerifier

log = logging.getLogger("castellan.signalling")
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]

PROTOCOL_VERSION = 1
STATIC = Path(__file__).parent / "static"
# the browser client's modules the development page shares (simulcast layers, tile sizes): one copy, the client's
CLIENT_SHARED = {name: Path(__file__).resolve().parents[2] / "signalling" / "client" / name
                 for name in ("simulcast.js", "viewport.js")}


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


def _error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


_REFUSALS = {
    "too_many_connections": "too many connections from your address are waiting to join; try again shortly",
    "node_busy": "too many connections are waiting to join this node; try again shortly",
    "join_timeout": "no join or resume in time",
}


class NodeSignalling:
    def __init__(
        self,
        node: Node,
        verifier: TokenVerifier,
        metrics: Callable[[], bytes] | None = None,
        limits: SignallingLimits | None = None,
    ) -> None:
        self.node = node
        self.verifier = verifier
        self.metrics = metrics
        self.limits = limits or SignallingLimits()
        self.pending = PendingConnections(self.limits.pending_per_address, self.limits.pending_total)
        # behind the deployment's proxy every socket comes from the proxy: the per-address caps need the client's
        self.forwarded = ForwardedRule(parse_networks(node.config.trusted_proxies), node.config.forwarded_hops)
        self.refusals: Counter[str] = Counter()  # error codes sent and sockets closed, by code (metrics)
        self.sent: Counter[str] = Counter()  # frames written to sockets, by message type (metrics)
        self.connections = 0  # open signalling sockets
        self._closing: set[asyncio.Task[None]] = set()
        # a cascaded meeting's handshakes go to its home node's Delivery Service (sfu/cascade/handshakes.py): True
        # when it took the message, False when this node orders it
        self.forward: Callable[[str, Room, handshake.Handshake], bool] | None = None

    def client_address(self, ws: WebSocket) -> str | None:
        """The socket's client: its peer, or the X-Forwarded-For entry a trusted proxy vouched for."""
        peer = ws.client.host if ws.client else None
        if peer is None or not self.forwarded.trusted:
            return peer
        return self.forwarded.client(peer, ws.headers.getlist("x-forwarded-for"))

    @property
    def bad_messages(self) -> int:
        return sum(n for code, n in self.refusals.items() if code in ("bad_json", "bad_message", "unknown_type"))

    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept()
        key = address_key(self.client_address(ws))
        refused = self.pending.admit(key)
        if refused is not None:
            self.refusals[refused] += 1
            await self._refuse(ws, refused, CLOSE_TRY_AGAIN)
            return
        self.connections += 1
        pending = True
        p: Participant | None = None
        attachment = 0
        writer: asyncio.Task[None] | None = None
        try:
            try:
                async with asyncio.timeout(self.limits.join_timeout):  # replies to refused tries included
                    p = await self._join(ws)
            except TimeoutError:
                self.refusals["join_timeout"] += 1
                await self._refuse(ws, "join_timeout", CLOSE_JOIN_TIMEOUT)
                return
            attachment = p.attachment
            self.pending.release(key)
            pending = False
            writer = asyncio.create_task(self._writer(ws, p.outbox))
            p.on_overflow = self._closer(ws, p, writer, CLOSE_TOO_SLOW, "too_slow")
            p.on_replaced = self._closer(ws, p, writer, CLOSE_RESUMED_ELSEWHERE, "resumed_elsewhere")
            while True:
                raw = await self._receive(ws)
                if not self._owns(p, attachment):
                    break  # closed as too slow, or another socket resumed this participant
                try:
                    await self._handle(p, self._decode(raw))
                except ProtocolError as e:
                    self.refusals[e.code] += 1
                    p.send(_error(e.code, e.message, **e.extra))
                except Exception:  # noqa: BLE001 - a bug on one message must not end the session
                    log.exception("signalling message failed")
                    p.send(_error("internal_error", "the node could not process this message"))
        except WebSocketDisconnect:
            pass
        except Exception:  # noqa: BLE001 - a broken socket ends only this connection
            log.exception("signalling connection failed")
        finally:
            self.connections -= 1
            if pending:
                self.pending.release(key)
            if writer is not None:
                writer.cancel()
            if p is not None and self._owns(p, attachment):
                self.node.detach(p)

    async def _join(self, ws: WebSocket) -> Participant:
        """Reads until a `join` or `resume` succeeds; every refused try is answered with its error."""
        while True:
            raw = await self._receive(ws)
            try:
                return await self._attach(self._decode(raw))
            except ProtocolError as e:
                self.refusals[e.code] += 1
                await ws.send_json(_error(e.code, e.message, **e.extra))
            except Exception:  # noqa: BLE001 - a bug on one message must not end the connection
                log.exception("signalling join failed")
                await ws.send_json(_error("internal_error", "the node could not process this message"))

    @staticmethod
    def _owns(p: Participant, attachment: int) -> bool:
        return p.connected and p.attachment == attachment

    @staticmethod
    async def _receive(ws: WebSocket) -> str | None:
        """The next text message; None for a binary frame (not part of the protocol: refused as bad_message)."""
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        return text if isinstance(text, str) else None

    async def _refuse(self, ws: WebSocket, code: str, close_code: int) -> None:
        """An error telling why, then the close (the error reaches clients that read messages, not close codes).
        Bounded: a client that reads nothing does not keep the handler."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5.0):
                await ws.send_json(_error(code, _REFUSALS[code]))
                await ws.close(close_code, code)

    def _closer(self, ws: WebSocket, p: Participant, writer: asyncio.Task[None], code: int,
                reason: str) -> Callable[[], None]:
        """What the participant calls when this socket no longer speaks for it — its outbox filled (too_slow:
        it is already detached, media goes on, the client resumes) or another socket resumed it: stop writing
        and close this socket."""

        def close() -> None:
            writer.cancel()
            self.refusals[reason] += 1
            log.info("participant=%s signalling socket closed with %d (%s)", p.id, code, reason,
                     extra={"participant": p.id, "reason": reason})
            task = asyncio.create_task(self._close_stale(ws, code, reason))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

        return close

    async def _close_stale(self, ws: WebSocket, code: int, reason: str) -> None:
        # the close frame waits behind what the client has not read yet; a client that never reads is left to
        # the keepalive ping timeout and TCP
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code, reason), self.limits.slow_close_timeout)

    def _decode(self, raw: str | None) -> dict[str, Any]:
        if raw is None:
            raise ProtocolError("bad_message", "messages are JSON in text frames, not binary")
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder recurses
            raise ProtocolError("bad_json", "message is not JSON (or nested too deeply)") from None
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            raise ProtocolError("bad_message", "message must be an object with a string 'type'")
        return msg

    async def _attach(self, msg: dict[str, Any]) -> Participant:
        kind = msg["type"]
        try:
            if kind == "join":
                token = msg.get("token")
                if not isinstance(token, str):
                    raise ProtocolError("bad_message", "join needs a 'token' string")
                claims = self.verifier.verify(token)
                # the registry's answers (Redis round trips) on a worker thread: a storm of joins must not hold
                # the event loop, which also runs heartbeat-adjacent duties, consent and the media timers
                await asyncio.to_thread(self.node.admit, claims)
                p = self.node.join(claims, admitted=True)
                if claims.recorder:  # presented on relay links, so other nodes of the meeting mark it too
                    p.credential = token
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

    async def _writer(self, ws: WebSocket, outbox: asyncio.Queue[dict[str, Any]]) -> None:
        """Sends what is queued for this socket's attachment (its own queue: a resume gets a new one)."""
        try:
            while True:
                msg = await outbox.get()
                try:
                    text = msg.text() if isinstance(msg, Shared) else json.dumps(msg, separators=(",", ":"),
                                                                                  ensure_ascii=False)
                except (TypeError, ValueError, RecursionError):  # a node bug: logged, never the writer's end
                    log.error("signalling message of type %r cannot be encoded: dropped", msg.get("type"))
                    continue
                await ws.send_text(text)
                self.sent[msg.get("type", "")] += 1
                if msg.get("type") == "left":
                    withdrawn = msg.get("reason") == "region_withdrawn"  # sfu/withdrawal.py: join again elsewhere
                    await ws.close(CLOSE_REGION_WITHDRAWN if withdrawn else 1000, "region_withdrawn" if withdrawn else "")
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
            seq = msg.get("seq")
            if not isinstance(offer, str):
                raise ProtocolError("bad_message", "offer needs an 'sdp' string")
            if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
                raise ProtocolError("bad_message", "'seq' must be an integer")
            if not isinstance(subs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in subs.items()):
                raise ProtocolError("bad_message", "'subscriptions' must map mid strings to track id strings")
            try:
                answer = self.node.handle_offer(p, offer, subs)
            except SdpError as e:
                raise ProtocolError("bad_sdp", str(e)) from None
            publications = {mid: t.id for mid, t in p.published.items()}
            p.send({"type": "answer", "sdp": answer, "seq": seq, "publications": publications})
        elif kind == "chat":
            if p.recorder:  # a recorder credential cannot be used as a person's: it neither speaks nor publishes
                raise ProtocolError("forbidden", "a recorder sends no chat")
            data = msg.get("data")
            if not isinstance(data, str) or len(data) > MAX_CHAT:
                raise ProtocolError("bad_message", f"chat 'data' must be a string up to {MAX_CHAT} bytes")
            self._relay_budget(p, len(data))
            p.room.broadcast({"type": "chat", "from": p.id, "data": data}, exclude=p)
        elif kind == "mute":
            track = next((t for t in p.published.values() if t.id == msg.get("track")), None)
            if track is None:
                raise ProtocolError("unknown_track", "no such published track")
            self._relay_budget(p, 0)
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
            t = msg.get("t")
            if t is not None and (not isinstance(t, int | float | str) or isinstance(t, bool) or len(str(t)) > 64):
                raise ProtocolError("bad_message", "ping 't' must be a number or a string of up to 64 characters")
            p.send({"type": "pong", "t": t})
        elif kind == "leave":
            self.node.leave(p, reason="left")
        elif kind == "host":
            try:
                action = parse_host_action(msg)
                self._relay_budget(p, 0)  # a host action reaches the whole room too
                self.node.host_controls.act(p, action)
            except HostError as e:
                raise ProtocolError(e.code, e.message) from None
        elif kind.startswith("mls_"):
            self._handshake(p, msg)
        else:
            raise ProtocolError("unknown_type", f"unknown message type {kind!r}")

    def _handshake(self, p: Participant, msg: dict[str, Any]) -> None:
        """An MLS handshake message, to the room's Delivery Service (sfu/e2ee): checked for shape and size, paid
        for from the participant's handshake budget, then ordered; every outcome is counted."""
        stats = self.node.handshakes
        kind = msg["type"]
        try:
            m = handshake.parse(msg)
        except HandshakeError as e:
            stats.count(kind if e.code != "unknown_type" else "mls_unknown", e.code, 0)
            raise ProtocolError(e.code, e.message) from None
        size = handshake.size(m)
        lim = self.limits
        if p.handshake_budget is None:
            p.handshake_budget = TokenBucket(lim.handshake_rate, lim.handshake_burst)
        wait = p.handshake_budget.take(size + lim.handshake_message_cost)
        if wait > 0:
            stats.count(kind, "rate_limited", size)
            raise ProtocolError("rate_limited", "too many handshake messages: slow down",
                                retry_after=max(0.001, round(min(wait, 3600.0), 3)))
        room = p.room
        if self.forward is not None and self.forward(p.id, room, m):
            return  # counted where it is ordered, or as `forwarded` when it leaves for the home
        outcome = room.group.handle(p.id, m, list(room.participants))
        self.node.recording.update(room)  # the recorder may have become a member of the group (or stopped being one)
        stats.count(kind, outcome.verdict, size)
        if outcome.held_back:
            stats.messages[("mls_join_request", "held_back")] += outcome.held_back
        sent = room.deliver(outcome.deliveries)
        stats.bytes_out += sent
        if isinstance(m, handshake.Sync):  # what a sync sends back is paid for too (capped: one always passes)
            p.handshake_budget.tokens = max(0.0, p.handshake_budget.tokens - min(sent, lim.handshake_burst / 4))

    def _relay_budget(self, p: Participant, size: int) -> None:
        """Takes what a message relayed to the whole room costs from the participant's bucket, or refuses it."""
        lim = self.limits
        if p.relay_budget is None:
            p.relay_budget = TokenBucket(lim.relay_rate, lim.relay_burst)
        wait = p.relay_budget.take(size + lim.relay_message_cost)
        if wait > 0:
            raise ProtocolError("rate_limited", "too many messages to the room: slow down",
                                retry_after=max(0.001, round(min(wait, 3600.0), 3)))

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

    async def dev_shared(self, request: Request) -> Response:
        path = CLIENT_SHARED.get(request.path_params["name"])
        if path is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return FileResponse(path, media_type="text/javascript")


def create_node_app(signalling: NodeSignalling, lifespan: Lifespan | None = None,
                    extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    s = signalling
    routes: list[BaseRoute] = [*extra_routes,
        WebSocketRoute("/ws", s.websocket),
        # the same socket where a proxy routing by node sends it (sfu/app/address.py)
        WebSocketRoute(node_path(s.node.config.node_id), s.websocket),
        Route("/healthz", s.healthz),
        Route("/readyz", s.readyz),
        Route("/stats", s.stats),
        Route("/metrics", s.metrics_endpoint),
        Route("/admin/rooms/{tenant}/{room}/end", s.end_room, methods=["POST"]),
        Route("/dev/minimal", s.dev_page),
        Route("/dev/minimal.js", s.dev_script),
        Route("/dev/{name}", s.dev_shared),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
