"""R17 satisfaction's definitions: response rate, CSAT (share of 4 and 5), mean score
and the return visits' solved rate, none where nothing is under them."""

from __future__ import annotations

import pytest

from reports.satisfaction import Answer, by, figures


def test_R17_csat_mean_and_response_rate_by_hand() -> None:
    # 6 offered: scores 5, 4, 2, 3, and two without an answer (no key, hung up).
    got = figures([Answer(5), Answer(4), Answer(2), Answer(3), Answer(None), Answer(None)])
    assert got == {"offered": 6, "responses": 4, "response_rate": 4 / 6, "csat": 0.5, "mean_score": 3.5,
                   "solved_rate": None}


def test_R17_nothing_answered_is_no_figure_not_zero() -> None:
    assert figures([Answer(None)]) == {"offered": 1, "responses": 0, "response_rate": 0.0, "csat": None,
                                       "mean_score": None, "solved_rate": None}
    assert figures([])["response_rate"] is None


def test_R17_return_visits_say_whether_it_was_solved_and_groups_are_apart() -> None:
    visits = [("1001", Answer(5, True)), ("1001", Answer(2, False)), ("1002", Answer(None, True)),
              ("1002", Answer(4))]
    got = by(visits)
    assert got["1001"]["solved_rate"] == 0.5 and got["1001"]["csat"] == 0.5
    assert got["1002"]["solved_rate"] == 1.0 and got["1002"]["responses"] == 1 and got["1002"]["csat"] == 1.0


@pytest.mark.parametrize("bad", [0, 6, -1])
def test_R17_a_score_is_1_to_5(bad: int) -> None:
    with pytest.raises(ValueError):
        Answer(bad)


def test_R17_the_report_groups_by_period_and_name_in_the_sites_time_zone() -> None:
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from reports.satisfaction import Survey, parse_satisfaction, satisfaction_report

    zone = "Asia/Shanghai"

    def at(hour: int) -> float:
        return datetime(2026, 12, 7, hour, 30, tzinfo=ZoneInfo(zone)).timestamp()
    surveys = [Survey("k1", at(9), "1001", "support", "fault-report", "call", Answer(5), "repair"),
               Survey("k2", at(9), "1002", "support", "consultation", "call", Answer(None)),
               Survey("k3", at(10), "1001", "billing", "consultation", "visit", Answer(2, False), "repair")]
    by_hour = satisfaction_report(surveys, "hour", zone, "agent")
    assert [(r["period"][11:16], r["agent"], r["offered"], r["responses"]) for r in by_hour] == [
        ("09:00", "1001", 1, 1), ("09:00", "1002", 1, 0), ("10:00", "1001", 1, 1)]
    (day,) = satisfaction_report(surveys, "day", zone, "all")
    assert "all" not in day and (day["offered"], day["csat"], day["mean_score"], day["solved_rate"]) == (
        3, 0.5, 3.5, 0.0)
    departments = {r["department"]: r["offered"] for r in satisfaction_report(surveys, "day", zone, "department")}
    assert departments == {"": 1, "repair": 2}
    query, key, source = parse_satisfaction({"from": "2026-12-07", "by": "department", "source": "visit"}, zone,
                                            date(2026, 12, 7))
    assert (key, source, query.first) == ("department", "visit", date(2026, 12, 7))
    for bad in ({"by": "caller"}, {"source": "web"}, {"colour": "red"}):
        with pytest.raises(ValueError):
            parse_satisfaction(bad, zone, date(2026, 12, 7))


def test_R17_a_return_visit_answers_only_when_the_customer_was_reached() -> None:
    from workorders.model import visit_answer

    assert visit_answer({"outcome": "satisfied", "score": "4"}) == (4, True)
    assert visit_answer({"outcome": "not-solved"}) == (None, False)
    assert visit_answer({"outcome": "satisfied", "solved": "no", "score": "3"}) == (3, False)
    assert visit_answer({"outcome": "no-answer", "score": "5"}) is None
    assert visit_answer({}) is None
