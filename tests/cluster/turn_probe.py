"""A TURN client run INSIDE a test's namespace (`ip netns exec NS python -m tests.cluster.turn_probe CONFIG`):
for each attempt, Allocate over UDP, TCP or TLS with the given credential, then ChannelBind each peer and send it
a datagram through the relay. Prints `RESULT [json per attempt]`: allocated or the error code coturn answered,
and per peer "echo" (its answer came back through the relay) or the error code. Every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from typing import Any

from aioice import stun
from aioice.turn import TurnClientMixin, TurnClientTcpProtocol, TurnClientUdpProtocol

TIMEOUT = 5.0


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.put_nowait((data, addr))


async def attempt(a: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    server = (a["host"], a["port"])
    kw: dict[str, Any] = {"username": a["username"], "password": a["password"], "lifetime": 600,
                          "channel_refresh_time": 300}
    proto: TurnClientMixin
    try:
        if a["transport"] == "udp":
            tr, proto = await loop.create_datagram_endpoint(lambda: TurnClientUdpProtocol(server, **kw),
                                                            remote_addr=server)
        else:
            ctx = ssl.create_default_context(cafile=a["ca"]) if a["transport"] == "tls" else None
            tr, proto = await asyncio.wait_for(loop.create_connection(
                lambda: TurnClientTcpProtocol(server, **kw), a["host"], a["port"], ssl=ctx,
                server_hostname=a.get("sni") if ctx else None), TIMEOUT)
    except (TimeoutError, OSError, ssl.SSLError) as e:
        return {"allocated": False, "error": f"connect: {e}"}
    out: dict[str, Any] = {}
    try:
        try:
            relayed = await asyncio.wait_for(proto.connect(), TIMEOUT)
        except stun.TransactionFailed as e:
            return {"allocated": False, "error": e.response.error_code}
        except (TimeoutError, stun.TransactionTimeout):
            return {"allocated": False, "error": "timeout"}
        out = {"allocated": True, "relayed": list(relayed), "peers": {}}
        receiver = _Receiver()
        proto.receiver = receiver
        for peer in a.get("peers", []):
            addr = (peer[0], peer[1])
            key = f"{peer[0]}:{peer[1]}"
            payload = b"ping " + key.encode()
            try:  # the first send binds a channel: coturn answers 403 for a peer it may not relay to
                await asyncio.wait_for(proto.send_data(payload, addr), TIMEOUT)
            except stun.TransactionFailed as e:
                out["peers"][key] = e.response.error_code
                continue
            except (TimeoutError, stun.TransactionTimeout):
                out["peers"][key] = "timeout"
                continue
            try:
                data, _ = await asyncio.wait_for(receiver.got.get(), TIMEOUT)
                out["peers"][key] = "echo" if data == payload else f"other: {data!r}"
            except TimeoutError:
                out["peers"][key] = "no echo"
        return out
    finally:
        task = getattr(proto, "refresh_task", None)
        if task is not None:
            task.cancel()
        tr.close()


async def main() -> None:
    cfg = json.loads(open(sys.argv[1]).read())
    results = [await attempt(a) for a in cfg["attempts"]]
    print("RESULT " + json.dumps(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
