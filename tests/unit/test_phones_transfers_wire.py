"""The wire side of transfers, holds, the agents' phones and listening (cti.calls.transfers,
cti.agents.phone, cti.calls.listening) through the ARI adapter: ARI events in, core
events and ARI requests out. ARI is a recording stand-in; the e2e tests run the same
code against real Asterisk, softphones included."""

from __future__ import annotations

from typing import Any

from acd import commands as c
from acd import events as e
from cti.agents.phone import Phones
from tests.unit.test_stasis_adapter import NOW, Harness


async def offered(h: Harness, call: str, agent: str) -> str:
    h.adapter.on_event({"type": "StasisStart", "args": ["inbound", "100"],
                        "channel": {"id": call, "caller": {"number": "13800000000"}, "name": "PJSIP/caller-1"}})
    await h.adapter.execute(c.OfferCall(call, agent, f"PJSIP/agent{agent}", 10.0))
    leg = str(h.ari.requests[-1][2]["channelId"])
    h.adapter.on_event({"type": "StasisStart", "args": ["offer", call, agent], "channel": {"id": leg}})
    return leg


def refer(source: str, destination: str = "", protocol_id: str = "") -> dict[str, Any]:
    wanted = {"destination": destination} if destination else {"protocol_id": protocol_id}
    return {"type": "ChannelTransfer", "referred_by": {"source_channel": {"id": source}},
            "refer_to": {"requested_destination": wanted}}


async def test_a_blind_refer_asks_the_core_and_tells_the_phone() -> None:
    h = Harness()
    h.adapter.transfers.agents = {"1002": "1002", "8002": "1002"}
    h.adapter.transfers.queues = frozenset({"gas"})
    leg = await offered(h, "k1", "1001")
    await h.follow_ups()
    # The phone's transfers come to the engine: set on the leg when it is made.
    made = [p for m, path, p in h.ari.requests if (m, path) == ("POST", "/channels") and p["channelId"] == leg]
    assert made and made[0]["body"] == {"variables": {"PJSIP_TRANSFER_HANDLING()": "ari-only"}}
    h.adapter.on_event(refer(leg, "8002"))  # by the agent's announced number
    h.adapter.on_event(refer(leg, "sip:gas@127.0.0.1"))
    await h.follow_ups()
    asked = [x for x in h.submitted if isinstance(x, e.TransferRequested)]
    assert asked == [e.TransferRequested("k1", "1001", "agent", "1002", False, NOW),
                     e.TransferRequested("k1", "1001", "queue", "gas", False, NOW)]
    told = [r for r in h.ari.requests if r[1].endswith("/transfer_progress")]
    assert told == [("POST", f"/channels/{leg}/transfer_progress", {"states": "channel_answered"})] * 2


async def test_R3_after_a_phones_transfer_the_bridge_is_kept_for_the_next_agent_and_deleted_when_the_call_ends() -> None:
    """Asterisk 22.10 keeps a bridge deleted right after a phone's REFER alive but hidden:
    the next agent's bridge under the same id was refused (409) and not found (404), and
    the caller never met the agent the call was transferred to (a whole run's failure,
    3 in 6 on one instance; a desk transfer to a queue showed it too). An agent's part
    that ends while the caller stays leaves the bridge; the next agent joins it; the
    call's end (the caller leaving) deletes it, also while waiting for the next agent."""
    h = Harness()
    h.adapter.transfers.agents = {"1002": "1002"}
    leg = await offered(h, "k1", "1001")
    await h.adapter.execute(c.ConnectCall("k1", "1001"))
    h.adapter.on_event(refer(leg, "1002"))
    await h.follow_ups()
    await h.adapter.execute(c.HangUpAgent("k1", "1001"))
    assert ("DELETE", "/bridges/cti-k1", {}) not in h.ari.requests
    assert h.ari.requests[-1] == ("DELETE", f"/channels/{leg}", {})
    await h.adapter.execute(c.OfferCall("k1", "1002", "PJSIP/agent1002", 10.0))
    leg2 = str(h.ari.requests[-1][2]["channelId"])
    h.adapter.on_event({"type": "StasisStart", "args": ["offer", "k1", "1002"], "channel": {"id": leg2}})
    await h.adapter.execute(c.ConnectCall("k1", "1002"))
    h.adapter.on_event({"type": "StasisEnd", "channel": {"id": "k1"}})  # the caller leaves: the call's end
    await h.adapter.execute(c.HangUpAgent("k1", "1002"))
    await h.follow_ups()
    assert ("DELETE", "/bridges/cti-k1", {}) in h.ari.requests
    # A caller who hangs up while the transferred call waits: the kept bridge goes too.
    leg3 = await offered(h, "k2", "1001")
    await h.adapter.execute(c.ConnectCall("k2", "1001"))
    h.adapter.on_event(refer(leg3, "1002"))
    await h.follow_ups()
    await h.adapter.execute(c.HangUpAgent("k2", "1001"))
    assert ("DELETE", "/bridges/cti-k2", {}) not in h.ari.requests
    h.adapter.on_event({"type": "StasisEnd", "channel": {"id": "k2"}})
    await h.follow_ups()
    assert ("DELETE", "/bridges/cti-k2", {}) in h.ari.requests
    assert not h.adapter.transfers.kept_bridges


async def test_a_refer_the_engine_cannot_do_is_declined_and_changes_nothing() -> None:
    h = Harness()
    h.adapter.transfers.agents = {"1002": "1002"}
    leg = await offered(h, "k1", "1001")
    refused: list[e.Event] = []
    h.adapter.transfers.ask = lambda event: bool(refused.append(event))  # the core says no
    for ev in (refer(leg, "nobody"), refer(leg, protocol_id="abc@host"), refer(leg, "1002"),
               refer("not-a-leg-of-ours", "1002"), {"type": "ChannelTransfer"}):
        h.adapter.on_event(ev)
    await h.follow_ups()
    assert refused == [e.TransferRequested("k1", "1001", "agent", "1002", False, NOW)]
    told = [r[2]["states"] for r in h.ari.requests if r[1].endswith("/transfer_progress")]
    assert told == ["channel_declined"] * 3
    assert not [x for x in h.submitted if isinstance(x, e.TransferRequested)]


async def test_R3_an_engine_hold_takes_the_caller_out_of_the_bridge_and_back() -> None:
    h = Harness()
    leg = await offered(h, "k1", "1001")
    await h.adapter.execute(c.ConnectCall("k1", "1001"))
    await h.adapter.execute(c.HoldCaller("k1"))
    assert h.ari.requests[-2:] == [("POST", "/bridges/cti-k1/removeChannel", {"channel": "k1"}),
                                   ("POST", "/channels/k1/moh", {})]
    await h.adapter.execute(c.ConnectConsult("k1", "1001"))
    assert h.ari.requests[-1] == ("POST", "/bridges/cti-k1/addChannel", {"channel": leg})
    await h.adapter.execute(c.TakeOffHold("k1"))
    assert h.ari.requests[-2:] == [("DELETE", "/channels/k1/moh", {}),
                                   ("POST", "/bridges/cti-k1/addChannel", {"channel": "k1"})]
    await h.adapter.execute(c.TakeOffHold("k1"))  # not the engine's hold now: the phone's (R3 unhold)
    assert h.ari.requests[-1] == ("DELETE", f"/channels/{leg}/hold", {})
    await h.adapter.execute(c.DropAgentLeg("k1", "1001"))
    assert h.ari.requests[-1] == ("DELETE", f"/channels/{leg}", {})  # the bridge stays for the call


def phones(h: Harness, asked: list[e.Event], pins: dict[str, str]) -> Phones:
    async def verify(agent: str, pin: str) -> bool:
        return pins.get(agent) == pin

    def ask(event: e.Event) -> bool:
        asked.append(event)
        return True
    p = Phones(h.ari, ask, lambda: NOW, h.adapter.then, {"PJSIP/agent2001": "2001"}, verify,  # type: ignore[arg-type]
               ("break", "lunch", "training"))
    h.adapter.phones = p
    h.adapter.hooks.insert(0, p.on_event)
    return p


async def test_feature_codes_log_in_with_the_pin_and_pause_with_a_reason_number() -> None:
    h = Harness()
    asked: list[e.Event] = []
    phones(h, asked, {"2001": "2468"})

    async def dial(chan: str, what: str, keys: str) -> list[tuple[str, str, dict[str, Any]]]:
        before = len(h.ari.requests)
        h.adapter.on_event({"type": "StasisStart", "args": ["feature", what],
                            "channel": {"id": chan, "name": "PJSIP/agent2001-0000002a"}})
        for key in keys:
            h.adapter.on_event({"type": "ChannelDtmfReceived", "digit": key, "channel": {"id": chan}})
        await h.follow_ups()
        return h.ari.requests[before:]

    sent = await dial("f1", "login", "1111#")
    assert ("POST", "/channels/f1/play/cti-feature-ask-f1", {"media": "sound:cti/agent-pin"}) in sent
    assert sent[-1] == ("POST", "/channels/f1/play/cti-feature-end-f1", {"media": "sound:cti/agent-refused"})
    assert asked == []  # a wrong PIN changes nothing
    sent = await dial("f2", "login", "2468#")
    assert asked == [e.AgentLoggedIn("2001", NOW)]
    assert sent[-1] == ("POST", "/channels/f2/play/cti-feature-end-f2", {"media": "sound:cti/agent-logged-in"})
    h.adapter.on_event({"type": "PlaybackFinished", "playback": {"id": "cti-feature-end-f2"}})
    await h.follow_ups()
    assert h.ari.requests[-1] == ("DELETE", "/channels/f2", {})  # said, then hung up
    await dial("f3", "pause", "2#")
    await dial("f4", "pause", "9#")  # no such reason: refused
    await dial("f5", "ready", "")
    assert asked[1:] == [e.AgentPaused("2001", "lunch", NOW), e.AgentReady("2001", NOW)]
    # Not an agent's phone: refused, nothing asked.
    h.adapter.on_event({"type": "StasisStart", "args": ["feature", "login"],
                        "channel": {"id": "f6", "name": "PJSIP/caller-00000001"}})
    await h.follow_ups()
    assert h.ari.requests[-1][1] == "/channels/f6/play/cti-feature-end-f6" and len(asked) == 3
    assert h.submitted == []  # none of it reached the call handling


async def test_phones_away_and_back_become_reachability_once_each() -> None:
    h = Harness()
    asked: list[e.Event] = []
    phones(h, asked, {})
    for state in ("UNAVAILABLE", "UNAVAILABLE", "NOT_INUSE", "INUSE", "UNKNOWN"):
        h.adapter.on_event({"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/agent2001", "state": state}})
    h.adapter.on_event({"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/caller", "state": "NOT_INUSE"}})
    assert asked == [e.AgentReachable("2001", False, NOW), e.AgentReachable("2001", True, NOW)]
    # The node's Asterisk out of reach: the phones it saw are not reachable through it.
    p = h.adapter.phones
    assert p is not None
    p.lost()
    p.lost()
    assert asked[2:] == [e.AgentReachable("2001", False, NOW)]


async def test_listening_rings_the_supervisor_then_snoops_and_switches_without_dropping() -> None:
    h = Harness()
    leg = await offered(h, "k1", "1001")
    h.adapter.listening.tone = True  # [desk] listen_tone: the agent hears a beep
    h.adapter.listening.start("k1", "1001", leg, "PJSIP/sup1", "listen", "account:li")
    await h.follow_ups()
    ring = h.ari.requests[-1]
    assert ring[:2] == ("POST", "/channels") and ring[2]["endpoint"] == "PJSIP/sup1"
    phone = ring[2]["channelId"]
    h.adapter.on_event({"type": "StasisStart", "args": ["supervise", "k1"], "channel": {"id": phone}})
    await h.follow_ups()
    snoops = [r for r in h.ari.requests if r[1] == f"/channels/{leg}/snoop"]
    assert [(r[2]["spy"], r[2]["whisper"]) for r in snoops] == [("both", "none")]
    first = snoops[0][2]["snoopId"]
    assert ("POST", f"/channels/{leg}/play", {"media": "sound:beep"}) in h.ari.requests
    assert ("POST", "/bridges/cti-sup-k1/addChannel", {"channel": first}) not in h.ari.requests  # not in Stasis yet
    h.adapter.on_event({"type": "StasisStart", "args": ["snoop", "k1"], "channel": {"id": first}})  # now it is
    await h.follow_ups()
    assert ("POST", "/bridges/cti-sup-k1/addChannel", {"channel": first}) in h.ari.requests
    h.adapter.listening.change("k1", "barge", "account:li")
    await h.follow_ups()
    snoops = [r for r in h.ari.requests if r[1] == f"/channels/{leg}/snoop"]
    assert [(r[2]["spy"], r[2]["whisper"]) for r in snoops] == [("both", "none"), ("both", "both")]
    second = snoops[1][2]["snoopId"]
    assert ("DELETE", f"/channels/{first}", {}) not in h.ari.requests  # the old one until the new one is in
    h.adapter.on_event({"type": "StasisStart", "args": ["snoop", "k1"], "channel": {"id": second}})
    await h.follow_ups()
    assert ("DELETE", f"/channels/{first}", {}) in h.ari.requests
    assert ("DELETE", f"/channels/{phone}", {}) not in h.ari.requests  # the supervisor stays on
    h.adapter.on_event({"type": "StasisEnd", "channel": {"id": first}})  # the replaced one ending ends nothing
    assert "k1" in h.adapter.listening.sessions
    h.adapter.on_event({"type": "StasisEnd", "channel": {"id": leg}})  # the agent's call ends
    await h.follow_ups()
    assert "k1" not in h.adapter.listening.sessions
    assert ("DELETE", f"/channels/{phone}", {}) in h.ari.requests
    assert h.submitted[-1] == e.AgentHungUp("k1", "1001", NOW)  # and the core still hears of it


async def test_a_resync_mid_consult_keeps_the_caller_held_and_reports_the_consult_leg() -> None:
    """After a reconnect (or a restart) during a consult: the caller stays out of the
    bridge, the consulted agent's leg is kept (not hung up as a stray), and what
    happened to it meanwhile is reported: answered, or gone (the caller returns)."""
    from acd import CallView

    for consult_leg_there in (True, False):
        h = Harness()
        a_leg, b_leg = "cti-offer-1001-k1-x1", "cti-offer-1002-k1-x2"
        listed = [{"id": "k1", "state": "Up"}, {"id": a_leg, "state": "Up"}]
        if consult_leg_there:
            listed.append({"id": b_leg, "state": "Up"})

        async def request(method: str, path: str, _listed: list[Any] = listed, _h: Harness = h, **params: Any) -> Any:
            _h.ari.requests.append((method, path, params))
            return _listed if (method, path) == ("GET", "/channels") else {}
        h.ari.request = request  # type: ignore[method-assign]
        view = CallView("k1", "support", "connected", "1001", 0.0, 0, "", (), (), True, None, "5550001", True, "",
                        False, (), False, 1.0, 1.0, False, 0, "1002", False, True)
        h.adapter._calls = lambda: [view]
        await h.adapter.resync()
        assert not [r for r in h.ari.requests if r[1] == "/bridges/cti-k1/addChannel"]  # the caller stays held
        assert ("DELETE", f"/channels/{b_leg}", {}) not in h.ari.requests
        assert "k1" in h.adapter.transfers.held
        expected = e.OfferAnswered("k1", "1002", NOW) if consult_leg_there else e.OfferFailed("k1", "1002", "lost", NOW)
        assert h.submitted == [expected]


async def test_R6_a_phone_busy_with_a_call_that_is_not_the_engines_is_offered_none_until_free() -> None:
    """Found by the soak (issue 33, seed 33, finding 3): a call of the dialplan's fallback
    queue (made while no engine led) was up on agent 1002's phone when the next leader
    offered 1002 another: two calls at once on one phone. On a single node a phone in a
    call none of whose legs is the engine's is away until it is free; the engine's own
    offer ringing it, or its call, changes nothing; at a (re)connect the endpoints'
    listing (a channel on an online endpoint) says so too."""
    h = Harness()
    asked: list[e.Event] = []
    p = phones(h, asked, {})
    p.judge_busy(h.adapter._legs.has_agent)  # what a single node's adapter sets (Harness builds it bare)
    dev = lambda state: {"type": "DeviceStateChanged", "device_state": {"name": "PJSIP/agent2001", "state": state}}
    h.adapter.on_event(dev("NOT_INUSE"))
    h.adapter.on_event(dev("INUSE"))  # a call the engine did not make
    h.adapter.on_event(dev("NOT_INUSE"))
    assert asked == [e.AgentReachable("2001", True, NOW), e.AgentReachable("2001", False, NOW),
                     e.AgentReachable("2001", True, NOW)]
    await h.adapter.execute(c.OfferCall("k1", "2001", "PJSIP/agent2001", 10.0))  # the engine's own
    for state in ("RINGING", "INUSE", "ONHOLD", "NOT_INUSE"):
        h.adapter.on_event(dev(state))
    assert len(asked) == 3  # its own call: still reachable throughout
    h.adapter.on_event({"type": "ChannelDestroyed", "cause": 16,
                        "channel": {"id": str(h.ari.requests[-1][2]["channelId"])}})
    h.adapter.on_event(dev("UNAVAILABLE"))
    assert asked[-1] == e.AgentReachable("2001", False, NOW)
    # At a (re)connect: online with a channel that is not ours -> away; then free -> back.
    listing: list[dict[str, Any]] = [{"technology": "PJSIP", "resource": "agent2001", "state": "online",
                                      "channel_ids": ["1796525507.1115"]}]

    async def listed(method: str, path: str, **params: Any) -> Any:
        h.ari.requests.append((method, path, params))
        return listing if (method, path) == ("GET", "/endpoints") else {}
    h.ari.request = listed  # type: ignore[method-assign]
    await p.resync()
    assert asked[-1] == e.AgentReachable("2001", False, NOW) and len(asked) == 4  # (away already)
    h.adapter.on_event(dev("NOT_INUSE"))
    assert asked[-1] == e.AgentReachable("2001", True, NOW)
    await p.resync()
    assert asked[-1] == e.AgentReachable("2001", False, NOW)  # the listing: still on that call


async def test_R6_a_restarted_engine_does_not_take_its_own_call_for_one_that_is_not_its() -> None:
    """At a restart the listing shows agent 2001's phone in a call: the engine's own (its
    leg is in the channel listing and the core's call is connected to 2001). The
    phones' states are judged once the legs are rebuilt: 2001 stays reachable."""
    import dataclasses

    from cti.calls.stasis import StasisAdapter
    from tests.unit.test_stasis_adapter import ListingAri, callback_view
    leg = {"id": "cti-offer-2001-k1-a1", "state": "Up", "name": "PJSIP/agent2001-1"}
    caller = {"id": "k1", "state": "Up", "name": "PJSIP/caller-1"}
    ari = ListingAri([caller, leg])
    endpoints = [{"technology": "PJSIP", "resource": "agent2001", "state": "online", "channel_ids": [leg["id"]]}]

    async def request(method: str, path: str, **params: Any) -> Any:
        ari.requests.append((method, path, params))
        if (method, path) == ("GET", "/endpoints"):
            return endpoints
        return list(ari.channels) if (method, path) == ("GET", "/channels") else {}
    ari.request = request  # type: ignore[method-assign]
    call = dataclasses.replace(callback_view("k1", "connected", agent_id="2001"), callback=False, kind="general",
                               bridged=True)
    asked: list[e.Event] = []
    p = Phones(ari, lambda ev: bool(asked.append(ev)) or True, lambda: NOW, lambda *a: None,  # type: ignore[arg-type]
               {"PJSIP/agent2001": "2001"}, None, ())
    adapter = StasisAdapter(ari, [].append, lambda: NOW, lambda: [call], phones=p)  # type: ignore[arg-type]
    await adapter.resync()
    await adapter.lanes.drained()
    assert asked == [e.AgentReachable("2001", True, NOW)]
