"""Live metrics (R13) and the tiered emergency plans (R9) on real calls."""

from __future__ import annotations

import subprocess
import threading
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import ADMIN_TOKEN, AriObserver, Sandbox, call_with_keys, wait_for
from tests.e2e.harness.sipp import holds

PLAN = """
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false
[[queues]]
name = "overflow"
wrap_up_s = 0
announce_agent_id = false

[metrics]
sl_threshold_s = 20

[plan]
queue = "support"
mode = "auto"
min_time_s = 3
[plan.levels.III]
enter = { waiting_at_least = 3 }
leave = { waiting_at_most = 1 }
standby_agents = ["1004"]
announcement = "incident-announcement"
[plan.levels.II]
enter = { waiting_at_least = 5 }
leave = { waiting_at_most = 2 }
overflow_to = "overflow"

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
[[agents]]
id = "1002"
endpoint = "PJSIP/agent1002"
queues = ["support"]
login_at_start = true
[[agents]]
id = "1004"
endpoint = "PJSIP/agent1004"
queues = ["support"]
[[agents]]
id = "1003"
endpoint = "PJSIP/agent1003"
queues = ["overflow"]
login_at_start = true
"""

CALLS = 16


def scrape(engine) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{engine.port}/metrics",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers.get_content_type() == "text/plain"
        return resp.read().decode()


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_R9_R13_burst_raises_iii_then_ii_actions_run_then_level_falls_back(
        sandbox: Sandbox, start_engine, observer: AriObserver, tmp_path) -> None:
    """R9: a burst against few agents raises level III (standby agent called in,
    incident announcement) then II (new calls overflow), and falls back after it.
    R13: /metrics scraped during the run agrees with what SIPp placed, and passes
    promtool check metrics."""
    phones = {a: sandbox.agent(a) for a in ("1001", "1002", "1003", "1004")}
    engine = start_engine(agents=[], extra=PLAN)
    assert engine.get("/plan")["level"] is None
    scrapes: list[str] = []
    stop = threading.Event()

    def scraper() -> None:
        while not stop.is_set():
            scrapes.append(scrape(engine))
            time.sleep(0.5)

    thread = threading.Thread(target=scraper, daemon=True)
    thread.start()
    try:
        burst = sandbox.call("100", talk_ms=12000, calls=CALLS, rate=2)
        assert burst.wait(180) == 0, burst.output()
        wait_for(lambda: not engine.get("/calls"), 60, "the queue to drain")
        wait_for(lambda: engine.get("/plan")["level"] is None, 30, "the plan level to fall back")
    finally:
        stop.set()
        thread.join(5)

    changes = [(c["level"], c["previous"]) for c in engine.get("/plan")["changes"] if c["type"] == "PlanChanged"]
    levels = [lvl for lvl, _ in changes]
    assert levels[:2] == ["III", "II"], changes
    assert levels[-1] is None
    # Level III: the standby agent was called in and took calls; new callers heard the
    # incident announcement.
    assert engine.lines(r"answered: call \S+ by agent 1004")
    announced = [ev for ev in observer.of("PlaybackStarted")
                 if ev["playback"]["media_uri"] == "sound:cti/incident-announcement"]
    assert announced
    # Level II: new calls overflowed to the overflow queue and its agent served them.
    assert engine.lines(r"R9 plan: call \S+ overflows from support to overflow")
    assert engine.lines(r"answered: call \S+ by agent 1003")
    # The phones: every caller was answered and ended the call itself (served, or
    # given up), none dropped by the PBX; the standby's and the overflow agent's
    # phones really answered calls.
    legs = burst.outcomes(5)
    assert len(legs) == CALLS and all(leg.answered and leg.hung_up_by == "caller" for leg in legs), \
        [str(leg) for leg in legs]
    assert phones["1004"].answered() and phones["1003"].answered()
    # The plan ended: the standby agent went home.
    wait_for(lambda: engine.agent("1004")["state"] == "logged-out", 20, "the standby agent logged out")

    # R13: what was scraped agrees with what SIPp placed.
    during = [samples(t, "cti_queue_waiting_calls") for t in scrapes]
    assert max(v for s in during for v in s.values()) >= 5
    levels_seen = {v for t in scrapes for v in samples(t, "cti_emergency_level").values()}
    assert {3.0, 2.0} <= levels_seen
    final = scrape(engine)
    totals = samples(final, "cti_queue_calls_total")
    assert sum(totals.values()) == CALLS
    handled = sum(v for k, v in totals.items() if ("outcome", "handled") in k)
    offered = samples(final, "cti_queue_offered_calls")
    assert sum(v for k, v in offered.items() if ("window", "15m") in k) == CALLS
    answer_rate = samples(final, "cti_queue_answer_rate_ratio")
    support_offered = offered[(("queue", "support"), ("window", "15m"))]
    support_handled = totals.get((("outcome", "handled"), ("queue", "support")), 0)
    assert answer_rate[(("queue", "support"), ("window", "15m"))] == support_handled / support_offered
    assert handled == len(engine.lines(r"hung up: call \S+ handled by agent"))
    path = tmp_path / "metrics.txt"
    path.write_text(final)
    check = subprocess.run(["promtool", "check", "metrics"], stdin=path.open(), capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    wallboard = engine.get("/wallboard.json")
    assert wallboard["queues"]["support"]["windows"]["15m"]["offered"] == support_offered
    sandbox.assert_no_channels()


def test_R9_supervisor_confirms_raises_and_ends_a_plan(sandbox: Sandbox, start_engine) -> None:
    """R9: the supervisor API attaches the incident and sets or ends a level; every
    change is audited and shows in the metrics; without the admin token it is refused."""
    engine = start_engine(agents=[], extra=PLAN.replace('mode = "auto"', 'mode = "confirm"'))
    plan = engine.post("/plan/incident", {"cause": "main pipe burst", "scope": "district 3",
                                          "started_at": time.time() - 600})
    assert plan["incident"]["cause"] == "main pipe burst"
    assert engine.post("/plan/level", {"level": "II"})["level"] == "II"
    assert samples(scrape(engine), "cti_emergency_level") == {(): 2.0}
    wait_for(lambda: engine.agent("1004")["state"] == "logged-out", 2, "no standby at II")
    assert engine.post("/plan/level", {"level": None})["level"] is None
    assert samples(scrape(engine), "cti_emergency_level") == {(): 0.0}
    req = urllib.request.Request(f"http://127.0.0.1:{engine.port}/plan/level", method="POST",
                                 data=b'{"level": "I"}', headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("a plan change without credentials was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    assert "R9 plan" in engine.log() and "by admin-token" in engine.log()


TRUNK = """
[[trunks]]
name = "customers"
endpoint = "PJSIP/{number}@customers"
"""


def test_R9_plan_offers_callbacks_a_waiting_caller_takes_one(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R9: at a level that offers callbacks, a waiting caller hears the offer, presses 1,
    keys in the number to be called back on (R11), is thanked and hangs up; the callback keeps the place (R11), counted apart from the
    abandoned calls; nobody is dialled while no agent is free."""
    config = PLAN.replace('announcement = "incident-announcement"',
                          'announcement = "incident-announcement"\noffer_callbacks = true') + TRUNK
    engine = start_engine(agents=[], extra=config)
    engine.post("/agents/1001/pause", {"reason": "meeting"})
    engine.post("/agents/1002/pause", {"reason": "meeting"})
    engine.post("/plan/level", {"level": "III"})
    wait_for(lambda: engine.agent("1004")["state"] == "ready", 5, "the standby agent called in")
    engine.post("/agents/1004/pause", {"reason": "other"})
    # Key 1 after the announcement and the offer; this caller's id is not a number, so
    # the engine asks for one (R11): keyed in, ended by #.
    caller = call_with_keys(sandbox, "113912345678#", talk_ms=20000, gap_ms=9000, then_ms=700)
    assert caller.wait(90) == 0, caller.output()
    caller.outcome(5).cut_off()  # thanked, then hung up by the PBX before its own hang-up
    (request,) = engine.get("/plan")["callbacks"]
    assert request["queue"] == "support" and request["type"] == "callback-request"
    assert request["caller"] == "13912345678"  # the number keyed in (the admin sees it whole)
    offered = [ev for ev in observer.of("PlaybackStarted") if ev["playback"]["media_uri"] == "sound:cti/callback-offer"]
    thanked = [ev for ev in observer.of("PlaybackStarted") if ev["playback"]["media_uri"] == "sound:cti/callback-taken"]
    asked = [ev for ev in observer.of("PlaybackStarted")
             if "sound:cti/callback-enter-number" in str(ev["playback"]["media_uri"])]
    assert asked, "the caller was not asked for a number"
    assert offered and thanked
    figures = scrape(engine)
    assert samples(figures, "cti_queue_callbacks_waiting")[(("queue", "support"),)] == 1.0
    assert samples(figures, "cti_queue_callbacks_total")[(("queue", "support"),)] == 1.0
    assert (("outcome", "abandoned"), ("queue", "support")) not in samples(figures, "cti_queue_calls_total")
    (kept,) = engine.get("/calls")
    assert kept["callback"] and kept["state"] == "waiting" and kept["call_id"] == request["call_id"]
    sandbox.assert_no_channels()
    # Nobody dialled while no agent is free: no customer leg in Asterisk, from the
    # start of the test and for a while after the caller left.
    holds(lambda: not [ev for ev in observer.of("ChannelCreated")
                       if ev["channel"]["name"].startswith("PJSIP/customers")], 3.0, "no customer dialled")
