"""R6 under faults (issue 11): a loopback TCP fault proxy sits between the engine and
AMI, ARI or Redis and drops, refuses, delays or blackholes the traffic. In each test a
call placed during the fault is answered by an agent, and SIGTERM still stops the
engine within 5 s."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from recording.wav import SILENCE_RMS, inspect
from tests.e2e.harness import (
    HOST, READER_TOKEN, REDIS_URL, AriObserver, Engine, FaultProxy, Sandbox, Webhook, call_with_keys, stop_group,
    wait_for,
)
from tests.e2e.test_ivr import agents_toml
from tests.e2e.test_recording import archive_dir
from tests.e2e.test_ivr import config as ivr_config

AGENTS = ["1001", "1002"]


@pytest.fixture
def proxies() -> Iterator[list[FaultProxy]]:
    made: list[FaultProxy] = []
    yield made
    for proxy in made:
        proxy.close()


def proxy_to(proxies: list[FaultProxy], port: int, host: str = "127.0.0.1") -> FaultProxy:
    """A proxy on 127.0.0.1 to ``host:port`` (Asterisk's ARI and AMI are on this
    process's instance, HOST; Redis on 127.0.0.1)."""
    proxy = FaultProxy(port, host)
    proxies.append(proxy)
    return proxy


def entered(engine: Engine, before: set[str], wait: float = 15.0) -> str:
    """The id of the next call the engine saw enter (not in ``before``)."""
    def new() -> str | None:
        ids = {m.group(1) for m in re.finditer(r"call (\S+) from \S+ dialled", engine.log())}
        fresh = ids - before
        return next(iter(fresh)) if fresh else None
    return str(wait_for(new, wait, "a new call to enter the engine"))


def call_ids(engine: Engine) -> set[str]:
    return {m.group(1) for m in re.finditer(r"call (\S+) from \S+ dialled", engine.log())}


def answered_by_agent(engine: Engine, call_id: str, wait: float = 20.0) -> str:
    found = engine.lines(rf"answered: call {re.escape(call_id)} by agent (\d+)", wait)
    assert found, f"call {call_id} was never answered by an agent:\n{engine.log()[-3000:]}"
    return found[0].group(1)


def stops_within(engine: Engine, seconds: float) -> None:
    """SIGTERM: the engine must be gone within ``seconds``, whatever the fault."""
    started = time.monotonic()
    engine.proc.send_signal(15)
    try:
        engine.proc.wait(seconds)
    except subprocess.TimeoutExpired:
        stop_group(engine.proc, 9)
        engine._stopped = True
        raise AssertionError(f"the engine ignored SIGTERM for {seconds} s:\n{engine.log()[-3000:]}") from None
    engine._stopped = True
    assert engine.proc.returncode == 0, engine.log()[-3000:]
    assert time.monotonic() - started < seconds


def test_R4_R6_ami_cut_then_refused_and_every_call_is_still_recorded(
        sandbox: Sandbox, start_engine, proxies) -> None:
    """AMI cut, then refused for the rest of the test: recordings start over ARI (a
    snoop channel recorded by ARI), never over AMI, so the calls placed meanwhile are
    answered by an agent and recorded all the same, with their audio, and the audit
    finds nothing missing; SIGTERM still stops the engine within 5 s."""
    ami = proxy_to(proxies, 5038, HOST)
    phones = [sandbox.agent(agent_id) for agent_id in AGENTS]
    engine = start_engine(agents=AGENTS, recording=True, wrap_up_s=0,
                          env={"CTI_AMI_HOST": "127.0.0.1", "CTI_AMI_PORT": str(ami.port)})
    ami.set("refuse")
    ami.drop()
    wait_for(lambda: not engine.health()["ami"]["connected"], 20, "the AMI connection seen lost")
    ids: set[str] = set()
    for _ in range(2):
        caller = sandbox.call(talk_ms=3000)
        call_id = entered(engine, ids)
        ids.add(call_id)
        answered_by_agent(engine, call_id)
        assert caller.wait(30) == 0
        talked = caller.outcome(5).hung_up_itself(3000)
        assert any(phone.talked_with(talked) for phone in phones), str(talked)
    assert not engine.health()["ami"]["connected"]  # refused throughout
    assert not engine.lines(r"RONA", 0)
    archived = wait_for(lambda: {r["call_id"]: r for r in engine.recordings()} if
                        ids <= {r["call_id"] for r in engine.recordings()} else None, 30, "both recordings archived")
    for call_id in ids:
        info = inspect(archive_dir(engine) / archived[call_id]["path"])
        assert info.duration_s >= 2.5 and info.rms > SILENCE_RMS, (call_id, info)
    audit = engine.recordings("/audit")
    assert audit["findings"] == [] and audit["coverage"] == 1.0, audit
    assert not engine.lines(r"R4: recording call \S+ failed to start", 0)
    assert "FullyBooted" not in engine.log()  # the AMI handler of old logged an error at every connect
    stops_within(engine, 5)


def test_R6_ari_delayed_two_seconds_per_request_for_ten_seconds(sandbox: Sandbox, start_engine, proxies) -> None:
    """ARI answers 2 s late for 10 s (requests and events alike), then is healthy: no
    call is lost, no agent ever has two calls at once, routing catches up."""
    ari = proxy_to(proxies, 8088, HOST)
    observer = AriObserver()
    agents = ["1001", "1002", "1003", "1004"]
    try:
        phones = [sandbox.agent(agent_id) for agent_id in agents]
        engine = start_engine(agents=agents, wrap_up_s=0, ring_cycle_s=10,
                              env={"CTI_ARI_URL": f"http://127.0.0.1:{ari.port}"})
        ari.set("delay", 2.0)
        # A caller's talk time runs from the engine's answer, before an agent is there.
        callers = sandbox.call(talk_ms=18000, calls=4, rate=1)
        time.sleep(10)
        ari.set("pass")
        assert callers.wait(90) == 0, callers.output()
        ids = call_ids(engine)
        assert len(ids) == 4
        for call_id in ids:
            answered_by_agent(engine, call_id, 30)
        peaks = observer.agent_peaks()
        assert peaks and all(n == 1 for n in peaks.values()), peaks
        assert len(engine.lines(r"hung up: call \S+ handled by agent", 10)) == 4
        # The phones: every caller talked its 18 s and hung up itself, each with an
        # agent's phone that stayed on until the caller left (no call lost on the wire).
        legs = callers.outcomes(5)
        assert len(legs) == 4 and all(leg.answered and leg.hung_up_by == "caller" for leg in legs), \
            [str(leg) for leg in legs]
        for leg in legs:
            assert any(phone.talked_with(leg) for phone in phones), \
                (str(leg), [str(x) for phone in phones for x in phone.calls()])
    finally:
        observer.close()
    # A stop during the fault, with a caller waiting: handed to the fallback queue.
    for agent_id in agents:
        engine.post(f"/agents/{agent_id}/pause", {"reason": "meeting"})
    waiting = sandbox.call(talk_ms=10000)  # still on the line while the stop is checked
    waiting_id = entered(engine, ids)
    wait_for(lambda: any(k["call_id"] == waiting_id for k in engine.get("/calls")), 10, "the caller to wait")
    ari.set("delay", 2.0)
    stopping = time.time()
    stops_within(engine, 5)
    channel = wait_for(lambda: (ch := sandbox.ari("GET", f"/channels/{waiting_id}"))
                       and ch["dialplan"]["app_name"] == "Queue" and ch, 10, "the caller in the fallback Queue()")
    # (the caller talks 10 s from its answer: its channel is there until well after the stop)
    assert channel["state"] == "Up"
    assert waiting.wait(60) == 0, waiting.output()
    # Not just hung up: the fallback queue rang an agent's phone after the stop, it
    # answered and talked with the caller to the caller's own hang-up.
    talked = waiting.outcome(5).hung_up_itself(10000)
    took = [phone.leg_with(talked) for phone in phones if phone.talked_with(talked)]
    assert len(took) == 1 and took[0].invited >= stopping, [str(x) for x in took]


def test_R6_a_caller_who_dials_while_the_events_are_lost_is_answered_once_they_are_back(
        sandbox: Sandbox, start_engine, proxies) -> None:  # type: ignore[no-untyped-def]
    """Found by the soak (issue 33, seed 33, finding 1): ARI blackholed, a caller dials:
    Asterisk puts it in Stasis and sends its StasisStart on a connection that never
    delivers it; the connection is reset. Before, the reconnect's resync looked only at
    the calls the engine knew, and the caller rang in Stasis unanswered to the end. Now
    it is taken from the channel listing: answered, offered, talked with agent 1001."""
    ari = proxy_to(proxies, 8088, HOST)
    phone = sandbox.agent("1001")
    engine = start_engine(agents=["1001"], wrap_up_s=0, env={"CTI_ARI_URL": f"http://127.0.0.1:{ari.port}"})
    ari.set("blackhole")
    caller = sandbox.call(talk_ms=6000)
    in_stasis = wait_for(lambda: [ch for ch in sandbox.channels() if str(ch["name"]).startswith("PJSIP/caller")
                                  and ch["dialplan"]["app_name"] == "Stasis"], 10, "the caller in Stasis")
    call_id = str(in_stasis[0]["id"])
    time.sleep(1.0)
    assert not engine.lines(rf"call {re.escape(call_id)} from", wait=0)  # its StasisStart held back
    ari.drop()  # the connections reset: what the blackhole held is lost
    ari.set("pass")
    assert answered_by_agent(engine, call_id, 30) == "1001"
    assert caller.wait(60) == 0, caller.output()
    leg = caller.outcome(5).hung_up_itself(6000)  # answered, talked its 6 s, hung up itself
    assert phone.talked_with(leg), [str(x) for x in phone.calls()]


def test_R6_a_phone_on_a_fallback_call_when_the_engine_starts_is_offered_nothing_until_it_is_free(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """Found by the soak (issue 33, seed 33, finding 3): while no engine led, a caller went
    to the dialplan's fallback queue and agent 1002's phone took it; the next leader
    offered 1002 another call at once: two calls on one phone. Here agent 1001 is first
    in a linear queue and its phone is on a fallback call when the engine starts: the
    engine's caller goes to 1002; 1001 is offered calls again once its call ended."""
    from tests.e2e.test_acd_rules import agents_toml as specs
    first = sandbox.agent("1001")
    sandbox.settle()
    observer = AriObserver()  # (from before the fallback call: every channel of the phones)
    try:
        fallback = sandbox.call(talk_ms=15000)  # no engine: the fallback queue rings 1001
        wait_for(lambda: [ch for ch in sandbox.channels()
                          if str(ch["name"]).startswith("PJSIP/agent1001") and ch["state"] == "Up"],
                 20, "agent 1001's phone on the fallback call")
        sandbox.agent("1002")
        engine = start_engine(agents=[], wrap_up_s=0, extra="""
[[queues]]
name = "support"
strategy = "linear"
wrap_up_s = 0
announce_agent_id = false
""" + specs('id = "1001"\nendpoint = "PJSIP/agent1001"\nqueues = ["support"]\nlogin_at_start = true',
            'id = "1002"\nendpoint = "PJSIP/agent1002"\nqueues = ["support"]\nlogin_at_start = true'))
        caller = sandbox.call(talk_ms=4000)
        call_id = entered(engine, set())
        assert answered_by_agent(engine, call_id, 20) == "1002"
        assert not engine.lines(r"offer call \S+ to agent 1001", wait=0)
        assert engine.lines(r"agent 1001: phone busy with a call that is not the engine's", 0)
        assert caller.wait(40) == 0 and fallback.wait(40) == 0
        assert first.talked_with(fallback.outcome(5).hung_up_itself(15000))  # the fallback call, whole
        engine.lines(r"agent 1001: phone reachable", 15)
        second = sandbox.call(talk_ms=3000)  # 1001 free again: first in the queue's order
        second_id = entered(engine, {call_id})
        assert answered_by_agent(engine, second_id, 20) == "1001"
        assert second.wait(40) == 0, second.output()
        peaks = observer.agent_peaks()
        assert peaks and max(peaks.values()) == 1, peaks  # never two calls at once on a phone
    finally:
        observer.close()


def test_R5_hold_with_plain_dates_refused_and_a_bad_hold_file_reported(sandbox: Sandbox, start_engine,
                                                                        tmp_path: Path) -> None:
    """A legal hold with plain dates gets 400; an engine started with an old bad hold
    file starts, routes, and reports it."""
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "holds.json").write_text('[{"hold_id": "h1", "start": "2024-01-01"')  # cut short
    agent = sandbox.agent("1001")
    engine = start_engine(agents=["1001"], recording=True, wrap_up_s=0)
    req = urllib.request.Request(
        f"http://127.0.0.1:{engine.port}/recordings/holds", method="POST",
        data=json.dumps({"reason": "court order", "start": "2024-01-01", "end": "2025-01-01"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {READER_TOKEN}",
                 "X-CTI-User": "e2e"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=5)
    assert refused.value.code == 400
    assert "time zone" in json.loads(refused.value.read())["message"]
    metrics = wait_for(lambda: (t := engine.text("/metrics")) and 'step="the purge"' in t and t, 15,
                       "the failed purge to be counted")
    assert re.search(r'cti_maintenance_errors_total\{step="the purge"\} [1-9]', metrics)
    assert engine.lines(r"the purge failed: .*holds", 5)
    caller = sandbox.call(talk_ms=1000)
    answered_by_agent(engine, entered(engine, set()))
    assert caller.wait(30) == 0
    agent.leg_with(caller.outcome(5).hung_up_itself(1000))
    stops_within(engine, 5)


def test_R6_redis_blackholed_longer_than_the_lease(sandbox: Sandbox, start_engine, proxies) -> None:
    """Redis silent (no reset) for longer than the lease: as documented, the router
    routes on while its lease is surely valid, then holds its commands until Redis
    answers; nothing is lost or doubled after it returns."""
    port = int(REDIS_URL.rsplit(":", 1)[1].split("/")[0])
    redis = proxy_to(proxies, port)
    agent = sandbox.agent("1001")
    engine = start_engine(agents=["1001"], redis=True, lease_ms=1500, wrap_up_s=0, snapshot_every=100_000,
                          env={"CTI_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0"})
    redis.set("blackhole")
    time.sleep(3)  # past the lease
    caller = sandbox.call(talk_ms=2000)
    held = entered(engine, set())
    time.sleep(3)
    assert not engine.lines(rf"answered: call {re.escape(held)}", 0), "commands ran with no valid lease"
    # From the phone, over the whole blackhole (not one instant): no offer reached it.
    assert agent.invites() == [], [str(x) for x in agent.invites()]
    released = time.time()
    redis.set("pass")
    answered_by_agent(engine, held)
    assert caller.wait(30) == 0
    took = agent.leg_with(caller.outcome(5).hung_up_itself(2000))
    assert took.invited >= released and len(agent.invites()) == 1, [str(x) for x in agent.invites()]
    wait_for(lambda: engine.lines(rf"hung up: call {re.escape(held)}", 0), 15, "the hang-up")
    prefix = engine.config_path.read_text().split('prefix = "')[1].split('"')[0]
    out = subprocess.run(["redis-cli", "-p", str(port), "XRANGE", f"{prefix}events", "-", "+"],
                         capture_output=True, text=True, check=True).stdout
    logged = [line for line in out.splitlines() if line.startswith("{")]
    kinds = [json.loads(line)["type"] for line in logged]
    assert kinds.count("CallEntered") == 1 and kinds.count("CallerHungUp") == 1, kinds
    assert len(logged) == len(set(logged)), "an event was appended twice"
    redis.set("blackhole")
    stops_within(engine, 5)


def test_R8_webhook_that_never_answers_delays_nobody_and_is_delivered_after_a_restart(
        sandbox: Sandbox, start_engine, proxies) -> None:
    """The emergency webhook's receiver goes silent (no answer, no reset): IVR callers
    are still answered and routed meanwhile; the notification waits in the outbox
    through an engine restart and is delivered when the receiver is back."""
    webhook = Webhook()
    silent = proxy_to(proxies, webhook.port)
    try:
        silent.set("blackhole")
        phones = [sandbox.agent(agent_id) for agent_id in ("1001", "1002")]
        extra = ivr_config(f"http://127.0.0.1:{silent.port}/emergency") + agents_toml(["1001", "1002"])
        engine = start_engine(agents=[], extra=extra)
        emergency = call_with_keys(sandbox, "0", talk_ms=4000)
        reported = entered(engine, set(), 20)
        wait_for(lambda: engine.lines(rf"EMERGENCY reported on call {re.escape(reported)}", 0), 20,
                 "the emergency to be reported")
        ordinary = call_with_keys(sandbox, "1", talk_ms=3000)
        routed = entered(engine, {reported}, 20)
        assert engine.lines(rf"IVR routes call {re.escape(routed)} to support", 20)
        answered_by_agent(engine, routed)
        assert silent.accepted >= 1 and webhook.received == []  # served while the webhook hung
        assert emergency.wait(40) == 0 and ordinary.wait(40) == 0
        for caller, talk_ms in ((emergency, 4000), (ordinary, 3000)):  # both served while it hung
            talked = caller.outcome(5).hung_up_itself(talk_ms)
            assert any(phone.talked_with(talked) for phone in phones), str(talked)
        assert engine.stop() == 0  # restart with the notification still undelivered
        engine = start_engine(agents=[], extra=extra)
        silent.set("pass")
        wait_for(lambda: webhook.received, 30, "the emergency notification after the restart")
        ids = {note["id"] for note in webhook.received}
        assert len(ids) == 1 and {note["call_id"] for note in webhook.received} == {reported}
        assert {note["type"] for note in webhook.received} == {"emergency"}
        wait_for(lambda: "cti_notifications_pending 0.0" in engine.text("/metrics"), 15, "an empty outbox")
        silent.set("blackhole")
        stops_within(engine, 5)
    finally:
        webhook.close()
