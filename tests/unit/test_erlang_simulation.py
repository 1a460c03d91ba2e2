"""The routing core against queueing theory: an M/M/N simulation on a virtual clock
(Poisson arrivals, exponential handle times, agents answer at once, no wrap-up),
driven through Engine.handle, must give the service level and average speed of
answer that Erlang C predicts.

Tolerance by batch means: the measured calls (120,000 at 80 % load, 60,000 at 60 %,
after 2,000 warm-up calls) are cut into 20 consecutive batches; Erlang C's value must
lie within 4 standard errors of the batch means (t with 19 degrees of freedom at
99.9 % is 3.9), and that standard error must be small (under 3 % of the service level,
under 8 % of the ASA) so that the check can fail. Waits at high load are strongly
autocorrelated: over 4 seeds ASA landed within 11 % of Erlang C at 120,000 calls."""

from __future__ import annotations

import heapq
from collections.abc import Callable
import random
import statistics

import pytest

from acd import AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.erlang import average_speed_of_answer, service_level

TARGET_S = 20.0


def simulate(agents: int, arrival_rate: float, handle_s: float, calls: int, warm_up: int,
             seed: int, observe: Callable[[c.Command], None] | None = None) -> list[float]:
    """The waits of the measured calls, in arrival order (``observe``: every notice)."""
    rng = random.Random(seed)
    eng = Engine(
        [QueueConfig("q", wrap_up_s=0, announce_agent_id=False, ring_cycle_s=1e6)],
        [AgentConfig(f"a{i}", f"PJSIP/a{i}", ("q",)) for i in range(agents)],
    )
    for i in range(agents):
        eng.handle(e.AgentLoggedIn(f"a{i}", 0.0))
    pending: list[tuple[float, int, e.Event]] = []
    seq = 0

    def at(t: float, ev: e.Event) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(pending, (t, seq, ev))

    t = 0.0
    for k in range(calls + warm_up):
        t += rng.expovariate(arrival_rate)
        at(t, e.CallArrived(f"k{k}", "q", "", t))
    waits: dict[str, float] = {}
    while pending:
        now, _, ev = heapq.heappop(pending)
        for cmd in eng.handle(ev):
            if observe is not None:
                observe(cmd)
            if isinstance(cmd, c.OfferCall):
                at(now, e.OfferAnswered(cmd.call_id, cmd.agent_id, now))
            elif isinstance(cmd, c.ConnectCall):
                at(now + rng.expovariate(1 / handle_s), e.AgentHungUp(cmd.call_id, cmd.agent_id, now))
            elif isinstance(cmd, c.CallEnded):
                waits[cmd.call_id] = cmd.waited_s
    return [waits[f"k{k}"] for k in range(warm_up, warm_up + calls)]


def batch_mean(values: list[float], batches: int = 20) -> tuple[float, float]:
    """Mean and its standard error from the means of consecutive batches."""
    size = len(values) // batches
    means = [statistics.fmean(values[i * size:(i + 1) * size]) for i in range(batches)]
    return statistics.fmean(means), statistics.stdev(means) / batches**0.5


@pytest.mark.parametrize(("agents", "erlangs", "calls", "seed"),
                         [(10, 8.0, 120_000, 1), (2, 1.2, 60_000, 2)])
def test_simulated_service_level_and_asa_match_erlang_c(
        agents: int, erlangs: float, calls: int, seed: int) -> None:
    handle_s = 180.0
    rate = erlangs / handle_s
    waits = simulate(agents, rate, handle_s, calls=calls, warm_up=2_000, seed=seed)
    sl, sl_err = batch_mean([1.0 if w <= TARGET_S else 0.0 for w in waits])
    asa, asa_err = batch_mean(waits)
    expected_sl = service_level(agents, rate, handle_s, TARGET_S)
    expected_asa = average_speed_of_answer(agents, rate, handle_s)
    assert sl_err < 0.03 * expected_sl and asa_err < 0.08 * expected_asa
    assert abs(sl - expected_sl) <= 4 * sl_err, (sl, expected_sl, sl_err)
    assert abs(asa - expected_asa) <= 4 * asa_err, (asa, expected_asa, asa_err)


def test_R13_a_simulated_day_in_the_record_matches_the_simulations_own_counters() -> None:
    """A virtual day at 8 Erlangs on 10 agents (about 3,800 calls) through the core,
    recorded and reported by day: the report's offered, answered, within-SL counts and
    ASA are the simulation's own."""
    from reports.intervals import Buckets, report
    from reports.records import RecordBuilder

    builder = RecordBuilder(lambda: 0.0)
    handle_s = 180.0
    waits = simulate(10, 8.0 / handle_s, handle_s, calls=3_800, warm_up=0, seed=3, observe=builder.observe)
    buckets = Buckets(TARGET_S)
    calls, _ = builder.take()
    for rec in calls:
        buckets.add_call(rec)
    (row,) = report([(q, k, t, s) for (q, k, t), s in buckets.sums.items()], "month", "UTC", "all")
    assert (row["offered"], row["answered"], row["abandoned"]) == (3_800, 3_800, 0)
    assert row["within_sl"] == sum(1 for w in waits if w <= TARGET_S)
    assert row["asa_s"] == pytest.approx(statistics.fmean(waits), rel=1e-12)
    assert row["longest_wait_s"] == max(waits)
