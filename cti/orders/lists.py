"""The lists of customers to call (R11): return visits (entry id = the work order's
id) and campaign lists (entry id = ``<campaign>.<n>``), each entry with its attempts and
outcome, and the do-not-call list; kept beside the work orders they come from (the
store's part of ``cti.orders.store.WorkOrderStore``)."""

from __future__ import annotations

import json
from typing import Any

from cti.store.sql import Database, Row, Sql

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbound_entries (entry_id TEXT PRIMARY KEY, campaign_id TEXT NOT NULL, "
    "order_id TEXT, caller TEXT, name TEXT, due_at DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
    "status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, call_id TEXT, outcome TEXT, "
    "updated_at DOUBLE PRECISION)",
    "CREATE INDEX IF NOT EXISTS outbound_entries_due ON outbound_entries (campaign_id, status, due_at)",
    "CREATE INDEX IF NOT EXISTS outbound_entries_call ON outbound_entries (call_id)",
    "CREATE TABLE IF NOT EXISTS campaigns (campaign_id TEXT PRIMARY KEY, name TEXT NOT NULL, queue TEXT NOT NULL, "
    "script TEXT, hours TEXT NOT NULL, max_attempts INTEGER NOT NULL, retry_s DOUBLE PRECISION NOT NULL, "
    "status TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS do_not_call (number TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, "
    "who TEXT NOT NULL, reason TEXT)",
)


class CallLists:
    db: Database

    async def return_visits(self, since: float, until: float) -> list[Row]:
        return await self.db.do(lambda sql: sql.rows(
            "SELECT * FROM outbound_entries WHERE campaign_id = 'return-visits' AND due_at >= ? AND due_at < ? "
            "ORDER BY due_at", (since, until)))

    # ------------------------------------------------------------ return visits (R11)

    async def due_visits(self, campaign_id: str, now: float, limit: int) -> list[Row]:
        return await self.db.do(lambda sql: sql.rows(
            "SELECT e.*, w.fields AS order_fields FROM outbound_entries e LEFT JOIN work_orders w "
            "ON w.order_id = e.order_id WHERE e.campaign_id = ? AND e.status = 'scheduled' AND e.due_at <= ? "
            "ORDER BY e.due_at, e.entry_id LIMIT ?", (campaign_id, now, limit)))

    async def visits(self, status: str | None, campaign_id: str = "return-visits", limit: int = 200) -> list[Row]:
        where, params = ("AND status = ?", (campaign_id, status, limit)) if status else ("", (campaign_id, limit))
        return await self.db.do(lambda sql: sql.rows(
            f"SELECT * FROM outbound_entries WHERE campaign_id = ? {where} ORDER BY due_at DESC, entry_id LIMIT ?",
            params))

    async def visit_queued(self, entry_id: str, call_id: str, attempts: int, now: float) -> bool:
        """Scheduled -> queued (with the call's id), once: False if another engine took it."""
        return await self.db.do(lambda sql: sql.run(
            "UPDATE outbound_entries SET status = 'queued', call_id = ?, attempts = ?, updated_at = ? "
            "WHERE entry_id = ? AND status = 'scheduled'", (call_id, attempts, now, entry_id)) == 1)

    async def visit_outcome(self, call_id: str, status: str, outcome: str, due_at: float | None, now: float) -> None:
        await self.db.do(lambda sql: sql.run(
            "UPDATE outbound_entries SET status = ?, outcome = ?, due_at = COALESCE(?, due_at), updated_at = ? "
            "WHERE call_id = ? AND status = 'queued'", (status, outcome, due_at, now, call_id)))

    async def queued_entries(self) -> list[Row]:
        return await self.db.do(lambda sql: sql.rows("SELECT * FROM outbound_entries WHERE status = 'queued'"))

    async def entry_by_call(self, call_id: str) -> Row | None:
        rows = await self.db.do(lambda sql: sql.rows("SELECT * FROM outbound_entries WHERE call_id = ?", (call_id,)))
        return rows[0] if rows else None

    async def add_campaign(self, campaign: dict[str, Any], entries: list[tuple[str, str]]) -> None:
        """A campaign and its list (number, name) in one transaction."""
        def run(sql: Sql) -> None:
            sql.run("INSERT INTO campaigns (campaign_id, name, queue, script, hours, max_attempts, retry_s, status, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?)",
                    (campaign["campaign_id"], campaign["name"], campaign["queue"], campaign["script"],
                     json.dumps(campaign["hours"]), campaign["max_attempts"], campaign["retry_s"],
                     campaign["created_at"]))
            sql.many("INSERT INTO outbound_entries (entry_id, campaign_id, caller, name, due_at, created_at, status) "
                     "VALUES (?, ?, ?, ?, ?, ?, 'scheduled')",
                     [(f"{campaign['campaign_id']}.{i + 1}", campaign["campaign_id"], number, name,
                       campaign["created_at"], campaign["created_at"]) for i, (number, name) in enumerate(entries)])
        await self.db.do(run)

    async def campaigns(self) -> list[Row]:
        def run(sql: Sql) -> list[Row]:
            rows = sql.rows("SELECT * FROM campaigns ORDER BY created_at")
            counts = sql.rows("SELECT campaign_id, status, COUNT(*) AS n FROM outbound_entries "
                              "GROUP BY campaign_id, status")
            for row in rows:
                row["hours"] = json.loads(row["hours"])
                row["progress"] = {c["status"]: int(c["n"]) for c in counts if c["campaign_id"] == row["campaign_id"]}
            return rows
        return await self.db.do(run)

    async def entry_counts(self, campaign_id: str) -> dict[str, int]:
        """A list's entries by status (the return visits, which have no campaign row)."""
        rows = await self.db.do(lambda sql: sql.rows(
            "SELECT status, COUNT(*) AS n FROM outbound_entries WHERE campaign_id = ? GROUP BY status", (campaign_id,)))
        return {r["status"]: int(r["n"]) for r in rows}

    async def set_campaign_status(self, campaign_id: str, status: str) -> bool:
        return await self.db.do(lambda sql: sql.run(
            "UPDATE campaigns SET status = ? WHERE campaign_id = ?", (status, campaign_id)) == 1)

    async def do_not_call(self) -> set[str]:
        return {r["number"] for r in await self.db.do(lambda sql: sql.rows("SELECT number FROM do_not_call"))}

    async def set_do_not_call(self, number: str, on: bool, who: str, reason: str, now: float) -> None:
        if on:
            await self.db.do(lambda sql: sql.run(
                "INSERT INTO do_not_call (number, at, who, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (number) DO NOTHING", (number, now, who, reason)))
        else:
            await self.db.do(lambda sql: sql.run("DELETE FROM do_not_call WHERE number = ?", (number,)))
