"""Nothing grows with traffic (issue 11): 2,000 calls through the core, the runtime
and the ARI adapter (answered, abandoned while waiting, offers refused by busy phones,
emergencies looping their instructions) leave every per-call collection empty. A
stand-in Asterisk answers the adapter's requests with the events real Asterisk sends
(tests/fixtures/ari shows them); no sandbox is needed for this count."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from acd import AgentConfig, Engine, QueueConfig
from acd import events as e
from acd.model import Intake, Route
from cti.calls.stasis import StasisAdapter
from cti.lanes import Lanes
from cti.runtime import Runtime

QUEUE = QueueConfig("support", wrap_up_s=0, announce_agent_id=False, rona_not_ready_after=10**6)
AGENTS = [AgentConfig(f"a{i}", f"PJSIP/a{i}", ("support",)) for i in range(1, 5)]
INTAKE = Intake(routes={"119": Route("support", kind="gas-leak", emergency=True)}, default_queue="support")


class StandInAsterisk:
    """Answers requests at once and sends back what Asterisk would: offered phones
    answer (every 7th is busy), a bridged caller hangs up, hung-up channels go."""

    app = "cti"

    def __init__(self) -> None:
        self.adapter: StasisAdapter | None = None
        self.busy_again: Any = None  # (agent id) -> None: the agent makes itself ready
        self.offers = itertools.count()
        self.requests = 0

    def send(self, event: dict[str, Any]) -> None:
        assert self.adapter is not None
        asyncio.get_running_loop().call_soon(self.adapter.on_event, event)

    async def request(self, method: str, path: str, **params: Any) -> Any:
        self.requests += 1
        if (method, path) == ("POST", "/channels"):
            leg = params["channelId"]
            if next(self.offers) % 7 == 6:  # busy: the agent goes not-ready, then back
                self.send({"type": "ChannelDestroyed", "channel": {"id": leg}, "cause": 17})
                asyncio.get_running_loop().call_soon(self.busy_again, params["appArgs"].split(",")[2])
            else:
                self.send({"type": "StasisStart", "channel": {"id": leg},
                           "args": params["appArgs"].split(",")})
        elif method == "POST" and path.endswith("/addChannel"):
            caller = path.split("/")[2].removeprefix("cti-")
            self.send({"type": "StasisEnd", "channel": {"id": caller}})
            self.send({"type": "ChannelDestroyed", "channel": {"id": caller}, "cause": 16})
        elif method == "DELETE" and path.startswith("/channels/"):
            self.send({"type": "ChannelDestroyed", "channel": {"id": path.split("/")[2]}, "cause": 16})
        elif (method, path) == ("GET", "/channels"):
            return []
        elif method == "GET" and path.startswith("/bridges/"):
            return {"channels": []}
        return {}

    async def request_quiet(self, method: str, path: str, **params: Any) -> None:
        await self.request(method, path, **params)


async def settle(runtime: Runtime, adapter: StasisAdapter) -> None:
    for _ in range(50):
        await asyncio.sleep(0)
        await adapter.lanes.drained()
        if not runtime._pending and not len(adapter.lanes):
            return


async def test_R6_two_thousand_calls_leave_every_per_call_collection_empty() -> None:
    clock = itertools.count(1000)
    now = lambda: float(next(clock))  # noqa: E731  (a second passes per reading)
    engine = Engine([QUEUE], AGENTS, INTAKE)
    runtime = Runtime(engine, now)
    asterisk = StandInAsterisk()
    adapter = StasisAdapter(asterisk, runtime.submit, now, engine.calls, lanes=Lanes(5.0))  # type: ignore[arg-type]
    asterisk.adapter = adapter
    asterisk.busy_again = lambda agent_id: runtime.submit(e.AgentReady(agent_id, now()))
    runtime.executor = adapter.dispatch
    for agent in AGENTS:
        runtime.submit(e.AgentLoggedIn(agent.agent_id, now()))
    commands = asyncio.ensure_future(runtime.run_commands())
    timers = asyncio.ensure_future(runtime.run_timers())  # wrap-up ends, ring timeouts
    lanes = asyncio.ensure_future(adapter.run())
    try:
        for n in range(2000):
            call_id = f"{n}.{n}"
            exten = "119" if n % 50 == 0 else "100"
            adapter.on_event({"type": "StasisStart", "args": ["inbound", exten],
                              "channel": {"id": call_id, "name": f"PJSIP/caller-{n}",
                                          "caller": {"number": f"1380000{n:04d}"}}})
            if n % 10 == 3:  # gives up while waiting (or while offered)
                adapter.on_event({"type": "StasisEnd", "channel": {"id": call_id}})
                adapter.on_event({"type": "ChannelDestroyed", "channel": {"id": call_id}, "cause": 16})
            await settle(runtime, adapter)
        for _ in range(20):
            await settle(runtime, adapter)
            if not engine.calls():
                break
    finally:
        for task in (commands, timers, lanes):
            task.cancel()
        await asyncio.gather(commands, timers, lanes, return_exceptions=True)
    ended = engine.snapshot()
    assert asterisk.requests > 10_000  # the traffic really went through the adapter
    assert engine.calls() == [] and engine.in_ivr() == 0
    assert {a.state for a in (engine.agent(x.agent_id) for x in AGENTS)} == {"ready"}, ended
    assert runtime._pending == collections_empty()
    assert adapter._callers == {} and adapter._names == {}
    assert adapter._media._waiting == {} and adapter._media._may_call_back == set()
    assert adapter._legs._legs == {} and adapter._legs._leg_of == {} and adapter._legs._releasing == {}
    assert len(adapter.lanes) == 0


def collections_empty() -> Any:
    import collections
    return collections.deque()
