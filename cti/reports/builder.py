"""R13: reports are built in processes of their own, never in the engine's.

A report job (``Job``: which report, the query, the store's URL) runs in a report
process (``History`` keeps ``BUILDERS`` of them): it reads the record on a read-only
connection of its own (SQLite ``mode=ro`` and ``query_only``; PostgreSQL read-only
transactions), one snapshot per report, its reads cancelled at ``[store]
read_timeout_s`` (SQLite: a progress handler interrupts the statement; PostgreSQL:
``statement_timeout``), then builds the rows and their JSON or CSV text there. The
engine's process only receives the finished bytes: neither the reading, nor the
building, nor the encoding holds its interpreter's lock, so the event loop answers
``/health`` and routes calls meanwhile (``bench/report_stall_bench.py``).

A report answers at most ``MAX_ROWS`` rows and reads at most
``cti.store.sql.MAX_READ_ROWS`` rows of the record; beyond either the job fails with
``TooManyRows`` (400) before anything is sent.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import psycopg

from cti.masking import mask_number
from cti.orders.store import read_dispositions, read_orders
from cti.reports.store import read_agent_buckets, read_buckets, read_calls, read_spans
from cti.quality.store import read_scored
from cti.reports.surveys import read_surveys
from cti.store.sql import Sql, StoreUnavailable, bounded, read_only_connection
from reports.agents import CallRow, TimeRow, agent_report, flat
from reports.appraisal import appraisal
from reports.departments import department_report
from reports.intervals import Filter, report
from reports.query import Query, to_csv
from reports.queue_log import queue_log
from reports.records import AgentSpan
from reports.quality import Result, per_agent
from reports.satisfaction import by as satisfaction_by
from reports.satisfaction import Survey, satisfaction_report

MAX_ROWS = 100_000  # a report's rows (periods x queues, kinds, agents or departments): 400 beyond
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Job:
    what: str  # queues | agents | departments | satisfaction | appraisal | queue_log
    query: Query
    url: str  # the store
    read_timeout_s: float
    timezone: str
    csv: bool = False
    dispositions: bool = False  # agents: with the dispositions recorded (work orders on)
    now: float = 0.0  # departments: overdue as of; queue_log: open spans as of
    whole: bool = False  # queue_log: callers' numbers whole (readers)
    queues: tuple[tuple[str, tuple[str, ...]], ...] = ()  # queue_log: each agent's queues
    live: tuple[AgentSpan, ...] = ()  # queue_log: the states still going on
    key: str = ""  # satisfaction: per agent, queue, kind, department, source or all
    source: str = ""  # satisfaction: call or visit ("": both)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A report's answer."""

    body: bytes
    content_type: str
    filename: str | None = None
    rows: int = 0


@functools.cache
def _connection(url: str, read_timeout_s: float) -> Any:
    """This report process's read-only connection (one per process, kept)."""
    return read_only_connection(url, 10.0, read_timeout_s)


def read(url: str, read_timeout_s: float, fn: Callable[[Sql], T]) -> T:
    """``fn`` on this process's read-only connection, in one transaction, its
    statements cancelled at ``read_timeout_s``."""
    postgres = url.startswith(("postgresql://", "postgres://"))
    try:
        conn = _connection(url, read_timeout_s)
        sql = Sql(conn, postgres)
        if postgres:
            with conn.transaction():
                return fn(sql)
        deadline = time.monotonic() + read_timeout_s
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        sql.run("BEGIN")
        try:
            return fn(sql)
        finally:
            sql.run("ROLLBACK")
            conn.set_progress_handler(None, 0)
    except (psycopg.errors.QueryCanceled, sqlite3.OperationalError) as exc:
        if isinstance(exc, psycopg.errors.QueryCanceled) or "interrupt" in str(exc):
            raise StoreUnavailable(f"store: the report's read took longer than {read_timeout_s:g} s "
                                   "([store] read_timeout_s) and was cancelled") from None
        _connection.cache_clear()
        raise StoreUnavailable(f"store: {exc}".splitlines()[0]) from None
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        _connection.cache_clear()
        raise StoreUnavailable(f"store: {exc}".splitlines()[0]) from None


def run(job: Job) -> Rendered:
    """A whole report (in a report process): read, build, encode."""
    q = job.query
    if job.what == "queue_log":
        calls, spans = read(job.url, job.read_timeout_s,
                            lambda sql: (read_calls(sql, q.since, q.until), read_spans(sql, q.since, q.until)))
        text = queue_log(calls, spans, dict(job.queues), (lambda n: n) if job.whole else mask_number, job.live)
        return Rendered(text.encode(), "text/plain", f"queue_log-{q.first}-{q.last}", len(calls))
    if job.what == "agents":
        (times, sums), recorded = read(job.url, job.read_timeout_s, lambda sql: (
            read_agent_buckets(sql, q.since, q.until),
            read_dispositions(sql, q.since, q.until) if job.dispositions else []))
        return render(job, agent_report(times, sums, q.interval, job.timezone, q.where, recorded), flat)
    if job.what == "departments":
        orders = read(job.url, job.read_timeout_s, lambda sql: read_orders(sql, q.since, q.until))
        return render(job, department_report(orders, q.interval, job.timezone, job.now, q.where),
                      lambda rows: [{**{k: v for k, v in r.items() if k not in ("kinds", "channels")},
                                     **{f"channel_{c}": n for c, n in cast(dict[str, int], r["channels"]).items()}}
                                    for r in rows])
    if job.what == "appraisal":  # R13 with R17 and R18, per agent over the whole range
        (times, sums), surveys, scored = read(job.url, job.read_timeout_s, lambda sql: (
            read_agent_buckets(sql, q.since, q.until), read_surveys(sql, q.since, q.until, departments=False),
            read_scored(sql, q.since, q.until)))
        return render(job, appraisal_rows(times, sums, surveys, scored, job.timezone, q.where))
    if job.what == "satisfaction":
        surveys = read(job.url, job.read_timeout_s, lambda sql: read_surveys(sql, q.since, q.until))
        return render(job, satisfaction_report([s for s in surveys if job.source in ("", s.source)], q.interval,
                                               job.timezone, job.key, q.where))
    buckets = read(job.url, job.read_timeout_s, lambda sql: read_buckets(sql, q.since, q.until, q.by))
    return render(job, report(buckets, q.interval, job.timezone, q.by, q.where))


def appraisal_rows(times: list[TimeRow], sums: list[CallRow], surveys: list[Survey],
                   scored: list[tuple[str, Result, bool]], zone: str, where: Filter) -> list[dict[str, Any]]:
    """The appraisal's rows from what the record holds (the report process and the CLI)."""
    return appraisal(agent_report(times, sums, "day", zone, where),
                     satisfaction_by((s.agent_id, s.answer) for s in surveys),
                     {a.agent_id: a for a in per_agent(scored)})


def render(job: Job, rows: list[dict[str, object]],
           table: Callable[[list[dict[str, object]]], list[dict[str, object]]] | None = None) -> Rendered:
    """The rows (at most ``MAX_ROWS``) as JSON, or ``table(rows)`` (the rows by
    default) as a CSV download."""
    q = job.query
    bounded(rows, MAX_ROWS, "report rows")
    if job.csv:
        return Rendered(to_csv(rows if table is None else table(rows)).encode(), "text/csv",
                        f"cti-{job.what}-{q.first}-{q.last}-{q.interval}.csv", len(rows))
    head = {"timezone": job.timezone, "from": q.first.isoformat(), "to": q.last.isoformat(), "interval": q.interval,
            **({"by": q.by} if job.what == "queues" else {}),
            **({"by": job.key, "source": job.source or "all"} if job.what == "satisfaction" else {})}
    body = json.dumps(head)[:-1].encode() + b', "rows": ' + json.dumps(rows).encode() + b"}"
    return Rendered(body, "application/json", None, len(rows))
