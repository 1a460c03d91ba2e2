"""The ARI adapter (cti.calls.stasis) translates only: real ARI events, captured from
the sandbox (tests/fixtures/ari, see capture.py there), become the right core events,
and the core's call actions become the right ARI requests. ARI itself is a recording
stand-in here; the e2e tests run the same adapter against real Asterisk."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from acd import commands as c
from acd import events as e
from cti.calls.stasis import StasisAdapter
from cti.errors import AriError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ari"
NOW = 1000.0


class RecordingAri:
    """Answers every request with an empty success and remembers it."""

    app = "cti"

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    async def request(self, method: str, path: str, **params: Any) -> Any:
        self.requests.append((method, path, params))
        return [] if (method, path) == ("GET", "/channels") else {}

    async def request_quiet(self, method: str, path: str, **params: Any) -> None:
        await self.request(method, path, **params)


def load(name: str) -> list[dict[str, Any]]:
    return list(json.loads((FIXTURES / f"{name}.json").read_text()))


class Harness:
    def __init__(self) -> None:
        self.ari = RecordingAri()
        self.submitted: list[e.Event] = []
        self.adapter = StasisAdapter(self.ari, self.submitted.append, lambda: NOW, lambda: [])  # type: ignore[arg-type]
        self.renames: dict[str, str] = {}

    def feed(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            text = json.dumps(ev)
            for captured, ours in self.renames.items():  # the capture's leg ids -> the adapter's
                text = text.replace(captured, ours)
            self.adapter.on_event(json.loads(text))

    async def offer(self, call_id: str, agent_id: str, captured_leg: str) -> str:
        await self.adapter.execute(c.OfferCall(call_id, agent_id, f"PJSIP/agent{agent_id}", 10.0))
        method, path, params = self.ari.requests[-1]
        assert (method, path) == ("POST", "/channels")
        assert params["appArgs"] == f"offer,{call_id},{agent_id}" and params["endpoint"] == f"PJSIP/agent{agent_id}"
        self.renames[captured_leg] = params["channelId"]
        return str(params["channelId"])

    async def follow_ups(self) -> None:
        await self.adapter.lanes.drained()


def split(events: list[dict[str, Any]], kind: str, channel: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events up to and including the first ``kind`` on ``channel``, and the rest."""
    for i, ev in enumerate(events):
        target = (ev.get("playback") or {}).get("target_uri") or f"channel:{(ev.get('channel') or {}).get('id')}"
        if ev["type"] == kind and target == f"channel:{channel}":
            return events[: i + 1], events[i + 1:]
    raise AssertionError(f"no {kind} on {channel} in the fixture")


def leg_of(events: list[dict[str, Any]]) -> str:
    return next(ev["channel"]["id"] for ev in events if ev.get("channel", {}).get("id", "").startswith("cti-offer-"))


def test_an_answered_call_translates_to_entered_answered_and_hung_up() -> None:
    async def run() -> None:
        h = Harness()
        events = load("answered_call")
        call = events[0]["channel"]["id"]
        leg = leg_of(events)
        head, rest = split(events, "StasisStart", call)
        h.feed(head)
        assert h.submitted == [e.CallEntered(call, "caller", "300", NOW)]
        # Waiting media: the prompt, then music when it ends (no other traffic needed).
        await h.adapter.execute(c.PlayWaitingMedia(call, ("greeting",)))
        assert h.ari.requests[-1][:2] == ("POST", f"/channels/{call}/play/cti-wait-{call}-1")
        head, rest = split(rest, "PlaybackFinished", call)
        h.feed(head)
        await h.follow_ups()
        # Issue 32: the music is the holding bridge's one stream, made the first time.
        assert [r[:2] for r in h.ari.requests[-3:]] == [
            ("POST", "/bridges/cti-hold"), ("POST", "/bridges/cti-hold/moh"), ("POST", "/bridges/cti-hold/addChannel")]
        assert h.ari.requests[-1][2] == {"channel": call}
        ours = await h.offer(call, "1001", leg)
        head, rest = split(rest, "StasisStart", leg)
        h.feed(head)
        assert h.submitted[-1] == e.OfferAnswered(call, "1001", NOW)
        await h.adapter.execute(c.ConnectCall(call, "1001"))
        assert ("POST", f"/bridges/cti-{call}/addChannel", {"channel": [call, ours]}) in h.ari.requests
        # Moved from the holding bridge into its own in that one request: no music to stop.
        assert ("DELETE", f"/channels/{call}/moh", {}) not in h.ari.requests
        head, rest = split(rest, "StasisEnd", call)  # the caller hangs up first
        h.feed(head)
        assert h.submitted[-1] == e.CallerHungUp(call, NOW)
        await h.adapter.execute(c.HangUpAgent(call, "1001"))
        assert ("DELETE", f"/channels/{ours}", {}) in h.ari.requests
        h.feed(rest)  # our own hang-up of the agent's leg is no news for the core
        assert [type(ev) for ev in h.submitted] == [e.CallEntered, e.OfferAnswered, e.CallerHungUp]

    asyncio.run(run())


def test_R1_an_offer_asterisk_gave_up_on_is_a_failed_offer_with_the_q850_reason() -> None:
    async def run() -> None:
        h = Harness()
        events = load("offer_not_answered")
        call = events[0]["channel"]["id"]
        head, rest = split(events, "StasisStart", call)
        h.feed(head)
        await h.offer(call, "1003", leg_of(events))
        h.feed(rest)
        destroyed = next(ev for ev in events if ev["type"] == "ChannelDestroyed")
        assert destroyed["cause"] == 19  # what Asterisk really reports for no answer
        assert h.submitted == [e.CallEntered(call, "caller", "300", NOW),
                               e.OfferFailed(call, "1003", "no-answer", NOW), e.CallerHungUp(call, NOW)]

    asyncio.run(run())


def test_R3_R9_R11_a_key_takes_an_offered_callback_and_the_phone_hold_is_reported() -> None:
    async def run() -> None:
        h = Harness()
        events = load("caller_presses_a_key_and_agent_holds")
        call = events[0]["channel"]["id"]
        leg = leg_of(events)
        head, rest = split(events, "StasisStart", call)
        h.feed(head)
        await h.adapter.execute(c.PlayWaitingMedia(call, ("callback-offer",), offer_callback=True))
        head, rest = split(rest, "ChannelDtmfReceived", call)
        h.feed(head)  # key 1: this caller id is no number, so the engine asks for one (R11)
        assert h.submitted[1:] == []
        key = head[-1]
        h.feed([{**key, "digit": d} for d in "13912345678#"])
        h.feed([{**key, "digit": "#"}])  # the same key again: one request only
        assert h.submitted[1:] == [e.CallerChoseCallback(call, NOW, "13912345678")]
        await h.offer(call, "1002", leg)
        head, rest = split(rest, "StasisEnd", leg)  # hold, unhold, then the agent's leg ends
        h.feed(head)
        assert h.submitted[2:] == [e.OfferAnswered(call, "1002", NOW), e.HoldStarted(call, NOW),
                                   e.HoldEnded(call, NOW), e.AgentHungUp(call, "1002", NOW)]
        h.feed(rest)
        assert h.submitted[-1] == e.CallerHungUp(call, NOW)

    asyncio.run(run())


def test_a_key_without_an_offered_callback_is_no_request() -> None:
    h = Harness()
    events = load("caller_presses_a_key_and_agent_holds")
    call = events[0]["channel"]["id"]
    head, _ = split(events, "ChannelDtmfReceived", call)
    h.feed(head)
    assert h.submitted == [e.CallEntered(call, "caller", "300", NOW)]


async def test_malformed_frames_are_ignored_and_lose_nothing() -> None:
    h = Harness()
    events = load("answered_call")
    call = events[0]["channel"]["id"]
    for bad in ({"type": "StasisStart"}, {"type": "StasisStart", "channel": {"id": 5}},
                {"type": "StasisStart", "channel": {"id": "x"}, "args": "inbound"},
                {"type": "StasisStart", "channel": {"id": "y"}, "args": ["someone-else"]},
                {"type": "PlaybackFinished"}, {"type": "PlaybackFinished", "playback": {"id": "cti-wait-zz"}},
                {"type": "ChannelDtmfReceived", "channel": {"id": "z"}},
                {"type": "ChannelDestroyed", "channel": {"id": "w"}, "cause": "sixteen"},
                {"type": "NoSuchEvent", "channel": []}):
        h.adapter.on_event(bad)
    assert h.submitted == []
    h.feed(events)  # the adapter still works
    assert h.submitted[0] == e.CallEntered(call, "caller", "300", NOW)
    assert h.submitted[-1] == e.CallerHungUp(call, NOW)


async def test_R11_an_answered_customer_is_screened_by_AMD_and_a_machine_is_hung_up() -> None:
    """A trunk with detect_machines: the answered leg leaves Stasis for the cti-screen
    context (subscribed first, so its hang-up still reaches us); the StasisEnd that
    brings is no hang-up; AMD's MACHINE is an attempt not reached and the leg is hung
    up; HUMAN makes the leg the call's; a hang-up during detection is not reached."""
    from cti.calls.trunks import Trunk

    h = Harness()
    h.adapter.customers.trunk = Trunk("customers", "PJSIP/{number}@customers", detect_machines=True)
    up = {"state": "Up", "name": "PJSIP/customers-00000001"}
    for call_id in ("cb1", "cb2", "cb3"):
        await h.adapter.execute(c.DialCustomer(call_id, "13812345678", "1001", 30.0, 1))
        h.feed([{"type": "StasisStart", "args": ["customer", call_id], "channel": {"id": call_id, **up}}])
    await h.follow_ups()
    assert h.submitted == [e.CustomerScreening(k, NOW) for k in ("cb1", "cb2", "cb3")]
    assert ("POST", "/applications/cti/subscription", {"eventSource": "channel:cb1"}) in h.ari.requests
    assert ("POST", "/channels/cb1/continue", {"context": "cti-screen", "extension": "cti", "priority": 1}) \
        in h.ari.requests
    h.submitted.clear()
    h.feed([{"type": "StasisEnd", "channel": {"id": k, **up}} for k in ("cb1", "cb2", "cb3")])
    assert h.submitted == []  # handed to AMD, not gone
    h.feed([{"type": "StasisStart", "args": ["screened", "cb1", "MACHINE", "LONGGREETING-1500-1500"],
             "channel": {"id": "cb1", **up}},
            {"type": "StasisStart", "args": ["screened", "cb2", "HUMAN", "HUMAN-800-800"],
             "channel": {"id": "cb2", **up}},
            {"type": "ChannelDestroyed", "cause": 16, "channel": {"id": "cb3", **up}}])
    await h.follow_ups()
    assert h.submitted == [e.CustomerNotReached("cb1", "machine", NOW), e.CustomerAnswered("cb2", NOW),
                           e.CustomerNotReached("cb3", "hung-up", NOW)]
    assert ("DELETE", "/channels/cb1", {}) in h.ari.requests and ("DELETE", "/channels/cb2", {}) not in h.ari.requests


def callback_view(call_id: str, state: str, offered_to: tuple[str, ...] = (), agent_id: str | None = None) -> Any:
    from acd.state import CallView

    return CallView(call_id=call_id, queue="support", state=state, agent_id=agent_id, arrived_at=NOW - 5,
                    priority=0, kind="return-visit", requirement=(), offered_to=offered_to, on_hold=False,
                    sticky_agent=None, caller="13812345678", bridged=False, node="", emergency=False,
                    waiting_prompts=(), waiting_loop=False, callback=True, attempts=1)


class ListingAri(RecordingAri):
    """Lists the given channels."""

    def __init__(self, channels: list[dict[str, Any]]) -> None:
        super().__init__()
        self.channels = channels

    async def request(self, method: str, path: str, **params: Any) -> Any:
        self.requests.append((method, path, params))
        if method == "GET" and path.endswith("/variable"):  # (as Asterisk answers for a variable not set)
            raise AriError(method, path, 404, '{"message":"Provided variable was not found"}')
        return list(self.channels) if (method, path) == ("GET", "/channels") else {}


async def test_R11_a_customer_is_dialled_into_the_knocking_context_and_followed_at_once() -> None:
    """The customer's leg goes to the dialplan context cti-customer (which hands it to
    the engine when answered, and knocks again while the engine restarts), and the
    application subscribes to it as soon as it exists (a busy line is heard)."""
    from cti.calls.trunks import Trunk

    h = Harness()
    h.adapter.customers.trunk = Trunk("customers", "PJSIP/{number}@customers")
    await h.adapter.execute(c.DialCustomer("cb1", "13812345678", "1001", 30.0, 1))
    (dial,) = [p for m, path, p in h.ari.requests if (m, path) == ("POST", "/channels")]
    assert dial["context"] == "cti-customer" and dial["extension"] == "cti" and dial["priority"] == 1
    assert "app" not in dial and dial["channelId"] == "cb1" and dial["endpoint"] == "PJSIP/13812345678@customers"
    assert h.ari.requests[-1] == ("POST", "/applications/cti/subscription", {"eventSource": "channel:cb1"})
    h.feed([{"type": "ChannelDestroyed", "cause": 17, "channel": {"id": "cb1", "state": "Busy"}}])
    assert h.submitted == [e.CustomerNotReached("cb1", "busy", NOW)]


async def test_R11_after_a_restart_an_answer_during_the_gap_is_kept_and_offers_in_flight_are_ours() -> None:
    """What a restarted engine finds: a customer who answered while no engine was there
    (the leg knocks in cti-customer; its StasisStart comes) is the call's once it
    enters; one who entered Stasis before the listing is the call's at once and its
    late StasisStart is no stray; a callback not dialled yet is no hang-up; an offer the
    core made while the listing was read is ours when its agent answers."""
    knocking = {"id": "cb1", "state": "Up", "name": "PJSIP/customers-1",
                "dialplan": {"context": "cti-customer", "exten": "cti", "priority": 7, "app_name": "Wait"}}
    entered = {"id": "cb2", "state": "Up", "name": "PJSIP/customers-2",
               "dialplan": {"context": "cti-customer", "exten": "cti", "priority": 2, "app_name": "Stasis"}}
    calls = [callback_view("cb1", "dialing", agent_id="1001"), callback_view("cb2", "dialing", agent_id="1002"),
             callback_view("cb3", "offered", offered_to=("1003",))]
    agents = [{"id": f"cti-offer-{agent}-{call}-a1", "state": "Up", "name": f"PJSIP/agent{agent}-1"}
              for agent, call in (("1001", "cb1"), ("1002", "cb2"))]  # the agents waiting for their customers
    ari = ListingAri([knocking, entered, *agents])
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, lambda: calls)  # type: ignore[arg-type]
    await adapter.dispatch(c.OfferCall("cb3", "1003", "PJSIP/agent1003", 10.0))  # made as the engine came up
    await adapter.resync()
    await adapter.lanes.drained()
    assert submitted == [e.CustomerAnswered("cb2", NOW)]  # cb1 knocks; cb3 has no customer leg yet
    assert ("POST", "/applications/cti/subscription", {"eventSource": "channel:cb1"}) in ari.requests
    (offer,) = [p for m, path, p in ari.requests if (m, path) == ("POST", "/channels")]
    assert offer["appArgs"] == "offer,cb3,1003"
    adapter.on_event({"type": "StasisStart", "args": ["customer", "cb1"], "channel": knocking})
    adapter.on_event({"type": "StasisStart", "args": ["customer", "cb2"], "channel": entered})
    adapter.on_event({"type": "StasisStart", "args": ["offer", "cb3", "1003"],
                      "channel": {"id": offer["channelId"], "state": "Up"}})
    await adapter.lanes.drained()
    assert submitted[1:] == [e.CustomerAnswered("cb1", NOW), e.OfferAnswered("cb3", "1003", NOW)]
    assert not [path for m, path, _ in ari.requests if m == "DELETE"]  # nothing taken for a stray


async def test_a_caller_whose_answer_was_lost_in_a_crash_is_answered_by_the_restarted_engine() -> None:
    """The engine died between a caller's entry (journaled) and its answer: the caller's
    channel still rings. The restarted engine answers it (a caller bridged unanswered
    would never hear the agent); an answered caller is not answered twice."""
    import dataclasses

    ringing = {"id": "in1", "state": "Ring", "name": "PJSIP/caller-1"}
    answered = {"id": "in2", "state": "Up", "name": "PJSIP/caller-2"}
    calls = [dataclasses.replace(callback_view(k, "waiting"), callback=False, kind="general") for k in ("in1", "in2")]
    ari = ListingAri([ringing, answered])
    adapter = StasisAdapter(ari, [].append, lambda: NOW, lambda: calls)  # type: ignore[arg-type]
    await adapter.resync()
    await adapter.lanes.drained()
    answers = [path for m, path, _ in ari.requests if m == "POST" and path.endswith("/answer")]
    assert answers == ["/channels/in1/answer"]


async def test_an_agent_on_another_node_is_rung_through_the_trunk_to_it() -> None:
    """A cluster adapter ([cluster] peers = { a = "node-a" }): an offer via node a rings
    PJSIP/<the agent's resource>@node-a (Asterisk's trunk to a), without looking for the
    endpoint here; an offer via a node it has no trunk to fails at once, nothing rung."""
    ari = RecordingAri()
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, None, peers={"a": "node-a"})  # type: ignore[arg-type]
    await adapter.execute(c.OfferCall("k1", "1001", "PJSIP/agent1001", 10.0, via="a"))
    (dial,) = [p for m, path, p in ari.requests if (m, path) == ("POST", "/channels")]
    assert dial["endpoint"] == "PJSIP/agent1001@node-a" and dial["appArgs"] == "offer,k1,1001"
    assert not [path for _, path, _ in ari.requests if path.startswith("/endpoints/")]
    await adapter.execute(c.OfferCall("k2", "1002", "PJSIP/agent1002", 10.0, via="c"))
    assert submitted == [e.OfferFailed("k2", "1002", "no-route-to-node", NOW)]
    assert len([1 for m, path, _ in ari.requests if (m, path) == ("POST", "/channels")]) == 1


def test_the_ari_event_filter_lets_through_every_event_type_the_engine_reads() -> None:
    """Asterisk sends the application only EVENTS_USED (its event filter): a handler
    for any other type would never run. Every ARI event name in the engine's code must
    be in the list, and the list holds nothing the code does not read."""
    import re
    from pathlib import Path

    from cti.asterisk.ari import EVENTS_USED

    name = re.compile(r'"((?:Stasis|Channel|Playback|Device|Bridge|Endpoint|Recording|Dial|Contact|Peer|'
                      r'Application)[A-Z][A-Za-z]+)"')
    root = Path(__file__).resolve().parents[2] / "cti"
    found = {m for p in root.rglob("*.py") if p.name != "ari.py" for m in name.findall(p.read_text())}
    assert found, "no event names found: the pattern is wrong"
    assert found <= set(EVENTS_USED), found - set(EVENTS_USED)
    assert set(EVENTS_USED) <= found, set(EVENTS_USED) - found


async def test_a_cluster_adapter_whose_asterisk_stays_away_ends_its_calls_and_one_back_in_time_does_not() -> None:
    """[cluster] node_gone_after_s: the calls and legs on a node that does not come back
    are reported ended (the router would otherwise hold them open for ever); a node
    back before that keeps them (its resync tells what went)."""
    from cti.calls.nodeloss import NodeLoss

    class Listing(RecordingAri):
        channels: list[dict[str, Any]] = []

        async def request(self, method: str, path: str, **params: Any) -> Any:
            self.requests.append((method, path, params))
            return self.channels if (method, path) == ("GET", "/channels") else {}

    ari = Listing()
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, None)  # type: ignore[arg-type]
    adapter.on_event({"type": "StasisStart", "channel": {"id": "k1", "caller": {"number": "13900000001"}},
                      "args": ["inbound", "300"]})
    await adapter.execute(c.OfferCall("k1", "1005", "PJSIP/1005", 10.0))
    leg = adapter.agent_leg("k1", "1005")
    assert leg is not None
    adapter.on_event({"type": "StasisStart", "channel": {"id": leg}, "args": ["offer", "k1", "1005"]})
    submitted.clear()
    ari.channels = [{"id": "k1", "state": "Up"}, {"id": leg, "state": "Up"}]

    watch = NodeLoss(adapter, 0.05)
    watch.lost()
    await asyncio.sleep(0.01)
    await watch.connected()  # back in time: the resync finds both channels
    await asyncio.sleep(0.1)
    assert submitted == []

    watch.lost()  # away for good
    await asyncio.sleep(0.1)
    assert sorted(map(repr, submitted)) == sorted(map(repr, [e.CallerHungUp("k1", NOW),
                                                             e.AgentHungUp("k1", "1005", NOW)]))


async def test_a_caller_gone_before_the_bridge_is_news_not_a_warning(caplog) -> None:  # type: ignore[no-untyped-def]
    """A caller who hangs up while the agent's leg is being answered (the demo's callers
    do, during the agent's announcement) makes Asterisk answer the bridge request 400
    "Channel not found": that is the race every busy queue has, logged as such; the
    hang-up event that follows ends the call. Any other refusal stays a warning."""
    import logging

    from cti.errors import AriError

    class Refusing(RecordingAri):
        status = 400

        async def request(self, method: str, path: str, **params: Any) -> Any:
            if path.endswith("/addChannel"):
                raise AriError(method, path, self.status, "Channel not found")
            return await super().request(method, path, **params)

    ari = Refusing()
    adapter = StasisAdapter(ari, [].append, lambda: NOW, None)  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="cti")
    for status, call in ((400, "k1"), (500, "k2")):
        ari.status = status
        await adapter.execute(c.OfferCall(call, "1001", "PJSIP/agent1001", 10.0))
        await adapter.execute(c.ConnectCall(call, "1001"))
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    told = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("call k1: a side was gone before it could join agent 1001" in m for m in told), told
    assert not any("k1" in m for m in warned), warned
    assert any("bridging call k2 with agent 1001 failed" in m for m in warned), warned


def test_R1_at_a_resync_an_earlier_engines_leg_for_an_offer_rung_again_is_hung_up() -> None:
    """An engine that took over rang agent 1002 again for call k1 (the earlier
    engine's offer rang out while no router watched). Asterisk still lists the
    earlier engine's leg: at the resync that leg is hung up and the offer is this
    engine's leg, whether that leg is still on its way or already listed, in any
    order; so the old leg's end is never taken for the new offer failing."""
    import itertools
    from types import SimpleNamespace

    from cti.calls.legs import AgentLegs

    call = SimpleNamespace(offered_to={"1002"}, agent_id=None, consult=None)
    old = "cti-offer-1002-k1-5f3ax7"
    for listed in (False, True):
        legs = AgentLegs(RecordingAri(), [].append, lambda: NOW, itertools.count(1))  # type: ignore[arg-type]
        legs.plan(c.OfferCall("k1", "1002", "PJSIP/agent1002", 8.0))
        new = legs.of("k1", "1002")
        assert new is not None and new != old
        channels = {old: {"state": "Ring"}, "k1": {"state": "Up"}}
        if listed:
            channels = {new: {"state": "Ring"}, **channels}
        for order in (channels, dict(reversed(list(channels.items())))):
            assert legs.resync(order, {"k1": call}) == [old]  # type: ignore[dict-item]
            assert legs.of("k1", "1002") == new and legs.get(old) is None
    alone = AgentLegs(RecordingAri(), [].append, lambda: NOW, itertools.count(1))  # type: ignore[arg-type]
    assert alone.resync({old: {"state": "Ring"}}, {"k1": call}) == []  # type: ignore[dict-item]
    assert alone.of("k1", "1002") == old  # the same offer, still ringing: kept


def test_R6_offer_leg_ids_parse_with_a_systemname_prefixed_call_id() -> None:
    """An Asterisk with a systemname (every node of a cluster should have one) gives ids
    like ``b-1796401697.34``: an engine restarted after kill -9 must still know its offer
    legs by their ids, or it takes the live calls for strangers."""
    from cti.calls.legs import parse_leg

    assert parse_leg("cti-offer-1002-b-1796401697.34-5f3ax7") == ("1002", "b-1796401697.34")
    assert parse_leg("cti-offer-1002-w3-x-1796401697.34-12") == ("1002", "w3-x-1796401697.34")
    assert parse_leg("cti-offer-1001-1796175607.31-abcx12") == ("1001", "1796175607.31")
    assert parse_leg("cti-offer-1001-") is None and parse_leg("cti-offer-1001") is None
    assert parse_leg("cti-sup-1796175607.31-1") is None


def test_R6_a_bridge_asterisk_did_not_make_in_time_is_asked_for_again() -> None:
    """The agent answered, Asterisk stalled past the deadline on the bridge: both sides
    would stay on silent lines. The adapter asks again, a little later (only what is
    missing), and counts it."""
    from cti.errors import AriError

    async def run() -> None:
        h = Harness()
        stalls = [0]  # one request with no answer in time
        real = h.ari.request

        async def stalling(method: str, path: str, **params: Any) -> Any:
            if (method, path) == ("POST", "/bridges") and stalls:
                h.ari.requests.append((method, path, params))
                raise AriError(method, path, stalls.pop(), "no answer within 5 s")
            return await real(method, path, **params)
        h.ari.request = stalling  # type: ignore[method-assign]
        events = load("answered_call")
        call = events[0]["channel"]["id"]
        head, rest = split(events, "StasisStart", call)
        h.feed(head)
        ours = await h.offer(call, "1001", leg_of(events))
        head, rest = split(rest, "StasisStart", leg_of(events))
        h.feed(head)
        lanes = asyncio.create_task(h.adapter.run())
        try:
            await h.adapter.execute(c.ConnectCall(call, "1001"))
            bridged = ("POST", f"/bridges/cti-{call}/addChannel", {"channel": [call, ours]})
            assert bridged not in h.ari.requests  # stalled: not bridged yet
            for _ in range(50):  # asked again 2 s later, in the call's lane
                await asyncio.sleep(0.1)
                if bridged in h.ari.requests:
                    break
            assert bridged in h.ari.requests
            assert [r[:2] for r in h.ari.requests].count(("POST", "/bridges")) == 2
        finally:
            lanes.cancel()
    asyncio.run(run())


def test_a_caller_in_the_holding_bridge_handed_to_the_fallback_is_sent_with_one_request() -> None:
    """Issue 32: the dialplan takes the caller out of the holding bridge; there is no
    music of its own to stop (one request, not two: it counts when ARI is slow at a stop)."""
    async def run() -> None:
        h = Harness()
        h.adapter.on_event({"type": "StasisStart", "channel": {"id": "k1", "caller": {"number": "13900000001"}},
                            "args": ["inbound", "300"]})
        await h.adapter.execute(c.PlayWaitingMedia("k1"))
        assert h.ari.requests[-1][:2] == ("POST", "/bridges/cti-hold/addChannel")
        before = len(h.ari.requests)
        await h.adapter.execute(c.RouteToFallback("k1", "engine stopping"))
        assert [r[:2] for r in h.ari.requests[before:]] == [("POST", "/channels/k1/continue")]
    asyncio.run(run())


async def test_R6_a_caller_whose_stasis_start_was_lost_with_the_events_is_taken_at_the_resync() -> None:
    """Found by the soak (issue 33, seed 33): a caller dialled while the events websocket
    was blackholed; it entered Stasis(cti,inbound,100), its StasisStart was lost with the
    connection, and the reconnect's resync looked only at calls it knew: the caller rang
    unanswered to the end. Now a channel of our application entered as ``inbound`` that
    nobody knows is a new caller, in the order they dialled; another application's
    channel, an offer leg, or one already known is left alone; the late StasisStart of
    one taken this way adds nothing."""
    def chan(chan_id: str, app_data: str, created: str, number: str = "13800000000") -> dict[str, Any]:
        return {"id": chan_id, "state": "Ring", "name": f"PJSIP/caller-{chan_id}", "creationtime": created,
                "caller": {"number": number},
                "dialplan": {"context": "from-caller", "exten": "100", "priority": 2, "app_name": "Stasis",
                             "app_data": app_data}}
    lost_late = chan("k2", "cti,inbound,200", "2026-12-06T02:44:52.100+0000", "13900000000")
    lost_early = chan("k1", "cti,inbound,100", "2026-12-06T02:44:51.954+0000")
    others = [chan("x1", "cti-b,inbound,100", "2026-12-06T02:44:50.000+0000"),  # another node's app
              chan("cti-offer-1001-k0-a1", "cti,offer,k0,1001", "2026-12-06T02:44:50.000+0000"),
              {"id": "x2", "state": "Up", "name": "PJSIP/caller-x2",
               "dialplan": {"context": "from-caller", "exten": "100", "priority": 5, "app_name": "Queue"}}]
    ari = ListingAri([lost_late, *others, lost_early])
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, lambda: [])  # type: ignore[arg-type]
    await adapter.resync()
    await adapter.lanes.drained()
    assert submitted == [e.CallEntered("k1", "13800000000", "100", NOW),
                         e.CallEntered("k2", "13900000000", "200", NOW)]
    adapter.on_event({"type": "StasisStart", "args": ["inbound", "100"], "channel": lost_early})  # late
    await adapter.resync()  # and again: known now
    assert len(submitted) == 2
    adapter.on_event({"type": "ChannelDestroyed", "cause": 16, "channel": {"id": "k1"}})
    assert submitted[-1] == e.CallerHungUp("k1", NOW)  # the call's from now on, as any other


class SurveyListingAri(ListingAri):
    """Lists the given channels; ``marked`` ones carry the survey's variable."""

    def __init__(self, channels: list[dict[str, Any]], marked: dict[str, str]) -> None:
        super().__init__(channels)
        self.marked = marked

    async def request(self, method: str, path: str, **params: Any) -> Any:
        if method == "GET" and path.endswith("/variable") and path.split("/")[2] in self.marked:
            self.requests.append((method, path, params))
            return {"value": self.marked[path.split("/")[2]]}
        return await super().request(method, path, **params)


async def test_R17_R6_a_caller_a_restart_left_in_its_survey_is_thanked_not_queued_again() -> None:
    """Found by a whole run of the suite (CI): a caller left in its survey by a killed
    engine was counted as no response by the next engine, and the same resync took its
    channel (in Stasis as ``inbound``, known to nobody) as a new caller: it was queued and
    connected to the agent again. The survey's caller is thanked only; a later resync,
    while the thanks play (the survey's mark cleared), does not take it either."""
    caller = {"id": "s1", "state": "Up", "name": "PJSIP/caller-s1", "creationtime": "2026-12-06T05:03:25.000+0000",
              "caller": {"number": "13800000000"},
              "dialplan": {"context": "from-caller", "exten": "100", "priority": 2, "app_name": "Stasis",
                           "app_data": "cti,inbound,100"}}
    ari = SurveyListingAri([caller], {"s1": "support|1001|general"})
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, lambda: [])  # type: ignore[arg-type]
    await adapter.resync()
    await adapter.lanes.drained()
    assert submitted == [e.SurveyEnded("s1", "support", "1001", "general", None, NOW)]
    sent = [(m, path) for m, path, _ in ari.requests]
    thanks = sent.index(("POST", "/channels/s1/play/cti-bye-s1"))  # after the question the last engine played is stopped
    assert {("DELETE", "/playbacks/cti-survey-s1-1"), ("DELETE", "/playbacks/cti-survey-s1-2")} <= set(sent[:thanks])
    mark = ("POST", "/channels/s1/variable", {"variable": "CTI_SURVEY", "value": "ended"})
    assert thanks > sent.index(mark[:2]) and mark in ari.requests  # (counted: the thanks' mark)
    ari.marked["s1"] = "ended"
    await adapter.resync()
    await adapter.lanes.drained()
    assert len(submitted) == 1


async def test_R6_a_caller_a_restart_left_in_its_farewell_is_hung_up_not_queued_again() -> None:
    """A farewell (queue full, closed, a callback taken) marks the caller's channel
    before its prompt; an engine started during the prompt finds the caller in Stasis
    as ``inbound``, known to nobody, and hangs it up as the prompt's end would have,
    instead of queueing a call that had ended. An unmarked unknown caller is taken."""
    h = Harness()
    await h.adapter.execute(c.Farewell("k1", "queue-full", "queue-full"))
    sent = [(m, path, p) for m, path, p in h.ari.requests]
    assert sent.index(("POST", "/channels/k1/variable", {"variable": "CTI_SURVEY", "value": "ended"})) < \
        next(i for i, (m, path, _) in enumerate(sent) if path == "/channels/k1/play/cti-bye-k1")

    def chan(chan_id: str, created: str) -> dict[str, Any]:
        return {"id": chan_id, "state": "Up", "name": f"PJSIP/caller-{chan_id}", "creationtime": created,
                "caller": {"number": "13800000000"},
                "dialplan": {"context": "from-caller", "exten": "100", "priority": 2, "app_name": "Stasis",
                             "app_data": "cti,inbound,100"}}
    ari = SurveyListingAri([chan("f1", "2026-12-06T05:00:00.000+0000"), chan("n1", "2026-12-06T05:00:01.000+0000")],
                           {"f1": "ended"})
    submitted: list[e.Event] = []
    adapter = StasisAdapter(ari, submitted.append, lambda: NOW, lambda: [])  # type: ignore[arg-type]
    await adapter.resync()
    await adapter.lanes.drained()
    assert submitted == [e.CallEntered("n1", "13800000000", "100", NOW)]
    assert ("DELETE", "/channels/f1", {}) in ari.requests and ("DELETE", "/channels/n1", {}) not in ari.requests


async def test_R4_R6_a_caller_whose_answer_a_dead_leader_never_carried_out_is_answered_then_recorded(
        tmp_path: Path) -> None:
    """Found by the soak (seed 9, a Redis failover deposing the leader): the old leader
    took the caller's StasisStart and journaled the call, then was fenced before it
    answered and recorded it; the next leader replays the call (its answer and recording
    commands are not carried out at a replay) and its resync answered the caller, but
    never recorded it: the agent talked 23 s unrecorded, unknown to the audit. Now the
    resync records such a caller after its answer, in the call's lane; a caller already
    answered, or with its recording snoop there, is not recorded twice."""
    from acd.state import CallView
    from cti.recording.recorder import Recorder
    from cti.recording.settings import RecordingConfig

    def caller(chan_id: str, state: str) -> dict[str, Any]:
        return {"id": chan_id, "state": state, "name": f"PJSIP/caller-{chan_id}", "caller": {"number": "13800000000"},
                "dialplan": {"context": "from-caller", "exten": "100", "priority": 2, "app_name": "Stasis",
                             "app_data": "cti,inbound,100"}}

    def waiting(call_id: str) -> CallView:
        return CallView(call_id=call_id, queue="support", state="waiting", agent_id=None, arrived_at=NOW - 1,
                        priority=0, kind="general", requirement=(), offered_to=(), on_hold=False, sticky_agent=None,
                        caller="13800000000", bridged=False, node="", emergency=False, waiting_prompts=(),
                        waiting_loop=False)

    ari = ListingAri([caller("lost", "Ring"), caller("up", "Up"), caller("snooped", "Ring"), {"id": "cti-rec-snooped"}])
    recorder = Recorder(RecordingConfig(tmp_path / "spool", "/var/spool/asterisk/recording/cti", tmp_path / "archive"),
                        ari)  # type: ignore[arg-type]
    adapter = StasisAdapter(ari, lambda ev: None, lambda: NOW,  # type: ignore[arg-type]
                            lambda: [waiting("lost"), waiting("up"), waiting("snooped")], recorder=recorder)
    await adapter.resync()
    await adapter.lanes.drained()
    sent = [(m, path) for m, path, _ in ari.requests]
    assert sent.index(("POST", "/channels/lost/answer")) < sent.index(("POST", "/channels/lost/snoop"))
    assert ("POST", "/channels/up/snoop") not in sent and ("POST", "/channels/snooped/snoop") not in sent
