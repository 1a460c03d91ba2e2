"""R11 outbound campaigns and return visits: the pacing, do-not-call and retry rules.

Theory of operation
-------------------
A campaign (or the built-in return visits) is a list of customers to call from one
queue, in a call window, with at most ``max_attempts`` attempts ``retry_s`` apart. The
adapter loads the lists and dials; these rules decide:

- pacing (progressive, ``capacity``, read through ``Engine.outbound_capacity``): never more customers handed to the
  core at once than agents of the queue are ready, less the calls already waiting or
  ringing there (inbound callers take the agents first), so no customer is ever
  dialled without an agent waiting; campaigns sharing a queue share that budget, in
  order;
- a due entry (``hand_over``) with no number, or a number on the do-not-call list, is
  closed whatever the budget (it takes no agent); any other is queued while the budget
  lasts, else left for a later round;
- when its call ends (``after_call``): handled is done; not reached is scheduled again
  ``retry_s`` later while attempts are left, else closed as unreached (an entry whose
  campaign is gone has no attempts left).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from acd.center import Center
from acd.model import AgentState, CallState


def capacity(center: Center, queue: str) -> int:
    """Progressive pacing: how many more customers of ``queue`` may be handed to the
    core now (its ready agents, less the calls waiting or ringing there)."""
    ready = sum(1 for a in center.agents() if a.state is AgentState.READY and queue in a.config.queues)
    waiting = sum(1 for k in center.calls()
                  if k.queue == queue and k.state in (CallState.WAITING, CallState.OFFERED))
    return max(0, ready - waiting)


_PHONE = re.compile(r"\+?\d{3,20}")  # what may be dialled at all (a trunk's rules decide the rest)


class HandOver(enum.Enum):
    QUEUE = "queue"  # handed to the core as an ``OutboundQueued`` call
    CLOSE = "close"  # closed without a call (do-not-call, no number)
    LATER = "later"  # no agent for it this round


def number_to_dial(candidates: Sequence[str], blocked: Callable[[str], bool]) -> tuple[str, str]:
    """R20: the number to call, the first of ``candidates`` (a return visit: the contact
    number the agent recorded, then the number the customer called from) that is a phone
    number and not on the do-not-call list; else ("", why): "do-not-call" when a number
    was there but every one is on the list, "no-number" when none is a phone number (a
    hidden caller, a contact field holding a name)."""
    numbers = [n for n in (re.sub(r"[\s().-]", "", c or "") for c in candidates) if _PHONE.fullmatch(n)]
    for number in numbers:
        if not blocked(number):
            return number, ""
    return "", "do-not-call" if numbers else "no-number"


def hand_over(number: str, blocked: bool, queued: int, budget: int) -> tuple[HandOver, str]:
    """What becomes of one due entry this round, and the outcome of a closed one;
    ``queued``: entries already queued this round out of ``budget``."""
    if not number:
        return HandOver.CLOSE, "no-number"
    if blocked:
        return HandOver.CLOSE, "do-not-call"
    if queued >= budget:
        return HandOver.LATER, ""
    return HandOver.QUEUE, ""


@dataclass(frozen=True, slots=True)
class AfterCall:
    """The entry after its call: ``status`` done, scheduled (again at ``due_at``) or
    closed, with its ``outcome``."""

    status: str
    outcome: str
    due_at: float | None = None


def after_call(ended_outcome: str, reason: str, attempts: int, max_attempts: int | None,
               retry_s: float, now: float) -> AfterCall:
    """``reason``: why the last attempt failed (no-answer, busy, machine ...);
    ``max_attempts`` None: the entry's campaign is gone (no attempt left)."""
    if ended_outcome == "handled":
        return AfterCall("done", "handled")
    if max_attempts is not None and attempts < max_attempts:
        return AfterCall("scheduled", reason, now + retry_s)
    return AfterCall("closed", "unreached")


def kind(campaign_id: str) -> str:
    """The kind of call an entry becomes: the built-in return visits, or a campaign."""
    return "return-visit" if campaign_id == "return-visits" else "campaign"
