"""R19 over HTTP: customer records searched (``GET /customers``), read with their
history, orders, complaints, visits and calls (``GET /customers/{id}``), edited from
the desk (``PATCH``), merged by a supervisor (``POST /customers/{id}/merge``); and the
desk's screen pop (``screen_pop``, called by ``GET /desk/{agent_id}``).

R14: numbers in full for readers and admins, masked for everyone else (in every
field, notes too); the agent of a call sees its own caller's record whole on its
desk. Every read of a record is in the audit log with the identity that asked,
except the call's own agent's screen pop."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cti.customers.service import Block, Customers
from cti.errors import BadRequest
from cti.masking import mask_text
from cti.store.sql import Database
from cti.web.accounts import Identity
from cti.web.server import Feature, Part, answer, json_body, need, serving

audit = logging.getLogger("cti.audit")
ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
CUSTOMERS = web.AppKey("customers", Part[Customers])
FEATURE = Feature(ROUTES, (CUSTOMERS,))
READERS = ("agent", "supervisor", "reader")


def _customers(request: web.Request) -> Customers:
    return request.app[CUSTOMERS].get()


def _read(request: web.Request, who: Identity, what: str) -> None:
    audit.info("%s (%s) from %s read %s: %s %s", who.name, who.role, request.remote, what, request.method,
               mask_text(request.path_qs))  # R14: a number searched for is masked in the log too


def _merged(record: dict[str, Any]) -> web.Response:
    """A merged record answers with where it went (a redirect to the record kept)."""
    into = record["merged_into"]
    return web.json_response({"customer_id": record["customer_id"], "merged_into": into}, status=301,
                             headers={"Location": f"/customers/{into}"})


@ROUTES.get("/customers")
async def search(request: web.Request) -> web.Response:
    """``number`` (its digits anywhere in a record's number), ``name``, ``address``,
    ``account`` (how the id starts), ``limit`` (<= 100): every term given holds."""
    who = need(request, *READERS)
    customers = _customers(request)
    try:
        limit = int(request.query.get("limit", "20"))
    except ValueError:
        raise BadRequest("limit is an integer") from None
    if not 1 <= limit <= 100:
        raise BadRequest("limit is 1..100")
    found = await customers.search(dict(request.query), limit)
    _read(request, who, f"{len(found)} customer records found")
    return answer(request, found)


@ROUTES.get("/customers/{customer_id}")
async def get_customer(request: web.Request) -> web.Response:
    """The record, its history, and its orders, complaints, visits and calls."""
    who = need(request, *READERS)
    customer_id = request.match_info["customer_id"]
    record = await _customers(request).whole(customer_id)
    _read(request, who, f"customer record {customer_id}")
    return _merged(record) if record["merged_into"] else answer(request, record)


@ROUTES.patch("/customers/{customer_id}")
async def edit(request: web.Request) -> web.Response:
    """``name``, ``addresses`` ([{address, region}]), ``numbers``, ``account_id``,
    ``notes``, ``calls_allowed``: what is given replaces what the record held (the
    history keeps both). A number on another record: 409 (merge them)."""
    who = need(request, "agent", "supervisor")
    customer_id = request.match_info["customer_id"]
    body = await json_body(request, 64 * 1024)
    record = await _customers(request).edit(customer_id, body, who.name)
    return answer(request, record)


@ROUTES.post("/customers/{customer_id}/merge")
async def merge(request: web.Request) -> web.Response:
    """``{"into": customer_id}``: this record and that one are one person; this one
    goes into that one (a supervisor's decision)."""
    who = need(request, "supervisor")
    body = await json_body(request)
    into = body.get("into")
    if set(body) != {"into"} or not isinstance(into, str) or not 0 < len(into) <= 64:
        raise BadRequest("a merge is {'into': the id of the record kept}")
    kept = await _customers(request).merge(request.match_info["customer_id"], into, who.name)
    return answer(request, kept)


async def screen_pop(request: web.Request, who: Identity, agent_id: str,
                     call: dict[str, Any] | None) -> dict[str, Any] | None:
    """The desk's record of the call's customer (None: no call, no record, no feature
    here). A read by anyone but the call's agent itself is audited."""
    customers = request.app[CUSTOMERS].peek()
    if customers is None or call is None:
        return None
    record = await customers.pop(call["caller"], call["call_id"])
    if record is not None and who.agent_id != agent_id:
        _read(request, who, f"customer record {record['customer_id']} on the desk of agent {agent_id}")
    return record


@dataclass(frozen=True, slots=True)
class CustomersDeps:
    db: Database
    retention_months: int = 6  # R5: as long as the call's record ([workorders] retention_months)
    block: Block | None = None  # the do-not-call list (R11): a record that refuses calls


@contextlib.asynccontextmanager
async def setup(app: web.Application, deps: CustomersDeps) -> AsyncIterator[Customers]:
    customers = Customers(deps.db, deps.retention_months, deps.block)
    async with serving(app, CUSTOMERS, customers):
        yield customers
