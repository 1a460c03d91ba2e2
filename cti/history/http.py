"""R13 over HTTP: ``GET /reports/queues`` (supervisors and readers), the report per
period and queue, business kind or all, as JSON or CSV (``format=csv``: a download)."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from cti.errors import BadRequest, NotRouting
from cti.history.service import History
from cti.web import INSTANCE, need
from reports.intervals import report
from reports.query import parse_query, to_csv

audit = logging.getLogger("cti.audit")


def routes(app: web.Application) -> None:
    app.router.add_get("/reports/queues", queues)


def _history(request: web.Request) -> History:
    found = request.app[INSTANCE].history
    if found is None:
        raise NotRouting()
    return found


async def queues(request: web.Request) -> web.Response:
    """Offered, answered, abandoned (short apart), service level, answer rate, ASA,
    longest wait, handle times, RONA, hold overruns, overflows, callbacks and
    emergencies per period: the definitions of the live figures."""
    who = need(request, "supervisor", "reader")
    history = _history(request)
    zone = history.timezone
    try:
        query = parse_query(dict(request.query), zone, datetime.now(ZoneInfo(zone)).date())
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest("format is json or csv")
    buckets = await history.store.buckets(query.since, query.until, query.by)
    rows = report(buckets, query.interval, zone, query.by, query.where)
    audit.info("report queues %s..%s by %s per %s read by %s", query.first, query.last, query.by, query.interval,
               who.name)
    if fmt == "csv":
        name = f"cti-queues-{query.first}-{query.last}-{query.interval}.csv"
        return web.Response(text=to_csv(rows), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return web.json_response({"timezone": zone, "from": query.first.isoformat(), "to": query.last.isoformat(),
                              "interval": query.interval, "by": query.by, "rows": rows})
