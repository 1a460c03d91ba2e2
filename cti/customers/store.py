"""R19: where customer records are kept, the same tables and statements on SQLite and
PostgreSQL (``cti.store.sql``).

A record (``customers``) holds the name, the addresses with their regions (JSON), the
account or meter id, notes and whether the customer accepts calls; its numbers
(``customer_numbers``, normalised, each number on one record only); what it was
linked to (``customer_links``: a call, a work order) and its history
(``customer_history``: who changed what, when). A merged record keeps its row with
``merged_into`` (where it went) and nothing else. Each step is one transaction on the
store's one writer: two dispositions of one new customer at once make one record."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cti.customers import rules
from cti.masking import letters_id
from cti.store.sql import Row, Sql

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "account_id TEXT NOT NULL, addresses TEXT NOT NULL, notes TEXT NOT NULL, calls_allowed INTEGER NOT NULL, "
    "created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL, "
    "last_at DOUBLE PRECISION NOT NULL, merged_into TEXT)",
    "CREATE INDEX IF NOT EXISTS customers_account ON customers (account_id)",
    "CREATE INDEX IF NOT EXISTS customers_last ON customers (last_at)",
    "CREATE TABLE IF NOT EXISTS customer_numbers (number TEXT PRIMARY KEY, customer_id TEXT NOT NULL, "
    "added_at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS customer_numbers_customer ON customer_numbers (customer_id)",
    "CREATE TABLE IF NOT EXISTS customer_links (customer_id TEXT NOT NULL, call_id TEXT NOT NULL, "
    "order_id TEXT, at DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS customer_links_customer ON customer_links (customer_id, at)",
    "CREATE INDEX IF NOT EXISTS customer_links_call ON customer_links (call_id)",
    "CREATE TABLE IF NOT EXISTS customer_history (customer_id TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, "
    "who TEXT NOT NULL, what TEXT NOT NULL, changes TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS customer_history_customer ON customer_history (customer_id, at)",
)
COLUMNS = "customer_id, name, account_id, addresses, notes, calls_allowed, created_at, updated_at, last_at, merged_into"
HISTORY_SHOWN = 100  # history lines a record answers with (newest first)
LINKS_READ = 200  # linked orders and calls a screen pop reads (newest first)
SEARCH_LIMIT = 100


def marks(n: int) -> str:
    return ", ".join("?" * n)


def doc(row: Row) -> dict[str, Any]:
    return {**row, "addresses": json.loads(row["addresses"]), "calls_allowed": bool(row["calls_allowed"])}


def load(sql: Sql, customer_id: str) -> dict[str, Any] | None:
    """The record with its numbers (None: no such record); a merged one as its stub."""
    rows = sql.rows(f"SELECT {COLUMNS} FROM customers WHERE customer_id = ?", (customer_id,))
    if not rows:
        return None
    record = doc(rows[0])
    record["numbers"] = [{"number": r["number"], "added_at": r["added_at"]} for r in sql.rows(
        "SELECT number, added_at FROM customer_numbers WHERE customer_id = ? ORDER BY added_at, number",
        (customer_id,))]
    return record


def note(sql: Sql, customer_id: str, at: float, who: str, what: str, changes: dict[str, Any]) -> None:
    sql.run("INSERT INTO customer_history (customer_id, at, who, what, changes) VALUES (?, ?, ?, ?, ?)",
            (customer_id, at, who, what, json.dumps(changes, ensure_ascii=False)))


def history(sql: Sql, customer_id: str) -> list[dict[str, Any]]:
    rows = sql.rows("SELECT at, who, what, changes FROM customer_history WHERE customer_id = ? "
                    f"ORDER BY at DESC LIMIT {HISTORY_SHOWN}", (customer_id,))
    return [{**r, "changes": json.loads(r["changes"])} for r in rows]


def owners(sql: Sql, numbers: Sequence[str]) -> dict[str, str]:
    """number -> the record that holds it."""
    if not numbers:
        return {}
    return {r["number"]: r["customer_id"] for r in sql.rows(
        f"SELECT number, customer_id FROM customer_numbers WHERE number IN ({marks(len(numbers))})", tuple(numbers))}


def add_numbers(sql: Sql, customer_id: str, numbers: Sequence[str], at: float) -> list[str]:
    """The numbers no record holds yet, added to this one; those added returned."""
    held = owners(sql, numbers)
    new = [n for n in numbers if n not in held][:max(0, rules.MAX_NUMBERS - count_numbers(sql, customer_id))]
    sql.many("INSERT INTO customer_numbers (number, customer_id, added_at) VALUES (?, ?, ?)",
             [(n, customer_id, at) for n in new])
    return new


def count_numbers(sql: Sql, customer_id: str) -> int:
    return int(sql.rows("SELECT COUNT(*) AS n FROM customer_numbers WHERE customer_id = ?", (customer_id,))[0]["n"])


def match(sql: Sql, seen: dict[str, Any]) -> str | None:
    """The record of a disposition's customer: by its account id first, then by the
    caller's number, then by the contact number."""
    if seen["account_id"]:
        rows = sql.rows("SELECT customer_id FROM customers WHERE account_id = ? AND merged_into IS NULL "
                        "ORDER BY created_at LIMIT 1", (seen["account_id"],))
        if rows:
            return str(rows[0]["customer_id"])
    held = owners(sql, seen["numbers"])
    return next((held[n] for n in seen["numbers"] if n in held), None)


def remember(sql: Sql, seen: dict[str, Any], call_id: str, order_id: str | None, at: float,
             who: str) -> tuple[str, bool, list[str]]:
    """Match or create the record of a disposition's customer and link the call (and
    its order) to it: (customer id, created, numbers added)."""
    customer_id = match(sql, seen)
    created = customer_id is None
    if customer_id is None:
        customer_id = letters_id("c-", 12)
        sql.run(f"INSERT INTO customers ({COLUMNS}) VALUES (?, ?, ?, ?, '', 1, ?, ?, ?, NULL)",
                (customer_id, seen["name"], seen["account_id"], json.dumps(seen["addresses"], ensure_ascii=False),
                 at, at, at))
        added = add_numbers(sql, customer_id, seen["numbers"], at)
        note(sql, customer_id, at, who, "created", {"call_id": call_id, "name": seen["name"],
                                                    "numbers": added, "account_id": seen["account_id"]})
    else:
        record = load(sql, customer_id)
        assert record is not None
        after = rules.enriched(record, seen)
        changed = rules.changes(record, after)
        added = add_numbers(sql, customer_id, seen["numbers"], at)
        sql.run("UPDATE customers SET name = ?, account_id = ?, addresses = ?, last_at = ? WHERE customer_id = ?",
                (after["name"], after["account_id"], json.dumps(after["addresses"], ensure_ascii=False), at,
                 customer_id))
        if changed or added:
            note(sql, customer_id, at, who, "learned", {**changed, "call_id": call_id,
                                                        **({"numbers": added} if added else {})})
    if call_id or order_id:
        sql.run("INSERT INTO customer_links (customer_id, call_id, order_id, at) VALUES (?, ?, ?, ?)",
                (customer_id, call_id, order_id, at))
    return customer_id, created, added


def update(sql: Sql, customer_id: str, change: dict[str, Any], at: float,
           who: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An edit (checked by ``rules.edit``): (before, after). A number another record
    holds is refused (``ValueError`` naming it: merge the two records instead)."""
    before = load(sql, customer_id)
    if before is None or before["merged_into"]:
        raise KeyError(customer_id)
    if "numbers" in change:
        taken = {n: c for n, c in owners(sql, change["numbers"]).items() if c != customer_id}
        if taken:
            raise ValueError(f"the number {next(iter(taken))} is on the record {next(iter(taken.values()))}: "
                             "merge the two records")
        old = [n["number"] for n in before["numbers"]]
        gone = [n for n in old if n not in change["numbers"]]
        if gone:
            sql.run(f"DELETE FROM customer_numbers WHERE customer_id = ? AND number IN ({marks(len(gone))})",
                    (customer_id, *gone))
        add_numbers(sql, customer_id, [n for n in change["numbers"] if n not in old], at)
    plain = {"numbers": [n["number"] for n in before["numbers"]]}
    was = {**{k: v for k, v in before.items() if k != "numbers"}, **plain}
    diff = rules.changes(was, change)
    fields = {k: v for k, v in change.items() if k != "numbers"}
    if fields:
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = [json.dumps(v, ensure_ascii=False) if k == "addresses" else int(v) if k == "calls_allowed" else v
                  for k, v in fields.items()]
        sql.run(f"UPDATE customers SET {sets} WHERE customer_id = ?", (*values, customer_id))
    sql.run("UPDATE customers SET updated_at = ?, last_at = ? WHERE customer_id = ?", (at, at, customer_id))
    if diff:
        note(sql, customer_id, at, who, "edited", diff)
    after = load(sql, customer_id)
    assert after is not None
    return before, after


def merge(sql: Sql, gone_id: str, into_id: str, at: float, who: str) -> dict[str, Any]:
    """``gone_id``'s numbers, addresses, links and history moved to ``into_id``; the
    gone one answers with where it went. The record kept is returned."""
    gone, into = load(sql, gone_id), load(sql, into_id)
    if gone is None or into is None or gone["merged_into"] or into["merged_into"]:
        raise KeyError(gone_id if gone is None or gone["merged_into"] else into_id)
    after = rules.merged(into, gone)
    sql.run("UPDATE customers SET name = ?, account_id = ?, addresses = ?, notes = ?, calls_allowed = ?, "
            "updated_at = ?, last_at = ? WHERE customer_id = ?",
            (after["name"], after["account_id"], json.dumps(after["addresses"], ensure_ascii=False), after["notes"],
             int(after["calls_allowed"]), at, at, into_id))
    for table in ("customer_numbers", "customer_links", "customer_history"):
        sql.run(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ?", (into_id, gone_id))
    sql.run("UPDATE customers SET merged_into = ? WHERE merged_into = ?", (into_id, gone_id))
    sql.run("UPDATE customers SET name = '', account_id = '', addresses = '[]', notes = '', merged_into = ?, "
            "updated_at = ?, last_at = ? WHERE customer_id = ?", (into_id, at, at, gone_id))
    note(sql, into_id, at, who, "merged", {"from": gone_id, "numbers": [n["number"] for n in gone["numbers"]],
                                           **rules.changes(into, after)})
    kept = load(sql, into_id)
    assert kept is not None
    return kept


def like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(sql: Sql, number: str, name: str, place: str, account: str, limit: int) -> list[dict[str, Any]]:
    """Records (not merged) whose number holds ``number``'s digits, whose name or an
    address holds the text, whose account id starts with ``account``: all given must hold."""
    where, params = ["merged_into IS NULL"], []
    if number:
        where.append("customer_id IN (SELECT customer_id FROM customer_numbers WHERE number LIKE ? ESCAPE '\\')")
        params.append(like(number))
    for column, text in (("name", name), ("addresses", place)):
        if text:
            where.append(f"LOWER({column}) LIKE ? ESCAPE '\\'")
            params.append(like(text.casefold()))
    if account:
        where.append("account_id LIKE ? ESCAPE '\\'")
        params.append(like(account)[1:])
    rows = sql.rows(f"SELECT customer_id FROM customers WHERE {' AND '.join(where)} "
                    f"ORDER BY last_at DESC LIMIT {int(limit)}", params)
    return [r for r in (load(sql, row["customer_id"]) for row in rows) if r is not None]
