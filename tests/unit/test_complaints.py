"""R16 complaints: the site's working-day calendar (weekends, holidays, make-up days, the
time zone) and the complaint's path and escalation rules, on a virtual clock."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from workorders.calendar import Calendar, parse_weekdays
from workorders.complaints import ComplaintRules, advance, escalate_overdue, open_complaint, overdue
from workorders.model import BadTransition

SH = ZoneInfo("Asia/Shanghai")
# 2026: 1 October (Thursday) is a holiday; Saturday 10 October a make-up working day.
CAL = Calendar("Asia/Shanghai", holidays=frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
               make_up_days=frozenset({date(2026, 10, 10)}))


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=SH).timestamp()


def test_R16_working_days_skip_weekends_and_holidays_and_count_make_up_days() -> None:
    # Friday 4 Dec 2026, 15:00: 3 working days -> Mon, Tue, Wed: due at midnight after Wednesday 9 Dec.
    assert CAL.due(at(2026, 12, 4, 15), 3) == at(2026, 12, 10)
    # Received on Saturday: the same (the weekend counts for nothing).
    assert CAL.due(at(2026, 12, 5, 10), 3) == at(2026, 12, 10)
    # Wednesday 30 Sep: Thu 1 and Fri 2 Oct are holidays, Sat/Sun weekend: Mon 5, Tue 6, Wed 7.
    assert CAL.due(at(2026, 9, 30, 9), 3) == at(2026, 10, 8)
    # Thursday 8 Oct: Fri 9, Sat 10 (a make-up day), Mon 12.
    assert CAL.due(at(2026, 10, 8, 9), 3) == at(2026, 10, 13)
    assert CAL.due(at(2026, 12, 4, 15), 0) == at(2026, 12, 5)  # within the day
    assert CAL.working_days_between(at(2026, 12, 4, 15), at(2026, 12, 9, 12)) == 3
    assert not CAL.is_working_day(date(2026, 10, 1)) and CAL.is_working_day(date(2026, 10, 10))


def test_R16_the_day_is_the_sites_own() -> None:
    # 2026-12-04 17:30 UTC is already Saturday 01:30 in Shanghai: counted from Saturday.
    friday_evening_utc = datetime(2026, 12, 4, 17, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert CAL.local_day(friday_evening_utc) == date(2026, 12, 5)
    assert CAL.due(friday_evening_utc, 1) == at(2026, 12, 8)  # Monday, ending at local midnight
    utc = Calendar("UTC")
    assert utc.due(friday_evening_utc, 1) == datetime(2026, 12, 8, tzinfo=ZoneInfo("UTC")).timestamp()


def test_R16_a_calendar_with_no_working_day_and_bad_weekday_names_are_refused() -> None:
    with pytest.raises(ValueError):
        Calendar(workdays=frozenset()).due(at(2026, 12, 4), 1)
    assert parse_weekdays(["mon", "sat"]) == frozenset({0, 5})
    with pytest.raises(ValueError):
        parse_weekdays(["monday"])


RULES = ComplaintRules(levels=("owner", "supervisor", "manager"), feedback_days=3, high_claim=10_000)


def test_R16_not_satisfied_reopens_one_level_up_until_accepted() -> None:
    t = at(2026, 12, 4, 15)
    c = open_complaint("WO-1", "1001", t, "agent:1001", RULES, CAL)
    assert (c.owner, RULES.levels[c.level], c.status, c.feedback_due) == ("1001", "owner", "received", at(2026, 12, 10))
    c = advance(c, "investigating", t + 60, "agent:1001", RULES, CAL)
    c = advance(c, "result-given", t + 3600, "agent:1001", RULES, CAL, "meter replaced", channel="phone")
    c = advance(c, "not-satisfied", t + 7200, "agent:1001", RULES, CAL, "wants compensation")
    assert c.is_open and RULES.levels[c.level] == "owner"
    later = at(2026, 12, 7, 9)  # Monday
    c = advance(c, "investigating", later, "account:li", RULES, CAL)
    assert RULES.levels[c.level] == "supervisor" and c.feedback_due == at(2026, 12, 11)
    c = advance(c, "result-given", later + 60, "account:li", RULES, CAL, "refund offered", channel="visit")
    c = advance(c, "not-satisfied", later + 120, "account:li", RULES, CAL)
    c = advance(c, "investigating", later + 180, "account:wang", RULES, CAL)
    assert RULES.levels[c.level] == "manager"
    c = advance(c, "result-given", later + 240, "account:wang", RULES, CAL, "refund paid", channel="letter")
    c = advance(c, "accepted", later + 300, "account:wang", RULES, CAL, "customer accepts")
    assert not c.is_open
    assert [(h["status"], h["who"]) for h in c.history][-2:] == [("result-given", "account:wang"),
                                                                 ("accepted", "account:wang")]
    assert len(c.history) == 10 and all(h["at"] for h in c.history)
    with pytest.raises(BadTransition):
        advance(c, "investigating", later + 400, "account:wang", RULES, CAL)


def test_R16_steps_off_the_path_and_closing_without_the_managers_level_or_a_reason_are_refused() -> None:
    c = open_complaint("WO-2", "1001", at(2026, 12, 4, 15), "agent:1001", RULES, CAL)
    with pytest.raises(BadTransition):
        advance(c, "accepted", at(2026, 12, 4, 16), "agent:1001", RULES, CAL)  # no result given yet
    looked = advance(c, "investigating", at(2026, 12, 4, 16), "agent:1001", RULES, CAL)
    with pytest.raises(BadTransition):  # how the customer was told, and what, are recorded
        advance(looked, "result-given", at(2026, 12, 4, 17), "agent:1001", RULES, CAL, "fixed")
    with pytest.raises(BadTransition):
        advance(looked, "result-given", at(2026, 12, 4, 17), "agent:1001", RULES, CAL, " ", channel="phone")
    told = advance(looked, "result-given", at(2026, 12, 4, 17), "agent:1001", RULES, CAL, "fixed", channel="phone")
    assert told.history[-1]["channel"] == "phone" and told.history[-1]["note"] == "fixed"
    with pytest.raises(BadTransition):
        advance(c, "closed", at(2026, 12, 4, 16), "account:li", RULES, CAL, "done", by_level="supervisor")
    with pytest.raises(BadTransition):
        advance(c, "closed", at(2026, 12, 4, 16), "account:wang", RULES, CAL, "  ", by_level="manager")
    closed = advance(c, "closed", at(2026, 12, 4, 16), "account:wang", RULES, CAL,
                     "customer unreachable after 3 attempts", by_level="manager")
    assert closed.status == "closed" and closed.history[-1]["note"].startswith("customer unreachable")


@pytest.mark.parametrize("major, claim, level", [(False, 0.0, "owner"), (True, 0.0, "manager"),
                                                 (False, 9_999.0, "owner"), (False, 10_000.0, "manager")])
def test_R16_major_complaints_and_high_claims_start_at_the_managers_level(major: bool, claim: float,
                                                                          level: str) -> None:
    c = open_complaint("WO-3", "1001", at(2026, 12, 4, 15), "agent:1001", RULES, CAL, major=major, claim=claim)
    assert RULES.levels[c.level] == level


def test_R16_late_feedback_escalates_one_level_with_a_new_due_time_on_a_virtual_clock() -> None:
    c = open_complaint("WO-4", "1001", at(2026, 12, 4, 15), "agent:1001", RULES, CAL)
    assert not overdue(c, at(2026, 12, 9, 23, 59))
    now = at(2026, 12, 10, 0, 1)  # past Wednesday's midnight
    assert overdue(c, now)
    c = escalate_overdue(c, now, RULES, CAL)
    assert RULES.levels[c.level] == "supervisor" and c.feedback_due == at(2026, 12, 16)  # Fri, Mon, Tue
    assert "overdue" in c.history[-1]["note"] and not overdue(c, now)
    c = escalate_overdue(escalate_overdue(c, now, RULES, CAL), now, RULES, CAL)
    assert RULES.levels[c.level] == "manager"  # the top keeps it
    given = advance(advance(c, "investigating", now, "x", RULES, CAL), "result-given", now, "x", RULES, CAL, "done",
                    channel="sms")
    assert not overdue(given, now + 30 * 86400)  # given: waiting for the customer, not late


@pytest.mark.parametrize("text, key", [
    ('[complaints]\nlevels = ["supervisor", "manager"]\n', "complaints.levels"),
    ('[complaints]\nclose_from = "director"\n', "complaints.close_from"),
    ('[complaints.accounts]\nowner = ["li"]\n', "complaints.accounts.owner"),
    ('[complaints]\nfeedback_day = 3\n', "complaints.feedback_day"),
    ('[site]\nholidays = ["1 October"]\n', "site.holidays"),
    ('[site]\nworkdays = ["monday"]\n', "site.workdays"),
    ('[site]\nworkdays = []\n', "site.workdays"),
    ('[site]\nworkdays = []\nmake_up_days = ["2026-10-10"]\n', "site.workdays"),
])
def test_R16_bad_complaint_and_calendar_settings_are_refused_naming_the_key(tmp_path, text: str,  # type: ignore[no-untyped-def]
                                                                             key: str) -> None:
    from cti.config import load
    from cti.errors import ConfigError
    from tests.unit.test_config import BASE, write
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, BASE + text))
    assert err.value.key == key


def test_R16_the_sites_calendar_and_the_complaints_levels_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cti.config import load
    from tests.unit.test_config import BASE, write
    cfg = load(write(tmp_path, BASE + '[site]\ntimezone = "Asia/Shanghai"\nholidays = ["2026-10-01"]\n'
                     'make_up_days = ["2026-10-10"]\n[complaints]\nfeedback_days = 5\n'
                     '[complaints.accounts]\nmanager = ["wang"]\n'))
    c = cfg.workorders.complaints
    assert c.calendar.timezone == "Asia/Shanghai" and not c.calendar.is_working_day(date(2026, 10, 1))
    assert c.calendar.is_working_day(date(2026, 10, 10)) and c.rules.feedback_days == 5
    assert c.accounts["manager"] == frozenset({"wang"}) and c.rules.close_from == "manager"


def test_R16_a_late_answer_from_the_customer_is_not_late_feedback() -> None:
    """The result was given in time; the customer answers "not satisfied" after the due
    time: no overdue alert, and the reopening goes up one level, not two."""
    t = at(2026, 12, 4, 15)
    c = open_complaint("WO-5", "1001", t, "agent:1001", RULES, CAL)
    c = advance(c, "investigating", t + 60, "agent:1001", RULES, CAL)
    c = advance(c, "result-given", at(2026, 12, 8, 10), "agent:1001", RULES, CAL, "fixed", channel="phone")
    c = advance(c, "not-satisfied", at(2026, 12, 11, 9), "agent:1001", RULES, CAL)  # after the due time
    assert not overdue(c, at(2026, 12, 11, 9, 1))
    c = advance(c, "investigating", at(2026, 12, 11, 10), "account:li", RULES, CAL)
    assert RULES.levels[c.level] == "supervisor"
