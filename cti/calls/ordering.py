"""In which lane, and after what, each call action of the core runs on the wire.

Each call's actions run in that call's own lane, in the core's order, each within
the command deadline (``cti.lanes``). An offer rings the agent in a lane of its own,
so it never waits for the caller's answer and music, and what comes after it in the
call's lane waits for it; recording starts in a lane of its own (a slow AMI never
delays routing); an offer that misses its deadline is reported as failed. What must
happen in the core's order before any lane runs (the agents' legs) happens at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from acd import commands as c
from cti.calls.legs import AgentLegs
from cti.lanes import Lanes


class Ordering:
    def __init__(self, lanes: Lanes, legs: AgentLegs, carry_out: Callable[[c.CallAction], Awaitable[None]]) -> None:
        self.lanes, self._legs, self._carry_out = lanes, legs, carry_out
        self._offering: dict[str, list[asyncio.Event]] = {}  # call id -> its offers not yet made

    def dispatch(self, cmd: c.CallAction) -> None:
        """Hand ``cmd`` to its lane; returns at once."""
        self._prepare(cmd)
        if isinstance(cmd, c.OfferCall):
            sent = asyncio.Event()
            self._offering.setdefault(cmd.call_id, []).append(sent)
            self.lanes.put(f"offer:{cmd.call_id}:{cmd.agent_id}", "OfferCall", lambda: self._offer(cmd, sent),
                           lambda: self._offer_abandoned(cmd))
        elif isinstance(cmd, c.StartRecording):  # a slow AMI never delays the call's routing
            self.lanes.put(f"record:{cmd.call_id}", "StartRecording", lambda: self._carry_out(cmd))
        elif isinstance(cmd, c.CancelOutbound):
            self.lanes.put(cmd.attempt_id, "CancelOutbound", lambda: self._carry_out(cmd))
        else:
            ahead = tuple(self._offering.get(cmd.call_id, ()))
            self.lanes.put(cmd.call_id, type(cmd).__name__, lambda: self._after(ahead, cmd))

    async def _offer(self, cmd: c.OfferCall, sent: asyncio.Event) -> None:
        try:
            await self._carry_out(cmd)
        finally:
            sent.set()
            if left := [x for x in self._offering.pop(cmd.call_id, []) if not x.is_set()]:
                self._offering[cmd.call_id] = left

    async def _after(self, offers: tuple[asyncio.Event, ...], cmd: c.CallAction) -> None:
        await asyncio.gather(*(sent.wait() for sent in offers))  # the call's offers dispatched before cmd
        await self._carry_out(cmd)

    async def execute(self, cmd: c.CallAction) -> None:
        """Carry out ``cmd`` now (tests, and the hand-over at stop)."""
        self._prepare(cmd)
        await self._carry_out(cmd)

    def _prepare(self, cmd: c.CallAction) -> None:
        """What must happen in the core's order, before any lane runs: the agents'
        legs (an offer must know which of the agent's legs are being released)."""
        if isinstance(cmd, c.OfferCall):
            self._legs.plan(cmd)
        elif isinstance(cmd, (c.CancelOffer, c.HangUpAgent, c.DropAgentLeg)):
            self._legs.cancelling(cmd.call_id, cmd.agent_id)

    def _offer_abandoned(self, cmd: c.OfferCall) -> None:
        self._legs.abandoned(cmd.call_id, cmd.agent_id)
        self.lanes.put(cmd.call_id, "release of an abandoned offer",
                       lambda: self._legs.release(cmd.call_id, cmd.agent_id))

