"""Lanes (issue 11): one call's slow work never delays another call, each call's work
keeps its order, a job past its deadline is abandoned and reported, and nothing is
left behind. The adapter on lanes: an offer Asterisk does not answer in time is
reported to the core as failed while other calls go on; an agent's new offer waits
for the release of its previous leg even when the two are in different lanes."""

from __future__ import annotations

import asyncio
from typing import Any

from acd import commands as c
from acd import events as e
from cti.calls.stasis import StasisAdapter
from cti.lanes import Lanes

NOW = 1000.0


async def test_a_slow_call_does_not_delay_another_and_each_keeps_its_order() -> None:
    lanes = Lanes(5.0)
    done: list[str] = []
    release = asyncio.Event()

    async def slow() -> None:
        await release.wait()
        done.append("A1")

    def step(name: str) -> Any:
        async def job() -> None:
            done.append(name)
        return job

    runner = asyncio.ensure_future(lanes.run())
    lanes.put("A", "slow", slow)
    lanes.put("A", "after", step("A2"))
    lanes.put("B", "quick", step("B1"))
    lanes.put("B", "quick", step("B2"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert done == ["B1", "B2"]  # B did not wait for A
    assert len(lanes) == 1  # B's lane is gone once empty
    release.set()
    await lanes.drained()
    assert done == ["B1", "B2", "A1", "A2"]  # A's order kept
    assert len(lanes) == 0
    runner.cancel()


async def test_a_job_past_its_deadline_is_abandoned_counted_and_reported() -> None:
    lanes = Lanes(0.05)
    reported: list[str] = []
    done: list[str] = []

    async def never() -> None:
        await asyncio.Event().wait()

    async def next_one() -> None:
        done.append("next")

    lanes.put("A", "OfferCall", never, lambda: reported.append("A"))
    lanes.put("A", "PlayWaitingMedia", next_one)
    await lanes.drained()
    assert reported == ["A"] and done == ["next"]  # the lane went on after the deadline
    assert lanes.faults.counts == {("deadline", "OfferCall"): 1}


async def test_cancelling_run_cancels_every_lane() -> None:
    lanes = Lanes(60.0)
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    runner = asyncio.ensure_future(lanes.run())
    lanes.put("A", "forever", forever)
    await started.wait()
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert len(lanes) == 0


class SlowAri:
    """ARI that never answers the originate of one call; everything else succeeds."""

    app = "cti"

    def __init__(self, stuck_call: str) -> None:
        self.stuck_call = stuck_call
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    async def request(self, method: str, path: str, **params: Any) -> Any:
        self.requests.append((method, path, params))
        if (method, path) == ("POST", "/channels") and f",{self.stuck_call}," in params["appArgs"]:
            await asyncio.Event().wait()
        return {}

    async def request_quiet(self, method: str, path: str, **params: Any) -> None:
        await self.request(method, path, **params)


async def test_R1_an_offer_asterisk_does_not_answer_in_time_fails_while_other_calls_go_on() -> None:
    ari = SlowAri("stuck")
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, None, lanes=Lanes(0.2))  # type: ignore[arg-type]
    await adapter.dispatch(c.OfferCall("stuck", "1001", "PJSIP/agent1001", 10.0))
    await adapter.dispatch(c.OfferCall("fine", "1002", "PJSIP/agent1002", 10.0))
    await adapter.dispatch(c.AnswerCall("fine"))
    for _ in range(10):
        await asyncio.sleep(0)
    # The other call was offered and answered while the first offer hung.
    assert ("POST", "/channels/fine/answer", {}) in ari.requests
    assert any(p.get("appArgs") == "offer,fine,1002" for _, _, p in ari.requests)
    assert submitted == []
    await adapter.lanes.drained()
    # Past the deadline the core hears the offer failed, so the call moves on...
    assert submitted == [e.OfferFailed("stuck", "1001", "deadline", NOW)]
    # ...and the leg, should Asterisk make it after all, is hung up.
    leg = next(p["channelId"] for _, path, p in ari.requests if p.get("appArgs") == "offer,stuck,1001")
    assert ("DELETE", f"/channels/{leg}", {}) in ari.requests
    assert len(adapter.lanes) == 0


async def test_a_new_offer_waits_for_the_agents_previous_leg_even_from_another_lane() -> None:
    ari = SlowAri("none")
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, None, lanes=Lanes(5.0))  # type: ignore[arg-type]
    await adapter.execute(c.OfferCall("x", "1001", "PJSIP/agent1001", 10.0))
    leg_x = ari.requests[-1][2]["channelId"]
    # The core cancels the offer of x and offers y to the same agent at once.
    await adapter.dispatch(c.CancelOffer("x", "1001", "ring-all-answered"))
    await adapter.dispatch(c.OfferCall("y", "1001", "PJSIP/agent1001", 10.0))
    for _ in range(20):
        await asyncio.sleep(0)
    assert ("DELETE", f"/channels/{leg_x}", {}) in ari.requests
    assert not any(p.get("appArgs") == "offer,y,1001" for _, _, p in ari.requests)  # x's leg still there
    adapter.on_event({"type": "ChannelDestroyed", "channel": {"id": leg_x}, "cause": 16})
    await adapter.lanes.drained()
    assert any(p.get("appArgs") == "offer,y,1001" for _, _, p in ari.requests)
    assert submitted == []  # our own release is no news for the core


async def test_an_offer_cancelled_before_its_lane_ran_never_rings() -> None:
    ari = SlowAri("none")
    adapter = StasisAdapter(ari, [].append, lambda: NOW, None, lanes=Lanes(5.0))  # type: ignore[arg-type]
    await adapter.dispatch(c.OfferCall("x", "1001", "PJSIP/agent1001", 10.0))
    await adapter.dispatch(c.CancelOffer("x", "1001", "caller-hung-up"))
    await adapter.dispatch(c.OfferCall("y", "1001", "PJSIP/agent1001", 10.0))
    await adapter.lanes.drained()
    offers = [p["appArgs"] for _, path, p in ari.requests if path == "/channels"]
    assert offers == ["offer,y,1001"]


async def test_R1_the_same_call_offered_again_to_the_same_agent_in_the_batch_that_cancels_it_rings() -> None:
    """The core takes an offer back and offers the same call to the same agent again
    in one batch (an offer taken back after a restart, or the only agent kept ready
    after a miss): the release hangs up the earlier leg only, and the new one rings,
    also when the earlier leg was never known to this adapter (made by an engine
    before a restart)."""
    for known in (True, False):
        ari = SlowAri("none")
        adapter = StasisAdapter(ari, [].append, lambda: NOW, None, lanes=Lanes(5.0))  # type: ignore[arg-type]
        if known:
            await adapter.execute(c.OfferCall("x", "1001", "PJSIP/agent1001", 10.0))
        earlier = [p["channelId"] for _, path, p in ari.requests if path == "/channels"]
        await adapter.dispatch(c.CancelOffer("x", "1001", "unwatched"))
        await adapter.dispatch(c.OfferCall("x", "1001", "PJSIP/agent1001", 10.0))
        for _ in range(20):
            await asyncio.sleep(0)
        for leg in earlier:
            adapter.on_event({"type": "ChannelDestroyed", "channel": {"id": leg}, "cause": 16})
        await adapter.lanes.drained()
        legs = [p["channelId"] for _, path, p in ari.requests if path == "/channels"]
        assert len(legs) == len(earlier) + 1, ari.requests  # the new offer rang
        deleted = [path for m, path, _ in ari.requests if m == "DELETE"]
        assert deleted == [f"/channels/{leg}" for leg in earlier], ari.requests  # only the earlier leg
        assert adapter._legs.of("x", "1001") == legs[-1]


async def test_R14_an_offer_to_an_endpoint_of_no_configured_agent_is_refused() -> None:
    """Whoever can write a command (Redis) must not make the adapter dial anywhere."""
    ari = SlowAri("none")
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, lambda: [],  # type: ignore[arg-type]
                            lanes=Lanes(5.0), endpoints=frozenset({"PJSIP/agent1001"}))
    await adapter.execute(c.OfferCall("k1", "1001", "PJSIP/premium-rate-line", 10.0))
    assert not any(path == "/channels" for _, path, _ in ari.requests)
    assert submitted == [e.OfferFailed("k1", "1001", "refused-endpoint", NOW)]
    await adapter.execute(c.OfferCall("k2", "1001", "PJSIP/agent1001", 10.0))
    assert [p["endpoint"] for _, path, p in ari.requests if path == "/channels"] == ["PJSIP/agent1001"]


class GatedAri:
    """ARI whose answers to chosen requests wait until released."""

    app = "cti"

    def __init__(self, *gated: str) -> None:
        self.gates = {path: asyncio.Event() for path in gated}
        self.requests: list[tuple[str, str]] = []

    async def request(self, method: str, path: str, **params: Any) -> Any:
        self.requests.append((method, path))
        if path in self.gates:
            await self.gates[path].wait()
        return {}

    async def request_quiet(self, method: str, path: str, **params: Any) -> None:
        await self.request(method, path, **params)


async def test_an_offer_rings_without_waiting_for_the_callers_answer_and_what_follows_waits_for_it() -> None:
    """Issue 17: the agent's leg is originated while the caller's answer is still under
    way (here: held), and the connect the core asks after the offer runs only once the
    originate has been answered, after the caller's answer (the call's lane)."""
    ari = GatedAri("/channels/k1/answer", "/channels")
    adapter = StasisAdapter(ari, lambda ev: None, lambda: NOW, None, lanes=Lanes(5.0))  # type: ignore[arg-type]
    await adapter.dispatch(c.AnswerCall("k1"))
    await adapter.dispatch(c.PlayWaitingMedia("k1", ()))
    await adapter.dispatch(c.OfferCall("k1", "1001", "PJSIP/agent1001", 10.0))
    await adapter.dispatch(c.ConnectCall("k1", "1001"))
    for _ in range(10):
        await asyncio.sleep(0)
    asked = [r for r in ari.requests if r[0] != "GET"]  # (a cluster adapter asks for the endpoint's state)
    assert asked == [("POST", "/channels/k1/answer"), ("POST", "/channels")]  # rung at once
    ari.gates["/channels/k1/answer"].set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert ("POST", "/bridges") not in ari.requests  # the connect waits for the originate
    ari.gates["/channels"].set()
    await adapter.lanes.drained()
    assert ari.requests.index(("POST", "/channels")) < ari.requests.index(("POST", "/bridges"))
    assert ("POST", "/bridges/cti-k1/addChannel") in ari.requests
