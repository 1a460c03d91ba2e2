"""Several Asterisk nodes, one router (R6, issue 4): two adapters (two Stasis apps on
the sandbox, standing for two nodes) feed one router through Redis Streams."""

from __future__ import annotations

from tests.e2e.harness import AriObserver, Sandbox, wait_for
from tests.e2e.harness.sipp import holds

AGENTS = ["1001", "1002", "1003", "1004"]


def test_two_adapters_one_router_burst_never_gives_an_agent_two_calls(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    phones = [sandbox.agent(agent_id) for agent_id in AGENTS]
    router = start_engine(cluster="router", agents=AGENTS, wrap_up_s=0.5)
    node_a = start_engine(cluster="adapter", node="a", app="cti", role="adapter", agents=AGENTS)
    node_b = start_engine(cluster="adapter", node="b", app="cti-b", role="adapter", agents=AGENTS)
    assert router.health()["role"] == "leader" and "ari" not in router.health()
    burst_a = sandbox.call("100", talk_ms=5000, calls=8, rate=3)
    burst_b = sandbox.call("500", talk_ms=5000, calls=8, rate=3)
    assert burst_a.wait(120) == 0, burst_a.output()
    assert burst_b.wait(120) == 0, burst_b.output()
    wait_for(lambda: not router.get("/calls"), 30, "every call to end in the router")
    # Asterisk's own view: no agent endpoint ever had two channels at once.
    peak = observer.agent_peaks()
    assert peak and max(peak.values()) == 1, peak
    # Both nodes' calls were routed by the one router and carried out by their adapter.
    # 16 callers in ~3 s against 4 agents, each caller staying 5 s from the engine's
    # answer: some give up waiting. Every one is accounted for, none vanished.
    ended = router.lines(r"hung up: call (\S+) (handled|abandoned)")
    assert len({m.group(1) for m in ended}) == 16
    handled = {m.group(1) for m in ended if m.group(2) == "handled"}
    assert len(handled) >= 8
    served_a = {m.group(1) for m in node_a.lines(r"call (\S+) connected to agent")}
    served_b = {m.group(1) for m in node_b.lines(r"call (\S+) connected to agent")}
    assert served_a and served_b and not served_a & served_b
    # A caller who gives up in the very instant the agent answers is "handled" (talked
    # 0.0 s) but has no channel left to bridge: the only handled calls not connected.
    talked = {m.group(1): float(m.group(2)) for m in router.lines(r"hung up: call (\S+) handled .* talked ([\d.]+) s")}
    assert served_a | served_b <= handled
    assert all(talked[k] == 0.0 for k in handled - (served_a | served_b)), (handled - served_a - served_b, talked)
    # The callers' side: all 16 answered and each ended by its own hang-up (served, or
    # given up waiting), none dropped by the PBX; the agents' phones answered at least
    # as many calls as the adapters connected.
    legs = burst_a.outcomes(5) + burst_b.outcomes(5)
    assert len(legs) == 16 and all(leg.answered and leg.hung_up_by == "caller" for leg in legs), \
        [str(leg) for leg in legs]
    assert sum(len(phone.answered()) for phone in phones) >= len(served_a | served_b)
    sandbox.assert_no_channels()


def test_commands_of_a_deposed_router_are_refused(sandbox: Sandbox, start_engine) -> None:
    """A router that lost leadership cannot have its commands carried out: the adapter
    checks each command's fencing token against the current fence."""
    import asyncio

    import redis.asyncio as aioredis

    from acd import commands as c
    from cti.config import load
    from cti.journal.store import RedisStore
    from tests.e2e.harness import REDIS_URL

    agent = sandbox.agent("1001")
    router = start_engine(cluster="router", agents=["1001"])
    node_a = start_engine(cluster="adapter", node="a", app="cti", role="adapter", agents=["1001"])
    cfg = load(router.config_path)
    assert cfg.redis is not None

    async def send_stale() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        store = RedisStore(client, cfg.redis.prefix)
        _, fence = await store.leader()
        # Write as if from an older leader: bypass the fenced script, stale token.
        cmd = c.OfferCall("nope", "1001", "PJSIP/agent1001", 10.0)
        import json

        from acd import codec
        await client.xadd(store.commands_key("a"), {"c": json.dumps(codec.encode(cmd)), "f": str(fence - 1)})
        await client.aclose()

    asyncio.run(send_stale())
    wait_for(lambda: node_a.lines(r"command from a deposed router \(token \d+, fence \d+\) refused"), 10,
             "the adapter to refuse the stale command")
    assert not sandbox.channels()  # nothing was originated
    # Not only at that instant: for a while after, no channel in Asterisk and no INVITE
    # at the agent's phone.
    holds(lambda: not sandbox.channels() and not agent.invites(), 3.0, "nothing originated for the stale command")
