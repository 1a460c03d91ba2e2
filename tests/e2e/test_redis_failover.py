"""R6 with Redis Sentinel: the engine finds its Redis through three sentinels (Debian's
redis-sentinel) watching a primary and a replica on loopback ports; the primary is
killed under a burst of calls, Sentinel promotes the replica, the engine follows it.
With ``replicas_ack = 1`` every batch of events is on the replica before its commands
are carried out: nothing routed before the kill is lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e.harness import AriObserver, Sandbox, wait_for
from tests.e2e.harness.sentinel import RedisGroup
from tests.e2e.test_recovery import rebuilt

AGENTS = ["1001", "1002", "1003", "1004"]


def test_R6_sentinel_failover_under_a_burst_loses_nothing_routed_and_dials_nobody_twice(
        sandbox: Sandbox, start_engine, observer: AriObserver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """kill -9 of the Redis primary while 12 callers arrive on four agents: the sentinels
    promote the replica, the engine's next connection goes there and routing goes on;
    every call ends handled or given up by its caller (none vanished), no agent ever
    has two channels, no call's agent is rung twice, every answer logged before the kill
    is in the promoted replica's journal, and the state rebuilt from it afterwards
    equals the live state."""
    group = RedisGroup(tmp_path).start()
    try:
        phones = [sandbox.agent(agent_id) for agent_id in AGENTS]
        engine = start_engine(redis=True, lease_ms=5000, agents=AGENTS, wrap_up_s=0.5, snapshot_every=100_000,
                              redis_where=group.sentinels_toml() + "replicas_ack = 1\nreplica_wait_ms = 500\n")
        assert group.primary_port() == group.ports["primary"]
        burst = sandbox.call(talk_ms=6000, calls=12, rate=2)
        wait_for(lambda: len(engine.lines(r"answered: call \S+ by agent", wait=0)) >= 3, 30, "three calls answered")
        before = {m.group(1) for m in engine.lines(r"answered: call (\S+) by agent", wait=0)}
        group.kill_primary()
        wait_for(lambda: group.primary_port() == group.ports["replica"], 30, "the sentinels promoting the replica")
        assert burst.wait(120) == 0, burst.output()
        wait_for(lambda: not engine.get("/calls"), 30, "every call to end")
        wait_for(lambda: engine.health()["status"] == "ok", 15, "the engine on the promoted replica")
        assert engine.health(details=True)["redis"]["reconnects"] >= 1  # the kill really hit the engine
        assert engine.lines(r"answered: call \S+ by agent", wait=0)[len(before):]  # routing went on after it
        # No agent ever had two channels; no call's agent rung twice (Asterisk's view).
        peak = observer.agent_peaks()
        assert peak and max(peak.values()) == 1, peak
        legs: dict[str, int] = {}
        for ev in observer.of("ChannelCreated"):
            m = re.match(r"cti-offer-\d+-(.+)-[^-]+$", ev["channel"]["id"])
            if m:
                legs[m.group(1)] = legs.get(m.group(1), 0) + 1
        assert legs and max(legs.values()) == 1, legs
        # Every call accounted for: served, or given up by its caller while waiting.
        ended = engine.lines(r"hung up: call (\S+) (handled|abandoned)")
        assert len({m.group(1) for m in ended}) == 12
        handled = sum(m.group(2) == "handled" for m in ended)
        assert handled >= 8
        # The phones' side: all 12 callers were answered and hung up themselves after
        # their talk time (none cut off by the PBX), and the agents' phones answered
        # one call per call logged as handled.
        legs = burst.outcomes(5)
        assert len(legs) == 12 and all(leg.answered is not None and leg.hung_up_by == "caller" for leg in legs), \
            [str(leg) for leg in legs]
        # (an agent's phone answering just as its caller's talk time ran out: ended by the
        # PBX at once, counted handled or abandoned by the engine, whichever it saw first)
        answered_legs = [leg for phone in phones for leg in phone.answered()]
        at_once = [leg for leg in answered_legs if leg.hung_up_by == "pbx" and leg.talk_s < 1.0]
        assert handled <= len(answered_legs) <= handled + len(at_once), [str(x) for p in phones for x in p.calls()]
        # Nothing routed before the kill is lost: the promoted replica has each answer.
        promoted = group.client("replica")
        journal = [json.loads(fields[b"e"]) for _, fields in promoted.xrange(f"{engine_prefix(engine)}events")]
        answered = {ev.get("call_id") for ev in journal if ev.get("type") == "OfferAnswered"}
        assert before <= answered, before - answered
        assert rebuilt(engine, group.client("replica")) == engine.get("/state")
    finally:
        group.close()


def engine_prefix(engine) -> str:  # type: ignore[no-untyped-def]
    from cti.config import load

    cfg = load(engine.config_path)
    assert cfg.redis is not None
    return cfg.redis.prefix
