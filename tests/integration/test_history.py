"""R13: the record in the real stores (SQLite and PostgreSQL): a virtual day of the
real core's calls written through the engine's History, the buckets the store kept
equal to the buckets computed in memory (so every report is the same), each call
counted once when written again, and a new live book refilled from the store equal
to the book that watched the calls."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import AsyncIterator

import pytest

from acd import AcdError, AgentConfig, Engine, QueueConfig
from acd import events as e
from acd.metrics import MetricsBook
from cti.store.sql import Database
from cti.reports.service import History
from cti.reports.store import SCHEMA, HistoryStore
from reports.intervals import Buckets, report

DAY0 = 1_796_169_600.0  # 2026-12-02 00:00 UTC


class Clock:
    def __init__(self) -> None:
        self.now = DAY0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def history(store_url: str) -> AsyncIterator[tuple[History, Clock]]:
    db = Database(store_url, 10.0, SCHEMA)
    await db.open()
    clock = Clock()
    yield History(HistoryStore(db), clock), clock
    db.close()


def simulate(history: History, clock: Clock, book: MetricsBook, calls: int, seed: int) -> None:
    """Poisson arrivals over the day, two agents, talks of a few minutes, callers whose
    patience runs out, holds, either side hanging up, wrap-up: the real core on a
    virtual clock."""
    rng = random.Random(seed)
    eng = Engine([QueueConfig("gas", wrap_up_s=20, hold_max_s=60, announce_agent_id=False),
                  QueueConfig("bill", wrap_up_s=0, announce_agent_id=False)],
                 [AgentConfig("a1", "PJSIP/a1", ("gas", "bill")), AgentConfig("a2", "PJSIP/a2", ("gas",))])

    def feed(event: e.Event) -> None:
        try:
            out = eng.handle(event)
        except AcdError:
            return
        for cmd in out:
            history.observe(cmd)
            book.observe(cmd)

    for a in ("a1", "a2"):
        feed(e.AgentLoggedIn(a, clock.now))
    plan: list[tuple[float, int, str, str, str]] = []  # when, order, what, call, agent
    seq = itertools.count()
    at = clock.now
    for i in range(calls):
        at += rng.expovariate(1 / 240)
        heapq.heappush(plan, (at, next(seq), "arrive", f"k{i}", ""))
    answering: set[str] = set()  # calls with an answer coming
    while plan:
        at, _, what, call_id, agent = heapq.heappop(plan)
        clock.now = at
        if what == "answer":
            answering.discard(call_id)
        feed(e.Tick(at))
        live = {k.call_id: k for k in eng.calls()}
        k = live.get(call_id)
        if what == "arrive":
            feed(e.CallArrived(call_id, rng.choice(["gas", "gas", "bill"]), f"138{rng.randrange(10**8):08d}", at,
                               kind=rng.choice(["repair", "billing", "leak"])))
            heapq.heappush(plan, (at + rng.expovariate(1 / 240), next(seq), "patience", call_id, ""))
        elif what == "patience" and k is not None and k.state == "waiting":
            feed(e.CallerHungUp(call_id, at))
        elif what == "answer" and k is not None and k.state == "offered" and agent in k.offered_to:
            feed(e.OfferAnswered(call_id, agent, at))
            heapq.heappush(plan, (at + rng.uniform(60, 600), next(seq), "hang-up", call_id, agent))
            if rng.random() < 0.3:
                heapq.heappush(plan, (at + 20, next(seq), "hold", call_id, ""))
                heapq.heappush(plan, (at + 20 + rng.uniform(5, 90), next(seq), "unhold", call_id, ""))
        elif what in ("hold", "unhold") and k is not None:
            feed((e.HoldStarted if what == "hold" else e.HoldEnded)(call_id, at))
        elif what == "hang-up" and k is not None:
            feed(e.AgentHungUp(call_id, agent, at) if rng.random() < 0.5 else e.CallerHungUp(call_id, at))
        for k in eng.calls():  # an agent rung answers after a few seconds
            if k.state == "offered" and k.call_id not in answering:
                answering.add(k.call_id)
                heapq.heappush(plan, (at + rng.uniform(1, 8), next(seq), "answer", k.call_id, k.offered_to[0]))
        for a in eng.agents():  # an agent set not ready by ring-no-answer comes back
            if a.state == "not-ready" and a.agent_id not in answering:
                answering.add(a.agent_id)
                heapq.heappush(plan, (at + 30, next(seq), "ready", "", a.agent_id))
        if what == "ready":
            answering.discard(agent)
            feed(e.AgentReady(agent, at))
        if not plan and eng.calls():  # agents in wrap-up: time goes on until every call ended
            heapq.heappush(plan, (at + 30, next(seq), "tick", "", ""))
    clock.now += 3600
    feed(e.Tick(clock.now))
    for a in ("a1", "a2"):
        feed(e.AgentPaused(a, "lunch", clock.now))


async def test_R13_the_stored_record_makes_the_same_reports_and_live_windows(history: tuple[History, Clock]) -> None:
    hist, clock = history
    book = MetricsBook()
    simulate(hist, clock, book, 250, seed=7)
    memory = Buckets()
    for rec in hist.builder.calls:
        memory.add_call(rec)
    for span in hist.builder.spans:
        memory.add_span(span)
    ended, spans = len(hist.builder.calls), len(hist.builder.spans)
    hist_calls, hist_spans = list(hist.builder.calls), list(hist.builder.spans)
    assert ended == 250
    assert await hist.flush() == ended + spans  # all new
    stored = await hist.store.buckets(DAY0 - 86400, clock.now + 86400)
    in_memory = [(q, k, t, s) for (q, k, t), s in memory.sums.items()]
    for interval in ("15m", "hour", "day"):
        for by in ("queue", "kind", "all"):
            want = report(in_memory, interval, "Asia/Shanghai", by)
            summed = await hist.store.buckets(DAY0 - 86400, clock.now + 86400, by)  # added up by the store
            for got in (report(stored, interval, "Asia/Shanghai", by), report(summed, interval, "Asia/Shanghai", by)):
                assert len(got) == len(want) > 0
                for a, b in zip(got, want, strict=True):
                    assert a.keys() == b.keys() and all(
                        a[k] == (pytest.approx(b[k]) if isinstance(b[k], float) else b[k]) for k in a), (interval, by)
    # Per agent: the store's quarter hours make the report the spans and calls make.
    from reports.agents import agent_report, call_pieces, pieces

    times, sums = await hist.store.agent_buckets(DAY0 - 86400, clock.now + 86400)
    want_agents = agent_report([(s.agent_id, t, s.state, s.reason or "", x) for s in hist_spans for t, x in pieces(s)],
                               [p for r in hist_calls for p in call_pieces(r)], "day", "UTC")
    got_agents = agent_report(times, sums, "day", "UTC")
    assert len(got_agents) == len(want_agents) == 2
    for a, b in zip(got_agents, want_agents, strict=True):
        assert a["agent"] == b["agent"] and a["answered"] == b["answered"] and a["rona"] == b["rona"]
        for name in ("login_s", "ready_s", "pause_s", "on_call_s", "wrap_s", "talk_s", "hold_s", "occupancy"):
            assert a[name] == pytest.approx(b[name]), name
    assert sum(int(a["answered"]) for a in got_agents) == sum(1 for r in hist_calls if r.outcome == "handled")
    (day,) = report(stored, "day", "UTC", "all")
    assert day["offered"] == ended and day["answered"] + day["abandoned"] == ended
    assert day["wrap_s"] > 0 and day["hold_s"] > 0 and day["rona"] > 0 and day["hold_overruns"] > 0
    # Written again (a restart replaying what it had): nothing counted twice.
    records = await hist.store.calls_since(DAY0 - 1)
    assert len(records) == ended
    assert await hist.store.write(records, []) == 0
    assert await hist.store.buckets(DAY0 - 86400, clock.now + 86400) == stored
    # A restarted engine's live book, refilled from the store, shows the same windows,
    # and each agent's calls answered today (the wallboard's).
    today = dict(hist.answered_today)
    assert sum(today.values()) == day["answered"] and set(today) == {"a1", "a2"}
    fresh = MetricsBook()
    assert await hist.restore(fresh) == len([r for r in records if r.ended_at >= clock.now - 86400])
    for queue in ("gas", "bill"):
        for window in ("15m", "1h", "day"):
            assert fresh.queue_figures(queue, clock.now, window) == book.queue_figures(queue, clock.now, window)
    again = History(hist.store, clock)
    await again.restore(MetricsBook())
    assert again.answered_today == today


async def test_R5_R13_the_record_is_purged_after_its_retention(history: tuple[History, Clock]) -> None:
    hist, clock = history
    book = MetricsBook()
    simulate(hist, clock, book, 20, seed=3)
    await hist.flush()
    assert await hist.purge() == 0  # nothing is old yet
    clock.now += 7 * 31 * 86400  # seven months on
    assert await hist.purge() > 20  # calls, spans and their quarter hours
    assert await hist.store.calls_since(0) == [] and await hist.store.buckets(0, clock.now) == []
    assert await hist.store.agent_buckets(0, clock.now) == ([], [])
    assert await hist.purge() == 0  # (not again within the hour)


async def test_R13_a_store_away_delays_the_record_and_loses_nothing_within_the_bound(
        history: tuple[History, Clock], monkeypatch: pytest.MonkeyPatch) -> None:
    """The store does not answer: flushing fails (counted by the run loop), the rows wait
    in memory and go in when it is back; beyond the bound the oldest are dropped."""
    from cti.store.sql import StoreUnavailable
    from cti.reports import service

    hist, clock = history
    simulate(hist, clock, MetricsBook(), 30, seed=5)
    real = hist.store.write

    async def away(*_: object) -> int:
        raise StoreUnavailable("store: away")
    monkeypatch.setattr(hist.store, "write", away)
    with pytest.raises(StoreUnavailable):
        await hist.flush()
    waiting = len(hist._calls) + len(hist._spans)
    assert len(hist._calls) == 30 and waiting > 30
    monkeypatch.setattr(hist.store, "write", real)
    assert await hist.flush() == waiting and len(await hist.store.calls_since(0)) == 30
    monkeypatch.setattr(service, "MAX_PENDING", 10)
    monkeypatch.setattr(hist.store, "write", away)
    simulate(hist, clock, MetricsBook(), 5, seed=6)
    with pytest.raises(StoreUnavailable):
        await hist.flush()
    assert len(hist._calls) + len(hist._spans) == 10 and hist.dropped > 0
