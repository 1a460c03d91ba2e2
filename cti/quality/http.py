"""R18 over HTTP: the inspection queue page (``/quality``) and its data. Inspectors
(role ``inspector``; supervisors too with ``[quality] supervisors_inspect``) list the
sampled calls, pick calls by hand, play a call's recording (every access in the audit
log with who asked), read the call's record, disposition and work orders (numbers
masked, R14, unless ``inspector_sees_numbers``) and score it on the form. An agent
sees its own results (``/quality/mine``) and acknowledges or disputes them; supervisors
list the disputes and resolve them. Reports per agent and period, JSON or CSV."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.errors import BadRequest, Forbidden, NotConfigured
from cti.masking import mask_numbers
from cti.quality.service import Play, Quality
from cti.quality.settings import QualitySettings
from cti.quality.store import QualityStore
from cti.store.sql import Database
from cti.web.accounts import Identity
from cti.web.pages import page
from cti.web.server import Feature, Part, answer, json_body, need, serving
from reports.query import to_csv
from reports.quality import STATUSES

audit = logging.getLogger("cti.audit")
ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
QUALITY = web.AppKey("quality", Part[Quality])
FEATURE = Feature(ROUTES, (QUALITY,))

ROUTES.get("/quality")(page("quality.html"))  # the page; its data below


def _quality(request: web.Request) -> Quality:
    return request.app[QUALITY].get()


def inspector(request: web.Request, q: Quality) -> Identity:
    """An inspector (or a supervisor, where ``supervisors_inspect`` gives them the right)."""
    return need(request, "inspector", *(("supervisor",) if q.settings.supervisors_inspect else ()))


def _shown(request: web.Request, q: Quality, who: Identity, data: Any) -> web.Response:
    """R14: masked unless the role sees numbers, or inspectors are configured to."""
    whole = who.role == "inspector" and q.settings.inspector_sees_numbers
    if whole and mask_numbers(data) != data:  # R14: number views are audited
        audit.info("%s (%s) shown full numbers: %s %s", who.name, who.role, request.method, request.path)
    return answer(request, data, whole=whole)


@ROUTES.get("/quality/form")
async def get_form(request: web.Request) -> web.Response:
    """The form inspections are scored on (sections, items, points, weights, critical)."""
    need(request, "inspector", "supervisor", "reader", "agent")
    q = _quality(request)
    return web.json_response(asdict(q.settings.form))


@ROUTES.get("/quality/inspections")
async def list_inspections(request: web.Request) -> web.Response:
    """``status`` (pending, scored, acknowledged, disputed, resolved), ``agent``,
    ``limit`` (<= 500), ``offset``: newest sampled first."""
    q = _quality(request)
    who = need(request, "inspector", "supervisor")
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status is one of {list(STATUSES)}")
    try:
        limit, offset = int(request.query.get("limit", "200")), int(request.query.get("offset", "0"))
    except ValueError:
        raise BadRequest("limit and offset are integers") from None
    if not 1 <= limit <= 500 or not 0 <= offset <= 1_000_000:
        raise BadRequest("limit is 1..500, offset 0..1000000")
    q.settings  # noqa: B018 (not configured: refused)
    found = await q.store.search(status, request.query.get("agent") or None, limit, offset)
    return _shown(request, q, who, found)


@ROUTES.get("/quality/inspections/{call_id}")
async def get_inspection(request: web.Request) -> web.Response:
    """The inspection with the call's record, its dispositions and work orders."""
    q = _quality(request)
    who = need(request, "inspector", "supervisor")
    call_id = request.match_info["call_id"]
    found = await q.get(call_id)
    return _shown(request, q, who, {**found, **await q.store.context(call_id)})


@ROUTES.get("/quality/inspections/{call_id}/recording")
async def play(request: web.Request) -> web.Response:
    """The call's recording (WAV) to play in the browser: for inspectors (and
    supervisors, readers) and only of a call under inspection; the archive writes each
    access to the audit log with the identity and the client's address."""
    q = _quality(request)
    who = need(request, "inspector", "supervisor", "reader")
    call_id = request.match_info["call_id"]
    try:
        await q.get(call_id)  # only a call under inspection
        if q.play is None:
            raise NotConfigured("recording is not configured on this engine instance")
        data = await q.play(call_id, f"{who.name}@{request.remote}")
    except Exception as exc:  # R18: a refused or failed access is in the audit log too, with who asked
        audit.warning("%s (%s) from %s refused the recording of call %s: %s", who.name, who.role, request.remote,
                      call_id, exc)
        raise
    audit.info("%s (%s) from %s played the recording of call %s under inspection", who.name, who.role,
               request.remote, call_id)
    return web.Response(body=data, content_type="audio/wav", headers={
        "Content-Disposition": f'inline; filename="{call_id}.wav"', "Cache-Control": "no-store"})


@ROUTES.post("/quality/sample")
async def sample_now(request: web.Request) -> web.Response:
    """Run the sampling now (it also runs every ``sample_every_s``): the calls added."""
    q = _quality(request)
    who = need(request, "inspector", "supervisor")
    return web.json_response({"sampled": await q.sample(who.name)})


@ROUTES.post("/quality/picks")
async def pick(request: web.Request) -> web.Response:
    """``{"call_id"}``: an answered call inspected by hand."""
    q = _quality(request)
    who = inspector(request, q)
    body = await json_body(request)
    call_id = body.get("call_id")
    if not isinstance(call_id, str) or not 0 < len(call_id) <= 128:
        raise BadRequest("a pick is {'call_id': text}")
    return _shown(request, q, who, await q.pick(call_id, who.name))


@ROUTES.post("/quality/inspections/{call_id}/score")
async def score(request: web.Request) -> web.Response:
    """``{"marks": {item: points}, "comments": {item or "": text}}``: every item of
    the form; a failed critical item makes the score 0."""
    q = _quality(request)
    who = inspector(request, q)
    body = await json_body(request)
    done = await q.score(request.match_info["call_id"], body.get("marks"), body.get("comments", {}), who.name)
    return _shown(request, q, who, done)


@ROUTES.get("/quality/mine")
async def mine(request: web.Request) -> web.Response:
    """The signed-in agent's own results (scored and after), newest first."""
    who = need(request, "agent")
    if who.agent_id is None:
        raise Forbidden("only an agent has results of its own")
    q = _quality(request)
    return answer(request, {"form": asdict(q.settings.form), "results": await q.mine(who.agent_id)})


@ROUTES.post("/quality/inspections/{call_id}/reply")
async def reply(request: web.Request) -> web.Response:
    """``{"reply": "acknowledged" | "disputed", "comment"}``: the agent, on its own
    result; a dispute goes to the supervisors."""
    who = need(request, "agent")
    if who.agent_id is None:
        raise Forbidden("only the agent replies to its result")
    q = _quality(request)
    body = await json_body(request)
    answer_, comment = body.get("reply"), body.get("comment", "")
    if not isinstance(answer_, str) or not isinstance(comment, str):
        raise BadRequest("a reply is {'reply': acknowledged | disputed, 'comment': text}")
    return answer(request, await q.reply(request.match_info["call_id"], who.agent_id, answer_, comment))


@ROUTES.post("/quality/inspections/{call_id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    """``{"decision": "upheld" | "rescored", "marks" (rescored), "comment"}``: a
    supervisor's answer to a dispute."""
    who = need(request, "supervisor")
    q = _quality(request)
    body = await json_body(request)
    decision, comment = body.get("decision"), body.get("comment", "")
    if not isinstance(decision, str) or not isinstance(comment, str):
        raise BadRequest("a resolution is {'decision': upheld | rescored, 'marks', 'comment': text}")
    return answer(request, await q.resolve(request.match_info["call_id"], decision, body.get("marks"), comment,
                                           who.name))


@ROUTES.get("/quality/report")
async def report(request: web.Request) -> web.Response:
    """``from``, ``to`` (dates, the site's time zone; today by default), ``format``
    json or csv (``table``: agents or items): per agent the inspections scored, the mean score, the critical
    failures and disputes; the weakest items across the team."""
    need(request, "inspector", "supervisor", "reader")
    q = _quality(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("format is json or csv")
    tz = ZoneInfo(q.timezone)
    today = datetime.fromtimestamp(q.clock(), tz).date()
    try:
        first = date.fromisoformat(request.query.get("from") or today.isoformat())
        last = date.fromisoformat(request.query.get("to") or first.isoformat())
        since = datetime.combine(first, time(0, 0), tz).timestamp()
        until = datetime.combine(last + timedelta(days=1), time(0, 0), tz).timestamp()
    except (ValueError, OverflowError, OSError):
        raise BadRequest("from and to are dates (YYYY-MM-DD, the site's time zone)") from None
    if until <= since or last - first > timedelta(days=400):
        raise BadRequest("from is before to, at most 400 days apart")
    found = await q.report(since, until)
    if fmt == "json":
        return answer(request, {**found, "from": first.isoformat(), "to": last.isoformat()})
    table = request.query.get("table", "agents")
    if table not in ("agents", "items"):
        raise BadRequest("table is agents or items")
    period = {"from": first.isoformat(), "to": last.isoformat()}
    rows: list[dict[str, object]] = [{**period, **row} for row in found["agents" if table == "agents"
                                                                         else "weakest_items"]]
    return web.Response(text=to_csv(rows), content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="quality-{table}-{first}-{last}.csv"'})


@dataclass(frozen=True, slots=True)
class QualityDeps:
    settings: QualitySettings | None  # None: no [quality] (the routes answer not-configured)
    db: Database
    timezone: str = "UTC"
    play: Play | None = None  # the recordings of this engine (None: no recorder here)


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: QualityDeps) -> AsyncIterator[Quality]:
    """R18 while this engine leads: its sampling runs in the leader's loop (``run``)."""
    quality = Quality(deps.settings, QualityStore(deps.db), timezone=deps.timezone, play=deps.play)
    async with serving(app, QUALITY, quality):
        yield quality

