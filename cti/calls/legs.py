"""The agents' legs of calls: offers (originated channels), their answer, failure or
release, and the bridge that connects a caller with the agent who answered.

Each offer is a channel with id ``cti-offer-<agent>-<call>-<n>`` and ``appArgs =
offer,<call>,<agent>``, so its StasisStart (the agent answered) names the call; each
connected call has a mixing bridge ``cti-<call id>``. No new offer goes to an agent
while our previous leg to it is still being torn down (no phone ever has two of our
calls at once).

Each call's work runs in its own lane (``cti.lanes``), so an offer and the release of
the same agent's previous leg may be carried out by two lanes. Both are therefore
*planned* synchronously, in the core's order, when the commands are dispatched
(``plan`` and ``cancelling``); the lanes then carry them out, and an offer waits (in
its own lane only) for the legs that were being released when it was planned.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from types import MappingProxyType

from acd import CallView
from acd import commands as c
from acd import events as e
from cti.asterisk.ari import AriClient
from cti.errors import AriError

log = logging.getLogger("cti.stasis")

# Q.850 causes on an agent leg that ended before answer -> the offer's failure reason.
CAUSES = MappingProxyType({
    1: "unreachable",
    3: "unreachable",
    17: "busy",
    18: "no-response",
    19: "no-answer",
    20: "unreachable",
    21: "rejected",
    34: "congestion",
    38: "unreachable",
})


@dataclass(slots=True)
class Leg:
    channel_id: str
    call_id: str
    agent_id: str
    answered: bool = False
    cancelled: bool = False
    originated: bool = False  # the originate request was sent
    sent: bool = False  # ... and Asterisk answered it (the channel exists or existed)
    waits: tuple[asyncio.Event, ...] = ()  # the agent's legs being released when planned


def parse_leg(chan_id: str) -> tuple[str, str] | None:
    """(agent id, call id) of an offer leg id ``cti-offer-<agent>-<call>-<n>``. Agent ids
    have no dash (the config refuses one); a call id may: Asterisk prefixes its unique
    ids with ``systemname-`` when one is set, as on every node of a cluster."""
    if not chan_id.startswith("cti-offer-"):
        return None
    agent_id, _, rest = chan_id.removeprefix("cti-offer-").partition("-")
    call_id, _, seq = rest.rpartition("-")
    return (agent_id, call_id) if agent_id and call_id and seq else None


class AgentLegs:
    def __init__(self, ari: AriClient, submit: Callable[[e.Event], None], clock: Callable[[], float],
                 seq: itertools.count[int], check_endpoint: bool = False,
                 endpoints: frozenset[str] | None = None, peers: Mapping[str, str] | None = None) -> None:
        self._ari = ari
        self.peers = dict(peers or {})  # node -> this Asterisk's trunk to it (agents on other nodes)
        self._check_endpoint = check_endpoint
        # R14: the only endpoints an offer may ring (the configured agents'); None: any.
        self._endpoints = endpoints
        self._submit = submit
        self._clock = clock
        self._seq = seq
        self._legs: dict[str, Leg] = {}  # leg channel id -> leg
        self._leg_of: dict[tuple[str, str], str] = {}  # (call, agent) -> leg channel id
        # Leg ids stay unique across restarts of the engine.
        self._token = f"{int(clock() * 1000) % 10**9:x}x"
        # Legs we hung up that Asterisk has not destroyed yet, per agent.
        self._releasing: dict[str, dict[str, asyncio.Event]] = {}

    def get(self, chan_id: str) -> Leg | None:
        return self._legs.get(chan_id)

    def of(self, call_id: str, agent_id: str) -> str | None:
        return self._leg_of.get((call_id, agent_id))

    def of_call(self, call_id: str) -> list[str]:
        return [leg_id for (k, _), leg_id in self._leg_of.items() if k == call_id]

    def answered(self, chan_id: str) -> Leg | None:
        """StasisStart of an offer leg: the agent answered. None: not one of ours."""
        leg = self._legs.get(chan_id)
        if leg is None:
            return None
        leg.answered = True
        return leg

    def gone(self, chan_id: str, cause: int, now: float) -> None:
        """An agent leg's channel ended: the agent hung up, or the offer failed."""
        leg = self._legs.get(chan_id)
        if leg is None:
            return
        self._drop(chan_id)
        if leg.cancelled:
            return
        if leg.answered:
            self._submit(e.AgentHungUp(leg.call_id, leg.agent_id, now))
        else:
            self._submit(e.OfferFailed(leg.call_id, leg.agent_id, CAUSES.get(cause, f"cause-{cause}"), now))

    def has_agent(self, agent_id: str) -> bool:
        """Whether one of our legs rings or connects this agent's phone (or is on its way)."""
        return any(leg.agent_id == agent_id for leg in self._legs.values())

    def known(self) -> Iterable[str]:
        return list(self._legs)

    def confirmed(self) -> set[str]:
        """The legs Asterisk has made (asked before a listing: any other may be missing from it)."""
        return {leg_id for leg_id, leg in self._legs.items() if leg.sent}

    def resync(self, channels: Mapping[str, dict[str, Any]], calls: Mapping[str, CallView],
               confirmed: Collection[str] | None = None) -> list[str]:
        """Rebuild the mapping from Asterisk's channels; returns the legs that belong
        to no call of ours (to hang up). ``confirmed``: ``confirmed()`` when the
        listing was asked for (default: now)."""
        made = self.confirmed() if confirmed is None else confirmed
        # Offers made while the listing was being read: not in it yet, ours.
        in_flight = [leg for leg in self._legs.values()
                     if leg.channel_id not in made and not leg.cancelled and leg.channel_id not in channels]
        self._legs.clear()
        self._leg_of.clear()
        for leg in in_flight:
            owner = calls.get(leg.call_id)
            if owner is not None and leg.agent_id in owner.offered_to:
                self._legs[leg.channel_id] = leg
                self._leg_of[(leg.call_id, leg.agent_id)] = leg.channel_id
        orphans: list[str] = []
        for chan_id, ch in sorted(channels.items(), key=lambda item: self._newness(item[0])):
            parsed = parse_leg(chan_id)
            if parsed is None:
                continue
            agent_id, call_id = parsed
            owner = calls.get(call_id)
            if owner is None or (agent_id not in owner.offered_to and owner.agent_id != agent_id
                                 and owner.consult != agent_id):
                log.info("leg %s belongs to no call of ours; hanging it up", chan_id)
                orphans.append(chan_id)
                continue
            current = self._leg_of.get((call_id, agent_id))
            if current is not None and current != chan_id:
                # Two legs for one offer: an earlier engine's, and this engine's (an offer
                # that rang out while no router watched is rung again): the older goes.
                stale = min(current, chan_id, key=self._newness)
                log.info("leg %s is an earlier offer of call %s to agent %s; hanging it up",
                         stale, call_id, agent_id)
                orphans.append(stale)
                self._legs.pop(stale, None)
                if stale == chan_id:
                    continue
            self._legs[chan_id] = Leg(chan_id, call_id, agent_id, answered=ch.get("state") == "Up",
                                      originated=True, sent=True)
            self._leg_of[(call_id, agent_id)] = chan_id
        return orphans

    def _newness(self, leg_id: str) -> tuple[bool, int]:
        """Legs of this engine after those of earlier ones, then in the order made."""
        seq = leg_id.rpartition("-")[2]
        number = seq.rpartition("x")[2]
        return seq.startswith(self._token), int(number) if number.isdigit() else -1

    def released_meanwhile(self, channels: Mapping[str, Any]) -> None:
        """Legs being torn down that went while events were lost."""
        for legs in self._releasing.values():
            for gone_id in [k for k in legs if k not in channels]:
                legs.pop(gone_id).set()
        self._releasing = {agent: legs for agent, legs in self._releasing.items() if legs}

    def plan(self, cmd: c.OfferCall) -> None:
        """Register the offer's leg now, in the core's order (before any lane runs)."""
        leg_id = f"cti-offer-{cmd.agent_id}-{cmd.call_id}-{self._token}{next(self._seq)}"
        waits = tuple(self._releasing.get(cmd.agent_id, {}).values())
        self._legs[leg_id] = Leg(leg_id, cmd.call_id, cmd.agent_id, waits=waits)
        self._leg_of[(cmd.call_id, cmd.agent_id)] = leg_id

    def cancelling(self, call_id: str, agent_id: str) -> None:
        """The core let go of this offer or call: from now on a new offer to the agent
        waits until this leg is gone."""
        leg_id = self._leg_of.get((call_id, agent_id))
        if leg_id is not None:
            self._cancel(leg_id, agent_id)

    def _cancel(self, leg_id: str, agent_id: str) -> None:
        self._legs[leg_id].cancelled = True
        self._releasing.setdefault(agent_id, {}).setdefault(leg_id, asyncio.Event())

    async def offer(self, cmd: c.OfferCall, caller: str) -> None:
        leg_id = self._leg_of.get((cmd.call_id, cmd.agent_id))
        leg = self._legs.get(leg_id) if leg_id is not None else None
        if leg is None or leg.originated:
            return  # not planned (a direct call in tests plans it now), or done already
        if self._endpoints is not None and cmd.endpoint not in self._endpoints:
            # A forged command (whoever can write to Redis) must not make us dial anywhere.
            log.error("R14 ALERT: offer of call %s to endpoint %r refused: not a configured agent's",
                      cmd.call_id, cmd.endpoint)
            self._drop(leg.channel_id)
            self._submit(e.OfferFailed(cmd.call_id, cmd.agent_id, "refused-endpoint", self._clock()))
            return
        if leg.waits:
            # The agent's previous leg is still being torn down: wait (briefly, in this
            # call's lane only) so that its phone never has two of our calls at once.
            try:
                async with asyncio.timeout(2.0):
                    for gone in leg.waits:
                        await gone.wait()
            except TimeoutError:
                log.warning("agent %s: previous leg not gone after 2 s; offering anyway", cmd.agent_id)
                self._releasing.pop(cmd.agent_id, None)
        endpoint = cmd.endpoint
        if cmd.via:  # the agent's phone is on another node: through this node's trunk to it
            trunk = self.peers.get(cmd.via)
            tech, _, resource = cmd.endpoint.partition("/")
            if trunk is None or tech != "PJSIP":
                log.error("offering call %s to agent %s: no trunk to node %r (cluster.peers)", cmd.call_id,
                          cmd.agent_id, cmd.via)
                self._drop(leg.channel_id)
                self._submit(e.OfferFailed(cmd.call_id, cmd.agent_id, "no-route-to-node", self._clock()))
                return
            endpoint = f"PJSIP/{resource}@{trunk}"
        elif self._check_endpoint:  # (another node's endpoint: not seen from here)
            await self._endpoint_free(cmd.endpoint, cmd.agent_id)
        if leg.cancelled:  # released before it rang
            self._drop(leg.channel_id)
            return
        leg.originated = True
        try:
            await self._ari.request(
                "POST",
                "/channels",
                endpoint=endpoint,
                app=self._ari.app,
                appArgs=f"offer,{cmd.call_id},{cmd.agent_id}",
                channelId=leg.channel_id,
                callerId=caller or None,
                # Asterisk's own limit is only a backstop: the core cancels at R1's timeout.
                timeout=int(cmd.ring_timeout_s) + 5,
                # The phone's transfers (SIP REFER) come to the engine, not to Asterisk's core.
                body={"variables": {"PJSIP_TRANSFER_HANDLING()": "ari-only"}} if endpoint.startswith("PJSIP/") else None,
            )
            leg.sent = True
        except AriError as exc:
            log.error("offering call %s to agent %s failed: %s", cmd.call_id, cmd.agent_id, exc)
            if exc.status == 0:  # no answer in time: the leg may exist; hang it up if so
                self.abandoned(cmd.call_id, cmd.agent_id)
                await self.release(cmd.call_id, cmd.agent_id)
            else:
                self._drop(leg.channel_id)
                self._submit(e.OfferFailed(cmd.call_id, cmd.agent_id, "originate-failed", self._clock()))

    async def _endpoint_free(self, endpoint: str, agent_id: str, within_s: float = 2.0) -> None:
        """Wait (briefly) until Asterisk says the agent's endpoint has no channel."""
        try:
            async with asyncio.timeout(within_s):
                while True:
                    info = await self._ari.request("GET", f"/endpoints/{endpoint}")
                    if not (isinstance(info, dict) and info.get("channel_ids")):
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            log.warning("agent %s: endpoint still busy after %g s; offering anyway", agent_id, within_s)
        except AriError as exc:
            log.warning("agent %s: endpoint state unknown (%s); offering", agent_id, exc)

    def abandoned(self, call_id: str, agent_id: str) -> None:
        """The offer could not be made in time: the core is told it failed, and the leg,
        if Asterisk made it after all, will be hung up."""
        leg_id = self._leg_of.get((call_id, agent_id))
        leg = self._legs.get(leg_id) if leg_id is not None else None
        if leg is None or leg.answered or leg.cancelled:
            return
        self.cancelling(call_id, agent_id)
        self._submit(e.OfferFailed(call_id, agent_id, "deadline", self._clock()))

    def _drop(self, leg_id: str) -> None:
        leg = self._legs.pop(leg_id, None)
        if leg is None:
            return
        if self._leg_of.get((leg.call_id, leg.agent_id)) == leg_id:
            del self._leg_of[(leg.call_id, leg.agent_id)]
        releasing = self._releasing.get(leg.agent_id, {})
        gone = releasing.pop(leg_id, None)
        if gone is not None:
            gone.set()
        if not releasing:
            self._releasing.pop(leg.agent_id, None)

    async def release(self, call_id: str, agent_id: str) -> None:
        """Hang up the leg the core let go of (``cancelling`` marked it, in the core's order)."""
        leg_id = self._leg_of.get((call_id, agent_id))
        if leg_id is not None and not self._legs[leg_id].cancelled:
            # The same call was offered to the same agent again since: the leg to let go
            # is the earlier one, among those being released (if it was ever known).
            leg_id = next((k for k in self._releasing.get(agent_id, {})
                           if k in self._legs and self._legs[k].call_id == call_id), None)
        if leg_id is None:
            return
        self._cancel(leg_id, agent_id)
        if not self._legs[leg_id].originated:
            self._drop(leg_id)  # it never rang
            return
        try:
            await self._ari.request("DELETE", f"/channels/{leg_id}")
        except AriError as exc:
            if exc.status == 404:  # already gone
                self._drop(leg_id)
            else:
                log.warning("%s", exc)

    async def connect(self, call_id: str, agent_id: str) -> bool:
        """Bridge the caller and the agent's leg (idempotent: re-makes what is missing).
        False: Asterisk did not do it (no answer in time, an error): worth asking again."""
        leg_id = self._leg_of.get((call_id, agent_id))
        if leg_id is None:
            return True
        bridge = f"cti-{call_id}"
        try:
            try:  # (one request when it is new, as it nearly always is)
                await self._ari.request("POST", "/bridges", type="mixing", bridgeId=bridge)
                present: set[str] = set()
            except AriError as exc:
                if exc.status != 409:
                    raise
                existing = await self._ari.request("GET", f"/bridges/{bridge}")  # re-made at a resync
                present = set(existing.get("channels") or [])
            missing = [ch for ch in (call_id, leg_id) if ch not in present]
            if missing:
                await self._ari.request("POST", f"/bridges/{bridge}/addChannel", channel=missing)
        except AriError as exc:
            if exc.status in (400, 422):  # a side hung up (or left) before the bridge: its end follows
                log.info("call %s: a side was gone before it could join agent %s (%s)",
                         call_id, agent_id, exc)
                return True
            log.warning("bridging call %s with agent %s failed: %s", call_id, agent_id, exc)
            return False
        log.info("call %s connected to agent %s", call_id, agent_id)
        return True
