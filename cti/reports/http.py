"""R13 over HTTP (supervisors and readers, every read audited): ``GET /reports/queues``,
``/reports/agents``, ``/reports/departments`` and (R17) ``/reports/satisfaction`` per
period, as JSON or CSV
(``format=csv``: a download), and ``/reports/queue_log``.

Nothing of a report runs in the engine's process: it is read, built and encoded in a
report process (``cti.reports.builder``: read-only connections, reads cancelled at
``[store] read_timeout_s``; at most ``MAX_ROWS`` rows answered and
``cti.store.sql.MAX_READ_ROWS`` read, 400 beyond)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.errors import BadRequest
from cti.reports.builder import MAX_ROWS, Job, Rendered
from cti.reports.service import History
from cti.reports.store import HistoryStore
from cti.runtime import Runtime
from cti.store.sql import Database
from cti.web.pages import page
from cti.web.server import Feature, Part, need, runtime, serving
from cti.orders.http import WORKORDERS
from reports.query import Query, parse_query
from reports.satisfaction import parse_satisfaction

MAX_LOG_DAYS = 31  # one file per month at most: a month of a busy site is a large file
__all__ = ["MAX_ROWS", "ROUTES", "HISTORY", "FEATURE", "ReportsDeps", "setup"]

audit = logging.getLogger("cti.audit")


ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
HISTORY = web.AppKey("history", Part[History])
FEATURE = Feature(ROUTES, (HISTORY,))
ROUTES.get("/reports")(page("reports.html"))  # the page; its data below


def _query(request: web.Request, history: History) -> Query:
    zone = history.timezone
    if request.query.get("format", "json") not in ("json", "csv"):
        raise BadRequest("format is json or csv")
    try:
        return parse_query(dict(request.query), zone, datetime.now(ZoneInfo(zone)).date())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _job(request: web.Request, history: History, what: str, query: Query, **more: Any) -> Job:
    return Job(what, query, history.store.db.url, history.store.db.read_timeout_s, history.timezone,
               csv=request.query.get("format", "json") == "csv", **more)


def _answer(rendered: Rendered) -> web.Response:
    headers = {"Content-Disposition": f'attachment; filename="{rendered.filename}"'} if rendered.filename else None
    return web.Response(body=rendered.body, content_type=rendered.content_type, charset="utf-8", headers=headers)


@ROUTES.get("/reports/queue_log")
async def queue_log_file(request: web.Request) -> web.Response:
    """The calls that ended from ``from`` to ``to`` (at most 31 days) and the agents'
    states as an Asterisk queue_log. R14: callers' numbers whole for readers, masked
    for supervisors; every export is audited with who asked."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    query = _query(request, history)
    if (query.last - query.first).days >= MAX_LOG_DAYS:
        raise BadRequest(f"a queue_log covers at most {MAX_LOG_DAYS} days")
    now = history.clock()
    live = tuple(s for s in history.builder.open_spans(now) if s.started_at < query.until and now >= query.since)
    queues = tuple((a.agent_id, tuple(a.queues)) for a in runtime(request).engine.agents())
    whole = who.role in ("reader", "admin")
    rendered = await history.build(_job(request, history, "queue_log", query, now=now, whole=whole, queues=queues,
                                        live=live))
    audit.info("queue_log %s..%s (%d calls) exported by %s (%s)", query.first, query.last, rendered.rows, who.name,
               "numbers whole" if whole else "numbers masked")
    return _answer(rendered)


@ROUTES.get("/reports/agents")
async def agents(request: web.Request) -> web.Response:
    """Per period and agent: logged-in, ready, paused (by reason), ringing, talking and
    wrap-up time, occupancy, calls answered, talk and hold, RONA, hold overruns and the
    dispositions recorded by kind."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    query = _query(request, history)
    rendered = await history.build(_job(request, history, "agents", query,
                                        dispositions=request.app[WORKORDERS].peek() is not None))
    audit.info("report agents %s..%s per %s read by %s", query.first, query.last, query.interval, who.name)
    return _answer(rendered)


@ROUTES.get("/reports/appraisal")
async def appraisal_report(request: web.Request) -> web.Response:
    """The agent appraisal (R13 with R17 and R18): per agent over the range, answered
    calls, talk time, occupancy, RONA, hold overruns; surveys, response rate, CSAT and
    mean score; inspections, mean quality score, critical failures and disputes."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    query = _query(request, history)
    rendered = await history.build(_job(request, history, "appraisal", query))
    audit.info("report appraisal %s..%s read by %s", query.first, query.last, who.name)
    return _answer(rendered)


@ROUTES.get("/reports/departments")
async def departments(request: web.Request) -> web.Response:
    """Per period (of creation) and work-order department: orders created (by kind),
    done, cancelled, open, overdue, and the mean hours to done (R12)."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    query = _query(request, history)
    request.app[WORKORDERS].get()  # (work orders run here: 503 otherwise)
    rendered = await history.build(_job(request, history, "departments", query, now=history.clock()))
    audit.info("report departments %s..%s read by %s", query.first, query.last, who.name)
    return _answer(rendered)


@ROUTES.get("/reports/queues")
async def queues(request: web.Request) -> web.Response:
    """Offered, answered, abandoned (short apart), service level, answer rate, ASA,
    longest wait, handle times, RONA, hold overruns, overflows, callbacks and
    emergencies per period: the definitions of the live figures."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    query = _query(request, history)
    rendered = await history.build(_job(request, history, "queues", query))
    audit.info("report queues %s..%s by %s per %s read by %s", query.first, query.last, query.by, query.interval,
               who.name)
    return _answer(rendered)


@ROUTES.get("/reports/satisfaction")
async def satisfaction(request: web.Request) -> web.Response:
    """R17 per period and agent, queue, kind, department or source (``by``; ``source``
    call or visit): surveys offered, responses, response rate, CSAT (share of 4 and 5),
    mean score, and the return visits' solved rate."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    if request.query.get("format", "json") not in ("json", "csv"):
        raise BadRequest("format is json or csv")
    try:
        query, key, source = parse_satisfaction(dict(request.query), history.timezone,
                                                datetime.now(ZoneInfo(history.timezone)).date())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    rendered = await history.build(_job(request, history, "satisfaction", query, key=key, source=source))
    audit.info("report satisfaction %s..%s by %s per %s read by %s", query.first, query.last, key, query.interval,
               who.name)
    return _answer(rendered)


@dataclass(frozen=True, slots=True)
class ReportsDeps:
    db: Database
    sl_threshold_s: float  # R13: answered within it counts for the service level
    timezone: str  # the site's: reports' days
    keep_months: int  # R5: kept as long as the calls' other records
    runtime: Runtime


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: ReportsDeps) -> AsyncIterator[History]:
    """R13 while this engine leads: the record follows the core (agents' states go on
    from where the core has them) and is served; at the end what ended last is written."""
    history = History(HistoryStore(deps.db, deps.sl_threshold_s), timezone=deps.timezone,
                      keep_months=deps.keep_months)
    deps.runtime.follow(history.observe)
    history.seed([(a.agent_id, a.state, a.reason, a.since) for a in deps.runtime.engine.agents() if a.since > 0])
    try:
        async with serving(app, HISTORY, history):
            yield history
    finally:
        await history.stop()
