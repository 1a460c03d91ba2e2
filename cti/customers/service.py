"""R19: the customer records as a service: learned from each disposition (the orders'
``recorded`` hook), read, edited, merged, searched, purged by the retention rules.

Consent for calls: a record that says the customer refuses calls puts its numbers on
the do-not-call list (``block``), and takes them off when it allows calls again."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from cti.background import repeat
from cti.customers import activity, rules
from cti.customers import store as s
from cti.errors import BadRequest, Conflict, Missing
from cti.masking import mask_number
from cti.orders.service import Recorded
from cti.store.sql import Database, Sql, StoreUnavailable

log = logging.getLogger("cti.customers")
audit = logging.getLogger("cti.audit")
MONTH_S = 30.44 * 86400
PURGE_EVERY_S = 3600.0
# (number, on, who, reason): the do-not-call list (R11), set or cleared
Block = Callable[[str, bool, str, str], Awaitable[None]]


class Customers:
    def __init__(self, db: Database, retention_months: int = 6, block: Block | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.retention_months = retention_months
        self.block = block
        self.clock = clock
        self.created = 0
        self.errors = 0  # purge steps and screen-pop reads that failed (logged; tried again)

    # ------------------------------------------------------------ from dispositions

    async def remember(self, what: Recorded) -> None:
        """A disposition's customer: matched (by the account id, the caller's number,
        the contact number) or created, and the call and its order linked to it. A
        disposition that names no number and no account makes no record."""
        seen = rules.learned(what.fields, what.caller)
        if not seen["numbers"] and not seen["account_id"]:
            return
        customer_id, created, added = await self.db.do(
            lambda sql: s.remember(sql, seen, what.call_id, what.order_id, what.at, what.who))
        self.created += created
        log.info("R19: disposition of %s %s customer %s", what.call_id or what.order_id,
                 "created" if created else "matched", customer_id)
        if added and not created:
            await self._consent(customer_id, added, what.who)

    async def _consent(self, customer_id: str, numbers: list[str], who: str) -> None:
        """Numbers added to a record that refuses calls go on the do-not-call list."""
        record = await self.get(customer_id)
        if not record["calls_allowed"]:
            await self._block(numbers, True, who, customer_id)

    async def _block(self, numbers: list[str], on: bool, who: str, customer_id: str) -> None:
        if self.block is None:
            return
        for number in numbers:
            await self.block(number, on, who, f"customer record {customer_id}: "
                                              f"{'refuses' if on else 'accepts'} calls")

    # ------------------------------------------------------------ reads

    async def get(self, customer_id: str) -> dict[str, Any]:
        """The record (a merged one: its stub, ``merged_into`` where it went)."""
        record = await self.db.do(lambda sql: s.load(sql, customer_id))
        if record is None:
            raise Missing(f"no customer record {customer_id}")
        return record

    async def whole(self, customer_id: str) -> dict[str, Any]:
        """The record with its history and what the other records hold of it."""
        def read(sql: Sql) -> dict[str, Any] | None:
            record = s.load(sql, customer_id)
            if record is None or record["merged_into"]:
                return record
            return {**record, "history": s.history(sql, customer_id), **activity.activity(sql, record)}
        found = await self.db.do(read)
        if found is None:
            raise Missing(f"no customer record {customer_id}")
        return found

    async def of_call(self, caller: str, call_id: str) -> dict[str, Any] | None:
        """The screen pop's record: the one holding the caller's number, else the one
        the call was linked to (a hidden number, after its disposition)."""
        number = rules.normalise(caller)

        def find(sql: Sql) -> str | None:
            held = s.owners(sql, [number]) if number else {}
            if number in held:
                return held[number]
            rows = sql.rows("SELECT customer_id FROM customer_links WHERE call_id = ? LIMIT 1", (call_id,))
            return str(rows[0]["customer_id"]) if rows else None
        customer_id = await self.db.do(find)
        if customer_id is None:
            return None
        record = await self.whole(customer_id)
        return {**record, "matched": number if number in {n["number"] for n in record["numbers"]} else ""}

    async def pop(self, caller: str, call_id: str) -> dict[str, Any] | None:
        """``of_call`` for the desk: a store away is logged and counted, and the desk
        goes on without the record."""
        try:
            return await self.of_call(caller, call_id)
        except StoreUnavailable as exc:
            self.errors += 1
            log.error("R19: the screen pop's customer record could not be read: %s", exc)
            return None

    async def search(self, query: Mapping[str, str], limit: int) -> list[dict[str, Any]]:
        """``number`` (4 digits at least), ``name``, ``address``, ``account``: all given hold."""
        unknown = sorted(set(query) - {"number", "name", "address", "account", "limit"})
        if unknown:
            raise BadRequest(f"a search is by number, name, address, account (and limit): not {unknown}")
        terms = {k: query.get(k, "").strip() for k in ("number", "name", "address", "account")}
        if any(len(v) > rules.MAX_TEXT or "\x00" in v for v in terms.values()):
            raise BadRequest(f"a search term is {rules.MAX_TEXT} characters at most, without NUL")
        if not any(terms.values()):
            raise BadRequest("search by number, name, address or account")
        number = rules.normalise(terms["number"]) if terms["number"] else ""
        if terms["number"] and len(number) < 4:
            raise BadRequest("a number to search holds 4 digits at least")
        return await self.db.do(lambda sql: s.search(sql, number, terms["name"], terms["address"],
                                                     terms["account"], limit))

    # ------------------------------------------------------------ changes

    async def edit(self, customer_id: str, body: Mapping[str, Any], who: str) -> dict[str, Any]:
        """An agent's (or supervisor's) change; the history keeps what it was."""
        try:
            change = rules.edit(body)
        except rules.Invalid as exc:
            raise BadRequest(str(exc)) from None
        try:
            before, after = await self.db.do(lambda sql: s.update(sql, customer_id, change, self.clock(), who))
        except KeyError:
            await self._exists(customer_id)
            raise
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        audit.info("customer record %s changed by %s: %s", customer_id, who, sorted(change))
        old = {n["number"] for n in before["numbers"]}
        numbers = [n["number"] for n in after["numbers"]]
        if before["calls_allowed"] != after["calls_allowed"]:
            await self._block(numbers, not after["calls_allowed"], who, customer_id)
        elif not after["calls_allowed"]:
            await self._block([n for n in numbers if n not in old], True, who, customer_id)
        return await self.whole(customer_id)

    async def _exists(self, customer_id: str) -> None:
        record = await self.get(customer_id)  # Missing when there is none
        if record["merged_into"]:
            raise Conflict(f"the record {customer_id} was merged into {record['merged_into']}")

    async def merge(self, gone_id: str, into_id: str, who: str) -> dict[str, Any]:
        """Two records of one person as one (a supervisor's)."""
        if gone_id == into_id:
            raise BadRequest("a record is merged into another one")
        try:
            kept = await self.db.do(lambda sql: s.merge(sql, gone_id, into_id, self.clock(), who))
        except KeyError:
            await self._exists(gone_id)
            await self._exists(into_id)
            raise
        audit.info("customer record %s merged into %s by %s", gone_id, into_id, who)
        if not kept["calls_allowed"]:
            await self._block([n["number"] for n in kept["numbers"]], True, who, into_id)
        return await self.whole(into_id)

    # ------------------------------------------------------------ retention

    async def purge(self, now: float | None = None) -> int:
        """R5: records with nothing newer than the retention period, deleted with their
        history (one with an open work order, or a newer call or order, is kept)."""
        before = (self.clock() if now is None else now) - self.retention_months * MONTH_S
        gone = await self.db.do(lambda sql: activity.purge(sql, before))
        for record in gone:
            audit.info("R5 retention: customer record %s deleted (numbers %s)", record["customer_id"],
                       ", ".join(mask_number(n["number"]) for n in record["numbers"]))
        return len(gone)

    async def run(self) -> None:
        def failed(exc: Exception) -> None:
            self.errors += 1
            log.error("R19 customer records' retention failed (tried again): %s", exc)

        async def step() -> None:
            if gone := await self.purge():
                log.info("R5 retention: %d customer records purged", gone)
        await repeat(step, PURGE_EVERY_S, failed)
