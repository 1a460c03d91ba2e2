"""The live stream's hub: agents hear about themselves only, supervisors get the
figures and alerts (never a caller's number), a stream that does not keep up is closed
rather than growing, and the number of streams is bounded."""

from __future__ import annotations

import asyncio
import json

from acd import commands as c
from cti.web.accounts import Identity
from cti.desk.live import Live

AGENT = Identity("agent:1001", "agent", "1001")
OTHER = Identity("agent:1002", "agent", "1002")
BOSS = Identity("account:li", "supervisor")


def drain(queue: asyncio.Queue[str | None]) -> list[str | None]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_agents_hear_about_themselves_supervisors_get_alerts_without_numbers() -> None:
    live = Live(lambda who: {"for": who.name})
    mine, other, boss = live.open(AGENT), live.open(OTHER), live.open(BOSS)
    assert mine and other and boss
    live.observe(c.AgentStateChanged("1001", "ready", None, 1.0))
    live.observe(c.NotifyEmergency("k1", "13812345678", "support", "gas", 2.0))
    assert [m for m in drain(mine.queue) if m and m.startswith("event: agent")]
    assert drain(other.queue) == []
    alerts = drain(boss.queue)
    assert len(alerts) == 1 and "NotifyEmergency" in str(alerts[0]) and "13812345678" not in str(alerts[0])


async def test_a_slow_stream_is_closed_not_grown_and_streams_are_bounded() -> None:
    live = Live(lambda who: {}, max_streams=2)
    slow = live.open(AGENT)
    assert slow is not None and live.open(BOSS) is not None and live.open(OTHER) is None
    for i in range(150):
        live.observe(c.AgentStateChanged("1001", "ready" if i % 2 else "not-ready", "break", float(i)))
    assert slow not in live.streams and live.closed_slow == 1
    messages = drain(slow.queue)
    assert messages[-1] is None and len(messages) <= 100  # the page reconnects and reads again


async def test_supervisors_get_the_figures_when_something_changed() -> None:
    live = Live(lambda who: {"waiting": 3, "who": who.name}, min_interval_s=0.01)
    boss = live.open(BOSS)
    assert boss is not None
    task = asyncio.create_task(live.run())
    live.changed()
    message = await asyncio.wait_for(boss.queue.get(), 2.0)
    task.cancel()
    assert message is not None and message.startswith("event: figures")
    assert json.loads(message.split("data: ", 1)[1]) == {"waiting": 3, "who": "account:li"}
    live.close_all()
    assert drain(boss.queue)[-1] is None and not live.streams
