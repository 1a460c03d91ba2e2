"""R19: where the knowledge base is kept, the same tables and statements on SQLite and
PostgreSQL (``cti.store.sql``): the articles (cases are articles made from a closed
work order), their edits (the last ``HISTORY_KEPT`` versions of each), the search terms
of each article (``cti.knowledge.terms``: a B-tree on the term, filled here on every
write) and the opens (one row per article, agent and day: bounded by construction).

Validity dates are ISO dates (``YYYY-MM-DD``, the site's time zone), compared as text:
that order is the dates' order on both databases."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cti.knowledge.terms import terms
from cti.store.sql import Database, Row, Sql

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS knowledge_articles (article_id TEXT PRIMARY KEY, source TEXT NOT NULL, "
    "kind TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL, tags TEXT NOT NULL, valid_from TEXT, "
    "valid_to TEXT, order_id TEXT UNIQUE, version INTEGER NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
    "created_by TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL, updated_by TEXT NOT NULL, "
    "retired_at DOUBLE PRECISION, retired_by TEXT)",
    "CREATE INDEX IF NOT EXISTS knowledge_articles_kind ON knowledge_articles (kind, updated_at)",
    "CREATE INDEX IF NOT EXISTS knowledge_articles_updated ON knowledge_articles (updated_at)",
    "CREATE TABLE IF NOT EXISTS knowledge_history (article_id TEXT NOT NULL, version INTEGER NOT NULL, "
    "action TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, who TEXT NOT NULL, article TEXT NOT NULL, "
    "PRIMARY KEY (article_id, version))",
    "CREATE TABLE IF NOT EXISTS knowledge_terms (term TEXT NOT NULL, article_id TEXT NOT NULL, "
    "PRIMARY KEY (term, article_id))",
    "CREATE INDEX IF NOT EXISTS knowledge_terms_article ON knowledge_terms (article_id)",
    "CREATE TABLE IF NOT EXISTS knowledge_opens (article_id TEXT NOT NULL, agent_id TEXT NOT NULL, "
    "day TEXT NOT NULL, opens INTEGER NOT NULL, PRIMARY KEY (article_id, agent_id, day))",
    "CREATE INDEX IF NOT EXISTS knowledge_opens_day ON knowledge_opens (day)",
)
CONTENT = ("kind", "question", "answer", "tags", "valid_from", "valid_to")  # what an edit sets
HISTORY_KEPT = 50  # versions of one article kept (its edits)
CANDIDATES = 1000  # articles the index may propose for one search (the newest first)
_CURRENT = "(a.valid_from IS NULL OR a.valid_from <= ?) AND (a.valid_to IS NULL OR a.valid_to >= ?)"


@dataclass(frozen=True, slots=True)
class Filter:
    """Which articles a listing or search may show: ``today`` (an ISO date): only those
    valid that day (agents), or None (every one, supervisors); a ``kind``."""

    today: str | None = None
    kind: str | None = None
    retired: bool = False  # retired ones too

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["1 = 1"], []
        if not self.retired:
            clauses.append("a.retired_at IS NULL")
        if self.today is not None:
            clauses.append(_CURRENT)
            params += [self.today, self.today]
        if self.kind is not None:
            clauses.append("a.kind = ?")
            params.append(self.kind)
        return " AND ".join(clauses), params


def _article(row: Row) -> dict[str, Any]:
    doc = dict(row)
    doc["tags"] = json.loads(row["tags"])
    return doc


def _index(sql: Sql, article: dict[str, Any]) -> None:
    """The article's terms, written again (its text changed)."""
    sql.run("DELETE FROM knowledge_terms WHERE article_id = ?", (article["article_id"],))
    text = " ".join([article["question"], article["answer"], *article["tags"]])
    sql.many("INSERT INTO knowledge_terms (term, article_id) VALUES (?, ?)",
             [(term, article["article_id"]) for term in sorted(terms(text))])


def _remember(sql: Sql, article: dict[str, Any], action: str, at: float, who: str) -> None:
    """One version in the article's history; the oldest beyond ``HISTORY_KEPT`` dropped."""
    sql.run("INSERT INTO knowledge_history (article_id, version, action, at, who, article) VALUES (?, ?, ?, ?, ?, ?)",
            (article["article_id"], article["version"], action, at, who,
             json.dumps({k: article[k] for k in CONTENT}, ensure_ascii=False)))
    sql.run("DELETE FROM knowledge_history WHERE article_id = ? AND version <= ?",
            (article["article_id"], article["version"] - HISTORY_KEPT))


class KnowledgeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, article: dict[str, Any]) -> bool:
        """A new article (version 1), indexed; False when its order is a case already."""
        def run(sql: Sql) -> bool:
            names = sorted(article)
            values = [json.dumps(article[n], ensure_ascii=False) if n == "tags" else article[n] for n in names]
            if not sql.run(f"INSERT INTO knowledge_articles ({', '.join(names)}) VALUES "
                           f"({', '.join('?' for _ in names)}) ON CONFLICT DO NOTHING", values):
                return False
            _index(sql, article)
            _remember(sql, article, "created", article["created_at"], article["created_by"])
            return True
        return await self.db.do(run)

    async def get(self, article_id: str) -> dict[str, Any] | None:
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT * FROM knowledge_articles WHERE article_id = ?", (article_id,)))
        return _article(rows[0]) if rows else None

    async def edit(self, article_id: str, version: int | None, changes: dict[str, Any], at: float,
                   who: str) -> dict[str, Any] | None | bool:
        """The article with ``changes`` (``CONTENT``), its version one more, indexed
        again: None if there is none (or it is retired), False if ``version`` is not the
        article's (someone edited it meanwhile)."""
        def run(sql: Sql) -> dict[str, Any] | None | bool:
            rows = sql.rows("SELECT * FROM knowledge_articles WHERE article_id = ? AND retired_at IS NULL",
                            (article_id,))
            if not rows:
                return None
            article = _article(rows[0])
            if version is not None and version != article["version"]:
                return False
            article.update(changes, version=article["version"] + 1, updated_at=at, updated_by=who)
            sql.run("UPDATE knowledge_articles SET kind = ?, question = ?, answer = ?, tags = ?, valid_from = ?, "
                    "valid_to = ?, version = ?, updated_at = ?, updated_by = ? WHERE article_id = ?",
                    (article["kind"], article["question"], article["answer"],
                     json.dumps(article["tags"], ensure_ascii=False), article["valid_from"], article["valid_to"],
                     article["version"], at, who, article_id))
            _index(sql, article)
            _remember(sql, article, "edited", at, who)
            return article
        return await self.db.do(run)

    async def retire(self, article_id: str, at: float, who: str) -> dict[str, Any] | None:
        """The article retired (no longer found nor suggested; kept with its history)."""
        def run(sql: Sql) -> dict[str, Any] | None:
            if not sql.run("UPDATE knowledge_articles SET retired_at = ?, retired_by = ?, version = version + 1 "
                           "WHERE article_id = ? AND retired_at IS NULL", (at, who, article_id)):
                return None
            article = _article(sql.rows("SELECT * FROM knowledge_articles WHERE article_id = ?", (article_id,))[0])
            sql.run("DELETE FROM knowledge_terms WHERE article_id = ?", (article_id,))
            _remember(sql, article, "retired", at, who)
            return article
        return await self.db.do(run)

    async def history(self, article_id: str) -> list[dict[str, Any]]:
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT version, action, at, who, article FROM knowledge_history WHERE article_id = ? "
            "ORDER BY version DESC", (article_id,)))
        return [{**{k: r[k] for k in ("version", "action", "at", "who")}, **json.loads(r["article"])} for r in rows]

    async def candidates(self, wanted: Sequence[str], where: Filter) -> list[dict[str, Any]]:
        """The articles (newest first, at most ``CANDIDATES``) that have every term of
        ``wanted``; every article the filter allows when ``wanted`` is empty."""
        clause, params = where.where()
        inner = ""
        if wanted:
            inner = (f" AND a.article_id IN (SELECT t.article_id FROM knowledge_terms t WHERE t.term IN "
                     f"({', '.join('?' for _ in wanted)}) GROUP BY t.article_id HAVING COUNT(*) = ?)")
            params = [*params, *wanted, len(wanted)]
        statement = f"SELECT a.* FROM knowledge_articles a WHERE {clause}{inner} ORDER BY a.updated_at DESC LIMIT ?"
        rows = await self.db.do(lambda sql: sql.rows(statement, (*params, CANDIDATES)))
        return [_article(r) for r in rows]

    async def opened(self, article_id: str, agent_id: str, day: str) -> None:
        """One more open of the article by the agent that day."""
        await self.db.do(lambda sql: sql.run(
            "INSERT INTO knowledge_opens (article_id, agent_id, day, opens) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (article_id, agent_id, day) DO UPDATE SET opens = knowledge_opens.opens + 1",
            (article_id, agent_id, day)))

    async def suggested(self, where: Filter, limit: int) -> list[dict[str, Any]]:
        """The articles the filter allows, the most opened first (then the newest)."""
        clause, params = where.where()
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT a.*, COALESCE(o.opens, 0) AS opens FROM knowledge_articles a LEFT JOIN "
            "(SELECT article_id, SUM(opens) AS opens FROM knowledge_opens GROUP BY article_id) o "
            f"ON o.article_id = a.article_id WHERE {clause} ORDER BY opens DESC, a.updated_at DESC LIMIT ?",
            (*params, limit)))
        return [{**_article(r), "opens": int(r["opens"])} for r in rows]

    async def report(self, first: str, last: str, limit: int) -> dict[str, list[dict[str, Any]]]:
        """Opens from day ``first`` to ``last`` (inclusive): per article (its question,
        the agents who opened it) and per agent (the articles it opened), most first."""
        def run(sql: Sql) -> dict[str, list[dict[str, Any]]]:
            articles = sql.rows(
                "SELECT o.article_id, a.question, a.kind, a.source, SUM(o.opens) AS opens, "
                "COUNT(DISTINCT o.agent_id) AS agents FROM knowledge_opens o JOIN knowledge_articles a "
                "ON a.article_id = o.article_id WHERE o.day >= ? AND o.day <= ? "
                "GROUP BY o.article_id, a.question, a.kind, a.source ORDER BY opens DESC, o.article_id LIMIT ?",
                (first, last, limit))
            agents = sql.rows(
                "SELECT agent_id, SUM(opens) AS opens, COUNT(DISTINCT article_id) AS articles FROM knowledge_opens "
                "WHERE day >= ? AND day <= ? GROUP BY agent_id ORDER BY opens DESC, agent_id LIMIT ?",
                (first, last, limit))
            for row in (*articles, *agents):
                for column in ("opens", "agents", "articles"):
                    if column in row:
                        row[column] = int(row[column])
            return {"articles": articles, "agents": agents}
        return await self.db.read(run)
