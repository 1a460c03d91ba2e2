"""The AMI connection on panoramisk, supervised by our own task.

panoramisk reconnects by scheduling untracked callbacks on the loop and runs coroutine
handlers with ``ensure_future``. We keep its parser and protocol but own the life
cycle: ``_Manager`` reports a lost connection instead of rescheduling itself, and
``AmiClient.run`` (a task in the engine's TaskGroup) connects, logs in, waits for the
loss and reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from panoramisk import Manager

from cti.health import ConnectionState
from cti.errors import AsteriskUnreachable

log = logging.getLogger("cti.ami")


class _Manager(Manager):  # type: ignore[misc]
    def __init__(self, lost: asyncio.Event, **config: Any) -> None:
        super().__init__(**config)
        self._lost = lost

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            self._lost.set()
            return
        super().connection_made(f)

    def dispatch(self, event: Any) -> list[str]:
        """panoramisk's dispatch, but one failing handler is logged and skipped (an
        exception here would otherwise abort the AMI connection), and coroutine
        handlers are refused: our tasks belong to the engine's TaskGroup."""
        matches = []
        for pattern, regexp in self.patterns:
            if regexp.match(getattr(event, "event", "") or ""):
                matches.append(pattern)
                for callback in self.callbacks[pattern]:
                    try:
                        result = callback(self, event)
                    except Exception:
                        log.exception("AMI %s handler failed; event skipped", pattern)
                        continue
                    if asyncio.iscoroutine(result):
                        result.close()
                        log.error("AMI handler for %s is a coroutine: not run", pattern)
        return matches

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        pinger: asyncio.TimerHandle | None = getattr(self, "pinger", None)
        if pinger is not None:
            pinger.cancel()
            self.pinger = None
        self._lost.set()


class AmiClient:
    def __init__(self, host: str, port: int, user: str, secret: str) -> None:
        self._config = {"host": host, "port": port, "username": user, "secret": secret}
        self.state = ConnectionState("ami")
        self._manager: _Manager | None = None

    async def _connect(self, timeout_s: float) -> tuple[_Manager, asyncio.Event]:
        lost = asyncio.Event()
        manager = _Manager(
            lost,
            loop=asyncio.get_running_loop(),
            ping_delay=5,
            ping_interval=5,
            **self._config,
        )
        manager.log = log
        transport_task = manager.connect()
        try:
            async with asyncio.timeout(timeout_s):
                await transport_task
                while manager.authenticated_future is None and not lost.is_set():
                    await asyncio.sleep(0.01)
                if lost.is_set():
                    raise ConnectionError("connection refused")
                response = await manager.authenticated_future
        except BaseException:
            manager.close()
            raise
        if not response.success:
            manager.close()
            raise PermissionError(f"login refused: {response.get('Message', '')}")
        return manager, lost

    async def probe(self, timeout_s: float) -> None:
        """At start: log in once, to fail fast on a wrong address or secret."""
        where = f"{self._config['host']}:{self._config['port']}"
        try:
            manager, _ = await self._connect(timeout_s)
        except TimeoutError:
            raise AsteriskUnreachable(f"Asterisk AMI at {where} did not answer within {timeout_s:g} s") from None
        except (OSError, ConnectionError) as exc:
            raise AsteriskUnreachable(f"cannot reach Asterisk AMI at {where}: {exc}") from None
        except PermissionError as exc:
            raise AsteriskUnreachable(f"Asterisk AMI at {where}: {exc} (check ami_user/ami_secret)") from None
        manager.close()

    async def run(self, backoff_max_s: float = 10.0) -> None:
        delay = 0.2
        while True:
            try:
                manager, lost = await self._connect(5.0)
            except asyncio.CancelledError:
                raise
            except (OSError, ConnectionError, PermissionError, TimeoutError) as exc:
                self.state.down(f"{type(exc).__name__}: {exc}")
                log.warning("AMI down (%s); retrying in %.1f s", self.state.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, backoff_max_s)
                continue
            self._manager = manager
            self.state.up()
            log.info("AMI connected")
            delay = 0.2
            try:
                await lost.wait()
                self.state.down("connection lost")
            finally:
                self._manager = None
                manager.close()

    async def action(self, action: dict[str, str]) -> Any:
        if self._manager is None:
            raise ConnectionError("AMI is not connected")
        return await self._manager.send_action(action)
