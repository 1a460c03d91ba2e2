"""The live stream the pages follow (server-sent events on ``GET /events``).

Each signed-in page holds one stream. Agents get what concerns themselves (their
state, an offer, the answer, the end of the call, their orders): the desk then reads
``/desk/{agent}`` once. Supervisors get the wallboard's figures when anything
changed, at most four times a second, and the alerts as they happen. Every stream
gets a comment line every 15 s so proxies and the browser keep it open.

Bounded: at most ``max_streams`` streams, and ``per_identity`` (``[desk]
streams_per_identity``) for one identity (an agent, an account, a token: more are
refused with 429); each holds at most 100 messages; a stream that does not keep up is
closed (its page reconnects and reads everything again). A stream opened with a
session ends when the session does (signed out or expired: ``cti.desk.http``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd import commands as c
from cti.errors import TooMany
from cti.web.accounts import Identity

log = logging.getLogger("cti.live")


@dataclass(eq=False)
class Stream:
    who: Identity
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(maxsize=100))

    @property
    def supervises(self) -> bool:
        return self.who.role in ("supervisor", "admin")

    def put(self, event: str, doc: Any) -> bool:
        try:
            self.queue.put_nowait(f"event: {event}\ndata: {json.dumps(doc, ensure_ascii=False)}\n\n")
            return True
        except asyncio.QueueFull:
            return False


class Live:
    def __init__(self, figures: Callable[[Identity], dict[str, Any]], max_streams: int = 500,
                 min_interval_s: float = 0.25, agent_of: Callable[[str], str | None] = lambda call_id: None,
                 per_identity: int = 5) -> None:
        """``figures(who)``: the wallboard's figures as ``who`` may see them; ``agent_of``:
        a call's agent (the core's)."""
        self._figures = figures
        self.agent_of = agent_of
        self.max_streams = max_streams
        self.per_identity = per_identity
        self.min_interval_s = min_interval_s
        self.streams: set[Stream] = set()
        self._dirty = asyncio.Event()
        self.closed_slow = 0
        self.recent_alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=100)

    def open(self, who: Identity) -> Stream | None:
        """A new stream for ``who``; None when every stream is taken; ``TooMany`` when
        ``who`` holds ``per_identity`` already."""
        if sum(1 for s in self.streams if s.who.name == who.name) >= self.per_identity:
            raise TooMany(f"{who.name} holds {self.per_identity} live streams already (close one)")
        if len(self.streams) >= self.max_streams:
            return None
        stream = Stream(who)
        self.streams.add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        self.streams.discard(stream)

    def close_all(self) -> None:
        """The engine stops: every stream ends (their pages reconnect to the next one)."""
        for stream in list(self.streams):
            self.streams.discard(stream)
            try:
                stream.queue.put_nowait(None)
            except asyncio.QueueFull:
                stream.queue.get_nowait()
                stream.queue.put_nowait(None)

    def _send(self, stream: Stream, event: str, doc: Any) -> None:
        if not stream.put(event, doc):
            self.closed_slow += 1
            self.streams.discard(stream)
            try:
                stream.queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
            stream.queue.put_nowait(None)  # the page reconnects and reads everything again

    # ------------------------------------------------------------ what happens

    def observe(self, cmd: c.Command) -> None:
        """A runtime observer: every command of the core."""
        agent_id = None
        match cmd:
            case c.AgentStateChanged(agent_id=a) | c.OfferCall(agent_id=a) | c.ConnectCall(agent_id=a):
                agent_id = a
            case c.CancelOffer(agent_id=a) | c.RingNoAnswer(agent_id=a) | c.HoldOverrun(agent_id=a):
                agent_id = a
            case c.CallEnded(agent_id=a) | c.CallTransferred(agent_id=a):
                agent_id = a
            case c.ConnectConsult(call_id=k) | c.HoldCaller(call_id=k) | c.TakeOffHold(call_id=k):
                agent_id = self.agent_of(k)  # the call's agent: its consult answered, its caller held
        if agent_id is not None:
            for stream in list(self.streams):
                if stream.who.agent_id == agent_id:
                    self._send(stream, "agent", {"agent_id": agent_id, "what": type(cmd).__name__})
        match cmd:
            case c.RingNoAnswer() | c.HoldOverrun() | c.NotifyEmergency() | c.SupervisorAlert():
                self.alert({"type": type(cmd).__name__, **{k: v for k, v in _fields(cmd).items()
                                                          if k not in ("caller",)}})
        self._dirty.set()

    def alert(self, doc: dict[str, Any]) -> None:
        doc.setdefault("at", time.time())
        self.recent_alerts.append(doc)
        for stream in list(self.streams):
            if stream.supervises:
                self._send(stream, "alert", doc)

    def order(self, event: str, doc: dict[str, Any]) -> None:
        """A work order changed (or became overdue): its agent's desk and supervisors."""
        if event == "overdue":
            self.alert({"type": "WorkOrderOverdue", **doc})
        elif event == "late-on-site":  # R20: the crew not on site by its deadline
            self.alert({"type": "WorkOrderLateOnSite", **doc})
        elif event == "complaint-overdue":  # R16: its owner's desk is told too (below)
            self.alert(doc)
            doc = {**doc, "agent_id": doc.get("owner")}
        for stream in list(self.streams):
            if stream.who.agent_id == doc.get("agent_id"):
                self._send(stream, "agent", {"agent_id": doc.get("agent_id"), "what": "WorkOrder"})
        self._dirty.set()

    def changed(self) -> None:
        self._dirty.set()

    async def run(self) -> None:
        """Figures to supervisors when something changed (and every 5 s, for clocks and
        windows that move by themselves); a comment line to every stream every 15 s."""
        last_beat = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(5.0):
                    await self._dirty.wait()
            except TimeoutError:
                pass
            self._dirty.clear()
            watchers = [s for s in self.streams if s.supervises]
            cache: dict[tuple[str, str], dict[str, Any]] = {}
            for stream in watchers:
                key = (stream.who.role, stream.who.name)
                if key not in cache:
                    try:
                        cache[key] = self._figures(stream.who)
                    except Exception:  # the figures are not there (standby): nothing to send
                        log.exception("wallboard figures failed")
                        break
                self._send(stream, "figures", cache[key])
            if time.monotonic() - last_beat >= 15.0:
                last_beat = time.monotonic()
                for stream in list(self.streams):
                    try:
                        stream.queue.put_nowait(": keep-alive\n\n")
                    except asyncio.QueueFull:
                        pass
            await asyncio.sleep(self.min_interval_s)


def _fields(cmd: c.Command) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(cmd)
