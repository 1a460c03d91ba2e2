"""Rules checked where a small wrong change to the rule's code went unnoticed before:
R5 at month ends, R10 while the last agent is in wrap-up, R8 against the top ordinary
priorities, and R12's final work-order statuses. Each test would fail on such a change
(scripts/mutation-check applies them one at a time)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd import AgentConfig, Engine, QueueConfig
from acd import commands as c
from acd import events as e
from acd.model import MAX_PRIORITY
from cti.config import load
from cti.errors import ConfigError
from cti.masking import mask_text
from recording.retention import Kept, LegalHold, add_months, due_for_deletion
from workorders import STATUSES, BadTransition
from workorders.steps import STEPS, next_step

SHANGHAI = ZoneInfo("Asia/Shanghai")

# ------------------------------------------------------------------ R5 at month ends

MONTH_ENDS = [
    # (call ended, kept until: the same day 6 months later, or that month's last day)
    (datetime(2026, 1, 31, 10, 0), datetime(2026, 7, 31, 10, 0)),
    (datetime(2026, 3, 31, 23, 59), datetime(2026, 9, 30, 23, 59)),
    (datetime(2026, 5, 31, 8, 0), datetime(2026, 11, 30, 8, 0)),
    (datetime(2026, 7, 29, 12, 0), datetime(2027, 1, 29, 12, 0)),
    (datetime(2026, 7, 31, 12, 0), datetime(2027, 1, 31, 12, 0)),
    (datetime(2026, 8, 29, 9, 0), datetime(2027, 2, 28, 9, 0)),  # 2027: no 29 February
    (datetime(2026, 8, 31, 9, 0), datetime(2027, 2, 28, 9, 0)),
    (datetime(2027, 8, 29, 9, 0), datetime(2028, 2, 29, 9, 0)),  # 2028 is a leap year
    (datetime(2027, 8, 30, 9, 0), datetime(2028, 2, 29, 9, 0)),
    (datetime(2027, 8, 31, 9, 0), datetime(2028, 2, 29, 9, 0)),
    (datetime(2026, 10, 31, 0, 0), datetime(2027, 4, 30, 0, 0)),
    (datetime(2026, 12, 31, 18, 30), datetime(2027, 6, 30, 18, 30)),
    (datetime(2026, 6, 30, 7, 0), datetime(2026, 12, 30, 7, 0)),  # not moved to the 31st
]


@pytest.mark.parametrize(("ended", "kept_until"), MONTH_ENDS, ids=lambda d: d.strftime("%Y-%m-%d"))
def test_R5_six_months_from_a_month_end_is_that_day_or_the_target_months_last_day(
        ended: datetime, kept_until: datetime) -> None:
    """R5: 6 calendar months, not a day less: Jan 31 -> Jul 31, Aug 31 -> Feb 28/29."""
    assert add_months(ended.replace(tzinfo=UTC), 6) == kept_until.replace(tzinfo=UTC)


@pytest.mark.parametrize(("ended", "kept_until"), MONTH_ENDS, ids=lambda d: d.strftime("%Y-%m-%d"))
def test_R5_a_recording_ended_on_a_month_end_is_not_purged_a_day_early(
        ended: datetime, kept_until: datetime) -> None:
    """R5: the purge keeps the recording until the very moment 6 calendar months after
    the call (in the site's zone), and takes it then."""
    end = ended.replace(tzinfo=SHANGHAI)
    due = kept_until.replace(tzinfo=SHANGHAI)
    kept = [Kept("k1", "13800000001", end.astimezone(UTC))]
    for early in (due - timedelta(days=3), due - timedelta(days=1), due - timedelta(seconds=1)):
        assert due_for_deletion(kept, [], early.astimezone(UTC), 6, SHANGHAI) == [], early
    assert due_for_deletion(kept, [], due.astimezone(UTC), 6, SHANGHAI) == kept


def test_R5_jan_31_is_still_kept_on_jul_28_29_and_30() -> None:
    """R5: the case a day-of-month cap at 28 would get wrong, through the archive's purge
    rule with a released hold beside it (a released hold does not change the date)."""
    ended = datetime(2026, 1, 31, 15, 0, tzinfo=UTC)
    kept = [Kept("k1", "13800000001", ended)]
    released = LegalHold("h1", "dispute", "sup", ended, call_id="k1", released_at=ended + timedelta(days=1))
    for day in (28, 29, 30):
        assert due_for_deletion(kept, [released], datetime(2026, 7, day, 23, 0, tzinfo=UTC)) == []
    assert due_for_deletion(kept, [released], datetime(2026, 7, 31, 15, 0, tzinfo=UTC)) == kept


def test_R5_a_hold_over_a_period_covers_a_call_that_ended_at_its_start_not_at_its_end() -> None:
    """R5: a legal hold over [start, end) keeps a recording that ended exactly at start;
    one that ended exactly at end is not covered and goes when its 6 months are over."""
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    hold = LegalHold("h1", "complaint", "sup", start, start=start, end=end)
    at_start, at_end = Kept("k1", "1", start), Kept("k2", "2", end)
    later = datetime(2027, 1, 1, tzinfo=UTC)
    assert hold.covers("k1", "1", start) and not hold.covers("k2", "2", end)
    assert due_for_deletion([at_start, at_end], [hold], later) == [at_end]


def same_day_months_later(ended: date, months: int) -> date:
    """The first calendar day the rule allows the purge on, counted month by month."""
    year, month = ended.year, ended.month
    for _ in range(months):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, min(ended.day, calendar.monthrange(year, month)[1]))


@given(
    ended=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
    months=st.sampled_from([1, 3, 6, 12, 18, 24]),
)
def test_R5_property_the_purge_date_is_never_before_the_same_day_months_later(ended: datetime, months: int) -> None:
    """R5: for any end of call, retention ends on the same day ``months`` calendar months
    later (the month's last day when that month is shorter), at the same time of day:
    never earlier, and never in a later month."""
    ended = ended.replace(tzinfo=UTC)
    until = add_months(ended, months)
    floor = same_day_months_later(ended.date(), months)
    assert until.date() == floor
    assert until.time() == ended.time() and until.tzinfo == ended.tzinfo
    assert until - ended >= timedelta(days=28 * months)
    kept = [Kept("k", "1", ended)]
    earliest = datetime.combine(floor, ended.time(), UTC)
    assert due_for_deletion(kept, [], earliest - timedelta(microseconds=1), months) == []
    assert due_for_deletion(kept, [], earliest, months) == kept


# ------------------------------------------------------------------ R10 with wrap-up


def offers(out: list[c.Command]) -> list[tuple[str, str]]:
    return [(x.call_id, x.agent_id) for x in out if isinstance(x, c.OfferCall)]


def sticky_engine(window_s: float = 3600, **queue: object) -> Engine:
    """Queue q with the sticky window, agents a1 and a2; the caller's first call goes to
    a1 (idle longest) and ends at 10 s, a1 then wraps up."""
    cfg = QueueConfig("q", announce_agent_id=False, sticky_window_s=window_s, sticky_hold_s=20, **queue)  # type: ignore[arg-type]
    eng = Engine([cfg], [AgentConfig("a1", "PJSIP/a1", ("q",)), AgentConfig("a2", "PJSIP/a2", ("q",))])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.AgentLoggedIn("a2", 0.001))
    assert offers(eng.handle(e.CallArrived("first", "q", "13800000001", 1.0))) == [("first", "a1")]
    eng.handle(e.OfferAnswered("first", "a1", 2.0))
    eng.handle(e.AgentHungUp("first", "a1", 10.0))
    return eng


def test_R10_repeat_caller_waits_for_the_last_agent_in_wrap_up_not_for_another_idle_agent() -> None:
    """R10: the last agent is in wrap-up (not logged out): the repeat caller within the
    window is held for them although a2 is idle, and a1 takes it when wrap-up ends."""
    eng = sticky_engine(wrap_up_s=15)  # a1 wraps up until 25 s
    assert eng.agent("a1").state == "wrap-up" and eng.agent("a2").state == "ready"
    assert offers(eng.handle(e.CallArrived("again", "q", "13800000001", 12.0))) == []
    assert eng.agent("a2").state == "ready"
    assert offers(eng.handle(e.Tick(24.9))) == []
    assert offers(eng.handle(e.Tick(25.0))) == [("again", "a1")]


def test_R10_the_hold_for_an_agent_in_wrap_up_ends_after_sticky_hold_s_then_anyone() -> None:
    """R10: a wrap-up longer than the sticky hold: the call waits the hold (20 s) for a1,
    then goes to the queue (a2)."""
    eng = sticky_engine(wrap_up_s=60)  # a1 wraps up until 70 s
    assert offers(eng.handle(e.CallArrived("again", "q", "13800000001", 12.0))) == []
    assert offers(eng.handle(e.Tick(31.9))) == []
    assert offers(eng.handle(e.Tick(32.0))) == [("again", "a2")]


def test_R10_wrap_up_ended_by_the_disposition_hands_the_repeat_caller_to_the_last_agent() -> None:
    """R10 with R12's wrap_up_ends = "disposition": no timer ends a1's wrap-up; the
    repeat caller waits for a1 and is offered to a1 when a1 records the disposition."""
    eng = sticky_engine(wrap_up_ends="disposition")
    assert eng.agent("a1").state == "wrap-up"
    assert offers(eng.handle(e.CallArrived("again", "q", "13800000001", 12.0))) == []
    assert offers(eng.handle(e.DispositionRecorded("a1", "first", 15.0))) == [("again", "a1")]


def test_R10_another_callers_call_still_goes_to_the_idle_agent_meanwhile() -> None:
    """R10 holds only the repeat caller: a new caller is offered to a2 at once while a1
    wraps up, and the held call is not offered to a2."""
    eng = sticky_engine(wrap_up_s=15)
    eng.handle(e.CallArrived("again", "q", "13800000001", 12.0))
    assert offers(eng.handle(e.CallArrived("new", "q", "13900000002", 13.0))) == [("new", "a2")]


@pytest.mark.parametrize(("again_at", "offered_to"), [(69.0, "a1"), (70.0, "a1"), (71.0, "a2"), (200.0, "a2")])
def test_R10_the_window_counts_from_the_end_of_the_last_call(again_at: float, offered_to: str) -> None:
    """R10: window 60 s, the first call ended at 10 s: a call back by 70 s goes to a1
    (a2 has been idle longer, so only the rule sends it to a1); after that, to a2."""
    eng = sticky_engine(window_s=60, wrap_up_s=0)
    assert eng.agent("a1").state == "ready"
    assert offers(eng.handle(e.CallArrived("again", "q", "13800000001", again_at))) == [("again", offered_to)]


# ------------------------------------------------------------------ R1, R2, R3 default figures


def test_R1_R2_R3_the_default_figures_are_the_seeds_in_the_core_and_in_the_configuration(tmp_path: Path) -> None:
    """R1: answer within 2 rings of 5 s; R2: outbound gives up after 6 rings; R3: hold at
    most 30 s; the same whether a queue is built in code or read from a configuration
    that says nothing about them."""
    path = tmp_path / "cti.toml"
    path.write_text(CONFIG.format(priority=0))
    for q in (QueueConfig("q"), load(path, environ={}).queues[0]):
        assert (q.answer_within_rings, q.ring_cycle_s, q.ring_timeout_s) == (2, 5.0, 10.0)
        assert (q.outbound_max_rings, q.outbound_ring_timeout_s) == (6, 30.0)
        assert q.hold_max_s == 30.0


def test_R3_with_the_default_limit_a_hold_overruns_at_30_s_not_before() -> None:
    """R3: a queue left at its defaults comes back to the held caller after 30 s."""
    eng = Engine([QueueConfig("q", announce_agent_id=False, wrap_up_s=0)], [AgentConfig("a1", "PJSIP/a1", ("q",))])
    eng.handle(e.AgentLoggedIn("a1", 0.0))
    eng.handle(e.CallArrived("k1", "q", "", 1.0))
    eng.handle(e.OfferAnswered("k1", "a1", 2.0))
    eng.handle(e.HoldStarted("k1", 10.0))
    assert not [x for x in eng.handle(e.Tick(39.9)) if isinstance(x, c.HoldOverrun)]
    assert [x.held_s for x in eng.handle(e.Tick(40.0)) if isinstance(x, c.HoldOverrun)] == [30.0]


# ------------------------------------------------------------------ R8 against top priorities

CONFIG = """
[asterisk]
ari_user = "cti"
ari_password = "pw"
ami_user = "cti"
ami_secret = "pw"

[[queues]]
name = "support"

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]

[[routes]]
exten = "200"
queue = "support"
priority = {priority}
"""


def highest_configurable_priority(tmp_path: Path) -> int:
    """The highest route priority the configuration accepts (one more is refused)."""
    path = tmp_path / "cti.toml"
    path.write_text(CONFIG.format(priority=MAX_PRIORITY))
    top = load(path, environ={}).routes["200"].priority
    path.write_text(CONFIG.format(priority=top + 1))
    with pytest.raises(ConfigError, match="priority"):
        load(path, environ={})
    return top


def test_R8_the_configuration_allows_priorities_up_to_100_and_no_higher(tmp_path: Path) -> None:
    """R8: the ordinary priorities an emergency must outrank go up to 100."""
    assert highest_configurable_priority(tmp_path) == 100


def served_first(priority: int, weight: int = 0) -> str:
    """An ordinary call of ``priority`` waits before an emergency arrives; which one does
    the agent take first? (The emergency's own queue is the lighter one when
    ``weight`` is given.)"""
    queues = [QueueConfig("q", announce_agent_id=False, wrap_up_s=0),
              QueueConfig("vip", announce_agent_id=False, wrap_up_s=0, weight=weight)]
    eng = Engine(queues, [AgentConfig("a1", "PJSIP/a1", ("q", "vip"))])
    eng.handle(e.CallArrived("ordinary", "vip" if weight else "q", "", 1.0, priority=priority))
    eng.handle(e.CallArrived("gas-leak", "q", "", 2.0, kind="emergency", emergency=True))
    ((call, _),) = offers(eng.handle(e.AgentLoggedIn("a1", 10.0)))
    return call


@pytest.mark.parametrize("priority", [0, 49, 50, 51, 99, 100])
def test_R8_an_emergency_outranks_an_earlier_ordinary_call_of_any_priority(priority: int) -> None:
    """R8: emergencies first, whatever the other call's priority (0..100)."""
    assert served_first(priority) == "gas-leak"


def test_R8_an_emergency_outranks_the_highest_priority_the_configuration_allows(tmp_path: Path) -> None:
    """R8: at the top of the configurable range, too."""
    assert served_first(highest_configurable_priority(tmp_path)) == "gas-leak"


@pytest.mark.parametrize("priority", [101, 1000, 10**9])
def test_R8_a_priority_above_the_range_is_capped_below_emergencies(priority: int) -> None:
    """R8: a call event carrying a priority above 100 (not from the checked config)
    still never outranks an emergency."""
    assert served_first(priority) == "gas-leak"


@pytest.mark.parametrize("priority", [50, 100])
def test_R8_an_emergency_outranks_a_top_priority_call_of_a_heavier_queue(priority: int) -> None:
    """R8: an agent of two queues takes the emergency of the lighter queue before a
    high-priority call of the heavier one."""
    assert served_first(priority, weight=10) == "gas-leak"


def test_R8_an_emergency_arriving_later_is_offered_before_every_waiting_priority() -> None:
    """R8: several calls of priorities 50..100 wait; the emergency, arriving last, is
    offered first, then the rest by priority."""
    eng = Engine([QueueConfig("q", announce_agent_id=False, wrap_up_s=0)], [AgentConfig("a1", "PJSIP/a1", ("q",))])
    for i, p in enumerate((50, 100, 75, 99)):
        eng.handle(e.CallArrived(f"p{p}", "q", "", 1.0 + i, priority=p))
    eng.handle(e.CallArrived("fire", "q", "", 9.0, emergency=True))
    served = []
    out = eng.handle(e.AgentLoggedIn("a1", 10.0))
    for t in range(5):
        ((call, _),) = offers(out)
        served.append(call)
        eng.handle(e.OfferAnswered(call, "a1", 11.0 + t * 10))
        out = eng.handle(e.AgentHungUp(call, "a1", 15.0 + t * 10))
    assert served == ["fire", "p100", "p99", "p75", "p50"]


# ------------------------------------------------------------------ R12 final statuses

# The work-order steps as the documentation states them (R12, R20): status after each
# step, from each status; any pair not listed is refused; done, unresolved, cancelled final.
ALLOWED = {
    "new": {"accept": "accepted", "visit": "new", "arrive": "on-site", "delay": "new", "help": "new",
            "hand-over": "new", "done": "done", "cancel": "cancelled"},
    "dispatched": {"accept": "accepted", "visit": "dispatched", "arrive": "on-site", "delay": "dispatched",
                   "help": "dispatched", "hand-over": "new", "done": "done", "cancel": "cancelled"},
    "accepted": {"visit": "accepted", "arrive": "on-site", "delay": "accepted", "help": "accepted",
                 "hand-over": "new", "done": "done", "unresolved": "unresolved", "cancel": "cancelled"},
    "on-site": {"delay": "on-site", "help": "on-site", "hand-over": "new", "done": "done",
                "unresolved": "unresolved", "cancel": "cancelled"},
    "done": {}, "unresolved": {}, "cancelled": {},
}


def test_R20_the_step_table_covers_every_status_and_step() -> None:
    assert set(ALLOWED) == set(STATUSES)
    assert {s for steps in ALLOWED.values() for s in steps} == set(STEPS)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("final", ["done", "unresolved", "cancelled"])
def test_R20_no_step_leaves_a_final_status(final: str, step: str) -> None:
    """R12/R20: a closed work order never changes again, whatever the step."""
    with pytest.raises(BadTransition, match="does not change"):
        next_step(final, step)


@pytest.mark.parametrize(("before", "step"), [(b, s) for b in STATUSES for s in STEPS])
def test_R20_every_step_from_every_status_follows_the_table(before: str, step: str) -> None:
    """R20: every (status, step) pair: allowed exactly when the table allows it, to the
    status it names; the others refused."""
    if step in ALLOWED[before]:
        assert next_step(before, step) == ALLOWED[before][step]
    else:
        with pytest.raises(BadTransition):
            next_step(before, step)


# ------------------------------------------------------------------ R14 the shortest numbers


@pytest.mark.parametrize(("shown", "masked"), [
    ("caller 5551234 hung up", "caller ***1234 hung up"),  # 7 digits: a local number
    ("caller 55512345 hung up", "caller 555*2345 hung up"),  # 8 digits
    ("code 123456 sent", "code 123456 sent"),  # 6 digits: not a phone number
])
def test_R14_a_local_number_of_seven_digits_is_masked_in_text(shown: str, masked: str) -> None:
    """R14: the shortest phone numbers (7 digits in a row) are masked like the others."""
    assert mask_text(shown) == masked
