"""R11/R2: the customers' legs of callbacks, return visits and campaigns.

A customer is dialled through the trunk as the call's own channel (the channel id is
the call id), so once answered the call is bridged, recorded and hung up like any
call. It is dialled into the dialplan context ``cti-customer``, which hands the
answered leg to this application and, when the application is not there at that
moment (the engine restarting, a standby taking over), plays music and knocks again
every second for 30 s: a customer answering during a restart is not dropped. The
application subscribes to the leg as soon as it exists, so that a busy or rejected
line is heard. Before the answer the leg is

    ringing --answered (StasisStart "customer")--> a person: CustomerAnswered
    ringing --gone (busy, rejected, unreachable ...)--> CustomerNotReached(cause)

With ``detect_machines`` on the trunk, an answered leg is first handed to Asterisk's
answering-machine detection (``AMD()`` in the ``cti-screen`` dialplan context, which
brings it back into this application with the verdict):

    answered --CustomerScreening--> screening (out of Stasis; subscribed to its events)
    screening --StasisStart "screened" HUMAN or NOTSURE--> CustomerAnswered
    screening --MACHINE--> hung up; CustomerNotReached("machine")
    screening --gone--> CustomerNotReached("hung-up")

The dialplan contexts every Asterisk node needs (in the sandbox's extensions.conf;
``cti-customer`` with its retries there)::

    [cti-customer]
    exten => _[a-z].,1,Stasis(${EXTEN},customer,${UNIQUEID})
     same => n,Hangup()

    [cti-screen]
    exten => _[a-z].,1,AMD()
     same => n,Stasis(${EXTEN},screened,${UNIQUEID},${AMDSTATUS},${AMDCAUSE})
     same => n,Hangup()
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from acd import commands as c
from acd import events as e
from cti.asterisk.ari import AriClient
from cti.calls.legs import CAUSES
from cti.calls.trunks import Trunk
from cti.errors import AriError, AsteriskUnreachable
from cti.masking import mask_number

log = logging.getLogger("cti.customers")

SCREEN_CONTEXT = "cti-screen"
CUSTOMER_CONTEXT = "cti-customer"
PERSON = ("HUMAN", "NOTSURE")  # AMD unsure: an agent rather than a lost customer


async def require_amd(ari: AriClient) -> None:
    """At start, for a trunk with ``detect_machines``: Asterisk's AMD must be loaded."""
    try:
        module = await ari.request("GET", "/asterisk/modules/app_amd.so")
    except AriError as exc:
        module = {"status": f"not available ({exc})"}
    if not isinstance(module, dict) or module.get("status") != "Running":
        status = module.get("status") if isinstance(module, dict) else module
        raise AsteriskUnreachable(f"a trunk has detect_machines = true but Asterisk's app_amd is {status}: "
                                  "load app_amd.so (with amd.conf) or turn detect_machines off")


class Customers:
    """The customers' legs still ringing or being screened, by call id."""

    def __init__(self, ari: AriClient, submit: Callable[[e.Event], None], clock: Callable[[], float],
                 then: Callable[[str, str, Callable[[], Awaitable[None]]], None],
                 trunk: Trunk | None, blocked: Callable[[str], bool] | None) -> None:
        self._ari, self._submit, self._clock, self._then = ari, submit, clock, then
        self.trunk = trunk  # where callbacks are dialled
        self.blocked = blocked  # the do-not-call list, checked at dial time
        self.ringing: dict[str, str] = {}  # call id -> number: dialled, not answered
        self.screening: dict[str, str] = {}  # call id -> number: answered, AMD listening

    async def dial(self, cmd: c.DialCustomer) -> None:
        """Ring the customer through the trunk (R2: the core hangs up at its ring cap).
        R14: a number the trunk's rules refuse is never dialled."""
        endpoint = self.trunk.dial_string(cmd.number) if self.trunk is not None else None
        if endpoint is None or self.trunk is None:
            log.error("R14: callback %s: %s is not a number the trunk may dial", cmd.call_id, mask_number(cmd.number))
            self._submit(e.CustomerNotReached(cmd.call_id, "refused-number", self._clock()))
            return
        if self.blocked is not None and self.blocked(cmd.number):
            log.warning("callback %s: %s is on the do-not-call list: not dialled", cmd.call_id, mask_number(cmd.number))
            self._submit(e.CustomerNotReached(cmd.call_id, "do-not-call", self._clock()))
            return
        self.ringing[cmd.call_id] = cmd.number
        log.info("callback %s: dialling %s for agent %s (attempt %d, ring cap %g s)", cmd.call_id,
                 mask_number(cmd.number), cmd.agent_id, cmd.attempt, cmd.ring_timeout_s)
        try:
            await self._ari.request("POST", "/channels", endpoint=endpoint, context=CUSTOMER_CONTEXT,
                                    extension=self._ari.app, priority=1, channelId=cmd.call_id,
                                    callerId=self.trunk.caller_id or None, timeout=int(cmd.ring_timeout_s) + 5)
        except AriError as exc:
            log.error("callback %s: dialling failed: %s", cmd.call_id, exc)
            if self.ringing.pop(cmd.call_id, None) is not None:
                self._submit(e.CustomerNotReached(cmd.call_id, "originate-failed", self._clock()))
            return
        await self._subscribe(cmd.call_id)

    async def _subscribe(self, call_id: str) -> None:
        """Hear the leg's end before it is in Stasis (busy, rejected, the customer
        hanging up while the dialplan knocks). A leg already gone (a line that refused
        at once) cannot be subscribed to: reported as not reached."""
        try:
            await self._ari.request("POST", f"/applications/{self._ari.app}/subscription",
                                    eventSource=f"channel:{call_id}")
        except AriError as exc:
            if exc.status in (404, 422) and self.ringing.pop(call_id, None) is not None:
                log.info("callback %s: the line ended before it could be followed", call_id)
                self._submit(e.CustomerNotReached(call_id, "hung-up", self._clock()))
            elif exc.status not in (404, 422):
                log.warning("callback %s: following the line failed (%s); the ring cap ends it", call_id, exc)

    def answered(self, call_id: str) -> str | None:
        """The customer's line answered (StasisStart "customer"): the number when it is
        the call's from now on (a person), None when it is screened first or is not ours."""
        number = self.ringing.pop(call_id, None)
        if number is None:
            self._then(call_id, "hang-up of a stray customer leg",
                       lambda: self._ari.request_quiet("DELETE", f"/channels/{call_id}"))
            return None
        if self.trunk is None or not self.trunk.detect_machines:
            return number
        self.screening[call_id] = number  # before the StasisEnd that leaving Stasis brings
        self._submit(e.CustomerScreening(call_id, self._clock()))
        self._then(call_id, "answering-machine detection", lambda: self._screen(call_id))
        return None

    async def _screen(self, call_id: str) -> None:
        # Subscribed, its hang-up reaches us while it is out of Stasis.
        await self._ari.request_quiet("POST", f"/applications/{self._ari.app}/subscription",
                                      eventSource=f"channel:{call_id}")
        try:
            await self._ari.request("POST", f"/channels/{call_id}/continue", context=SCREEN_CONTEXT,
                                    extension=self._ari.app, priority=1)
        except AriError as exc:  # gone meanwhile, or no such context: not a customer reached
            log.error("callback %s: answering-machine detection failed: %s", call_id, exc)
            if self.screening.pop(call_id, None) is not None:
                await self._ari.request_quiet("DELETE", f"/channels/{call_id}")
                self._submit(e.CustomerNotReached(call_id, "screening-failed", self._clock()))

    def screened(self, call_id: str, args: list[Any]) -> str | None:
        """Back from AMD (StasisStart "screened", status, cause): the number when a
        person answered; a machine is hung up and reported."""
        number = self.screening.pop(call_id, None)
        status = str(args[2]) if len(args) > 2 else ""
        cause = str(args[3]) if len(args) > 3 else ""
        if number is None:
            self._then(call_id, "hang-up of a stray screened leg",
                       lambda: self._ari.request_quiet("DELETE", f"/channels/{call_id}"))
            return None
        log.info("callback %s: answering-machine detection says %s (%s)", call_id, status or "nothing", cause)
        if status in PERSON:
            return number
        self._submit(e.CustomerNotReached(call_id, "machine" if status == "MACHINE" else "hung-up", self._clock()))
        self._then(call_id, "hang-up of an answering machine",
                   lambda: self._ari.request_quiet("DELETE", f"/channels/{call_id}"))
        return None

    def gone(self, call_id: str, cause: int, kind: str) -> bool:
        """A customer's leg left Stasis or ended before it was the call's: reported as
        not reached. False: not a customer's leg in those states."""
        if call_id in self.screening:
            if kind == "StasisEnd":  # handed to AMD: it comes back
                return True
            del self.screening[call_id]
            self._submit(e.CustomerNotReached(call_id, "hung-up", self._clock()))
            return True
        if self.ringing.pop(call_id, None) is not None:
            self._submit(e.CustomerNotReached(call_id, CAUSES.get(cause, f"cause-{cause}"), self._clock()))
            return True
        return False

    def forget(self, call_id: str) -> None:
        self.ringing.pop(call_id, None)
        self.screening.pop(call_id, None)

    def adopt(self, call_id: str, number: str, channel: dict[str, Any]) -> bool:
        """After a restart, a dialling call's channel: True when answered by a person
        and in Stasis while nobody listened (the call's from now on); else ringing,
        knocking (answered, in ``cti-customer``: its StasisStart comes) or screening."""
        dialplan = channel.get("dialplan") or {}
        if channel.get("state") != "Up" or (dialplan.get("context") == CUSTOMER_CONTEXT
                                             and dialplan.get("app_name") != "Stasis"):
            self.ringing[call_id] = number
            self._then(call_id, "subscription to a dialled leg", lambda: self._subscribe(call_id))
            return False
        if dialplan.get("context") == SCREEN_CONTEXT:
            self.screening[call_id] = number
            self._then(call_id, "subscription to a screened leg", lambda: self._ari.request_quiet(
                "POST", f"/applications/{self._ari.app}/subscription", eventSource=f"channel:{call_id}"))
            return False
        return True
