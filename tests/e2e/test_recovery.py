"""R6 (7 x 24): the engine survives its own crash, a standby takes over, Asterisk and
Redis restart under it: no call lost, no agent given two calls, state consistent.
Real Asterisk (sandbox), real SIPp, real redis-server (contrib/redis)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import redis

from acd import Engine as Core
from acd import codec
from acd.errors import InvalidTransition, TransferRefused
from cti.config import load
from tests.e2e.harness import AriObserver, Sandbox, wait_for
from tests.e2e.harness.sandbox import asterisk_start, asterisk_stop
from tests.e2e.harness.sentinel import OwnRedis



def answered_by(engine, call_id: str) -> str | None:
    m = engine.lines(rf"answered: call {call_id} by agent (\d+)")
    return m[0].group(1) if m else None


def calls_by_state(engine) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for k in engine.get("/calls"):
        out.setdefault(k["state"], []).append(k)
    return out


def test_R6_engine_killed_with_calls_waiting_ringing_and_bridged_loses_none(
        sandbox: Sandbox, start_engine) -> None:
    """R6: kill -9 of the engine with a call bridged, one ringing and one waiting; the
    restarted engine rebuilds from Redis and every call completes with an agent.
    R1: the engine stays down past the ringing offer's timeout; nobody watched that
    phone ring, so the restarted engine takes the offer back without a miss and rings
    the agent again for a whole timeout: its RONA then is its first."""
    phones = {"1001": sandbox.agent("1001"),  # will be bridged
              "1002": sandbox.agent("1002", "agent_noanswer.xml"),  # will be ringing
              "1003": sandbox.agent("1003")}  # paused: the third caller waits
    first = start_engine(redis=True, agents=["1001", "1002", "1003"], ring_cycle_s=4, wrap_up_s=1)
    first.post("/agents/1003/pause", {"reason": "meeting"})
    bridged = sandbox.call(talk_ms=12000)
    wait_for(lambda: first.agent("1001")["state"] == "on-call", 15, "the first call bridged")
    ringing = sandbox.call(talk_ms=25000)
    wait_for(lambda: first.agent("1002")["state"] == "offered", 15, "the second call ringing")
    rang_from = time.monotonic()
    waiting = sandbox.call(talk_ms=25000)
    wait_for(lambda: len(calls_by_state(first).get("waiting", [])) == 1, 15, "the third call waiting")
    ids = {k["state"]: k["call_id"] for k in first.get("/calls")}
    first.kill()
    time.sleep(max(0.0, rang_from + 8.5 - time.monotonic()))  # (ring timeout 8 s: 2 rings of 4 s)
    started = time.monotonic()
    second = start_engine(redis=True, agents=["1001", "1002", "1003"], ring_cycle_s=4, wrap_up_s=1)
    print(f"\nengine restarted after kill -9: routing {time.monotonic() - started:.2f} s after its start")
    assert "state rebuilt from Redis" in second.log()
    assert second.agent("1003")["state"] == "not-ready"  # its pause survived the crash
    second.post("/agents/1003/ready")
    for caller in (bridged, ringing, waiting):
        assert caller.wait(60) == 0, caller.output()
    # The bridged call finished normally under the new engine; the others were routed.
    assert second.lines(rf"hung up: call {ids['connected']} handled by agent 1001")
    assert second.lines(rf"offer of call {re.escape(ids['offered'])} to agent 1002 cancelled: unwatched")
    assert second.lines(rf"RONA: agent 1002 did not answer call {re.escape(ids['offered'])} \(miss 1 in a row\)")
    for state in ("offered", "waiting"):
        assert answered_by(second, ids[state]) in ("1001", "1003"), second.log()
    # From the phones: each caller was answered, talked its whole time with an agent's
    # phone and hung up itself (none was dropped by the crash); agent 1002's phone
    # was rung (once by each engine at most) and every ring was cancelled, the last
    # after a whole ring timeout (8 s) rung by the restarted engine.
    for caller, talk_ms in ((bridged, 12000), (ringing, 25000), (waiting, 25000)):
        talked = caller.outcome(5).hung_up_itself(talk_ms)
        assert any(phones[a].talked_with(talked) for a in ("1001", "1003")), str(talked)
    rings = phones["1002"].invites()
    assert 1 <= len(rings) <= 2 and all(r.cancelled is not None and r.answered is None for r in rings), \
        [str(r) for r in rings]
    assert rings[-1].cancelled - rings[-1].invited >= 7.0, str(rings[-1])
    sandbox.assert_no_channels()


def test_R6_standby_takes_over_when_the_leader_is_killed(sandbox: Sandbox, start_engine) -> None:
    """R6: a standby router takes over when the active one dies; calls continue."""
    first_phone = sandbox.agent("1001")
    second_phone = sandbox.agent("1002")
    leader = start_engine(redis=True, lease_ms=1500, agents=["1001", "1002"])
    standby = start_engine(redis=True, lease_ms=1500, role="standby", agents=["1001", "1002"])
    assert standby.health()["role"] == "standby"
    assert standby.health()["status"] == "standby"
    in_call = sandbox.call(talk_ms=10000)
    wait_for(lambda: leader.agent("1001")["state"] == "on-call", 15, "a call in progress")
    call_id = leader.agent("1001")["call_id"]
    leader.kill()
    killed = time.monotonic()
    wait_for(lambda: standby.health().get("status") == "ok", 15, "the standby to lead", interval=0.05)
    takeover_s = time.monotonic() - killed
    print(f"\nstandby take-over: {takeover_s:.2f} s after kill -9 (lease 1.5 s)")
    assert standby.health()["role"] == "leader"
    # The call that was up continues and ends under the new leader...
    assert in_call.wait(40) == 0, in_call.output()
    assert standby.lines(rf"hung up: call {call_id} handled by agent 1001")
    # ...and new calls are routed by it.
    after = sandbox.call(talk_ms=2000)
    assert after.wait(30) == 0, after.output()
    assert standby.lines(r"answered: call \S+ by agent 100[12]")
    # The phones: the call up at the kill went on to the caller's own hang-up after its
    # 10 s with agent 1001; the next one talked with an agent's phone too.
    first_phone.leg_with(in_call.outcome(5).hung_up_itself(10000))
    talked = after.outcome(5).hung_up_itself(2000)
    assert first_phone.talked_with(talked) or second_phone.talked_with(talked), str(talked)
    sandbox.assert_no_channels()


def test_R6_asterisk_restart_engine_reconnects_and_routes_the_next_call(
        sandbox: Sandbox, start_engine) -> None:
    """R6: Asterisk restarts under the engine: it reconnects and routes the next call."""
    agent = sandbox.agent("1001")
    engine = start_engine(agents=["1001"])
    asterisk_stop()
    wait_for(lambda: engine.health()["status"] == "degraded", 15, "the engine to notice")
    assert engine.health()["ari"]["connected"] is False
    started = time.monotonic()
    asterisk_start()
    wait_for(lambda: engine.health()["status"] == "ok", 30, "the engine to reconnect", interval=0.05)
    print(f"\nreconnected {time.monotonic() - started:.2f} s after Asterisk was started again")
    assert engine.health(details=True)["ari"]["reconnects"] >= 1 and engine.health(details=True)["ami"]["reconnects"] >= 1
    assert agent.proc.poll() is None
    wait_for(lambda: sandbox.ari("GET", "/endpoints/PJSIP/agent1001")["state"] == "online", 15,
             "the agent to be seen again")
    caller = sandbox.call(talk_ms=2000)
    assert caller.wait(30) == 0, caller.output()
    assert engine.lines(r"answered: call \S+ by agent 1001")
    agent.leg_with(caller.outcome(5).hung_up_itself(2000))  # the phones say so too
    sandbox.assert_no_channels()


def test_R6_redis_restart_under_load_no_double_assignment_state_consistent(
        sandbox: Sandbox, start_engine, observer: AriObserver, tmp_path: Path) -> None:
    """R6: Redis restarts during a burst of calls: routing goes on, no agent ever has
    two calls, and afterwards the state rebuilt from Redis equals the live state."""
    own = OwnRedis(tmp_path).start()  # restarted below: not the server other tests share
    try:
        redis_restart_under_load(sandbox, start_engine, observer, own)
    finally:
        own.close()


def redis_restart_under_load(sandbox: Sandbox, start_engine: Any, observer: AriObserver, own: OwnRedis) -> None:
    phones = [sandbox.agent(agent_id) for agent_id in ("1001", "1002", "1003", "1004")]
    engine = start_engine(redis=True, lease_ms=4000, agents=["1001", "1002", "1003", "1004"], wrap_up_s=0.5,
                          redis_where=f'url = "{own.url}"\n')
    burst = sandbox.call(talk_ms=6000, calls=12, rate=2)
    time.sleep(1.5)
    own.restart()
    assert burst.wait(120) == 0, burst.output()
    wait_for(lambda: not engine.get("/calls"), 30, "every call to end")
    wait_for(lambda: engine.health()["status"] == "ok", 15, "Redis connected again")
    assert engine.health(details=True)["redis"]["reconnects"] >= 1  # the restart really hit the engine
    # No agent ever had two legs at once (from Asterisk's own channel events).
    peak = observer.agent_peaks()
    assert peak and max(peak.values()) == 1, peak
    # Every call is accounted for: served, or given up by the caller while waiting
    # (a caller's time runs from the engine's answer); none vanished.
    ended = engine.lines(r"hung up: call (\S+) (handled|abandoned)")
    assert len({m.group(1) for m in ended}) == 12
    assert sum(m.group(2) == "handled" for m in ended) >= 8
    # The callers' side: all 12 answered, and each call ended by the caller's own
    # hang-up (served or given up waiting), none dropped by the PBX; the agents'
    # phones answered at least 8 of them.
    legs = burst.outcomes(5)
    assert len(legs) == 12 and all(leg.answered and leg.hung_up_by == "caller" for leg in legs), \
        [str(leg) for leg in legs]
    assert sum(len(phone.answered()) for phone in phones) >= 8
    # The state a new router would rebuild from Redis is the live state.
    time.sleep(1.0)  # let the last events commit
    assert rebuilt(engine, redis.Redis.from_url(own.url)) == engine.get("/state")


def rebuilt(engine: Any, client: redis.Redis) -> dict[str, Any]:
    """The core's state as a new router would rebuild it from what ``client`` holds
    (snapshot and events under the engine's prefix)."""
    cfg = load(engine.config_path)
    assert cfg.redis is not None
    try:
        raw = client.get(cfg.redis.prefix + "snapshot")
        snapshot = json.loads(raw) if raw else None
        start = "-" if snapshot is None else "(" + snapshot["last_id"]
        entries = client.xrange(cfg.redis.prefix + "events", min=start, max="+")
    finally:
        client.close()
    queues, agents = list(cfg.queues), [a.agent for a in cfg.agents]
    core = Core(queues, agents) if snapshot is None else Core.restore(queues, agents, snapshot["state"])
    for entry_id, fields in entries:
        event = codec.decode_event(json.loads(fields[b"e"]))  # an entry that does not decode: a failure
        try:
            core.handle(event)
        except (InvalidTransition, TransferRefused):
            # Ignorable, and only these: an agent's request or a transfer the core refused
            # live is refused again on replay, leaving the state as it was (as the
            # engine's own rebuild, cti/app.py). Anything else is a real divergence.
            pass
        except Exception as exc:
            raise AssertionError(f"replaying journal entry {entry_id!r} ({type(event).__name__}) failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
    return dict(core.snapshot())
