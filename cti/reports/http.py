"""R13 over HTTP (supervisors and readers, every read audited): ``GET /reports/queues``,
``/reports/agents`` and ``/reports/departments`` per period, as JSON or CSV
(``format=csv``: a download), and ``/reports/queue_log``.

Nothing of a report runs on the event loop: the store's rows are read on its read-only
connections (cancelled at ``[store] read_timeout_s``), the rows and their JSON or CSV
text are built on a report thread (``History.build``). A report answers at most
``MAX_ROWS`` rows and reads at most ``cti.store.sql.MAX_READ_ROWS`` rows of the record;
beyond either it is refused (400) before anything is sent."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.errors import BadRequest
from cti.reports.service import History
from cti.reports.store import HistoryStore
from cti.runtime import Runtime
from cti.store.sql import Database, bounded
from cti.masking import mask_number
from cti.web.pages import page
from cti.web.server import Feature, Part, need, runtime, serving
from cti.orders.http import WORKORDERS
from reports.agents import agent_report, flat
from reports.departments import department_report
from reports.intervals import report
from reports.query import Query, parse_query, to_csv
from reports.queue_log import queue_log

MAX_LOG_DAYS = 31  # one file per month at most: a month of a busy site is a large file
MAX_ROWS = 100_000  # a report's rows (periods x queues, kinds, agents or departments): 400 beyond

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


@dataclass(frozen=True, slots=True)
class Rendered:
    """A report's answer, made on a report thread."""

    body: bytes
    content_type: str
    filename: str | None = None


def _render(csv: bool, timezone: str, query: Query, what: str, rows: list[dict[str, object]],
            table: Callable[[list[dict[str, object]]], list[dict[str, object]]] | None = None) -> Rendered:
    """The rows (at most ``MAX_ROWS``) as JSON, or ``table(rows)`` (the rows by default)
    as a CSV download (on a report thread)."""
    bounded(rows, MAX_ROWS, "report rows")
    if csv:
        return Rendered(to_csv(rows if table is None else table(rows)).encode(), "text/csv",
                        f"cti-{what}-{query.first}-{query.last}-{query.interval}.csv")
    return Rendered(_json({"timezone": timezone, "from": query.first.isoformat(), "to": query.last.isoformat(),
                           "interval": query.interval, **({"by": query.by} if what == "queues" else {})}, rows),
                    "application/json")


def _json(head: dict[str, object], rows: list[dict[str, object]], chunk: int = 500) -> bytes:
    """``{**head, "rows": rows}`` as JSON, encoded ``chunk`` rows at a time: the encoder
    holds the interpreter's lock for one chunk at most (a few ms), so the event loop's
    thread is never kept waiting for a whole report's text."""
    parts = [json.dumps(head)[:-1].encode(), b', "rows": [']
    for i in range(0, len(rows), chunk):
        parts.append((", " if i else "").encode() + json.dumps(rows[i:i + chunk])[1:-1].encode())
    parts.append(b"]}")
    return b"".join(parts)


def _answer(rendered: Rendered) -> web.Response:
    headers = {"Content-Disposition": f'attachment; filename="{rendered.filename}"'} if rendered.filename else None
    return web.Response(body=rendered.body, content_type=rendered.content_type, charset="utf-8", headers=headers)


def _csv(request: web.Request) -> bool:
    return request.query.get("format", "json") == "csv"


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
    calls = await history.store.calls_between(query.since, query.until)
    spans = await history.store.spans_between(query.since, query.until)
    now = history.clock()
    live = [s for s in history.builder.open_spans(now) if s.started_at < query.until and now >= query.since]
    queues = {a.agent_id: a.queues for a in runtime(request).engine.agents()}
    whole = who.role in ("reader", "admin")
    text = await history.build(lambda: queue_log(calls, spans, queues, (lambda n: n) if whole else mask_number, live))
    audit.info("queue_log %s..%s (%d calls) exported by %s (%s)", query.first, query.last, len(calls), who.name,
               "numbers whole" if whole else "numbers masked")
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="queue_log-{query.first}-{query.last}"'})


@ROUTES.get("/reports/agents")
async def agents(request: web.Request) -> web.Response:
    """Per period and agent: logged-in, ready, paused (by reason), ringing, talking and
    wrap-up time, occupancy, calls answered, talk and hold, RONA, hold overruns and the
    dispositions recorded by kind."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    query = _query(request, history)
    times, calls = await history.store.agent_buckets(query.since, query.until)
    wo = request.app[WORKORDERS].peek()
    recorded = await wo.store.dispositions_between(query.since, query.until) if wo is not None else []
    csv, zone = _csv(request), history.timezone
    rendered = await history.build(lambda: _render(
        csv, zone, query, "agents", agent_report(times, calls, query.interval, zone, query.where, recorded), flat))
    audit.info("report agents %s..%s per %s read by %s", query.first, query.last, query.interval, who.name)
    return _answer(rendered)


@ROUTES.get("/reports/departments")
async def departments(request: web.Request) -> web.Response:
    """Per period (of creation) and work-order department: orders created (by kind),
    done, cancelled, open, overdue, and the mean hours to done (R12)."""
    who = need(request, "supervisor", "reader")
    history = request.app[HISTORY].get()
    query = _query(request, history)
    wo = request.app[WORKORDERS].get()
    orders = await wo.store.orders_between(query.since, query.until)
    csv, zone, now = _csv(request), history.timezone, history.clock()
    rendered = await history.build(lambda: _render(
        csv, zone, query, "departments", department_report(orders, query.interval, zone, now, query.where),
        lambda rows: [{k: v for k, v in r.items() if k != "kinds"} for r in rows]))
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
    buckets = await history.store.buckets(query.since, query.until, query.by)
    csv, zone = _csv(request), history.timezone
    rendered = await history.build(lambda: _render(
        csv, zone, query, "queues", report(buckets, query.interval, zone, query.by, query.where)))
    audit.info("report queues %s..%s by %s per %s read by %s", query.first, query.last, query.by, query.interval,
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
