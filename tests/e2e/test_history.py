"""R13 on the sandbox: the record of real calls survives a kill -9 of the engine; the
live figures of the day come back the same after the restart (no Redis: refilled from
the store), and the report says what /metrics says."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
import urllib.request
from typing import Any

from tests.e2e.harness import ADMIN_TOKEN, ROOT, Sandbox, wait_for
from tests.unit.test_queue_log import counts, read_queue_log


def day_figures(engine: Any) -> dict[str, float]:
    """The day's window of queue "support" in /metrics."""
    text = engine.text("/metrics")
    found = {}
    for name in ("offered_calls", "answered_calls", "abandoned_calls", "average_speed_of_answer_seconds",
                 "service_level_ratio"):
        m = re.search(rf'^cti_queue_{name}{{queue="support",window="day"}} (\S+)$', text, re.M)
        found[name] = float(m.group(1)) if m else 0.0
    return found


def report(engine: Any, query: str = "by=all") -> Any:
    return engine.get(f"/reports/queues?{query}")


def test_R13_kill_9_keeps_the_days_figures_and_the_report_matches_them(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    phones = [sandbox.agent("1001"), sandbox.agent("1002")]
    engine = start_engine(agents=["1001", "1002"], wrap_up_s=0)
    for _ in range(3):  # three calls answered and ended
        served = sandbox.call(talk_ms=1500)
        assert served.wait(30) == 0
        talked = served.outcome(5).hung_up_itself(1500)
        assert any(phone.talked_with(talked) for phone in phones), str(talked)  # by an agent, really
    engine.post("/agents/1001/pause", {"reason": "meeting"})
    engine.post("/agents/1002/pause", {"reason": "meeting"})
    caller = sandbox.call(talk_ms=1500)  # nobody free: the caller gives up after 1.5 s
    caller.wait(30)
    caller.outcome(5).hung_up_itself(1500)  # it gave up itself...
    assert sum(len(phone.invites()) for phone in phones) == 3  # ...and no agent's phone rang for it
    wait_for(lambda: day_figures(engine)["offered_calls"] == 4, 15, "four calls in the day's window")
    before = day_figures(engine)
    assert (before["answered_calls"], before["abandoned_calls"]) == (3, 1)
    (row,) = wait_for(lambda: [r for r in report(engine)["rows"] if r["offered"] == 4], 10, "the record written")
    assert (row["answered"], row["abandoned"], row["abandoned_short"]) == (3, 1, 1)
    assert row["asa_s"] == before["average_speed_of_answer_seconds"] or abs(
        row["asa_s"] - before["average_speed_of_answer_seconds"]) < 1e-6
    assert row["talk_s"] > 3 * 0.5 and row["aht_s"] == row["talk_s"] / 3  # no wrap-up configured
    # The queue_log export, read by a reader of Asterisk's format, says the same (admin:
    # numbers whole, as for the reader role).
    req = urllib.request.Request(f"http://127.0.0.1:{engine.port}/reports/queue_log",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        entries = read_queue_log(resp.read().decode())
    events = counts(entries)
    assert events["ENTERQUEUE"] == row["offered"] == 4 and events["CONNECT"] == row["answered"] == 3
    assert events.get("COMPLETEAGENT", 0) + events.get("COMPLETECALLER", 0) == 3
    assert events["ABANDON"] == row["abandoned"] == 1
    assert sorted((e.agent, e.data["reason"]) for e in entries if e.event == "PAUSE") == [
        ("1001", "meeting"), ("1002", "meeting")]
    assert {e.queue for e in entries} == {"support"}
    assert all(e.data["callerid"] for e in entries if e.event == "ENTERQUEUE")
    engine.kill()  # no Redis: the core's state is gone; the record is in the store
    again = start_engine(agents=["1001", "1002"], wrap_up_s=0)
    assert "live windows refilled from the record: 4 calls" in again.log()
    after = day_figures(again)
    assert after == before  # the day's figures did not start again from zero
    board = again.get("/wallboard/live")  # and each agent's calls today
    assert sorted(a["calls"] for a in board["agent_list"]) == [1, 2]
    (same,) = report(again)["rows"]
    assert same == row
    # The same report as a CSV download, for the tools a supervisor already uses.
    req = urllib.request.Request(f"http://127.0.0.1:{again.port}/reports/queues?by=queue&interval=15m&format=csv",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in resp.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(resp.read().decode())))
    assert sum(int(r["offered"]) for r in rows) == 4 and {r["queue"] for r in rows} == {"support"}
    # And from the command line, reading the store the running engine writes.
    out = subprocess.run([sys.executable, "-m", "cti.cli", "report", "queues", "--config", str(again.config_path),
                          "--by", "all", "--format", "json"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [row]
    out = subprocess.run([sys.executable, "-m", "cti.cli", "report", "agents", "--config", str(again.config_path)],
                         capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    agents = list(csv.DictReader(io.StringIO(out.stdout)))
    assert sum(int(a["answered"]) for a in agents) == 3 and {a["agent"] for a in agents} == {"1001", "1002"}
    assert all(float(a["login_s"]) > 0 and float(a["on_call_s"]) > 0 for a in agents)
    # A call after the restart adds to the same day.
    again.post("/agents/1001/ready")
    fifth = sandbox.call(talk_ms=1000)
    assert fifth.wait(30) == 0
    phones[0].leg_with(fifth.outcome(5).hung_up_itself(1000))  # agent 1001's phone took it
    wait_for(lambda: day_figures(again)["offered_calls"] == 5, 10, "the fifth call in the day")
    time.sleep(1.0)
    assert report(again)["rows"][0]["offered"] == 5
