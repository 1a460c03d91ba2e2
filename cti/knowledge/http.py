"""R19's knowledge base over HTTP: the supervisors' page (``/knowledge``) and its data.
Agents search and open articles on the desk (an open is counted) and get those of the
call's kind suggested; supervisors (and the admin) write, edit and retire articles and
turn a closed work order into a case; supervisors and readers see every article (expired
or not yet valid ones too, marked) and the opens report. Every edit is in the audit log."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, timedelta

from aiohttp import web

from cti.errors import BadRequest
from cti.knowledge import forms
from cti.knowledge.service import Knowledge, OrderLookup
from cti.knowledge.store import KnowledgeStore
from cti.store.sql import Database
from cti.web.accounts import Identity
from cti.web.pages import page
from cti.web.server import Feature, Part, answer, json_body, need, serving

ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
KNOWLEDGE = web.AppKey("knowledge", Part[Knowledge])
FEATURE = Feature(ROUTES, (KNOWLEDGE,))
READERS = ("agent", "supervisor", "reader")  # who searches and reads the knowledge base
EDITORS = ("supervisor",)  # who writes it (and the admin)
MAX_BODY = 256 * 1024  # an article: 20,000 characters of answer, 6 bytes each when escaped

ROUTES.get("/knowledge")(page("knowledge.html"))  # the supervisors' page; its data below


def _knowledge(request: web.Request) -> Knowledge:
    return request.app[KNOWLEDGE].get()


def _agent(who: Identity) -> bool:
    """An agent finds only what is valid today, and its opens are counted."""
    return who.role == "agent"


@ROUTES.get("/knowledge/search")
async def search(request: web.Request) -> web.Response:
    """``q`` (at most 100 characters; empty: the newest), ``kind``, ``limit`` (<= 100):
    the articles holding every piece of ``q``, the best first (question, then answer)."""
    who = need(request, *READERS)
    kb = _knowledge(request)
    query = forms.query(request.query.get("q", ""))
    kind = forms.kind(request.query.get("kind", "")) or None
    limit = forms.limit(request.query.get("limit"), 20, 100)
    return answer(request, await kb.search(query, kind, limit, _agent(who)))


@ROUTES.get("/knowledge/suggested")
async def suggested(request: web.Request) -> web.Response:
    """``kind`` (the call's), ``limit`` (<= 50): the articles of that kind valid today,
    the most opened first."""
    need(request, *READERS)
    kind = forms.kind(request.query.get("kind", ""))
    if not kind:
        raise forms.BadField("kind is required: the call's kind", {"kind": "required"})
    limit = forms.limit(request.query.get("limit"), 5, 50)
    return answer(request, await _knowledge(request).suggested(kind, limit))


@ROUTES.get("/knowledge/articles/{article_id}")
async def get_article(request: web.Request) -> web.Response:
    """The article with its answer (an agent's open is counted); with its edits' history
    for supervisors and readers."""
    who = need(request, *READERS)
    agent = _agent(who)
    found = await _knowledge(request).open(request.match_info["article_id"], who.agent_id if agent else None, agent)
    return answer(request, found)


@ROUTES.post("/knowledge/articles")
async def create(request: web.Request) -> web.Response:
    """``{"question", "answer", "kind", "tags", "valid_from", "valid_to"}`` (dates
    ``YYYY-MM-DD`` or null): a new article."""
    who = need(request, *EDITORS)
    kb = _knowledge(request)
    fields = forms.article(await json_body(request, MAX_BODY))
    return answer(request, await kb.create(fields, who.name), 201)


@ROUTES.put("/knowledge/articles/{article_id}")
async def edit(request: web.Request) -> web.Response:
    """The article's content again (every field, as for a new one) and optionally the
    ``version`` it was edited from (409 if someone edited it meanwhile)."""
    who = need(request, *EDITORS)
    kb = _knowledge(request)
    body = await json_body(request, MAX_BODY)
    fields = forms.article(body, frozenset({"version"}))
    return answer(request, await kb.edit(request.match_info["article_id"], fields, forms.version(body), who.name))


@ROUTES.delete("/knowledge/articles/{article_id}")
async def retire(request: web.Request) -> web.Response:
    """The article retired: no longer found nor suggested, kept with its history."""
    who = need(request, *EDITORS)
    return answer(request, await _knowledge(request).retire(request.match_info["article_id"], who.name))


@ROUTES.post("/knowledge/cases")
async def case(request: web.Request) -> web.Response:
    """``{"order_id", "kind", "tags"}``: a closed (done) work order as a case (its
    content the question, its notes the answer, phone numbers masked)."""
    who = need(request, *EDITORS)
    kb = _knowledge(request)
    order_id, kind, tags = forms.case(await json_body(request))
    return answer(request, await kb.case(order_id, kind, tags, who.name), 201)


@ROUTES.get("/knowledge/report")
async def report(request: web.Request) -> web.Response:
    """``from``, ``to`` (dates, the site's time zone; today by default; at most 400 days):
    the opens per article and per agent, the most first."""
    need(request, "supervisor", "reader")
    kb = _knowledge(request)
    today = kb.today()
    try:
        first = date.fromisoformat(request.query.get("from") or today)
        last = date.fromisoformat(request.query.get("to") or first.isoformat())
    except ValueError:
        raise BadRequest("from and to are dates (YYYY-MM-DD, the site's time zone)") from None
    if last < first or last - first > timedelta(days=400):
        raise BadRequest("from is on or before to, at most 400 days apart")
    return answer(request, await kb.report(first.isoformat(), last.isoformat()))


@dataclass(frozen=True, slots=True)
class KnowledgeDeps:
    db: Database
    order: OrderLookup | None = None  # a work order by its id (cases); None: no cases here
    timezone: str = "UTC"
    clock: Callable[[], float] = time.time


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: KnowledgeDeps) -> AsyncIterator[Knowledge]:
    """R19's knowledge base while this engine leads (its tables: ``store.SCHEMA``)."""
    knowledge = Knowledge(KnowledgeStore(deps.db), deps.order, deps.clock, deps.timezone)
    async with serving(app, KNOWLEDGE, knowledge):
        yield knowledge
