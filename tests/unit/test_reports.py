"""R13: the record and the reports, against a brute-force recomputation from the raw
notices, and the live windows against the report of the same interval.

Random event sequences (hypothesis) drive the real core on a virtual clock; its notices
feed the live book, the record builder and the 15-minute buckets. Whatever happened:
- every report row (15 min, hour, day, in two time zones) equals the figures
  recomputed by plain loops over the raw ``CallEnded`` / ``RingNoAnswer`` notices;
- the live 15-minute and hour windows equal the report rows of the same interval.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd import AcdError, AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.metrics import MetricsBook
from reports.intervals import Buckets, Filter, report
from reports.records import RecordBuilder

SL = 20.0
QUEUES = [QueueConfig("q1", wrap_up_s=5, overflow_queue="q2", overflow_after_s=300, rona_not_ready_after=3),
          QueueConfig("q2", wrap_up_s=0, hold_max_s=30)]
AGENTS = [AgentConfig("a1", "PJSIP/a1", ("q1",)), AgentConfig("a2", "PJSIP/a2", ("q1", "q2")),
          AgentConfig("a3", "PJSIP/a3", ("q2",))]

step = st.tuples(st.sampled_from(["arrive", "answer", "caller-gone", "agent-gone", "hold", "unhold", "ready",
                                  "pause", "miss"]),
                 st.integers(0, 11), st.integers(0, 2),
                 st.sampled_from([0, 1, 2, 3, 4, 5, 6, 9, 15, 19, 20, 21, 40, 90, 300, 700]))


class World:
    def __init__(self) -> None:
        self.now = 100_000.5  # never on a bucket boundary: events at whole seconds + 0.5
        self.engine = Engine(QUEUES, AGENTS)
        self.book = MetricsBook(sl_threshold_s=SL)
        self.builder = RecordBuilder(lambda: self.now)
        self.raw: list[c.Command] = []
        for a in AGENTS:
            self.feed(e.AgentLoggedIn(a.agent_id, self.now))

    def feed(self, event: e.Event) -> None:
        try:
            out = self.engine.handle(event)
        except AcdError:
            return
        for cmd in out:
            self.book.observe(cmd)
            self.builder.observe(cmd)
            self.raw.append(cmd)

    def run(self, steps: list[tuple[str, int, int, int]]) -> None:
        for op, k, a, dt in steps:
            self.now += dt
            self.feed(e.Tick(self.now))
            call, agent = f"k{k}", AGENTS[a].agent_id
            calls = {v.call_id: v for v in self.engine.calls()}
            if op == "arrive":
                self.feed(e.CallArrived(f"{call}-{int(self.now)}", "q1" if k % 3 else "q2", f"1380000{k:04d}",
                                        self.now, emergency=k == 7))
            elif op == "answer":
                for v in calls.values():
                    if v.state == "offered":
                        self.feed(e.OfferAnswered(v.call_id, v.offered_to[0], self.now))
                        break
            elif op == "caller-gone" and calls:
                self.feed(e.CallerHungUp(sorted(calls)[k % len(calls)], self.now))
            elif op == "agent-gone":
                for v in calls.values():
                    if v.agent_id == agent and v.state == "connected":
                        self.feed(e.AgentHungUp(v.call_id, agent, self.now))
            elif op in ("hold", "unhold"):
                for v in calls.values():
                    if v.state == "connected":
                        self.feed((e.HoldStarted if op == "hold" else e.HoldEnded)(v.call_id, self.now))
            elif op == "ready":
                self.feed(e.AgentReady(agent, self.now))
            elif op == "pause":
                self.feed(e.AgentPaused(agent, "break", self.now))
            elif op == "miss":
                for v in calls.values():
                    if v.state == "offered":
                        self.feed(e.OfferFailed(v.call_id, v.offered_to[0], "no-answer", self.now))
                        break


def brute(raw: list[c.Command], period: callable) -> dict[tuple[str, str], dict[str, float]]:  # type: ignore[valid-type]
    """The figures per (period, queue), by plain loops over the notices."""
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for cmd in raw:
        if isinstance(cmd, c.CallEnded):
            f = out[(period(cmd.at), cmd.queue)]
            f["offered"] += 1
            f["longest_wait_s"] = max(f["longest_wait_s"], cmd.waited_s)
            if cmd.outcome == "handled":
                f["answered"] += 1
                f["wait_answered_s"] += cmd.waited_s
                f["talk_s"] += cmd.talked_s
                f["hold_s"] += cmd.held_s
                if cmd.waited_s <= SL:
                    f["within_sl"] += 1
            if cmd.outcome == "abandoned":
                f["abandoned"] += 1
                if cmd.waited_s < 5:
                    f["abandoned_short"] += 1
            if cmd.emergency:
                f["emergency"] += 1
        elif isinstance(cmd, c.RingNoAnswer):
            out[(period(cmd.at), next(q.name for q in QUEUES if q.name == _queue_of(raw, cmd.call_id)))]["rona"] += 1
    return out


def _queue_of(raw: list[c.Command], call_id: str) -> str:
    return next(cmd.queue for cmd in raw if isinstance(cmd, c.CallEnded) and cmd.call_id == call_id)


FIELDS = ("offered", "answered", "abandoned", "abandoned_short", "within_sl", "wait_answered_s", "talk_s",
          "hold_s", "longest_wait_s", "emergency", "rona")


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=5, max_size=120))
def test_R13_reports_equal_a_brute_force_recomputation_and_the_live_windows(steps: list) -> None:
    world = World()
    world.run(steps)
    end = math.ceil(world.now / 3600) * 3600  # past the last event, on an hour boundary
    for cmd in [e.CallerHungUp(v.call_id, world.now + 0.25) for v in world.engine.calls()]:
        world.feed(cmd)  # everybody hangs up: every call in the record
    buckets = Buckets(SL)
    calls, spans = world.builder.take()
    for rec in calls:
        buckets.add_call(rec)
    for span in spans:
        buckets.add_span(span)
    ended = [cmd for cmd in world.raw if isinstance(cmd, c.CallEnded)]
    assert sorted(r.call_id for r in calls) == sorted(k.call_id for k in ended)
    rows_in = [(q, k, t, s) for (q, k, t), s in buckets.sums.items()]
    for zone in ("UTC", "Asia/Kathmandu"):  # +05:45: local quarter hours
        tz = ZoneInfo(zone)
        for interval, fmt in (("15m", None), ("hour", "%Y-%m-%dT%H"), ("day", "%Y-%m-%d")):
            def period(at: float) -> str:
                local = datetime.fromtimestamp(at, tz)
                if fmt is None:
                    return local.replace(minute=local.minute // 15 * 15, second=0, microsecond=0).isoformat()
                return local.strftime(fmt)
            expected = brute(world.raw, period)
            got = {}
            for row in report(rows_in, interval, zone):
                key = str(row["period"]) if fmt is None else datetime.fromisoformat(str(row["period"])).strftime(fmt)
                if row["offered"] or row["rona"]:
                    got[(key, str(row["queue"]))] = row
            assert set(got) == {k for k, v in expected.items() if v.get("offered") or v.get("rona")}
            for key, row in got.items():
                for name in FIELDS:
                    assert row[name] == pytest.approx(expected[key].get(name, 0.0)), (zone, interval, key, name)
                f = expected[key]
                if f.get("answered"):
                    assert row["asa_s"] == pytest.approx(f["wait_answered_s"] / f["answered"])
                assert row["service_level"] == pytest.approx(f.get("within_sl", 0) / f["offered"]) \
                    if f.get("offered") else True
    # The live windows at the end equal the report of the same interval (UTC, aligned).
    for queue in ("q1", "q2"):
        for window, interval, since in (("15m", "15m", end - 900), ("1h", "hour", end - 3600)):
            live = world.book.queue_figures(queue, end, window)
            rows = [r for r in report(rows_in, interval, "UTC")
                    if r["queue"] == queue and datetime.fromisoformat(str(r["period"])).timestamp() == since]
            offered = rows[0]["offered"] if rows else 0
            assert live.offered == offered
            if rows:
                r = rows[0]
                assert (live.answered, live.abandoned, live.answered_within_sl) == (
                    r["answered"], r["abandoned"], r["within_sl"])
                assert live.service_level == pytest.approx(r["service_level"])
                assert live.answer_rate == pytest.approx(r["answer_rate"])
                assert live.asa_s == pytest.approx(r["asa_s"]) and live.mean_talk_s == pytest.approx(r["mean_talk_s"])


def test_R13_filters_take_days_of_the_week_and_a_time_of_day() -> None:
    """Two calls on Wednesday 2 Dec 2026 (09:10 and 14:20 in Shanghai), one on Saturday:
    a report of weekday mornings has one."""
    from datetime import time

    from reports.records import CallRecord

    tz = ZoneInfo("Asia/Shanghai")
    buckets = Buckets(SL)
    for i, when in enumerate((datetime(2026, 12, 2, 9, 10), datetime(2026, 12, 2, 14, 20),
                              datetime(2026, 12, 5, 9, 30))):
        at = when.replace(tzinfo=tz).timestamp()
        buckets.add_call(CallRecord(f"k{i}", "q1", "1", "repair", False, at - 30, at, "handled", "a1",
                                    10.0, 20.0, 0.0, "caller"))
    rows_in = [(q, k, t, s) for (q, k, t), s in buckets.sums.items()]
    mornings = Filter(frozenset(range(5)), time(8, 0), time(12, 0))
    (row,) = report(rows_in, "day", "Asia/Shanghai", "kind", mornings)
    assert (row["period"], row["kind"], row["offered"], row["asa_s"]) == ("2026-12-02T00:00:00+08:00", "repair", 1, 10.0)
    (week,) = report(rows_in, "week", "Asia/Shanghai", "all")
    assert week["period"] == "2026-11-30T00:00:00+08:00" and week["offered"] == 3
    (month,) = report(rows_in, "month", "Asia/Shanghai", "all")
    assert month["period"] == "2026-12-01T00:00:00+08:00" and month["aht_s"] == 20.0


def test_R13_a_hold_and_the_side_that_hung_up_are_in_the_record() -> None:
    world = World()
    world.feed(e.CallArrived("k1", "q2", "13800000001", world.now))
    (offer,) = [v for v in world.engine.calls() if v.state == "offered"]
    t0 = world.now
    for dt, event in ((3, e.OfferAnswered("k1", offer.offered_to[0], t0 + 3)), (10, e.HoldStarted("k1", t0 + 10)),
                      (25, e.HoldEnded("k1", t0 + 25)), (40, e.HoldStarted("k1", t0 + 40)),
                      (50, e.AgentHungUp("k1", offer.offered_to[0], t0 + 50))):  # on hold still at the end
        world.now = t0 + dt
        world.feed(event)
    (rec,) = world.builder.take()[0]
    assert (rec.held_s, rec.ended_by, rec.talked_s, rec.waited_s) == (25.0, "agent", 47.0, 3.0)
    assert [(o.agent_id, o.rang_s, o.result) for o in rec.offers] == [(offer.offered_to[0], 3.0, "answered")]


def test_R13_the_live_windows_restored_from_the_record_equal_those_before_a_restart() -> None:
    """A restart without Redis: a new live book fed the record of the last day shows
    the same windows as the book that watched the calls; nothing is counted twice."""
    world = World()
    world.run([("arrive", i, i % 3, 37) for i in range(12)] + [("answer", 0, 0, 5)] * 6
              + [("agent-gone", 0, a, 30) for a in range(3)] + [("caller-gone", i, 0, 3) for i in range(12)])
    calls, _ = world.builder.take()
    assert calls
    fresh = MetricsBook(sl_threshold_s=SL)
    assert fresh.restore([r.ended() for r in calls], world.now) == len(calls)
    assert fresh.restore([r.ended() for r in calls], world.now) == 0  # already there
    for queue in ("q1", "q2"):
        for window in ("15m", "1h", "day"):
            assert fresh.queue_figures(queue, world.now, window) == world.book.queue_figures(queue, world.now, window)


def test_R13_report_queries_are_checked_with_clear_messages() -> None:
    from datetime import date

    from reports.query import parse_query, to_csv

    today = date(2026, 12, 2)
    q = parse_query({"from": "2026-12-01", "to": "2026-12-02", "interval": "hour", "weekdays": "mon,tue",
                     "between": "08:00-12:30"}, "Asia/Shanghai", today)
    assert (q.since, q.until) == (datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp(),
                                  datetime(2026, 12, 3, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    assert q.where.weekdays == {0, 1} and q.interval == "hour" and q.by == "queue"
    assert parse_query({}, "UTC", today).first == today
    for bad, message in ((({"from": "yesterday"}), "dates"), ({"from": "2026-12-02", "to": "2026-12-01"}, "1 to"),
                         ({"interval": "year"}, "interval"), ({"by": "agent"}, "by is"), ({"weekdays": "someday"}, "weekdays"),
                         ({"between": "25:00-26:00"}, "between"), ({"between": "12:00-08:00"}, "after"),
                         ({"from": "9999-12-31"}, "years"),
                         ({"colour": "red"}, "unknown")):
        with pytest.raises(ValueError, match=message):
            parse_query(bad, "UTC", today)
    assert to_csv([{"period": "2026-12-01", "offered": 3, "asa_s": 1.23456}]) == \
        "period,offered,asa_s\r\n2026-12-01,3,1.235\r\n"


@settings(max_examples=80, deadline=None)
@given(st.lists(step, min_size=5, max_size=100))
def test_R13_agent_reports_equal_the_spans_and_calls_added_up_by_hand(steps: list) -> None:
    """Per agent and day: logged-in, ready, paused (by reason), ringing, talking and
    wrap-up time equal the agents' state spans added up; answered calls, talk, hold and
    ring-no-answers equal the raw notices."""
    from reports.agents import agent_report, call_pieces, pieces

    world = World()
    world.run(steps)
    for v in world.engine.calls():
        world.feed(e.CallerHungUp(v.call_id, world.now + 0.25))
    world.now += 1.0
    for a in AGENTS:
        world.feed(e.AgentLoggedOut(a.agent_id, world.now))  # every span closed
    calls, spans = world.builder.take()
    times = [(s.agent_id, start, s.state, s.reason or "", secs) for s in spans for start, secs in pieces(s)]
    sums = [row for r in calls for row in call_pieces(r)]
    rows = report_rows = agent_report(times, sums, "month", "UTC")
    assert report_rows == agent_report(times, sums, "month", "UTC")
    by_agent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in spans:  # by hand
        d = s.ended_at - s.started_at
        if s.state != "logged-out":
            by_agent[s.agent_id]["login_s"] += d
        if s.state == "not-ready":
            by_agent[s.agent_id]["pause_s"] += d
        if s.state == "on-call":
            by_agent[s.agent_id]["on_call_s"] += d
    for cmd in world.raw:
        if isinstance(cmd, c.CallEnded) and cmd.outcome == "handled":
            by_agent[str(cmd.agent_id)]["answered"] += 1
            by_agent[str(cmd.agent_id)]["talk_s"] += cmd.talked_s
            by_agent[str(cmd.agent_id)]["hold_s"] += cmd.held_s
        elif isinstance(cmd, c.RingNoAnswer):
            by_agent[cmd.agent_id]["rona"] += 1
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        for name in ("login_s", "pause_s", "on_call_s", "answered", "talk_s", "hold_s", "rona"):
            totals[str(row["agent"])][name] += float(row[name])  # type: ignore[arg-type]
        if float(row["login_s"]) - float(row["pause_s"]) > 0:  # type: ignore[arg-type]
            assert 0.0 <= float(row["occupancy"]) <= 1.0 + 1e-9  # type: ignore[arg-type]
        else:  # nobody available: no occupancy (not 0 %)
            assert row["occupancy"] is None
        assert sum(row["pause_by_reason"].values()) == pytest.approx(row["pause_s"])  # type: ignore[union-attr]
    for agent in set(by_agent) | set(totals):
        for name in ("login_s", "pause_s", "on_call_s", "answered", "talk_s", "hold_s", "rona"):
            assert totals[agent][name] == pytest.approx(by_agent[agent][name]), (agent, name)


def test_R13_agent_rows_flatten_to_one_column_per_reason_for_csv() -> None:
    from reports.agents import agent_report, flat
    from reports.query import to_csv

    rows = agent_report([("1001", 900.0, "not-ready", "lunch", 60.0), ("1002", 900.0, "not-ready", "", 30.0),
                         ("1002", 900.0, "ready", "", 600.0)], [], "day", "UTC",
                        dispositions=[("1001", 950.0, "fault-report")])
    table = flat(rows)
    assert [set(r) == set(table[0]) for r in table] == [True, True]
    assert table[0]["pause_lunch_s"] == 60.0 and table[1]["pause_lunch_s"] == 0
    assert table[1]["pause_unspecified_s"] == 30.0 and table[0]["dispositions_fault-report"] == 1
    assert table[1]["occupancy"] == 0.0 and table[1]["login_s"] == 630.0
    assert to_csv(table).splitlines()[0].startswith("period,agent,")
