"""Metric math against hand-computed cases (R13) and emergency-plan evaluation with a
virtual clock, including a load hovering at a threshold (R9)."""

from __future__ import annotations

import pytest

from acd import commands as c
from acd.metrics import MetricsBook
from acd.plans import Conditions, ExitConditions, Figures, Level, Plan, PlanChanged, PlanConfig, PlanProposed


def ended(call: str, outcome: str, waited: float, talked: float, at: float, queue: str = "q") -> c.CallEnded:
    return c.CallEnded(call, outcome, "1001" if outcome == "handled" else None, waited, talked, at, queue)


def test_R13_figures_by_hand() -> None:
    """R13: 5 calls in 15 min: 3 answered (waits 5, 15, 40 s; talks 100, 200, 300 s),
    1 abandoned, 1 refused. Offered 5; answer rate 3/5; SL (20 s) 2/5; ASA 20 s;
    abandon rate 1/5; mean talk 200 s."""
    book = MetricsBook(sl_threshold_s=20)
    now = 10_000.0
    for cmd in (ended("a", "handled", 5, 100, now - 800), ended("b", "handled", 15, 200, now - 500),
                ended("c", "handled", 40, 300, now - 300), ended("d", "abandoned", 30, 0, now - 200),
                ended("e", "rejected", 0, 0, now - 100), ended("old", "handled", 1, 10, now - 1000),
                ended("x", "handled", 1, 1, now - 10, queue="other")):
        book.observe(cmd)
    f = book.queue_figures("q", now, "15m")
    assert (f.offered, f.answered, f.abandoned, f.answered_within_sl) == (5, 3, 1, 2)
    assert f.answer_rate == 0.6 and f.service_level == 0.4 and f.abandon_rate == 0.2
    assert f.asa_s == 20.0 and f.mean_talk_s == 200.0
    assert f.arrival_rate_per_s == 5 / 900
    hour = book.queue_figures("q", now, "1h")
    assert hour.offered == 6 and hour.asa_s == 61 / 4
    # 5/900 calls/s x 200 s = 1.11 Erlangs. With 2 agents (M/M/2) P(wait) = 2r^2/(1+r)
    # = 0.397 (r = 0.556), SL = 1 - 0.397 e^(-0.889 x 20/200) = 0.64 < 0.8: 3 needed.
    assert f.agents_needed == 3


def plan(mode: str = "auto") -> Plan:
    levels = {
        "III": Level("III", Conditions(waiting_at_least=5), ExitConditions(waiting_at_most=2)),
        "II": Level("II", Conditions(waiting_at_least=10, answer_rate_below=0.6),
                    ExitConditions(waiting_at_most=5, answer_rate_at_least=0.8)),
        "I": Level("I", Conditions(longest_wait_at_least_s=300), ExitConditions(longest_wait_at_most_s=60)),
    }
    return Plan(PlanConfig("q", levels, mode, min_time_s=60))


def levels_of(out: list) -> list:
    return [x.level for x in out if isinstance(x, PlanChanged)]


def test_R9_raises_iii_then_ii_then_falls_back_after_min_time() -> None:
    """R9: levels rise with the load and fall back, each step logged."""
    p = plan()
    assert levels_of(p.evaluate(Figures(waiting=5), 0.0)) == ["III"]
    assert levels_of(p.evaluate(Figures(waiting=10), 10.0)) == ["II"]
    assert p.evaluate(Figures(waiting=1), 30.0) == []  # II held < 60 s
    assert levels_of(p.evaluate(Figures(waiting=1, answer_rate=0.9), 71.0)) == [None]
    assert levels_of(p.evaluate(Figures(longest_wait_s=400), 80.0)) == ["I"]


def test_R9_a_load_hovering_at_a_threshold_does_not_flap() -> None:
    """R9: hysteresis: waiting going 4, 5, 4, 5, 3 ... enters III once and stays."""
    p = plan()
    changes = []
    for i, waiting in enumerate([4, 5, 4, 5, 3, 4, 5, 3, 4, 3, 5, 4] * 10):
        changes += levels_of(p.evaluate(Figures(waiting=waiting), i * 10.0))
    assert changes == ["III"]
    assert levels_of(p.evaluate(Figures(waiting=2), 2000.0)) == [None]


def test_R9_confirm_mode_proposes_and_supervisor_controls() -> None:
    """R9: in confirm mode the engine proposes; a supervisor confirms, raises, ends."""
    p = plan("confirm")
    out = p.evaluate(Figures(waiting=6), 0.0)
    assert [type(x) for x in out] == [PlanProposed] and p.level is None
    assert p.evaluate(Figures(waiting=6), 5.0) == []  # proposed once
    assert levels_of(p.confirm("supervisor-li", 10.0)) == ["III"]
    (change,) = p.set_level("I", "supervisor-li", 20.0)
    assert (change.level, change.previous, change.by) == ("I", "III", "supervisor-li")
    assert p.evaluate(Figures(), 500.0) == []  # set by hand: not lowered automatically
    assert levels_of(p.set_level(None, "supervisor-li", 600.0)) == [None]
    with pytest.raises(ValueError):
        p.set_level("IV", "x", 700.0)


def test_R9_reasons_are_figures_and_thresholds_shown_in_words_in_both_languages() -> None:
    """R9: a change says what the plan saw and which thresholds decided (no Python
    repr); the pages show it in words, rounded, in Chinese and English."""
    from cti.supervision.reasons import words

    p = plan()
    (up,) = p.evaluate(Figures(waiting=12, longest_wait_s=42.4962, answer_rate=0.6123), 0.0)
    assert isinstance(up, PlanChanged) and up.reason == "entry met" and up.level == "II"
    assert up.thresholds == Conditions(waiting_at_least=10)  # only what was met (0.61 is not below 0.6)
    assert words(up) == ("entered II: 12 waiting (entry at 10), longest wait 42 s, answer rate 61 %",
                         "進入 II：等待 12 通（門檻 10），最長等待 42 秒，接通率 61%")
    (down,) = p.evaluate(Figures(waiting=1, longest_wait_s=3.2, answer_rate=0.9049), 100.0)
    assert down.reason == "exit met" and down.level is None
    assert words(down) == (
        "left II: 1 waiting (exit at 5 or fewer), longest wait 3 s, answer rate 90 % (exit at 80 % or more)",
        "解除 II：等待 1 通（解除 ≤ 5），最長等待 3 秒，接通率 90%（解除 ≥ 80%）")
    (slow,) = p.evaluate(Figures(longest_wait_s=300.0, answer_rate=0.5, overflows=2), 200.0)
    assert words(slow)[0] == ("entered I: 0 waiting, longest wait 300 s (entry at 300 s), answer rate 50 %, "
                              "2 overflowed")
    c = plan("confirm")
    (proposed,) = c.evaluate(Figures(waiting=5, longest_wait_s=0.3046257495880127), 0.0)
    # Nothing offered yet: no answer rate (a dash), not 100 %.
    assert words(proposed) == ("proposed III: 5 waiting (entry at 5), longest wait 0 s, answer rate —",
                               "建議 III：等待 5 通（門檻 5），最長等待 0 秒，接通率 —")
    assert words(c.confirm("li", 1.0)[0]) == ("proposal confirmed", "已確認建議")
    assert words(c.set_level(None, "li", 2.0)[0]) == ("ended by hand", "手動結束")
    for change in (up, down, slow, proposed):
        assert "Figures(" not in " ".join(words(change))


def test_R13_a_figure_with_nothing_under_it_is_none_not_100_percent_or_zero() -> None:
    """R13: with nothing offered there is no service level, answer or abandon rate; with
    nothing answered no ASA, talk or handle time; Erlang C then says nothing either."""
    book = MetricsBook(sl_threshold_s=20)
    empty = book.queue_figures("q", 10_000.0, "15m")
    assert (empty.service_level, empty.answer_rate, empty.abandon_rate) == (None, None, None)
    assert (empty.asa_s, empty.mean_talk_s, empty.aht_s, empty.agents_needed) == (None, None, None, None)
    book.observe(ended("gone", "abandoned", 30, 0, 9_900.0))
    lost = book.queue_figures("q", 10_000.0, "15m")
    assert (lost.service_level, lost.answer_rate, lost.abandon_rate) == (0.0, 0.0, 1.0)
    assert (lost.asa_s, lost.aht_s) == (None, None)


def test_R13_erlang_c_is_fed_the_handle_time_talk_plus_wrap_up() -> None:
    """R13: the calls of test_R13_figures_by_hand, each followed by 100 s of wrap-up:
    AHT (200 + 100) s. 5/900 calls/s x 300 s = 1.67 Erlangs: with 3 agents Erlang C gives
    SL = 1 - 0.300 e^(-1.33 x 20/300) = 0.73 < 0.8, with 4 0.91: 4 needed, where talk
    time alone says 3 (an agent in wrap-up takes no call)."""
    book = MetricsBook(sl_threshold_s=20)
    now = 10_000.0
    for call, outcome, waited, talked, at in (("a", "handled", 5, 100, now - 800), ("b", "handled", 15, 200, now - 500),
                                              ("c", "handled", 40, 300, now - 300), ("d", "abandoned", 30, 0, now - 200),
                                              ("e", "rejected", 0, 0, now - 100)):
        book.observe(c.AgentStateChanged("1001", "on-call", None, at - talked))
        book.observe(ended(call, outcome, waited, talked, at))
        if outcome == "handled":
            book.observe(c.AgentStateChanged("1001", "wrap-up", None, at))
            book.observe(c.AgentStateChanged("1001", "ready", None, at + 100))
    f = book.queue_figures("q", now, "15m")
    assert f.mean_talk_s == 200.0 and f.aht_s == 300.0
    assert f.agents_needed == 4
    # The wrap-ups count to the queue of the call they follow, not to another queue.
    book.observe(ended("x", "handled", 1, 10, now - 50, queue="other"))
    book.observe(c.AgentStateChanged("1001", "wrap-up", None, now - 50))
    book.observe(c.AgentStateChanged("1001", "ready", None, now - 20))
    assert book.queue_figures("q", now, "15m").aht_s == 300.0
    assert book.queue_figures("other", now, "15m").aht_s == 40.0
    # Restored after a restart from the record's calls and wrap-up spans: the same figures.
    fresh = MetricsBook(sl_threshold_s=20)
    fresh.restore([ended(k, o, w, t, at) for k, o, w, t, at in (
        ("a", "handled", 5, 100, now - 800), ("b", "handled", 15, 200, now - 500),
        ("c", "handled", 40, 300, now - 300), ("d", "abandoned", 30, 0, now - 200), ("e", "rejected", 0, 0, now - 100))],
        now, [("q", now - 700, 100.0), ("q", now - 400, 100.0), ("q", now - 200, 100.0)])
    assert fresh.queue_figures("q", now, "15m") == book.queue_figures("q", now, "15m")


def test_R13_the_trends_last_point_is_the_tiles_service_level() -> None:
    """R13: one definition of the service level (answered within the threshold /
    offered): the wallboard's trend and its queue tile show the same figure (the trend
    once divided by calls answered: 100 % while the tile showed 50 %)."""
    from types import SimpleNamespace
    from typing import Any

    from acd import AgentConfig, Engine, QueueConfig
    from cti.runtime import Runtime
    from cti.supervision.services import Supervision
    from cti.supervision.settings import SupervisionConfig

    engine = Engine([QueueConfig("q")], [AgentConfig("1001", "PJSIP/agent1001", ("q",))])
    notifier: Any = SimpleNamespace(sent=0, failed=0, dropped=0, retries=0, pending=0)
    sup = Supervision(SupervisionConfig(sl_threshold_s=20), Runtime(engine, lambda: 10_000.0), [], notifier)
    now = 10_000.0
    sup.sample(now)
    assert sup.trend[-1]["service_level"] is None  # nothing offered: no point, not 100 %
    for cmd in (ended("a", "handled", 5, 60, now - 300), ended("b", "abandoned", 40, 0, now - 200),
                ended("c", "handled", 50, 60, now - 100), ended("d", "abandoned", 3, 0, now - 50)):
        sup.book.observe(cmd)
    sup.sample(now)
    tile = sup.book.queue_figures("q", now, "15m").service_level
    assert tile == 0.25 and sup.trend[-1]["service_level"] == tile
