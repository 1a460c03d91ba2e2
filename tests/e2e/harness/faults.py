"""A loopback TCP fault proxy for the fault-injection suite: it sits between the
engine and one service (AMI, ARI, Redis) and, on demand, drops every connection,
refuses new ones, delays every chunk, or turns into a blackhole (bytes stop in both
directions, no reset). It runs its own event loop in a thread, listens on a free port
of 127.0.0.1 and forwards to a loopback target only; ``close`` ends it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tests.e2e.harness.sandbox import free_port

MODES = ("pass", "refuse", "blackhole", "delay")


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        assert target_host.startswith("127."), "fault tests target loopback only"
        self.target = (target_host, target_port)
        self.port = free_port()
        self.mode = "pass"
        self.delay_s = 0.0
        self.accepted = 0  # connections the engine opened through us
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("the fault proxy did not start")

    # ------------------------------------------------------------ what a test calls

    def set(self, mode: str, delay_s: float = 0.0) -> None:
        """``pass`` heals; ``refuse`` closes new connections at once; ``blackhole``
        stops every byte; ``delay`` forwards each chunk ``delay_s`` later."""
        assert mode in MODES
        self._call(self._set, mode, delay_s)

    def drop(self) -> None:
        """Reset every open connection now (the mode is unchanged)."""
        self._call(self._drop)

    def close(self) -> None:
        self._call(self._drop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()

        async def cancelled() -> None:
            await asyncio.gather(*tasks, return_exceptions=True)

        self._loop.run_until_complete(cancelled())
        self._loop.close()

    # ------------------------------------------------------------ the proxy's loop

    def _call(self, fn: Any, *args: Any) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                fn(*args)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def _set(self, mode: str, delay_s: float) -> None:
        self.mode, self.delay_s = mode, delay_s

    def _drop(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()
        self._writers.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            await asyncio.start_server(self._accept, "127.0.0.1", self.port)
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:  # the proxy is closing
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "refuse":
            writer.transport.abort()
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 5)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            while self.mode == "blackhole":  # hold the bytes; the peer sees silence
                await asyncio.sleep(0.05)
            if self.mode == "delay" and self.delay_s:
                await asyncio.sleep(self.delay_s)
            if writer not in self._writers:
                break  # dropped meanwhile
            writer.write(chunk)
            await writer.drain()
        if writer in self._writers:
            writer.transport.abort()
