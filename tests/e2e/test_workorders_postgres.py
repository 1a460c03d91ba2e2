"""R12 on PostgreSQL, the store of a multi-engine install, end to end: the engine's
store URL (with its password) comes from the environment, an answered call's
disposition becomes a work order in PostgreSQL, and a restarted engine still honours
the agent's session and knows the order."""

from __future__ import annotations

import psycopg
from argon2 import PasswordHasher

from tests.e2e.harness import Sandbox, wait_for
from tests.e2e.harness.postgres import postgres_database
from tests.e2e.test_auth import basic, call

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
CONFIG = f"""
[[queues]]
name = "support"
wrap_up_s = 60
wrap_up_ends = "disposition"
announce_agent_id = false

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
pin_hash = "{FAST.hash('432109')}"

[[workorders.departments]]
name = "repair"
webhook_url = "http://127.0.0.1:9/unreachable"
[[workorders.rules]]
department = "repair"
due_h = 24
"""


def test_R12_work_orders_and_sessions_on_postgresql(sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    agent = sandbox.agent("1001")
    with postgres_database() as url:
        env = {"CTI_STORE_URL": url}  # the password stays out of the config file
        engine = start_engine(agents=[], extra=CONFIG, env=env)
        assert engine.lines(r"store open \(PostgreSQL\)")
        status, session = call(engine.port, "POST", "/auth/login", None, {"name": "1001", "secret": "432109"})
        assert status == 200
        me = f"Bearer {session['token']}"
        caller = sandbox.call(talk_ms=2000)
        assert caller.wait(40) == 0, caller.output()
        agent.leg_with(caller.outcome(5).hung_up_itself(2000))  # the call the disposition is about
        wait_for(lambda: engine.agent("1001")["state"] == "wrap-up", 10, "agent 1001 in wrap-up")
        call_id = engine.agent("1001")["last_call_id"]
        status, done = call(engine.port, "POST", f"/calls/{call_id}/disposition", me, {
            "kind": "complaint", "fields": {"customer_name": "李", "contact_number": "13812345678",
                                            "content": "抄表員態度差"}})
        assert status == 201, done
        # wrap_up_ends = "disposition": the disposition, not a timer, ended wrap-up.
        assert done["agent"] == "ready" and engine.agent("1001")["state"] == "ready"
        order_id = done["order"]["order_id"]
        with psycopg.connect(url) as db:
            row = db.execute("SELECT kind, department, status, caller FROM work_orders WHERE order_id = %s",
                             (order_id,)).fetchone()
            assert row is not None and row[:3] == ("complaint", "repair", "new")
            assert db.execute("SELECT count(*) FROM contacts WHERE call_id = %s", (call_id,)).fetchone() == (1,)
            assert db.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
        assert engine.stop() == 0
        again = start_engine(agents=[], extra=CONFIG, env=env)
        status, who = call(again.port, "GET", "/auth/me", me)
        assert status == 200 and who["agent_id"] == "1001"  # the session held through the restart
        status, kept = call(again.port, "GET", f"/workorders/{order_id}", me)
        assert status == 200 and kept["status"] == "new" and kept["agent_id"] == "1001"
        assert call(again.port, "GET", "/workorders", basic("1001", "432109"))[0] == 403  # agents: own orders only
