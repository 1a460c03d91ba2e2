"""Supervisors listening to a call, coaching the agent, or joining the call, through
ARI snoop on the agent's leg (the wire side; who may do it is checked by the HTTP API,
and every start, change and stop is audited there and here).

    listen   spy both directions, whisper none: the supervisor hears agent and caller;
             nobody hears the supervisor
    whisper  spy both, whisper "out" (into what the agent hears): coaching, the caller
             hears nothing of it
    barge    spy both, whisper both: the agent hears the supervisor, and the caller too
             (through the agent's leg into the call's bridge)

A session is the supervisor's phone (originated, ``cti-sup-<call>-<n>``), a mixing
bridge ``cti-sup-<call>`` and a snoop channel ``cti-snoop-<call>-<n>`` on the agent's
leg. Changing the mode makes a new snoop channel, puts it in the bridge and hangs up
the old one: the supervisor's phone stays up. The session ends when the supervisor
hangs up, the agent's leg ends (its snoop goes with it), or it is stopped.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from types import MappingProxyType

from cti.asterisk.ari import AriClient
from cti.errors import AriError

log = logging.getLogger("cti.listening")
audit = logging.getLogger("cti.audit")

Then = Callable[[str, str, Callable[[], Awaitable[None]]], None]
MODES = MappingProxyType({"listen": "none", "whisper": "out", "barge": "both"})  # mode -> whisper direction


@dataclass(slots=True)
class Session:
    call_id: str
    agent_id: str
    agent_leg: str
    who: str
    mode: str
    phone_leg: str
    snoop: str = ""
    pending: str = ""  # the snoop made for the mode now asked, until it enters the application
    answered: bool = False
    old: set[str] = field(default_factory=set)  # snoops being replaced (their end ends nothing)


class Listening:
    def __init__(self, ari: AriClient, then: Then, tone: bool = False) -> None:
        self._ari, self._then = ari, then
        self.tone = tone  # a beep to the agent when someone starts listening
        self._seq = itertools.count(1)
        self.sessions: dict[str, Session] = {}  # call id -> its session (one supervisor per call)

    def start(self, call_id: str, agent_id: str, agent_leg: str, phone: str, mode: str, who: str) -> None:
        """Ring the supervisor's ``phone``; answered, it hears the call (``mode``)."""
        n = next(self._seq)
        session = Session(call_id, agent_id, agent_leg, who, mode, f"cti-sup-{call_id}-{n}")
        self.sessions[call_id] = session
        audit.info("call %s: %s starts to %s to agent %s (phone %s)", call_id, who, mode, agent_id, phone)

        async def ring() -> None:
            try:
                await self._ari.request("POST", "/channels", endpoint=phone, app=self._ari.app,
                                        appArgs=f"supervise,{call_id}", channelId=session.phone_leg, timeout=30)
            except AriError as exc:
                log.warning("call %s: the supervisor's phone %s could not be rung: %s", call_id, phone, exc)
                self._ended(session, "the supervisor's phone could not be rung")
        self._then(session.phone_leg, "ring the supervisor", ring)

    def change(self, call_id: str, mode: str, who: str) -> Session:
        session = self.sessions[call_id]
        audit.info("call %s: %s switches from %s to %s (agent %s)", call_id, who, session.mode, mode,
                   session.agent_id)
        session.mode = mode
        if session.answered:
            self._then(session.phone_leg, "change the listening mode", lambda: self._snoop(session))
        return session

    def stop(self, call_id: str, who: str) -> None:
        session = self.sessions.get(call_id)
        if session is None:
            return
        audit.info("call %s: %s stops to %s to agent %s", call_id, who, session.mode, session.agent_id)
        self._ended(session, "")

    def _ended(self, session: Session, why: str) -> None:
        if self.sessions.get(session.call_id) is not session:
            return
        del self.sessions[session.call_id]
        if why:
            audit.info("call %s: %s's %s to agent %s ends: %s", session.call_id, session.who, session.mode,
                       session.agent_id, why)
        channels = [session.phone_leg, session.snoop, session.pending, *session.old]

        async def clear() -> None:
            for channel in channels:
                if channel:
                    await self._ari.request_quiet("DELETE", f"/channels/{channel}")
            await self._ari.request_quiet("DELETE", f"/bridges/cti-sup-{session.call_id}")
        self._then(session.phone_leg, "end the listening", clear)

    async def _snoop(self, session: Session) -> None:
        """A snoop channel in the mode now asked; it joins the bridge, in place of the one
        before, when it has entered the application (``_joined``)."""
        snoop = f"cti-snoop-{session.call_id}-{next(self._seq)}"
        session.pending = snoop
        try:
            await self._ari.request("POST", f"/channels/{session.agent_leg}/snoop", spy="both",
                                    whisper=MODES[session.mode], app=self._ari.app,
                                    appArgs=f"snoop,{session.call_id}", snoopId=snoop)
        except AriError as exc:
            log.warning("call %s: snooping on the agent's leg failed: %s", session.call_id, exc)
            self._ended(session, "the agent's leg cannot be listened to")

    async def _joined(self, session: Session, snoop: str) -> None:
        try:
            await self._ari.request("POST", f"/bridges/cti-sup-{session.call_id}/addChannel", channel=snoop)
        except AriError as exc:
            log.warning("call %s: the snoop could not join the supervisor: %s", session.call_id, exc)
            self._ended(session, "the agent's leg cannot be listened to")
            return
        old, session.snoop = session.snoop, snoop
        if old:
            session.old.add(old)
            await self._ari.request_quiet("DELETE", f"/channels/{old}")
        log.info("call %s: %s %s", session.call_id, session.who, session.mode)

    async def _answered(self, session: Session) -> None:
        bridge = f"cti-sup-{session.call_id}"
        try:
            await self._ari.request("POST", "/bridges", type="mixing", bridgeId=bridge)
            await self._ari.request("POST", f"/bridges/{bridge}/addChannel", channel=session.phone_leg)
        except AriError as exc:
            log.warning("call %s: the supervisor's bridge failed: %s", session.call_id, exc)
            self._ended(session, "no bridge")
            return
        await self._snoop(session)
        if self.tone:
            await self._ari.request_quiet("POST", f"/channels/{session.agent_leg}/play", media="sound:beep")

    def on_event(self, ev: Mapping[str, Any]) -> bool:
        """The events of supervisors' phones and snoop channels (True: taken)."""
        channel = ev.get("channel")
        chan_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(chan_id, str) or not chan_id.startswith(("cti-sup-", "cti-snoop-")):
            if isinstance(chan_id, str) and ev.get("type") in ("StasisEnd", "ChannelDestroyed"):
                for ending in [s for s in self.sessions.values() if s.agent_leg == chan_id]:
                    self._ended(ending, "the agent's call ended")
            return False
        kind = ev.get("type")
        call_id = chan_id.removeprefix("cti-sup-").removeprefix("cti-snoop-").rsplit("-", 1)[0]
        session = self.sessions.get(call_id)
        if kind == "StasisStart":
            if session is None:  # a leftover (the engine restarted, or it was stopped): not ours now
                self._then(chan_id, "hang up a leftover", lambda: self._ari.request_quiet(
                    "DELETE", f"/channels/{chan_id}"))
            elif chan_id == session.phone_leg:
                session.answered = True
                answered = session
                self._then(session.phone_leg, "the supervisor answered", lambda: self._answered(answered))
            elif chan_id == session.pending:  # the new snoop is ready: into the supervisor's bridge
                joining = session
                self._then(session.phone_leg, "the snoop joins", lambda: self._joined(joining, chan_id))
        elif kind in ("StasisEnd", "ChannelDestroyed") and session is not None:
            if chan_id == session.phone_leg:
                self._ended(session, "the supervisor hung up")
            elif chan_id in (session.snoop, session.pending):
                self._ended(session, "the agent's call ended")
            else:
                session.old.discard(chan_id)
        return True
