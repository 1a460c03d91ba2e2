"""The AMI connection on panoramisk, supervised by our own task.

panoramisk reconnects by scheduling untracked callbacks on the loop and runs coroutine
handlers with ``ensure_future``. We keep its parser and protocol but own the life
cycle: ``_Manager`` reports a lost connection instead of rescheduling itself, and
``AmiClient.run`` (a task in the engine's TaskGroup) connects, logs in, waits for the
loss and reconnects with backoff.

Deadlines: every action has one (``action_timeout_s``). The connection is checked with
a Ping every ``ping_interval_s``: one that gets no answer within the action deadline
(a blackholed link: no bytes, no reset) counts as a lost connection. When the
connection is lost, every action still waiting on it fails at once with
``ConnectionError``; nothing is re-sent on the next connection (panoramisk would
re-send them, and a recording started twice is worse than one reported missing).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from panoramisk import Manager

from cti.errors import AsteriskUnreachable
from cti.health import ConnectionState, Faults

log = logging.getLogger("cti.ami")


class _Manager(Manager):  # type: ignore[misc]
    def __init__(self, lost: asyncio.Event, **config: Any) -> None:
        super().__init__(**config)
        self._lost = lost
        # panoramisk re-sends pending actions on FullyBooted with a coroutine handler;
        # we fail them at the loss instead (``AmiClient._fail_pending``).
        del self.callbacks["FullyBooted"]
        self.patterns = [(p, rx) for p, rx in getattr(self, "patterns") if p != "FullyBooted"]

    def ping(self) -> None:
        """panoramisk's unchecked keep-alive; ``AmiClient.run`` pings with a deadline."""
        self.pinger = None

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
    def __init__(self, host: str, port: int, user: str, secret: str, action_timeout_s: float = 5.0,
                 ping_interval_s: float = 5.0, faults: Faults | None = None) -> None:
        self._config = {"host": host, "port": port, "username": user, "secret": secret}
        self.state = ConnectionState("ami")
        self.action_timeout_s = action_timeout_s
        self.ping_interval_s = ping_interval_s
        self.faults = faults or Faults()
        self._manager: _Manager | None = None

    async def _connect(self, timeout_s: float) -> tuple[_Manager, asyncio.Event]:
        lost = asyncio.Event()
        manager = _Manager(
            lost,
            loop=asyncio.get_running_loop(),
            ping_delay=3600,
            ping_interval=3600,
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
                self.state.down(await self._watch(manager, lost))
                log.warning("AMI %s; reconnecting", self.state.last_error)
            finally:
                self._manager = None
                _fail_pending(manager, self.faults)
                transport = getattr(manager.protocol, "transport", None)
                manager.close()
                if transport is not None:
                    transport.abort()  # a blackholed peer would never let a close finish

    async def _watch(self, manager: _Manager, lost: asyncio.Event) -> str:
        """Wait until the connection is lost or stops answering pings; say which."""
        while True:
            try:
                async with asyncio.timeout(self.ping_interval_s):
                    await lost.wait()
                return "connection lost"
            except TimeoutError:
                pass
            try:
                async with asyncio.timeout(self.action_timeout_s):
                    await manager.send_action({"Action": "Ping"})
            except TimeoutError:
                self.faults.count("deadline", "ami Ping")
                return f"did not answer a ping within {self.action_timeout_s:g} s"

    async def action(self, action: dict[str, str]) -> Any:
        """One action with its deadline: raises ``ConnectionError`` when AMI is down
        or the connection is lost meanwhile, ``TimeoutError`` past the deadline."""
        if self._manager is None:
            raise ConnectionError("AMI is not connected")
        try:
            async with asyncio.timeout(self.action_timeout_s):
                return await self._manager.send_action(action)
        except TimeoutError:
            self.faults.count("deadline", f"ami {action.get('Action', '?')}")
            raise


def _fail_pending(manager: _Manager, faults: Faults) -> None:
    """Every action still waiting on a lost connection fails now."""
    pending = list(getattr(manager, "awaiting_actions", ()))
    pending += list(getattr(manager.protocol, "responses", {}).values())
    manager.awaiting_actions.clear()
    for act in {id(a): a for a in pending}.values():
        future = getattr(act, "future", None)
        if future is not None and not future.done():
            faults.count("lost", f"ami {act.get('action', '?')}")
            future.set_exception(ConnectionError("AMI connection lost"))
            future.exception()  # whoever awaits it gets the error; nobody else is warned
