"""R14: the role walk. The leader's real app on the real store (SQLite and PostgreSQL),
a call from 13812345678 with a disposition whose contact_number is that number (a work
order, a return visit, a campaign entry and a do-not-call entry follow), then every
GET route of the app's router, its ids filled, as each role: no body shows the full
number outside the reader and admin roles (and the two the rules allow: the agent of
the call on its own desk and call, the department the order is for), and nothing
answers 5xx."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.integration.test_workorders import REPAIR
from tests.integration.world import World, answered_call, world

NUMBER = "13812345678"
# A stream that never ends (its bodies are the desk's and the wallboard's, walked here).
NOT_WALKED = frozenset({"/events"})
# What the R14 rules let an identity see whole besides reader and admin: the agent of
# the call (its desk and its call's order), the department the order is for.
OWN = {"agent:1001": {"/desk/{agent_id}", "/workorders/{order_id}"},
       "department-own": {"/workorders", "/workorders/{order_id}"}}
MASKED_ROLES = ("supervisor", "department", "agent:1002", "agent:1001", "department-own")


async def _data(w: World) -> dict[str, str]:
    """The call, its disposition and order, a return visit, a campaign, do-not-call."""
    answered_call(w.runtime, "k1", NUMBER, "1001")
    resp = await w.http.post("/calls/k1/disposition", headers=w.as_role("agent:1001"), json={
        "kind": "fault-report", "fields": {**REPAIR, "contact_number": NUMBER,
                                           "content": f"gas smell, call back on {NUMBER}"}})
    assert resp.status == 201, await resp.text()
    order_id = (await resp.json())["order"]["order_id"]
    resp = await w.http.post(f"/workorders/{order_id}/progress", headers=w.as_role("department-own"),
                             json={"status": "done", "note": f"fixed; customer {NUMBER} satisfied"})
    assert resp.status == 200, await resp.text()
    resp = await w.http.post("/campaigns", headers=w.as_role("supervisor"), json={
        "name": "winter check", "queue": "support", "csv": f"{NUMBER},Wang\n13900000001,Li\n"})
    assert resp.status == 201, await resp.text()
    campaign_id = (await resp.json())["campaign_id"]
    resp = await w.http.post("/knowledge/cases", headers=w.as_role("supervisor"), json={"order_id": order_id})
    assert resp.status == 201, await resp.text()  # R19: the order's content and note, numbers masked
    article_id = (await resp.json())["article_id"]
    resp = await w.http.post("/do-not-call", headers=w.as_role("admin"), json={"number": NUMBER, "reason": "asked"})
    assert resp.status == 201, await resp.text()
    w.runtime.apply(__import__("acd").events.CallArrived("k2", "support", NUMBER, w.runtime.clock()))  # waiting
    await w.history.flush()
    customer_id = (await w.customers.search({"number": NUMBER}, 1))[0]["customer_id"]  # R19: made by k1's disposition
    return {"agent_id": "1001", "call_id": "k1", "order_id": order_id, "campaign_id": campaign_id,
            "number": NUMBER, "hold_id": "h1", "article_id": article_id, "customer_id": customer_id}


def _get_routes(app: web.Application) -> list[str]:
    routes = []
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("formatter") or info.get("path")
        if path is None or path.startswith("/static") or path in NOT_WALKED:
            continue
        if any(route.method == "GET" for route in resource):
            routes.append(str(path))
    return sorted(set(routes))


def _queries(path: str) -> list[str]:
    if path.startswith("/reports/") and path != "/reports/queue_log":
        return ["", "?format=csv", "?interval=15m&by=all"]
    if path == "/workorders":
        return ["", f"?caller={NUMBER}"]
    if path == "/return-visits":
        return ["", "?status=scheduled"]
    if path == "/customers":
        return [f"?number={NUMBER}", "?name=王"]
    return [""]


async def _walk(w: World, ids: dict[str, str], role: str) -> dict[str, str]:
    """Every GET route as ``role``: path template -> the bodies' text."""
    bodies: dict[str, str] = {}
    for template in _get_routes(w.http.app):
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], template)
        for query in _queries(template):
            resp = await w.http.get(path + query, headers=w.as_role(role))
            text = await resp.text()
            assert resp.status < 500 or (resp.status == 503 and "not-configured" not in text
                                         and template.startswith("/recordings")), (role, path, resp.status, text)
            bodies[template] = bodies.get(template, "") + text
    return bodies


async def test_R14_role_walk_no_full_number_outside_reader_and_admin(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        ids = await _data(w)
        walked = _get_routes(w.http.app)
        assert {"/desk/{agent_id}", "/workorders", "/workorders/{order_id}", "/return-visits", "/campaigns",
                "/calls", "/reports/queue_log", "/reports/agents", "/plan"} <= set(walked)
        admin, reader = await _walk(w, ids, "admin"), await _walk(w, ids, "reader")
        # The walk sees the data: the roles allowed numbers read them whole.
        assert NUMBER in admin["/desk/{agent_id}"] and NUMBER in admin["/state"]
        for template in ("/workorders/{order_id}", "/return-visits", "/calls", "/reports/queue_log", "/do-not-call"):
            assert NUMBER in reader[template] and NUMBER in admin[template], template
        for role in MASKED_ROLES:
            bodies = await _walk(w, ids, role)
            leaks = sorted(t for t, text in bodies.items() if NUMBER in text and t not in OWN.get(role, set()))
            assert leaks == [], f"{role} sees {NUMBER} whole in {leaks}"
        supervisor = await _walk(w, ids, "supervisor")
        assert "138****5678" in supervisor["/desk/{agent_id}"]  # the stored disposition, masked


async def test_R14_the_desk_shows_a_supervisor_the_stored_disposition_masked(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        await _data(w)
        desk: dict[str, Any] = await (await w.http.get("/desk/1001", headers=w.as_role("supervisor"))).json()
        assert desk["disposition"]["fields"]["contact_number"] == "138****5678"
        assert NUMBER not in desk["disposition"]["fields"]["content"]
        own: dict[str, Any] = await (await w.http.get("/desk/1001", headers=w.as_role("agent:1001"))).json()
        assert own["disposition"]["fields"]["contact_number"] == NUMBER


async def test_a_refused_disposition_names_its_fields_for_the_desk(store_url: str, tmp_path: Path) -> None:
    """The desk says what is wrong next to each field, in its page's language, from the
    error's fields (not from the English message)."""
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "k1", NUMBER, "1001")
        resp = await w.http.post("/calls/k1/disposition", headers=w.as_role("agent:1001"), json={
            "kind": "fault-report", "fields": {**REPAIR, "customer_name": "", "content": " "}})
        body = await resp.json()
        assert resp.status == 400 and body["error"] == "bad-request", body
        assert body["fields"] == {"customer_name": "required", "content": "required"}, body
