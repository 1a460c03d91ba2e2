"""The wire side of transfers and of the holds the engine makes (``acd.transfers``
decides; this carries out and reports).

- A hold by the engine (desk, API, a consult): the caller leaves the call's bridge
  ``cti-<call>`` and hears music; taken off hold it joins the bridge again (whoever is
  in it then: the same agent, or the one the call was transferred to). The caller's
  channel stays in the application throughout, so its recording (R4) goes on.
- A consult: the target's leg (an ordinary offer leg) joins the bridge of the
  transferring agent, the caller being out of it.
- To an external number: a leg ``cti-ext-<call>`` is dialled through the trunk (its
  rules apply, R14); answered, it is bridged with the caller; either side hanging up
  ends the other. The call has left the core by then.
- The phone's own transfer (SIP REFER, with ``PJSIP_TRANSFER_HANDLING(ari-only)`` set
  on the agent's leg at origination): Asterisk reports ``ChannelTransfer``. A blind
  REFER names a destination: an agent's id or announced number, a queue, or (with a
  trunk) a number; an attended REFER names the consult leg, which the engine placed
  itself when the agent consulted from the desk. The phone is told the outcome with
  ``transfer_progress``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acd import CallView
from acd import commands as c
from acd import events as e
from cti.asterisk.ari import AriClient
from cti.calls.legs import AgentLegs
from cti.calls.trunks import Trunk
from cti.errors import AriError
from cti.masking import mask_number

log = logging.getLogger("cti.transfers")

EXTERNAL_PREFIX = "cti-ext-"


@dataclass(frozen=True, slots=True)
class Directory:
    """Where a phone's REFER may go: an agent's id or announced number -> agent id, and
    the queues' names; ``ask`` hands a request to the core, False when it refuses (None:
    submit it, for a router elsewhere to decide)."""

    agents: Mapping[str, str] = field(default_factory=dict)
    queues: frozenset[str] = frozenset()
    ask: Callable[[e.Event], bool] | None = None


class Transfers:
    def __init__(self, ari: AriClient, legs: AgentLegs, submit: Callable[[e.Event], None],
                 clock: Callable[[], float], trunk: Trunk | None,
                 then: Callable[[str, str, Callable[[], Awaitable[None]]], None],
                 directory: Directory | None = None) -> None:
        self._ari, self._legs, self._submit, self._clock, self._then = ari, legs, submit, clock, then
        self.trunk = trunk
        self.held: set[str] = set()  # calls whose caller the engine holds out of the bridge
        # Calls whose agent's part ended while the caller stays (a transfer to another
        # agent or a queue, by the phone's REFER or from the desk): their bridge is kept
        # for the next agent. Asterisk 22.10 sometimes keeps a bridge deleted at that
        # moment alive but hidden (a new one under its id: 409; the id: 404), and the
        # next agent could never be bridged with the caller.
        # (bounded: a call that ends by another way is forgotten after 10,000 more)
        self.kept_bridges: dict[str, None] = {}
        self.external: dict[str, str] = {}  # external leg id -> call id
        directory = directory or Directory()
        # REFER destinations: an agent's id or announced number -> agent id; queue names.
        self.agents: Mapping[str, str] = directory.agents
        self.queues: frozenset[str] = directory.queues
        # Hands a request to the core; False when refused (a router elsewhere: True).
        self.ask: Callable[[e.Event], bool] = directory.ask or self._handed

    def _handed(self, event: e.Event) -> bool:
        self._submit(event)
        return True

    # ------------------------------------------------------------ holds and consults

    async def hold(self, call_id: str) -> None:
        self.held.add(call_id)
        await self._ari.request_quiet("POST", f"/bridges/cti-{call_id}/removeChannel", channel=call_id)
        await self._ari.request_quiet("POST", f"/channels/{call_id}/moh")

    async def unhold(self, call_id: str) -> bool:
        """Bring back a caller the engine held; False: not one (a phone's hold)."""
        if call_id not in self.held:
            return False
        self.held.discard(call_id)
        await self._ari.request_quiet("DELETE", f"/channels/{call_id}/moh")
        try:
            await self._ari.request("POST", f"/bridges/cti-{call_id}/addChannel", channel=call_id)
        except AriError as exc:  # the bridge went with the last agent: the hang-up follows
            log.warning("call %s: back from hold failed: %s", call_id, exc)
        return True

    def resync(self, call: CallView, now: float) -> bool:
        """After a reconnect or a restart, a connected call the engine holds stays held
        (True: nothing to re-bridge); a consult's leg that went meanwhile is a failed
        consult, one answered meanwhile an answer."""
        if call.consult:
            leg_id = self._legs.of(call.call_id, call.consult)
            leg = self._legs.get(leg_id) if leg_id is not None else None
            if leg is None:
                self._submit(e.OfferFailed(call.call_id, call.consult, "lost", now))
            elif leg.answered and not call.consult_answered:
                self._submit(e.OfferAnswered(call.call_id, call.consult, now))
        if not call.engine_hold:
            return False
        self.held.add(call.call_id)
        return True

    def connected(self, call_id: str) -> None:
        """The call is bridged again from scratch (a new agent): no hold to undo."""
        self.held.discard(call_id)
        self.kept_bridges.pop(call_id, None)

    def keep_bridge(self, call_id: str) -> None:
        """The agent's part of a call ended and the caller stays: its bridge is kept."""
        self.kept_bridges[call_id] = None
        if len(self.kept_bridges) > 10_000:
            del self.kept_bridges[next(iter(self.kept_bridges))]

    def caller_gone(self, call_id: str) -> bool:
        """The caller left: True when the call's kept bridge is to be deleted now."""
        return self.kept_bridges.pop(call_id, 0) is None

    async def join_consult(self, call_id: str, agent_id: str) -> None:
        leg_id = self._legs.of(call_id, agent_id)
        if leg_id is None:
            return
        try:
            await self._ari.request("POST", f"/bridges/cti-{call_id}/addChannel", channel=leg_id)
        except AriError as exc:
            log.warning("call %s: joining agent %s to the consult failed: %s", call_id, agent_id, exc)
            return
        log.info("call %s: agent %s consulted", call_id, agent_id)

    # ------------------------------------------------------------ external numbers

    async def out(self, cmd: c.TransferOut, caller: str) -> None:
        endpoint = self.trunk.dial_string(cmd.number) if self.trunk is not None else None
        if endpoint is None:
            log.error("R14: call %s: transfer to %s refused by the trunk's rules; hanging up",
                      cmd.call_id, mask_number(cmd.number))
            await self._ari.request_quiet("DELETE", f"/channels/{cmd.call_id}")
            return
        leg_id = f"{EXTERNAL_PREFIX}{cmd.call_id}"
        self.external[leg_id] = cmd.call_id
        await self._ari.request_quiet("POST", f"/channels/{cmd.call_id}/moh")
        try:
            await self._ari.request("POST", "/channels", endpoint=endpoint, app=self._ari.app,
                                    appArgs=f"external,{cmd.call_id}", channelId=leg_id,
                                    callerId=(self.trunk.caller_id if self.trunk else "") or caller or None,
                                    timeout=60)
        except AriError as exc:
            log.error("call %s: transfer to %s failed: %s", cmd.call_id, mask_number(cmd.number), exc)
            self.external.pop(leg_id, None)
            await self._ari.request_quiet("DELETE", f"/channels/{cmd.call_id}")

    async def external_answered(self, leg_id: str) -> None:
        call_id = self.external.get(leg_id)
        if call_id is None:
            await self._ari.request_quiet("DELETE", f"/channels/{leg_id}")
            return
        await self._ari.request_quiet("DELETE", f"/channels/{call_id}/moh")
        bridge = f"cti-{call_id}"
        try:
            try:
                await self._ari.request("POST", "/bridges", type="mixing", bridgeId=bridge)
            except AriError:
                pass  # already there
            await self._ari.request("POST", f"/bridges/{bridge}/addChannel", channel=[call_id, leg_id])
        except AriError as exc:
            log.warning("call %s: bridging the external number failed: %s", call_id, exc)
            await self._ari.request_quiet("DELETE", f"/channels/{leg_id}")
            return
        log.info("call %s: transferred to an external number", call_id)

    def gone(self, chan_id: str) -> str | None:
        """An external leg or a caller ended: the other side to hang up, if any."""
        call_id = self.external.pop(chan_id, None)
        if call_id is not None:
            return call_id
        leg_id = f"{EXTERNAL_PREFIX}{chan_id}"
        if self.external.pop(leg_id, None) is not None:
            return leg_id
        self.held.discard(chan_id)
        return None

    def on_event(self, ev: Mapping[str, Any]) -> bool:
        """A REFER and the phones' holds (taken: True); the end of an external
        transfer's side, whose other side is hung up (left for the adapter too: False)."""
        kind = ev.get("type")
        if kind == "ChannelTransfer":
            self.refer(ev)
            return True
        channel = ev.get("channel")
        if kind in ("ChannelHold", "ChannelUnhold") and isinstance(channel, dict):
            # R3: the agent's phone put the caller on hold (SIP re-INVITE) or took it off.
            leg = self._legs.get(str(channel.get("id")))
            if leg is not None and leg.answered and not leg.cancelled:
                event = e.HoldStarted if kind == "ChannelHold" else e.HoldEnded
                self._submit(event(leg.call_id, self._clock()))
            return True
        if kind in ("StasisEnd", "ChannelDestroyed") and isinstance(channel, dict):
            other = self.gone(str(channel.get("id")))
            if other is not None:
                self._then(other, "hang-up of the other side",
                           lambda: self._ari.request_quiet("DELETE", f"/channels/{other}"))
        return False

    # ------------------------------------------------------------ the phone's REFER

    def refer(self, ev: Mapping[str, Any]) -> None:
        """``ChannelTransfer``: a REFER from an agent's phone; the phone is told how it
        went (``transfer_progress``)."""
        by = ev.get("referred_by")
        source = str(((by.get("source_channel") or {}).get("id") if isinstance(by, dict) else None) or "")
        leg = self._legs.get(source)
        if leg is None or not leg.answered:
            return
        said: list[str] = []  # the phone is told before the call's lane carries the transfer out

        async def tell() -> None:
            if said:
                await self._ari.request_quiet("POST", f"/channels/{source}/transfer_progress", states=said[0])
        self._then(leg.call_id, "transfer progress", tell)
        said.append(self._asked(ev, (leg.call_id, leg.agent_id)))

    def _asked(self, ev: Mapping[str, Any], leg_call: tuple[str, str]) -> str:
        """The transfer a REFER on an agent's answered leg asks of the core; returns
        the progress to tell the phone.
        A blind REFER names an agent (id or announced number), a queue, or a number
        the trunk may dial; an attended one (the phone joining two calls of its own)
        is declined: the engine's consult is made from the desk or the API."""
        call_id, agent_id = leg_call
        to = ev.get("refer_to")
        wanted = to.get("requested_destination") if isinstance(to, dict) else None
        destination = str(wanted.get("destination") or "") if isinstance(wanted, dict) else ""
        target = destination.split("@", 1)[0].removeprefix("sip:")
        now = self._clock()
        if not target:
            log.warning("call %s: agent %s's phone asked an attended transfer: declined (consult from the desk)",
                        call_id, agent_id)
            return "channel_declined"
        if target in self.agents:
            asked = e.TransferRequested(call_id, agent_id, "agent", self.agents[target], False, now)
        elif target in self.queues:
            asked = e.TransferRequested(call_id, agent_id, "queue", target, False, now)
        elif self.trunk is not None and self.trunk.dial_string(target) is not None:
            asked = e.TransferRequested(call_id, agent_id, "external", target, False, now)
        else:
            log.warning("call %s: agent %s asked a transfer to %s: no agent, queue or dialable number",
                        call_id, agent_id, mask_number(target))
            return "channel_declined"
        if not self.ask(asked):
            return "channel_declined"
        log.info("call %s: agent %s's phone transferred it to %s %s", call_id, agent_id, asked.to,
                 mask_number(asked.target) if asked.to == "external" else asked.target)
        return "channel_answered"
