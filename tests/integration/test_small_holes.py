"""Issue 28's small ones, on the leader's real app and store: ``/health`` tells anyone
up or down and only supervisors (and above) why; CSV exports cannot carry a formula;
an agent adds to the do-not-call list only the number of its own call; the campaign
upload limit is the documented 5 MB (beyond it, and beyond 1 MiB elsewhere, 413
``too-large`` from the one error table)."""

from __future__ import annotations

from pathlib import Path

from cti.health import ConnectionState
from reports.query import to_csv
from tests.integration.world import answered_call, world

NUMBER = "13812345678"
SECRET_ERROR = "AMI 10.20.30.40:5038 refused login for user cti-prod"


async def test_R14_health_says_up_or_down_to_anyone_and_why_only_to_supervisors(tmp_path: Path) -> None:
    ami = ConnectionState("ami")
    ami.down(SECRET_ERROR)
    async with world(f"sqlite:{tmp_path}/cti.sqlite", tmp_path, connections=[ami]) as w:
        anyone = await w.http.get("/health")
        assert anyone.status == 503
        body = await anyone.json()
        assert body == {"status": "degraded", "role": "leader", "ami": {"connected": False}}
        for role in ("agent:1001", "department"):
            assert SECRET_ERROR not in await (await w.http.get("/health", headers=w.as_role(role))).text()
        for role in ("supervisor", "reader", "admin"):
            told = await (await w.http.get("/health", headers=w.as_role(role))).json()
            assert told["ami"]["last_error"] == SECRET_ERROR


def test_R13_csv_cells_that_would_be_formulas_are_neutralised() -> None:
    text = to_csv([{"agent": "=HYPERLINK(\"http://x\")", "reason": "+1", "queue": "@SUM(A1)", "kind": "-2+3",
                    "note": "\tx", "cr": "\rx", "asa_s": -1.5, "answered": -2, "plain": "support"}])
    header, row = text.split("\r\n")[:2]
    assert row.split(",")[:1] == ["\"'=HYPERLINK(\"\"http://x\"\")\""]
    assert ",'+1,'@SUM(A1),'-2+3," in row and "'\tx" in row and "'\rx" in text
    assert row.endswith(",-1.500,-2,support")  # figures stay numbers


async def test_R14_an_agent_adds_to_do_not_call_only_its_own_calls_number(store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "k1", NUMBER, "1001")  # 1001's last call
        refused = await w.http.post("/do-not-call", headers=w.as_role("agent:1002"),
                                    json={"number": NUMBER, "reason": "x"})
        assert refused.status == 403 and (await refused.json())["error"] == "forbidden"
        refused = await w.http.post("/do-not-call", headers=w.as_role("agent:1001"),
                                    json={"number": "13900000000", "reason": "x"})
        assert refused.status == 403
        assert not w.visits.blocked("13900000000") and not w.visits.blocked(NUMBER)
        own = await w.http.post("/do-not-call", headers=w.as_role("agent:1001"),
                                json={"number": "138 1234 5678", "reason": "the customer asked"})
        assert own.status == 201 and w.visits.blocked(NUMBER)
        boss = await w.http.post("/do-not-call", headers=w.as_role("supervisor"),
                                 json={"number": "13900000000", "reason": "instruction"})
        assert boss.status == 201 and w.visits.blocked("13900000000")


async def test_R11_the_campaign_limit_is_the_documented_5_MB_and_beyond_it_413(tmp_path: Path) -> None:
    line = "13800000000,Customer\n"
    async with world(f"sqlite:{tmp_path}/cti.sqlite", tmp_path) as w:
        big = line * (4_500_000 // len(line))  # 4.5 MB: more than aiohttp's default 1 MiB
        resp = await w.http.post("/campaigns", headers=w.as_role("supervisor"),
                                 json={"name": "big", "queue": "support", "csv": big})
        assert resp.status == 201, await resp.text()
        too_big = line * (5_100_000 // len(line))
        resp = await w.http.post("/campaigns", headers=w.as_role("supervisor"),
                                 json={"name": "too big", "queue": "support", "csv": too_big})
        assert resp.status == 413 and (await resp.json())["error"] == "too-large"
        resp = await w.http.post("/agents/1001/pause", headers=w.as_role("supervisor"),
                                 json={"reason": "x" * 2_000_000})  # elsewhere: 1 MiB
        assert resp.status == 413 and (await resp.json())["error"] == "too-large"
