"""How a call is treated before it waits, on real calls (issue 10): one decision in
the core for every path. A direct emergency route gets what the IVR's emergency key
gets (R8); plan actions (R9) apply the same way; what follows a prompt happens when
the prompt ends, with no other traffic to wake it; a cluster does what one node does.

Each test runs alone in the sandbox: the follow-ups it proves would otherwise be
woken by the other calls' traffic."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tests.e2e.harness.sandbox import asterisk_cli
from tests.e2e.harness import AmiWatcher, AriObserver, Sandbox, Webhook, call_with_keys, wait_for

CONFIG = """
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false
[[queues]]
name = "overflow"
wrap_up_s = 0
announce_agent_id = false
[[queues]]
name = "tiny"
wrap_up_s = 0
announce_agent_id = false
max_waiting = 1

[[routes]]
exten = "119"
queue = "support"
kind = "gas-leak"
emergency = true
[[routes]]
exten = "300"
queue = "support"
kind = "consultation"
[[routes]]
exten = "400"
queue = "tiny"
kind = "consultation"

[emergency]
webhook_url = "{webhook}"

[plan]
queue = "support"
mode = "confirm"
[plan.levels.III]
enter = {{ waiting_at_least = 50 }}
leave = {{ waiting_at_most = 0 }}
announcement = "incident-announcement"
[plan.levels.II]
enter = {{ waiting_at_least = 60 }}
leave = {{ waiting_at_most = 0 }}
overflow_to = "overflow"

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = false
[[agents]]
id = "1003"
endpoint = "PJSIP/agent1003"
queues = ["overflow"]
login_at_start = false
"""


def config(webhook: str = "http://127.0.0.1:9/none") -> str:
    return CONFIG.format(webhook=webhook)


def ts(ev: dict[str, Any]) -> float:
    """An ARI event's own timestamp (Asterisk's clock), in epoch seconds."""
    return datetime.strptime(ev["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def playbacks(observer: AriObserver, kind: str, call_id: str, media: str | None = None) -> list[dict[str, Any]]:
    return [ev for ev in observer.of(kind)
            if ev["playback"]["target_uri"] == f"channel:{call_id}"
            and (media is None or ev["playback"]["media_uri"] == media)]


def entered_call(engine, exten: str) -> str:
    (m,) = engine.lines(rf"call (\S+) from \S+ dialled {exten}")[-1:] or [None]
    assert m is not None, engine.log()[-2000:]
    return m.group(1)


def test_R8_R9_direct_emergency_route_is_notified_hears_the_instructions_again_and_again_and_is_never_overflowed(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R8 by a direct route (the README's 119), with a plan level that overflows the
    queue (R9) and no agent free: the webhook arrives with the report time, the caller
    stays in its own queue at top priority, and, alone in the system, hears the safety
    instructions loop after loop (three of them, over 15 s), each loop starting as the last
    one ends; then the call ends from the PBX's side."""
    webhook = Webhook()
    try:
        engine = start_engine(agents=[], extra=config(webhook.url))
        assert engine.post("/plan/level", {"level": "II"})["level"] == "II"
        caller = sandbox.call("119", talk_ms=60000)
        wait_for(lambda: webhook.received, 20, "the emergency notification")
        (note,) = webhook.received
        assert (note["type"], note["kind"], note["queue"]) == ("emergency", "gas-leak", "support")
        assert datetime.fromisoformat(note["reported_at"]).timestamp() > 0
        call_id = note["call_id"]
        wait_for(lambda: 'cti_notifications_total{outcome="sent"} 1.0' in engine.text("/metrics"), 10,
                 "the delivery counted in /metrics")
        (view,) = engine.get("/calls")
        assert view["call_id"] == call_id and view["queue"] == "support" and view["emergency"]
        media = "sound:cti/safety-instructions"
        wait_for(lambda: len(playbacks(observer, "PlaybackStarted", call_id, media)) >= 3, 45,
                 "the third loop of the safety instructions")
        sandbox.ari("DELETE", f"/channels/{call_id}")
        assert caller.wait(20) == 0, caller.output()
        assert not engine.lines(r"R9 plan: call \S+ overflows", wait=0)
        # The call ended from the PBX's side (the DELETE), not by the caller giving up,
        # and never left its queue: Asterisk never put it in another bridge or app.
        caller.outcome(5).cut_off()
        assert not [ev for ev in observer.of("ChannelEnteredBridge") if ev["channel"]["id"] == call_id]
        started = playbacks(observer, "PlaybackStarted", call_id, media)
        finished = playbacks(observer, "PlaybackFinished", call_id, media)
        assert len(started) >= 3, [ev["playback"]["id"] for ev in started]
        assert ts(started[-1]) - ts(started[0]) > 15
        # Each loop starts when the previous one ends, with nothing else happening.
        for done, nxt in zip(finished, started[1:]):
            assert 0 <= ts(nxt) - ts(done) < 1.0, (done["playback"]["id"], nxt["playback"]["id"])
        # The plan still overflows ordinary calls.
        ordinary = sandbox.call("300", talk_ms=2000)
        assert ordinary.wait(30) == 0, ordinary.output()
        assert engine.lines(r"R9 plan: call \S+ overflows from support to overflow")
        ordinary.outcome(5).hung_up_itself(2000)  # it waited (in overflow, nobody there) to its end
        sandbox.assert_no_channels()
    finally:
        webhook.close()


def test_R9_incident_announcement_then_music_for_a_lone_caller(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """R9: at a level with an incident announcement, a caller alone in the system hears
    it, then the music as it ends: it joins the node's holding bridge, whose one music
    source (an announcer channel) plays to it. The announcer leaves the bridge with its
    last caller: the next lone caller has the music again."""
    ami = AmiWatcher()
    try:
        engine = start_engine(agents=[], extra=config())
        engine.post("/plan/level", {"level": "III"})
        for talk_ms in (15000, 12000):  # one lone caller, then another once the bridge emptied
            before = len(observer.of("ChannelEnteredBridge"))
            caller = sandbox.call("300", talk_ms=talk_ms)
            held = wait_for(lambda: [ev for ev in observer.of("ChannelEnteredBridge")[before:]
                                     if ev["bridge"]["id"] == "cti-hold"], 20, "the caller in the holding bridge")
            call_id = held[0]["channel"]["id"]
            # The bridge's music source while it waits: an announcer channel in the bridge
            # (neither ARI's channel list nor AMI's events show it; the CLI does).
            wait_for(lambda: [line for line in asterisk_cli("core show channels concise").splitlines()
                              if line.startswith("Announcer/") and "!cti-hold!" in line], 3,
                     "the holding bridge's announcer playing to the caller")
            assert caller.wait(60) == 0, caller.output()
            caller.outcome(5).hung_up_itself(talk_ms)  # it listened to the end, then the music, then left
            media = "sound:cti/incident-announcement"
            (played,) = playbacks(observer, "PlaybackFinished", call_id, media)
            assert 0 <= ts(held[0]) - ts(played) < 1.0
            assert not ami.of("MusicOnHoldStart", Uniqueid=call_id)  # no music generator of its own
            sandbox.assert_no_channels()
    finally:
        ami.close()


def test_a_caller_refused_because_the_queue_is_full_is_hung_up_when_the_message_ends(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """A full queue: the next caller hears the message, then is hung up at once (it
    used to stay connected in silence until some other call's traffic came)."""
    engine = start_engine(agents=[], extra=config())
    first = sandbox.call("400", talk_ms=40000)
    wait_for(lambda: len(engine.get("/calls")) == 1, 15, "the first caller waiting")
    refused = sandbox.call("400", talk_ms=30000)
    assert refused.wait(25) == 0, refused.output()  # hung up by Asterisk, long before 30 s
    # On the wire: answered, then a BYE from Asterisk long before its own 30 s.
    said_bye = refused.outcome(5).cut_off()
    assert said_bye.talk_s < 25, str(said_bye)
    call_id = entered_call(engine, "400")
    (said,) = playbacks(observer, "PlaybackFinished", call_id, "sound:cti/queue-full")
    assert said["playback"]["id"] == f"cti-bye-{call_id}"
    gone = [ev for ev in observer.of("ChannelDestroyed") if ev["channel"]["id"] == call_id]
    assert gone and 0 <= ts(gone[0]) - ts(said) < 1.0
    assert first.proc.poll() is None  # the waiting caller was not disturbed
    assert [k["call_id"] for k in engine.get("/calls")] != [call_id]
    # What must hold: the refused caller is gone, the first one alone still waits in
    # the queue, and its phone got no BYE.
    waiting = engine.get("/calls")
    first_id = engine.lines(r"call (\S+) from \S+ dialled 400")[0].group(1)
    assert first_id != call_id and [(k["call_id"], k["state"]) for k in waiting] == [(first_id, "waiting")], waiting
    (first_leg,) = first.calls()
    assert first_leg.answered is not None and first_leg.hung_up_by is None, str(first_leg)


CLUSTER = """
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false

[ivr]
extensions = ["100", "500"]
greeting = ["greeting"]
start = "main"
[[ivr.menus]]
name = "main"
prompts = ["main-menu"]
timeout_s = 3
max_attempts = 2
[ivr.menus.default]
queue = "support"
kind = "consultation"
[[ivr.menus.options]]
digit = "1"
queue = "support"
kind = "consultation"

[plan]
queue = "support"
mode = "confirm"
[plan.levels.III]
enter = { waiting_at_least = 50 }
leave = { waiting_at_most = 0 }
announcement = "incident-announcement"

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
"""


def test_R4_R7_R9_a_cluster_node_records_runs_the_ivr_and_announces_the_plan(
        sandbox: Sandbox, start_engine, observer: AriObserver) -> None:
    """Two adapters and a router: a caller on node b goes through the IVR (R7), hears
    the incident announcement of the plan the router applies (R9), reaches the agent,
    and the call is recorded by node b's recorder (R4), with audio."""
    from recording.wav import SILENCE_RMS, inspect

    agent = sandbox.agent("1001")
    router = start_engine(cluster="router", agents=[], extra=CLUSTER, recording=True)
    start_engine(cluster="adapter", node="a", app="cti", role="adapter", agents=[], extra=CLUSTER,
                 recording=True)
    node_b = start_engine(cluster="adapter", node="b", app="cti-b", role="adapter", agents=[],
                          extra=CLUSTER, recording=True)
    router.post("/plan/level", {"level": "III"})
    caller = call_with_keys(sandbox, "1", talk_ms=6000, exten="500")
    assert caller.wait(60) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(6000))  # the agent's phone talked with it
    (m,) = node_b.lines(r"IVR routes call (\S+) to support \(main: option 1")[:1] or [None]
    assert m is not None, node_b.log()[-3000:]
    call_id = m.group(1)
    assert playbacks(observer, "PlaybackStarted", call_id, "sound:cti/incident-announcement")
    assert router.lines(rf"answered: call {re.escape(call_id)} by agent 1001")
    meta = wait_for(lambda: [r for r in node_b.recordings() if r["call_id"] == call_id], 30,
                    "node b to archive the recording")
    assert meta[0]["queue"] == "support" and meta[0]["agent_id"] == "1001"
    info = inspect(node_b.config_path.parent / "archive-b" / meta[0]["path"])
    assert info.duration_s > 3 and info.rms > SILENCE_RMS
    sandbox.assert_no_channels()
