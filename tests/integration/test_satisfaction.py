"""R17 on the real stores (SQLite and PostgreSQL), the real core and the leader's HTTP
app: surveys after calls (the adapter's ``SurveyEnded``, through the core and the
record) and return visits' answers (their dispositions) land in ``surveys``; the
report gives offered, responses, response rate, CSAT, mean score and the solved rate
per agent, queue, kind, department and source, as JSON and CSV; the wallboard shows
today's figures per queue, refilled after a restart; surveys go with the record's
retention."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

from acd import events as e
from acd.metrics import MetricsBook
from cti.reports.service import History
from cti.reports.store import HistoryStore
from tests.integration.test_workorders import REPAIR
from tests.integration.world import World, answered_call, world


def survey(w: World, call_id: str, agent: str, kind: str, score: int | None) -> None:
    """What the adapter reports when the caller's survey ends."""
    w.runtime.apply(e.SurveyEnded(call_id, "support", agent, kind, score, time.time()))


async def rows(w: World, query: str = "", role: str = "supervisor") -> list[dict[str, Any]]:
    got = await w.http.get(f"/reports/satisfaction{query}", headers=w.as_role(role))
    assert got.status == 200, await got.text()
    return list((await got.json())["rows"])


async def test_R17_surveys_after_calls_reported_per_queue_agent_kind_and_department(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "k1", "13800000001", "1001")
        answered_call(w.runtime, "k2", "13800000002", "1002")
        # k1 became a repair order: its survey counts for the repair department.
        got = await w.http.post("/calls/k1/disposition", headers=w.as_role("agent:1001"),
                                json={"kind": "fault-report", "fields": REPAIR})
        assert got.status == 201, await got.text()
        survey(w, "k1", "1001", "fault-report", 5)
        survey(w, "k2", "1002", "consultation", 2)
        survey(w, "k3", "1002", "consultation", None)  # no key in time
        survey(w, "k4", "1001", "consultation", 4)
        await w.history.flush()
        (queue,) = await rows(w)
        assert {k: queue[k] for k in ("queue", "offered", "responses", "response_rate", "csat", "mean_score",
                                      "solved_rate")} == {
            "queue": "support", "offered": 4, "responses": 3, "response_rate": 0.75, "csat": 2 / 3,
            "mean_score": 11 / 3, "solved_rate": None}
        agents = {r["agent"]: r for r in await rows(w, "?by=agent")}
        assert (agents["1001"]["csat"], agents["1001"]["mean_score"]) == (1.0, 4.5)
        assert (agents["1002"]["offered"], agents["1002"]["responses"], agents["1002"]["csat"]) == (2, 1, 0.0)
        kinds = {r["kind"]: r["offered"] for r in await rows(w, "?by=kind")}
        assert kinds == {"consultation": 3, "fault-report": 1}
        departments = {r["department"]: (r["offered"], r["mean_score"]) for r in await rows(w, "?by=department")}
        assert departments == {"": (3, 3.0), "north-repair": (1, 5.0)}
        table = await w.http.get("/reports/satisfaction?by=agent&format=csv", headers=w.as_role("reader"))
        assert table.status == 200 and table.headers["Content-Type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(await table.text())))
        assert [(r["agent"], r["offered"], r["responses"], r["csat"]) for r in lines] == [
            ("1001", "2", "2", "1.000"), ("1002", "2", "1", "0.000")]
        # Who may read it, and what it refuses.
        assert (await w.http.get("/reports/satisfaction", headers=w.as_role("agent:1001"))).status == 403
        assert (await w.http.get("/reports/satisfaction?by=caller", headers=w.as_role("supervisor"))).status == 400
        assert (await w.http.get("/reports/satisfaction?source=web", headers=w.as_role("supervisor"))).status == 400
        # The wallboard: today's per queue (the live figures, as the record has them).
        board = await (await w.http.get("/wallboard.json", headers=w.as_role("supervisor"))).json()
        assert board["satisfaction"]["support"]["offered"] == 4
        assert board["satisfaction"]["support"]["csat"] == 2 / 3
        # A restarted (or new) leader refills today's figures from the store.
        again = History(HistoryStore(w.db), timezone="UTC")
        await again.restore(MetricsBook())
        assert again.satisfaction_today() == w.history.satisfaction_today()
        # Written again (a replay after a restart): counted once.
        survey(w, "k1", "1001", "fault-report", 1)
        await w.history.flush()
        assert (await rows(w))[0]["offered"] == 4
        # R5 / retention: surveys go with the call records.
        assert await w.history.store.purge(time.time() + 1) >= 4
        assert await rows(w) == []


async def test_R17_a_return_visit_records_a_score_whether_it_was_solved_and_a_comment(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "k1", "13800000001", "1001")
        _, order = await w.orders.dispose({"call_id": "k1", "caller": "13800000001", "arrived_at": time.time()},
                                          "1001", "fault-report", REPAIR, "agent:1001")
        assert order is not None
        await w.orders.progress(order.order_id, "done", "fixed", "token:repair", department=order.department)
        visit = "rv-" + order.order_id + "-1"
        assert await w.orders.store.visit_queued(order.order_id, visit, 1, time.time())
        call = {"call_id": visit, "caller": "13800000001", "arrived_at": time.time(), "queue": "support"}
        fields = {"outcome": "satisfied", "score": "4", "solved": "yes", "comment": "師傅很準時"}
        await w.orders.dispose(call, "1002", "return-visit", fields, "agent:1002")
        # A second visit reached, not solved, no score said; one not reached is no survey.
        await w.orders.dispose({**call, "call_id": "rv-x-1"}, "1002", "return-visit", {"outcome": "not-solved",
                                                                                         "content": "仍漏氣"},
                               "agent:1002")
        await w.orders.dispose({**call, "call_id": "rv-y-1"}, "1002", "return-visit", {"outcome": "no-answer"},
                               "agent:1002")
        (visits,) = await rows(w, "?source=visit&by=source")
        assert {k: visits[k] for k in ("source", "offered", "responses", "mean_score", "csat", "solved_rate")} == {
            "source": "visit", "offered": 2, "responses": 1, "mean_score": 4.0, "csat": 1.0, "solved_rate": 0.5}
        departments = {r["department"]: r["offered"] for r in await rows(w, "?source=visit&by=department")}
        # The visited order's department; a visit of no order that became one (not
        # solved: a new order): that one's.
        assert departments == {"north-repair": 1, "service": 1}
        stored = await w.db.read(lambda sql: sql.rows("SELECT comment, solved FROM surveys WHERE call_id = ?",
                                                      (visit,)))
        assert stored == [{"comment": "師傅很準時", "solved": 1}]
        # Corrected: the visit's answers are the last disposition's.
        await w.orders.dispose(call, "1002", "return-visit", {**fields, "score": "2"}, "agent:1002")
        (visits,) = await rows(w, "?source=visit&by=all")
        assert (visits["offered"], visits["mean_score"]) == (2, 2.0)
        assert await rows(w, "?source=call") == []
        # Only a return visit has them; a score is 1 to 5.
        for kind, bad in (("consultation", {"content": "x", "score": "5"}),
                          ("return-visit", {"outcome": "satisfied", "score": "6"}),
                          ("return-visit", {"outcome": "satisfied", "solved": "maybe"})):
            got = await w.http.post("/calls/k1/disposition", headers=w.as_role("agent:1001"),
                                    json={"kind": kind, "fields": bad})
            assert got.status == 400, (kind, bad, await got.text())
