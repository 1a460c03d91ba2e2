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
