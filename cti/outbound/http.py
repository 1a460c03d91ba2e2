"""R11 over HTTP: return visits, the do-not-call list, and campaigns (a CSV list of
customers with its queue, script, call window and attempts; paused, resumed or
stopped). Callers' numbers are masked except for the roles allowed them (R14)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cti.errors import BadRequest, Forbidden, Missing, TooLarge
from cti.masking import mask_number
from cti.orders.http import WORKORDERS
from cti.orders.store import WorkOrderStore
from cti.outbound.visits import ReturnVisits, VisitSettings, campaign_from_csv
from cti.runtime import Runtime
from cti.web.accounts import Identity
from cti.web.server import Feature, Part, answer, json_body, need, runtime, serving

audit = logging.getLogger("cti.audit")
ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
VISITS = web.AppKey("visits", Part[ReturnVisits])
FEATURE = Feature(ROUTES, (VISITS,))

CAMPAIGN_MAX_CSV = 5_000_000  # bytes of the CSV list (UTF-8): 5 MB; 413 too-large beyond
CAMPAIGN_MAX_BODY = 2 * CAMPAIGN_MAX_CSV  # the request's JSON (its escapes: a newline is two bytes there)


def _number(value: object) -> str:
    number = "".join(ch for ch in str(value) if not ch.isspace() and ch != "-") if isinstance(value, str) else ""
    if not 3 <= len(number) <= 32 or not number.lstrip("+").isdigit():
        raise BadRequest("a phone number: digits, optionally a leading +")
    return number


@ROUTES.get("/return-visits")
async def return_visits(request: web.Request) -> web.Response:
    """Scheduled, queued, done or closed return visits (R11), newest first."""
    who = need(request, "supervisor", "reader")
    status = request.query.get("status")
    if status is not None and status not in ("scheduled", "queued", "done", "closed"):
        raise BadRequest("status is scheduled, queued, done or closed")
    rows = await request.app[VISITS].get().store.visits(status)
    return answer(request, rows)


@ROUTES.get("/do-not-call")
async def do_not_call_list(request: web.Request) -> web.Response:
    who = need(request, "reader")
    audit.info("do-not-call list read by %s", who.name)
    return answer(request, sorted(request.app[VISITS].get().numbers_blocked))


@ROUTES.post("/do-not-call")
async def do_not_call_add(request: web.Request) -> web.Response:
    """``{"number", "reason"}``: never dial this number again (an agent records the
    customer's wish; a supervisor an instruction)."""
    who = need(request, "supervisor", "agent")
    body = await json_body(request)
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise BadRequest("'reason' is text (max 200)")
    number = _number(body.get("number"))
    if who.role == "agent" and _digits(number) not in await _own_numbers(request, who):
        audit.warning("%s refused adding %s to the do-not-call list (not its call)", who.name, mask_number(number))
        raise Forbidden("an agent adds the number of its own current or last call only; a supervisor any")
    await request.app[VISITS].get().set_blocked(number, True, who.name, reason)
    return answer(request, {"number": number, "blocked": True}, status=201)


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


async def _own_numbers(request: web.Request, who: Identity) -> set[str]:
    """The numbers of the agent's current calls and of the call it answered last."""
    if who.agent_id is None:
        return set()
    engine = runtime(request).engine
    numbers = {k.caller for k in engine.calls() if who.agent_id == k.agent_id}
    last = next((a.last_call_id for a in engine.agents() if a.agent_id == who.agent_id), None)
    orders = request.app[WORKORDERS].peek()
    if last is not None and orders is not None:
        ended = await orders.ended_call(last)
        if ended is not None:
            numbers.add(str(ended["caller"]))
    return {_digits(n) for n in numbers if n}


@ROUTES.delete("/do-not-call/{number}")
async def do_not_call_remove(request: web.Request) -> web.Response:
    who = need(request, "supervisor")
    number = _number(request.match_info["number"])
    await request.app[VISITS].get().set_blocked(number, False, who.name)
    return answer(request, {"number": number, "blocked": False})


@ROUTES.get("/campaigns")
async def campaigns(request: web.Request) -> web.Response:
    """Campaigns with their progress (entries by status)."""
    need(request, "supervisor", "reader")
    return answer(request, await request.app[VISITS].get().store.campaigns())


@ROUTES.post("/campaigns")
async def campaign_add(request: web.Request) -> web.Response:
    """``{"name", "queue", "csv", "script"?, "hours"?, "max_attempts"?, "retry_h"?}``: a
    campaign from a CSV list of customers (``number[,name]``)."""
    who = need(request, "supervisor")
    body = await json_body(request, CAMPAIGN_MAX_BODY)
    visits = request.app[VISITS].get()
    name, queue, text, script = body.get("name"), body.get("queue"), body.get("csv"), body.get("script", "")
    hours, attempts, retry_h = body.get("hours"), body.get("max_attempts", 3), body.get("retry_h", 4)
    if not all(isinstance(v, str) for v in (name, queue, text, script)) or (
            hours is not None and not isinstance(hours, dict)) or isinstance(attempts, bool) or not isinstance(
            attempts, int) or isinstance(retry_h, bool) or not isinstance(retry_h, (int, float)):
        raise BadRequest("a campaign is {name, queue, csv: text, script?, hours?, max_attempts?, retry_h?}")
    assert isinstance(name, str) and isinstance(queue, str) and isinstance(text, str) and isinstance(script, str)
    if queue not in {q.name for q in runtime(request).engine.queue_configs()}:
        raise BadRequest(f"no queue {queue!r}")
    if len(text.encode("utf-8", "surrogatepass")) > CAMPAIGN_MAX_CSV:
        raise TooLarge(f"the CSV is larger than {CAMPAIGN_MAX_CSV} bytes (5 MB)")
    try:
        campaign, entries, refused = await asyncio.to_thread(  # a large list is parsed off the loop
            campaign_from_csv, name, queue, text, visits.clock(), script, hours, attempts, float(retry_h) * 3600)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    await visits.store.add_campaign(campaign, entries)
    await visits.reload()
    audit.info("campaign %s (%s, %d customers) created by %s", campaign["campaign_id"], name, len(entries), who.name)
    return answer(request, {"campaign_id": campaign["campaign_id"], "entries": len(entries),
                            "refused_lines": refused[:100]}, status=201)


@ROUTES.post("/campaigns/{campaign_id}/{action}")
async def campaign_action(request: web.Request) -> web.Response:
    """pause | resume a campaign."""
    who = need(request, "supervisor")
    action = request.match_info["action"]
    if action not in ("pause", "resume"):
        raise Missing(f"no campaign action {action!r}")
    visits = request.app[VISITS].get()
    if not await visits.store.set_campaign_status(request.match_info["campaign_id"],
                                                  "paused" if action == "pause" else "active"):
        raise Missing(f"no campaign {request.match_info['campaign_id']}")
    await visits.reload()
    audit.info("campaign %s %sd by %s", request.match_info["campaign_id"], action, who.name)
    return answer(request, {"campaign_id": request.match_info["campaign_id"], "status":
                            "paused" if action == "pause" else "active"})


@dataclass(frozen=True, slots=True)
class OutboundDeps:
    settings: VisitSettings
    store: WorkOrderStore  # the lists live beside the orders they come from
    runtime: Runtime


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: OutboundDeps) -> AsyncIterator[ReturnVisits]:
    """R11 while this engine leads: the lists are loaded and settled (entries a previous
    leader handed over), their rounds follow the core's notices, and they are served."""
    visits = ReturnVisits(deps.settings, deps.store, deps.runtime)
    deps.runtime.follow(visits.observe)
    await visits.start()
    async with serving(app, VISITS, visits):
        yield visits
