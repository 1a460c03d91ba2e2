"""R19's knowledge base: articles written by supervisors and cases made from closed work
orders, searched from the desk (``cti.knowledge.terms``: CJK bigrams and words, every
term required, then the phrase checked on the text), suggested by the call's kind (the
most opened first), and the opens counted per article, agent and day.

An agent finds only what is valid today (``valid_from`` to ``valid_to``, the site's
time zone) and not retired; supervisors and readers find every article that is not
retired, each marked ``current`` or not."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cti.errors import Conflict, Missing
from cti.knowledge.forms import MAX_ANSWER, MAX_QUESTION
from cti.knowledge.store import Filter, KnowledgeStore
from cti.knowledge.terms import matches, query_terms, rank
from cti.masking import letters_id, mask_text
from workorders.model import WorkOrder

audit = logging.getLogger("cti.audit")
OrderLookup = Callable[[str], Awaitable[WorkOrder | None]]
LISTED = ("article_id", "source", "kind", "question", "tags", "valid_from", "valid_to", "order_id", "version",
          "updated_at", "retired_at")  # what a search shows of an article (the answer: opened, and counted)
WORKED = ("accepted", "on-site", "done")  # a case's answer: the department's notes (new, dispatched: the engine's)


def new_article_id() -> str:
    return letters_id("kb-")


class Knowledge:
    def __init__(self, store: KnowledgeStore, order: OrderLookup | None, clock: Callable[[], float],
                 timezone: str = "UTC") -> None:
        self.store = store
        self.order = order
        self.clock = clock
        self.timezone = timezone

    def today(self) -> str:
        """Today's date in the site's time zone (ISO): validity and the opens' days."""
        return datetime.fromtimestamp(self.clock(), ZoneInfo(self.timezone)).date().isoformat()

    def _listed(self, article: dict[str, Any], today: str) -> dict[str, Any]:
        current = article["retired_at"] is None and (article["valid_from"] or today) <= today <= (
            article["valid_to"] or today)
        return {**{k: article[k] for k in LISTED}, "current": current}

    async def search(self, query: str, kind: str | None, limit: int, agent: bool) -> list[dict[str, Any]]:
        """The articles that hold every piece of ``query`` (all when empty), the best
        first: more in the question and tags, then more in the answer, then the newer."""
        today = self.today()
        found = await self.store.candidates(sorted(query_terms(query)), Filter(today if agent else None, kind))
        if query:
            found = [a for a in found if matches(query, a["question"], a["answer"], " ".join(a["tags"]))]
            found.sort(key=lambda a: (rank(query, a["question"], a["answer"], a["tags"]), a["updated_at"]),
                       reverse=True)
        return [self._listed(a, today) for a in found[:limit]]

    async def open(self, article_id: str, agent_id: str | None, agent: bool) -> dict[str, Any]:
        """The article; an agent sees only one valid today (else 404) and its open is
        counted (per article, agent and day)."""
        article = await self.store.get(article_id)
        today = self.today()
        if article is None or (agent and not self._listed(article, today)["current"]):
            raise Missing(f"no knowledge article {article_id}")
        if agent_id is not None:
            await self.store.opened(article_id, agent_id, today)
        shown = {**article, "current": self._listed(article, today)["current"]}
        if not agent:
            shown["history"] = await self.store.history(article_id)
        return shown

    async def create(self, fields: dict[str, Any], who: str, source: str = "article",
                     order_id: str | None = None) -> dict[str, Any]:
        now = self.clock()
        article = {**fields, "article_id": new_article_id(), "source": source, "order_id": order_id,
                   "version": 1, "created_at": now, "created_by": who, "updated_at": now, "updated_by": who,
                   "retired_at": None, "retired_by": None}
        if not await self.store.add(article):
            raise Conflict(f"order {order_id} is a case already")
        audit.info("%s created knowledge %s %s (%s)", who, source, article["article_id"], article["kind"] or "-")
        return article

    async def edit(self, article_id: str, fields: dict[str, Any], version: int | None, who: str) -> dict[str, Any]:
        edited = await self.store.edit(article_id, version, fields, self.clock(), who)
        if edited is None:
            raise Missing(f"no knowledge article {article_id} (or it is retired)")
        if edited is False:
            raise Conflict(f"article {article_id} was edited meanwhile (version {version} is not its last): "
                           "read it again")
        assert isinstance(edited, dict)
        audit.info("%s edited knowledge article %s (version %d)", who, article_id, edited["version"])
        return edited

    async def retire(self, article_id: str, who: str) -> dict[str, Any]:
        retired = await self.store.retire(article_id, self.clock(), who)
        if retired is None:
            raise Missing(f"no knowledge article {article_id} (or it is retired already)")
        audit.info("%s retired knowledge article %s", who, article_id)
        return retired

    async def case(self, order_id: str, kind: str | None, tags: list[str], who: str) -> dict[str, Any]:
        """A closed (done) work order as a case: its content the question, the
        department's notes (accepted, on site, done: the closing one last) the answer, every phone number in them masked (no
        customer's number in the knowledge base)."""
        order = await self.order(order_id) if self.order is not None else None
        if order is None:
            raise Missing(f"no work order {order_id}")
        if order.status != "done":
            raise Conflict(f"order {order_id} is {order.status}: only a closed (done) order becomes a case")
        question = mask_text(order.fields.get("content", "").strip())[:MAX_QUESTION]
        notes = [f"{entry['status']}: {entry['note'].strip()}" for entry in order.history
                 if entry.get("status") in WORKED and str(entry.get("note") or "").strip()]
        if not question or not notes:
            raise Conflict(f"order {order_id} has no content or no notes to make a case of")
        answer = mask_text("\n".join(notes))[:MAX_ANSWER]
        fields = {"question": question, "answer": answer, "kind": kind or order.kind, "tags": tags,
                  "valid_from": None, "valid_to": None}
        return await self.create(fields, who, source="case", order_id=order_id)

    async def suggested(self, kind: str, limit: int) -> list[dict[str, Any]]:
        """The articles for a call's ``kind`` valid today, the most opened first."""
        today = self.today()
        return [{**self._listed(a, today), "opens": a["opens"]}
                for a in await self.store.suggested(Filter(today, kind), limit)]

    async def report(self, first: str, last: str, limit: int = 500) -> dict[str, Any]:
        return {"from": first, "to": last, **await self.store.report(first, last, limit)}
