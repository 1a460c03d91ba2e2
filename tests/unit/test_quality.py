"""R18 quality inspection's rules: which calls are sampled (each agent's share, stable
under a key, and every triggered call), and how a form scores (weights, points,
critical items), and the weakest items across a team."""

from __future__ import annotations

import pytest

from datetime import datetime
from zoneinfo import ZoneInfo

from reports.quality import (AgentQuality, BadStep, CallFacts, Form, Item, SamplingRules, Section, next_status,
                             per_agent, period_of, sample, score, weakest)

KEY = b"k" * 32


def calls(agent: str, n: int, **extra: object) -> list[CallFacts]:
    return [CallFacts(f"{agent}-{i}", agent, **extra) for i in range(n)]  # type: ignore[arg-type]


def test_R18_each_agent_has_its_share_and_every_triggered_call_is_inspected() -> None:
    plain = calls("1001", 40) + calls("1002", 9)
    triggered = [CallFacts("c-complaint", "1002", kind="complaint"), CallFacts("c-hold", "1003", hold_overruns=1),
                 CallFacts("c-rona", "1003", rona=2), CallFacts("c-low", "1003", survey_score=2),
                 CallFacts("c-ok", "1003", survey_score=3)]
    got = dict(sample(plain + triggered, SamplingRules(share=0.1), KEY))
    assert {k: v for k, v in got.items() if v != "sample"} == {
        "c-complaint": "complaint", "c-hold": "hold-overrun", "c-rona": "rona", "c-low": "low-score"}
    per_agent = {a: sum(1 for k in got if k.startswith(a) or (a == "1003" and k == "c-ok")) for a in ("1001", "1002")}
    assert per_agent["1001"] == 4  # 10 % of 40
    # 1002: 10 % of 10 calls is 1, and its complaint already counts towards it.
    assert sum(1 for k, v in got.items() if v == "sample" and k.startswith("1002")) == 0
    # 1003: 4 calls, 3 triggered: the share (1) is met by them; "c-ok" is not sampled.
    assert "c-ok" not in got


def test_R18_the_sample_is_stable_under_its_key_and_another_key_picks_others() -> None:
    plain = calls("1001", 200)
    first = sample(plain, SamplingRules(share=0.05), KEY)
    assert first == sample(list(reversed(plain)), SamplingRules(share=0.05), KEY)  # not the order of the calls
    other = sample(plain, SamplingRules(share=0.05), b"x" * 32)
    assert len(first) == len(other) == 10 and set(first) != set(other)
    assert sample(plain, SamplingRules(share=0.0, triggers=frozenset()), KEY) == []
    assert len(sample(calls("1001", 3), SamplingRules(share=0.01), KEY)) == 1  # at least one when any


def test_R18_bad_sampling_rules_are_refused() -> None:
    with pytest.raises(ValueError):
        SamplingRules(share=1.5)
    with pytest.raises(ValueError):
        SamplingRules(triggers=frozenset({"long-call"}))


FORM = Form("service", (
    Section("opening", (Item("greeting", "standard greeting", 10, 1.0), Item("verify", "identity checked", 10, 2.0,
                                                                             critical=True))),
    Section("handling", (Item("accuracy", "correct answer", 20, 3.0), Item("tone", "courteous", 10, 1.0),
                         Item("privacy", "no full number read out", 10, 1.0, critical=True))),
))


def test_R18_a_form_scores_by_weight_and_a_failed_critical_item_zeroes_it() -> None:
    good = score(FORM, {"greeting": 10, "verify": 10, "accuracy": 10, "tone": 5, "privacy": 10})
    # weights 1, 2, 3, 1, 1 (8); shares 1, 1, 0.5, 0.5, 1: (1 + 2 + 1.5 + 0.5 + 1) / 8 = 75 %
    assert good.score == 75.0 and good.critical_failed == ()
    assert good.sections == {"opening": 100.0, "handling": pytest.approx(100 * (1.5 + 0.5 + 1) / 5)}
    bad = score(FORM, {"greeting": 10, "verify": 10, "accuracy": 20, "tone": 10, "privacy": 0})
    assert bad.score == 0.0 and bad.critical_failed == ("privacy",)
    assert bad.sections["opening"] == 100.0  # the sections still say where it went wrong
    with pytest.raises(ValueError):
        score(FORM, {"greeting": 10})  # every item scored
    with pytest.raises(ValueError):
        score(FORM, {"greeting": 11, "verify": 10, "accuracy": 20, "tone": 10, "privacy": 10})
    with pytest.raises(ValueError):
        Form("x", (Section("a", (Item("i", "i"), Item("i", "again"))),))
    with pytest.raises(ValueError):
        Form("x", (Section("a", (Item("i", "i", weight=0),)),))


def test_R18_the_weakest_items_across_a_team() -> None:
    results = [score(FORM, {"greeting": 10, "verify": 10, "accuracy": a, "tone": t, "privacy": 10})
               for a, t in ((10, 10), (20, 2), (0, 4))]
    worst = weakest(results, top=2)
    assert [(i, round(m, 3), n) for i, m, n in worst] == [("accuracy", 0.5, 3), ("tone", round(16 / 30, 3), 3)]


def test_R18_a_later_run_counts_the_earlier_picks_towards_the_share_and_answers_only_new_ones() -> None:
    first = calls("1001", 10)
    rules = SamplingRules(share=0.2, triggers=frozenset({"complaint"}))
    picked = dict(sample(first, rules, KEY))
    assert len(picked) == 2
    # Ten more calls in the period, one a complaint: 20 % of 20 is 4; the 2 picked count.
    more = first + [CallFacts(f"1001-{i}", "1001") for i in range(10, 19)] + [
        CallFacts("1001-c", "1001", kind="complaint")]
    again = dict(sample(more, rules, KEY, already=picked))
    assert again["1001-c"] == "complaint" and not set(again) & set(picked)
    assert len(again) == 2  # the complaint and one more share: 2 + 2 = 4
    assert sample(more, rules, KEY, already=set(picked) | set(again)) == []


def test_R18_the_inspections_path_allows_only_its_steps() -> None:
    assert next_status("pending", "scored") == "scored"
    assert next_status("scored", "acknowledged") == "acknowledged"
    assert next_status("scored", "disputed") == "disputed"
    assert next_status("disputed", "resolved") == "resolved"
    for current, wanted in (("pending", "acknowledged"), ("pending", "resolved"), ("scored", "scored"),
                            ("acknowledged", "disputed"), ("resolved", "disputed"), ("disputed", "acknowledged")):
        with pytest.raises(BadStep):
            next_status(current, wanted)


def test_R18_per_agent_mean_score_critical_failures_and_disputes() -> None:
    ok = score(FORM, {"greeting": 10, "verify": 10, "accuracy": 20, "tone": 10, "privacy": 10})
    half = score(FORM, {"greeting": 10, "verify": 10, "accuracy": 10, "tone": 5, "privacy": 10})
    failed = score(FORM, {"greeting": 10, "verify": 0, "accuracy": 20, "tone": 10, "privacy": 10})
    got = per_agent([("1001", ok, False), ("1001", failed, True), ("1002", half, False)])
    assert got == [AgentQuality("1001", 2, 50.0, 1, 1), AgentQuality("1002", 1, 75.0, 0, 0)]
    assert per_agent([]) == []


def test_R18_sampling_periods_in_the_sites_time_zone() -> None:
    at = datetime(2026, 12, 5, 1, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()  # a Saturday, 17:30 UTC on the 4th
    day = period_of(at, "day", "Asia/Shanghai")
    assert day == (datetime(2026, 12, 5, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp(),
                   datetime(2026, 12, 6, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    assert period_of(at, "day", "UTC")[0] == datetime(2026, 12, 4, tzinfo=ZoneInfo("UTC")).timestamp()
    week = period_of(at, "week", "Asia/Shanghai")
    assert datetime.fromtimestamp(week[0], ZoneInfo("Asia/Shanghai")).date().isoformat() == "2026-11-30"  # Monday
    assert week[1] - week[0] == 7 * 86400
    month = period_of(at, "month", "Asia/Shanghai")
    assert [datetime.fromtimestamp(x, ZoneInfo("Asia/Shanghai")).date().isoformat() for x in month] == [
        "2026-12-01", "2027-01-01"]
    with pytest.raises(ValueError):
        period_of(at, "year", "UTC")
