"""The agents' phones as the engine sees them: whether each is reachable (registered,
answering Asterisk's qualify), and the feature codes dialled from it.

Reachability: at each (re)connect the endpoints' list says which agents' phones are
online; the application subscribes to the agents' device states (not to their
endpoints: that would deliver every event of their channels a second time), and each
``DeviceStateChanged`` to or from UNAVAILABLE (not registered, or not answering
Asterisk's qualify) becomes ``AgentReachable``: an agent whose phone is away is offered
no call, so no ring timeout is spent on it, and calls again as soon as it is back.
On a single node, a phone in a call none of whose legs is the engine's (a call of the
fallback queue, made while no engine led) counts as away until it is free again.

Feature codes (the dialplan sends them here as ``Stasis(<app>,feature,<what>)``):

    *45 login: "enter your PIN, then #"; the PIN is checked like a sign-in (argon2, on a
        worker thread, with its lockout), then AgentLoggedIn
    *46 logout      *48 ready
    *47 pause: "enter the number of your pause reason, then #" (1 = the first of the
        desk's pause codes ...), then AgentPaused with that reason

The agent is the one whose endpoint the call comes from (the phone authenticated
with its own SIP credentials). Each ends with a prompt saying what happened
("you are logged in", or "sorry, that did not work" when the core refused it or the
PIN was wrong), then the engine hangs up. Every use is audited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from types import MappingProxyType

from acd import events as e
from cti.asterisk.ari import AriClient
from cti.errors import AriError

log = logging.getLogger("cti.phones")
audit = logging.getLogger("cti.audit")

Then = Callable[[str, str, Callable[[], Awaitable[None]]], None]
DIGITS_S = 15.0  # a caller keying in a PIN or a reason has this long
FEATURES = ("login", "logout", "pause", "ready")
BUSY = frozenset({"INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"})  # device states of a phone in a call
SAID = MappingProxyType({"login": "agent-logged-in", "logout": "agent-logged-out", "pause": "agent-paused", "ready": "agent-ready"})


@dataclass(slots=True)
class _Keying:
    agent_id: str
    what: str
    digits: str = ""
    done: bool = False
    deadline: asyncio.TimerHandle | None = None  # DIGITS_S after the prompt; cancelled when done

    def finish(self) -> None:
        self.done = True
        if self.deadline is not None:
            self.deadline.cancel()


class Phones:
    def __init__(self, ari: AriClient, ask: Callable[[e.Event], bool], clock: Callable[[], float], then: Then,
                 agents: Mapping[str, str], verify: Callable[[str, str], Awaitable[bool]] | None,
                 pause_codes: tuple[str, ...]) -> None:
        """``agents``: endpoint ("PJSIP/agent2001") -> agent id; ``verify``: checks an
        agent's PIN (None: no PINs configured, the login code is refused)."""
        self._ari, self.ask, self._clock, self._then = ari, ask, clock, then
        self._agents = dict(agents)
        self._verify = verify
        self._pause_codes = pause_codes
        self._keying: dict[str, _Keying] = {}  # channel id -> what is being keyed in
        self.reachable: dict[str, bool] = {}  # agent id -> last known
        # Whether the engine has a leg to this agent's phone (set by a single node's
        # adapter): a phone busy with a call that is not the engine's is offered none
        # (found by the soak: a call of the dialplan's fallback queue, made while no
        # engine led, and the engine's offer rang one phone at once). None: not judged
        # (a cluster's phones also ring for other nodes' legs, which this node does not know).
        self.ours: Callable[[str], bool] | None = None

    # ------------------------------------------------------------ reachability

    async def resync(self) -> None:
        """Subscribe to the agents' device states and report their phones' states now."""
        if not self._agents:
            return
        try:  # (Asterisk counts subscriptions: only what is missing, not again at each reconnect)
            app = await self._ari.request("GET", f"/applications/{self._ari.app}")
            have = set(app.get("device_names") or ()) if isinstance(app, dict) else set()
            if missing := [f"deviceState:{name}" for name in self._agents if name not in have]:
                await self._ari.request("POST", f"/applications/{self._ari.app}/subscription", eventSource=missing)
            listed = await self._ari.request("GET", "/endpoints")
        except AriError as exc:
            log.warning("agents' phone states unknown: %s", exc)
            return
        for endpoint in listed if isinstance(listed, list) else []:
            if isinstance(endpoint, dict):
                self._state(endpoint)

    def _state(self, endpoint: Mapping[str, Any]) -> None:
        state = endpoint.get("state")
        if state in ("online", "offline"):
            name = f"{endpoint.get('technology')}/{endpoint.get('resource')}"
            busy = state == "online" and bool(endpoint.get("channel_ids")) and self._busy_elsewhere(name)
            self._reachable(name, state == "online" and not busy, busy)

    def judge_busy(self, ours: Callable[[str], bool]) -> None:
        """From now on a phone in a call none of whose legs ``ours`` knows is away."""
        self.ours = ours

    def _busy_elsewhere(self, name: str) -> bool:
        """The phone is in a call and none of it is the engine's."""
        agent_id = self._agents.get(name)
        return self.ours is not None and agent_id is not None and not self.ours(agent_id)

    def lost(self) -> None:
        """This node's Asterisk is out of reach (its events stopped): the phones it saw
        are not reachable through it; the next resync reports them again."""
        for name, agent_id in self._agents.items():
            if self.reachable.get(agent_id):
                self._reachable(name, False)

    def _reachable(self, name: str, reachable: bool, busy: bool = False) -> None:
        agent_id = self._agents.get(name)
        if agent_id is not None and self.reachable.get(agent_id) != reachable:
            log.info("agent %s: phone %s", agent_id, "reachable" if reachable else
                     "busy with a call that is not the engine's (not offered calls)" if busy else
                     "unreachable (not offered calls)")
            self.reachable[agent_id] = reachable
            self.ask(e.AgentReachable(agent_id, reachable, self._clock()))

    # ------------------------------------------------------------ events

    def on_event(self, ev: Mapping[str, Any]) -> bool:
        """Take the events that are the phones' (True), leave the rest."""
        kind = ev.get("type")
        if kind == "DeviceStateChanged":
            device = ev.get("device_state")
            if isinstance(device, dict) and device.get("state") not in ("UNKNOWN", "INVALID", None):
                name, state = str(device.get("name")), device.get("state")
                busy = state in BUSY and self._busy_elsewhere(name)
                self._reachable(name, state != "UNAVAILABLE" and not busy, busy)
            return True
        channel = ev.get("channel")
        chan_id = channel.get("id") if isinstance(channel, dict) else None
        if kind == "PlaybackFinished":
            playback = ev.get("playback") or {}
            name = str(playback.get("id", "")) if isinstance(playback, dict) else ""
            if name.startswith("cti-feature-end-"):
                done = name.removeprefix("cti-feature-end-")
                self._then(done, "hang-up after a feature code",
                           lambda: self._ari.request_quiet("DELETE", f"/channels/{done}"))
                return True
            return False
        if not isinstance(chan_id, str):
            return False
        if kind == "StasisStart":
            args = ev.get("args")
            if not (isinstance(args, list) and args and args[0] == "feature"):
                return False
            self._start(chan_id, str(channel.get("name") or "") if isinstance(channel, dict) else "",
                        str(args[1]) if len(args) > 1 else "")
            return True
        if chan_id not in self._keying:
            return False
        if kind == "ChannelDtmfReceived":
            self._digit(chan_id, str(ev.get("digit", "")))
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            self._keying.pop(chan_id).finish()
        return True

    def _start(self, chan_id: str, name: str, what: str) -> None:
        endpoint = name.rsplit("-", 1)[0]
        agent_id = self._agents.get(endpoint)
        if agent_id is None or what not in FEATURES:
            log.warning("feature code %r from %s: not an agent's phone or not a feature; refused", what, endpoint)

            async def refuse() -> None:
                await self._ari.request_quiet("POST", f"/channels/{chan_id}/answer")
                await self._end(chan_id, "agent-refused")
            self._then(chan_id, "feature refused", refuse)
            return
        self._keying[chan_id] = keying = _Keying(agent_id, what)
        prompt = {"login": "agent-pin", "pause": "agent-reason"}.get(what)

        async def answer() -> None:
            await self._ari.request_quiet("POST", f"/channels/{chan_id}/answer")
            if prompt is None:
                await self._act(chan_id, keying)
                return
            await self._ari.request_quiet("POST", f"/channels/{chan_id}/play/cti-feature-ask-{chan_id}",
                                          media=f"sound:cti/{prompt}")
            if not keying.done:
                keying.deadline = asyncio.get_running_loop().call_later(DIGITS_S, self._too_slow, chan_id, keying)

        self._then(chan_id, f"feature {what}", answer)

    def _too_slow(self, chan_id: str, keying: _Keying) -> None:
        if self._keying.get(chan_id) is keying and not keying.done:
            keying.finish()
            log.info("agent %s: feature %s not keyed in within %g s", keying.agent_id, keying.what, DIGITS_S)
            self._then(chan_id, "feature timed out", lambda: self._end(chan_id, "agent-refused"))

    def _digit(self, chan_id: str, digit: str) -> None:
        keying = self._keying[chan_id]
        if keying.done:
            return
        if digit.isdigit() and len(keying.digits) < 16:
            keying.digits += digit
        elif digit == "#":
            keying.finish()
            self._then(chan_id, f"feature {keying.what}", lambda: self._act(chan_id, keying))

    async def _act(self, chan_id: str, keying: _Keying) -> None:
        keying.finish()
        agent_id, what, now = keying.agent_id, keying.what, self._clock()
        event: e.Event | None = None
        if what == "login":
            if self._verify is not None and keying.digits and await self._verify(agent_id, keying.digits):
                event = e.AgentLoggedIn(agent_id, now)
            else:
                audit.warning("agent %s: login from the phone refused (wrong PIN)", agent_id)
        elif what == "logout":
            event = e.AgentLoggedOut(agent_id, now)
        elif what == "ready":
            event = e.AgentReady(agent_id, now)
        elif keying.digits.isdigit() and 1 <= int(keying.digits) <= len(self._pause_codes):
            event = e.AgentPaused(agent_id, self._pause_codes[int(keying.digits) - 1], now)
        ok = event is not None and self.ask(event)
        if ok:
            audit.info("agent %s: %s from the phone", agent_id, what)
        await self._end(chan_id, SAID[what] if ok else "agent-refused")

    async def _end(self, chan_id: str, prompt: str) -> None:
        """Say how it went, then hang up (when the prompt has been heard)."""
        await self._ari.request_quiet("DELETE", f"/playbacks/cti-feature-ask-{chan_id}")
        try:
            await self._ari.request("POST", f"/channels/{chan_id}/play/cti-feature-end-{chan_id}",
                                    media=f"sound:cti/{prompt}")
        except AriError:
            await self._ari.request_quiet("DELETE", f"/channels/{chan_id}")
