"""One simulated node: its channels and bridges, the REST requests the engine sends
(answered as Asterisk 22 answers them) and what happens on its own: callers entering
Stasis, agents' phones answering after a drawn delay, callers hanging up after a drawn
talk time."""

from __future__ import annotations

import asyncio
import functools
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.simnode.model import NORMAL, Bridge, Channel, Events, Ids, playback

Emit = Callable[[dict[str, Any]], None]
Reply = tuple[int, Any]


@dataclass(frozen=True, slots=True)
class Timing:
    """Drawn delays (uniform between the two bounds), in seconds."""

    latency_s: float = 0.0  # added to every REST answer
    answer_s: tuple[float, float] = (0.5, 2.0)  # an agent's phone rings this long
    talk_s: tuple[float, float] = (20.0, 60.0)  # from the bridge to the caller's hang-up
    patience_s: float = 120.0  # a caller never answered by an agent hangs up then
    playback_s: float = 2.0  # every prompt lasts this long


class Probe:
    """What the benchmark measures, shared by the nodes of one process: when a call was
    queued, when an agent became free, when the engine asked to ring an agent. Bounded."""

    def __init__(self, keep: int = 200_000) -> None:
        self.queued: dict[str, float] = {}
        self.freed: dict[str, float] = {}
        self.decisions: deque[float] = deque(maxlen=keep)  # seconds
        self.counts: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def offered(self, call_id: str, agent: str, at: float) -> None:
        since = max(self.queued.get(call_id, 0.0), self.freed.get(agent, 0.0))
        if since:
            self.decisions.append(at - since)
        self.count("offers")


class Node:
    MAX_CHANNELS = 20_000

    def __init__(self, name: str, app: str, agents: frozenset[str], timing: Timing, probe: Probe,
                 seed: int = 0) -> None:
        self.name, self.app, self.agents, self.timing, self.probe = name, app, agents, timing, probe
        self.events = Events(f"sim-{name}", app)
        self.ids = Ids(name)
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.device_names: set[str] = set()
        self.listeners: set[Emit] = set()
        self.rng = random.Random(seed)
        self._timers: dict[str, asyncio.TimerHandle] = {}  # channel id -> its next step

    # ------------------------------------------------------------ on its own

    def emit(self, event: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            listener(event)

    def caller(self, number: str, exten: str) -> str | None:
        """A caller dials ``exten``: its channel enters the application."""
        if len(self.channels) >= self.MAX_CHANNELS or not self.listeners:
            self.probe.count("refused")
            return None
        chan_id = self.ids.next()
        ch = Channel(chan_id, f"PJSIP/trunk-{chan_id}", number, exten, "", in_stasis=True)
        self.channels[chan_id] = ch
        self.probe.queued[chan_id] = time.time()
        self.probe.count("calls")
        self.emit(self.events.stasis_start(ch, ["inbound", exten]))
        self._later(chan_id, self.timing.patience_s, lambda: self.hang_up(chan_id, NORMAL, "abandoned"))
        return chan_id

    def _later(self, chan_id: str, delay: float, step: Callable[[], object]) -> None:
        old = self._timers.pop(chan_id, None)
        if old is not None:
            old.cancel()
        self._timers[chan_id] = asyncio.get_running_loop().call_later(delay, step)

    def _draw(self, bounds: tuple[float, float]) -> float:
        return self.rng.uniform(*bounds)

    def hang_up(self, chan_id: str, cause: int = NORMAL, why: str = "") -> bool:
        ch = self.channels.pop(chan_id, None)
        timer = self._timers.pop(chan_id, None)
        if timer is not None:
            timer.cancel()
        if ch is None:
            return False
        if why:
            self.probe.count(why)
        if ch.bridge is not None and (bridge := self.bridges.get(ch.bridge)) is not None:
            bridge.channels.remove(chan_id)
        if ch.in_stasis:
            self.emit(self.events.stasis_end(ch))
        self.emit(self.events.destroyed(ch, cause))
        if ch.endpoint:
            self.probe.freed[_agent(ch.endpoint)] = time.time()
            self._device(ch.endpoint, "NOT_INUSE")
        else:
            self.probe.queued.pop(chan_id, None)
        return True

    def _answered(self, chan_id: str, args: list[str]) -> None:
        ch = self.channels.get(chan_id)
        if ch is None:
            return
        ch.state, ch.in_stasis = "Up", True
        self.probe.count("answered")
        self._device(ch.endpoint, "INUSE")
        self.emit(self.events.stasis_start(ch, args))

    def _device(self, name: str, state: str) -> None:
        """An agent's phone changed state (sent when the application subscribed to it).
        Only this node's own agents: a leg through a trunk to another node changes the
        trunk's device here, not the agent's."""
        if name in self.device_names and _agent(name) in self.agents:
            self.emit(self.events.device_state(name, state))

    def _joined(self, bridge: Bridge) -> None:
        """A caller and an agent together in a mixing bridge: the talk starts."""
        callers = [k for k in bridge.channels if k in self.channels and not self.channels[k].endpoint]
        if bridge.type == "mixing" and callers and len(bridge.channels) >= 2:
            for caller in callers:
                self.probe.count("bridged")
                self.probe.queued.pop(caller, None)
                self._later(caller, self._draw(self.timing.talk_s), functools.partial(self.hang_up, caller, NORMAL, "completed"))

    # ------------------------------------------------------------ REST

    async def rest(self, method: str, path: str, query: dict[str, str], body: Any) -> Reply:
        if self.timing.latency_s:
            await asyncio.sleep(self.timing.latency_s)
        parts = [p for p in path.strip("/").split("/") if p]
        if parts and parts[0] == "ari":
            parts = parts[1:]
        try:
            return self._route(method, parts, query, body if isinstance(body, dict) else {})
        except KeyError:
            return 404, {"message": "Not found"}

    def _route(self, method: str, p: list[str], q: dict[str, str], body: dict[str, Any]) -> Reply:
        head = p[0] if p else ""
        if head == "asterisk":
            if p[1:] == ["ping"]:
                return 200, {"asterisk_id": self.events.asterisk_id, "ping": "pong", "timestamp": _now()}
            if p[1:] == ["info"]:
                return 200, {"system": {"version": "22.0.0-sim", "entity_id": self.events.asterisk_id}}
            return 404, {"message": "Not found"}
        if head == "applications":
            return self._application(method, p, q)
        if head == "endpoints":
            return self._endpoints(p)
        if head == "channels":
            return self._channels(method, p, q, body)
        if head == "bridges":
            return self._bridges(method, p, q)
        if head == "playbacks" and method == "DELETE":
            return 204, None
        return 404, {"message": "Not found"}

    def _application(self, method: str, p: list[str], q: dict[str, str]) -> Reply:
        if len(p) < 2 or p[1] != self.app:
            return 404, {"message": "Application not found"}
        if p[2:] == ["eventFilter"] and method == "PUT":
            return 200, self._app_json()
        if p[2:] == ["subscription"] and method == "POST":
            for source in q.get("eventSource", "").split(","):
                if source.startswith("deviceState:"):
                    self.device_names.add(source.removeprefix("deviceState:"))
        return 200, self._app_json()

    def _app_json(self) -> dict[str, Any]:
        return {"name": self.app, "channel_ids": list(self.channels)[:1000], "bridge_ids": list(self.bridges),
                "endpoint_ids": [], "device_names": sorted(self.device_names),
                "events_allowed": [], "events_disallowed": []}

    def _endpoints(self, p: list[str]) -> Reply:
        if len(p) == 1:
            return 200, [self._endpoint(a) for a in sorted(self.agents)]
        if len(p) == 3 and p[1] == "PJSIP" and _agent(p[2]) in self.agents:
            return 200, self._endpoint(_agent(p[2]))
        return 404, {"message": "Endpoint not found"}

    def _endpoint(self, agent: str) -> dict[str, Any]:
        name = f"PJSIP/agent{agent}"
        return {"technology": "PJSIP", "resource": f"agent{agent}", "state": "online",
                "channel_ids": [k for k, ch in self.channels.items() if ch.endpoint == name][:8]}

    def _channels(self, method: str, p: list[str], q: dict[str, str], body: dict[str, Any]) -> Reply:
        if len(p) == 1:
            if method == "GET":
                return 200, [ch.json() for ch in self.channels.values()]
            if method == "POST":
                return self._originate(q)
            return 405, {"message": "Method not allowed"}
        ch = self.channels.get(p[1])
        if ch is None:
            return 404, {"message": "Channel not found"}
        action = p[2] if len(p) > 2 else ""
        if not action:
            if method == "DELETE":
                self.hang_up(ch.id, NORMAL)
                return 204, None
            return 200, ch.json()
        if action == "answer":
            ch.state = "Up"
            return 204, None
        if action in ("moh", "ring", "hold", "continue", "transfer_progress"):
            return 204, None
        if action == "play":
            pb = playback(p[3] if len(p) > 3 else q.get("playbackId", self.ids.next()), q.get("media", ""),
                          f"channel:{ch.id}")
            self._play(pb)
            return 201, pb
        if action == "variable":
            name = q.get("variable", "")
            if method == "POST":
                ch.variables[name] = q.get("value", "")
                return 204, None
            if name not in ch.variables:
                return 404, {"message": "Provided variable was not found"}
            return 200, {"value": ch.variables[name]}
        return 404, {"message": "Not found"}

    def _originate(self, q: dict[str, str]) -> Reply:
        endpoint = q.get("endpoint", "")
        m = re.fullmatch(r"PJSIP/agent([A-Za-z0-9_.]+)(@[A-Za-z0-9_.-]+)?", endpoint)
        if m is None or len(self.channels) >= self.MAX_CHANNELS:
            return 400, {"message": "Allocation failed"}
        chan_id = q.get("channelId") or self.ids.next()
        if chan_id in self.channels:
            return 409, {"message": "Channel with given unique ID already exists"}
        args = q.get("appArgs", "").split(",") if q.get("appArgs") else []
        if len(args) >= 3 and args[0] == "offer":
            self.probe.offered(args[1], args[2], time.time())
        name = f"PJSIP/agent{m.group(1)}"
        ch = Channel(chan_id, f"{name}-{len(self.channels):08x}", q.get("callerId", ""), "s", name, state="Down")
        self.channels[chan_id] = ch
        self._device(name, "RINGING")
        self._later(chan_id, self._draw(self.timing.answer_s), lambda: self._answered(chan_id, args))
        return 200, ch.json()

    def _play(self, pb: dict[str, Any]) -> None:
        def done() -> None:
            target = str(pb["target_uri"]).removeprefix("channel:")
            if target in self.channels:
                self.emit(self.events.playback_finished(pb))
        asyncio.get_running_loop().call_later(self.timing.playback_s, done)

    def _bridges(self, method: str, p: list[str], q: dict[str, str]) -> Reply:
        bridge_id = p[1] if len(p) > 1 else q.get("bridgeId", "")
        action = p[2] if len(p) > 2 else ""
        if method == "POST" and not action:
            if bridge_id in self.bridges:
                return 409, {"message": "Bridge with id already exists"}
            bridge = Bridge(bridge_id or self.ids.next(), q.get("type", "mixing"), q.get("name", ""))
            self.bridges[bridge.id] = bridge
            return 200, bridge.json()
        found = self.bridges.get(bridge_id)
        if found is None:
            return 404, {"message": "Bridge not found"}
        bridge = found
        if method == "GET" and not action:
            return 200, bridge.json()
        if method == "DELETE" and not action:
            for chan_id in bridge.channels:
                if chan_id in self.channels:
                    self.channels[chan_id].bridge = None
            del self.bridges[bridge_id]
            return 204, None
        if action == "addChannel":
            return self._add(bridge, [k for k in q.get("channel", "").split(",") if k])
        if action == "removeChannel":
            for chan_id in q.get("channel", "").split(","):
                if chan_id in bridge.channels:
                    bridge.channels.remove(chan_id)
                    self.channels[chan_id].bridge = None
            return 204, None
        if action == "moh":
            return 204, None
        return 404, {"message": "Not found"}

    def _add(self, bridge: Bridge, chan_ids: list[str]) -> Reply:
        chans = [self.channels.get(k) for k in chan_ids]
        if not chan_ids or any(ch is None for ch in chans):
            return 400, {"message": "Channel not found"}
        if any(ch is not None and not ch.in_stasis for ch in chans):
            return 422, {"message": "Channel not in Stasis application"}
        for ch in chans:
            assert ch is not None
            if ch.bridge is not None and ch.bridge in self.bridges and ch.id in self.bridges[ch.bridge].channels:
                self.bridges[ch.bridge].channels.remove(ch.id)  # (moved from the holding bridge)
            ch.bridge = bridge.id
            if ch.id not in bridge.channels:
                bridge.channels.append(ch.id)
        self._joined(bridge)
        return 204, None


def _agent(endpoint: str) -> str:
    """The agent id of ``PJSIP/agent1001``, ``agent1001`` or ``PJSIP/agent1001@trunk-b``."""
    resource = endpoint.rpartition("/")[2].partition("@")[0]
    return resource.removeprefix("agent")


def _now() -> str:
    from bench.simnode.model import stamp
    return stamp()
