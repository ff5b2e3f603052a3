"""A tiny round-robin TCP proxy: what a Kubernetes Service (or an nginx `upstream` with `proxy_next_upstream
error`) does in front of control-plane replicas. Each new connection goes to the next backend; a backend that
refuses the connection is skipped (so a dead replica costs no new connection, only those open on it when it
died). Loopback only. With `keep_source` (default) the upstream connection is made FROM the client's own source
address (any 127.0.0.0/8 address is local on Linux), so each replica sees the client's address as if it were
connected directly and per-address limits hold as behind a transparent load balancer; without it, every
connection comes from the proxy's address, as behind a plain TCP load balancer. Binding source addresses
explicitly lets the kernel reuse a port whose old connection is still in TIME_WAIT on the other side: now and then
a fresh connection is reset. Tests that count retries (the replica-kill storm) use `keep_source=False`.

Runs on its own thread with its own event loop: `with TcpProxy(backends) as proxy: proxy.url`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Sequence
from types import TracebackType


class TcpProxy:
    def __init__(self, backends: Sequence[tuple[str, int]], host: str = "127.0.0.1",
                 keep_source: bool = True) -> None:
        self.backends = list(backends)
        self.keep_source = keep_source
        self.host = host
        self.port = 0
        self.connections = 0
        self.skipped = 0  # connects refused by a backend (then the next one was tried)
        self.refusals: list[str] = []  # why the last 100 skipped connects failed
        self.per_backend: dict[tuple[str, int], int] = {b: 0 for b in self.backends}
        self._next = itertools.cycle(range(len(self.backends)))
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TCP proxy did not start")
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _connect(self, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        # this connection's own order, from the next backend on: the shared cursor must not be advanced between
        # tries, or concurrent connects interleave and one of them can try the dead backend twice and none other
        start = next(self._next)
        for i in range(len(self.backends)):
            backend = self.backends[(start + i) % len(self.backends)]
            try:
                conn = await asyncio.wait_for(
                    asyncio.open_connection(*backend, local_addr=(source, 0) if self.keep_source else None), 2.0)
            except (OSError, TimeoutError) as e:
                self.skipped += 1
                self.refusals = [*self.refusals[-99:], f"{backend[1]} from {source}: {e!r}"]
                continue
            self.per_backend[backend] += 1
            return conn
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        source = str(writer.get_extra_info("peername")[0])
        upstream = await self._connect(source)
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream


        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

