"""R12 the desk's drafts over HTTP: an agent keeps what it typed of a call's disposition
on the server (another browser, a reload, a lost one) until the disposition is recorded;
only its own, never another agent's; a supervisor watching its desk does not read them."""

from __future__ import annotations

from pathlib import Path

from tests.integration.world import answered_call, world

NUMBER = "13812345678"


async def test_R12_R14_an_agent_keeps_its_own_drafts_until_the_disposition_is_recorded(
        store_url: str, tmp_path: Path) -> None:
    async with world(store_url, tmp_path) as w:
        answered_call(w.runtime, "k1", NUMBER, "1001")
        draft = {"kind": "complaint", "fields": {"customer_name": "王小明", "contact_number": NUMBER,
                                                 "content": "維修人員遲到"}}
        kept = await w.http.put("/desk/1001/drafts/k1", headers=w.as_role("agent:1001"), json=draft)
        assert kept.status == 200
        for role in ("agent:1002", "supervisor", "admin"):  # kept by the agent who types it only
            refused = await w.http.put("/desk/1001/drafts/k1", headers=w.as_role(role), json=draft)
            assert refused.status == 403, role
        bad = await w.http.put("/desk/1001/drafts/k1", headers=w.as_role("agent:1001"),
                               json={"kind": "complaint", "fields": {"secret": "x"}})
        assert bad.status == 400 and (await bad.json())["error"] == "bad-request"
        own = await (await w.http.get("/desk/1001", headers=w.as_role("agent:1001"))).json()
        assert [(d["call_id"], d["fields"]["contact_number"]) for d in own["drafts"]] == [("k1", NUMBER)]
        watched = await (await w.http.get("/desk/1001", headers=w.as_role("supervisor"))).json()
        assert watched["drafts"] == [] and NUMBER not in str(watched)
        # Recorded: the draft is gone.
        done = await w.http.post("/calls/k1/disposition", headers=w.as_role("agent:1001"),
                                 json={"kind": "consultation", "fields": {"content": "維修人員遲到"}})
        assert done.status == 201, await done.text()
        own = await (await w.http.get("/desk/1001", headers=w.as_role("agent:1001"))).json()
        assert own["drafts"] == []
        # Dropped by the agent.
        await w.http.put("/desk/1001/drafts/k9", headers=w.as_role("agent:1001"), json=draft)
        assert (await w.http.delete("/desk/1001/drafts/k9", headers=w.as_role("agent:1002"))).status == 403
        assert (await w.http.delete("/desk/1001/drafts/k9", headers=w.as_role("agent:1001"))).status == 200
        assert (await (await w.http.get("/desk/1001", headers=w.as_role("agent:1001"))).json())["drafts"] == []
