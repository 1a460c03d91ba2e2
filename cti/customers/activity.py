"""R19: what the other records still hold of a customer (the screen pop), and the
retention of records (R5: as long as the rest of the record).

The screen pop reads, for every number of the record (as the trunk may have written
it) and every order and call linked to it: the work orders, the complaints, the return
visits and the calls (the record of calls, R13), for as long as their own retention keeps them (not only the
last 30 days), the newest ``SHOWN`` of each."""

from __future__ import annotations

import json
from typing import Any

from cti.customers import rules
from cti.customers.store import LINKS_READ, load, marks
from cti.store.sql import Sql

SHOWN = 50  # of each kind (orders, complaints, visits, calls)
OPEN = ("new", "dispatched", "accepted", "on-site")  # a work order not closed yet
PURGED_AT_ONCE = 1000  # records looked at by one purge step


def callers(record: dict[str, Any]) -> list[str]:
    return [v for n in record["numbers"] for v in rules.variants(n["number"])]


def linked(sql: Sql, customer_id: str) -> tuple[list[str], list[str]]:
    """(call ids, order ids) linked to the record, the newest ``LINKS_READ``."""
    rows = sql.rows("SELECT call_id, order_id FROM customer_links WHERE customer_id = ? "
                    f"ORDER BY at DESC LIMIT {LINKS_READ}", (customer_id,))
    return [r["call_id"] for r in rows if r["call_id"]], [r["order_id"] for r in rows if r["order_id"]]


def _any_of(column: str, values: list[str]) -> tuple[str, list[str]]:
    return (f"{column} IN ({marks(len(values))})", values) if values else ("1 = 0", [])


def activity(sql: Sql, record: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    numbers = callers(record)
    calls, order_ids = linked(sql, record["customer_id"])
    by_caller, p1 = _any_of("caller", numbers)
    by_id, p2 = _any_of("order_id", order_ids)
    orders = [{**{k: v for k, v in r.items() if k != "fields"}, "content": json.loads(r["fields"]).get("content", "")}
              for r in sql.rows("SELECT order_id, call_id, kind, department, status, created_at, closed_at, fields "
                                f"FROM work_orders WHERE {by_caller} OR {by_id} ORDER BY created_at DESC LIMIT {SHOWN}",
                                (*p1, *p2))]
    found, p3 = _any_of("order_id", [o["order_id"] for o in orders])
    complaints = sql.rows(f"SELECT order_id, status, level, received_at, closed_at FROM complaints WHERE {found} "
                          f"ORDER BY received_at DESC LIMIT {SHOWN}", p3)
    visits = sql.rows("SELECT entry_id, order_id, status, outcome, due_at, updated_at FROM outbound_entries "
                      f"WHERE campaign_id = 'return-visits' AND ({by_caller} OR {found}) "
                      f"ORDER BY due_at DESC LIMIT {SHOWN}", (*p1, *p3))
    by_call, p4 = _any_of("call_id", calls)
    contacts = sql.rows("SELECT call_id, caller, queue, kind, agent_id, outcome, arrived_at, ended_at FROM call_records "
                        f"WHERE {by_caller} OR {by_call} ORDER BY arrived_at DESC LIMIT {SHOWN}", (*p1, *p4))
    return {"orders": orders, "complaints": complaints, "visits": visits, "calls": contacts}


def keep(sql: Sql, record: dict[str, Any], before: float) -> bool:
    """Whether the retention keeps a record not touched since ``before``: an open work
    order of its own, or a call or order of its numbers newer than that."""
    numbers = callers(record)
    _, order_ids = linked(sql, record["customer_id"])
    by_caller, p1 = _any_of("caller", numbers)
    by_id, p2 = _any_of("order_id", order_ids)
    open_orders = sql.rows(f"SELECT 1 AS x FROM work_orders WHERE ({by_caller} OR {by_id}) "
                           f"AND (status IN ({marks(len(OPEN))}) OR created_at >= ?) LIMIT 1", (*p1, *p2, *OPEN, before))
    if open_orders:
        return True
    return bool(sql.rows(f"SELECT 1 AS x FROM call_records WHERE {by_caller} AND ended_at >= ? LIMIT 1", (*p1, before)))


def purge(sql: Sql, before: float) -> list[dict[str, Any]]:
    """Records (and merged stubs) with nothing newer than ``before`` deleted with their
    numbers, links and history; one the retention keeps is marked as seen now (looked at
    again later). The records deleted are returned (the do-not-call list keeps its
    numbers: a refusal outlives the record)."""
    rows = sql.rows(f"SELECT customer_id FROM customers WHERE last_at < ? ORDER BY last_at LIMIT {PURGED_AT_ONCE}",
                    (before,))
    gone = []
    for row in rows:
        record = load(sql, row["customer_id"])
        if record is None:
            continue
        if not record["merged_into"] and keep(sql, record, before):
            sql.run("UPDATE customers SET last_at = ? WHERE customer_id = ?", (before, record["customer_id"]))
            continue
        for table in ("customer_numbers", "customer_links", "customer_history", "customers"):
            sql.run(f"DELETE FROM {table} WHERE customer_id = ?", (record["customer_id"],))
        gone.append(record)
    return gone
