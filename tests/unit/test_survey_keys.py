"""R17 the survey's keys (pure): 1 to 5 is the score; one wrong key hears the question
again, the next ends the survey with no response."""

from __future__ import annotations

from ivr.survey import Key, on_key


def test_R17_a_key_1_to_5_is_the_score_whatever_came_before() -> None:
    assert [on_key(d, 0) for d in "12345"] == [(Key.SCORE, n) for n in range(1, 6)]
    assert on_key("4", 1) == (Key.SCORE, 4)


def test_R17_one_wrong_key_hears_the_question_again_the_second_ends_it_with_no_response() -> None:
    assert on_key("9", 0) == (Key.AGAIN, None)
    assert on_key("#", 0) == (Key.AGAIN, None)
    assert on_key("0", 1) == (Key.NO_RESPONSE, None)
    assert on_key("6", 1) == (Key.NO_RESPONSE, None)
