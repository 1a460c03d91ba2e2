"""R19: the knowledge base's search terms (cti/knowledge/terms.py): CJK text as single
characters and bigrams, Latin words whole and case-folded, a query's terms all
required and its pieces checked on the text; the ranking; the request checks."""

from __future__ import annotations

import pytest

from cti.errors import BadRequest
from cti.knowledge import forms
from cti.knowledge.terms import matches, query_terms, rank, terms

QUESTION = "天然氣表漏氣怎麼辦"


def found(query: str, text: str) -> bool:
    """What the store does: every query term among the text's, then the phrase checked."""
    return query_terms(query) <= terms(text) and matches(query, text)


def test_R19_a_two_character_word_inside_a_longer_phrase_is_found() -> None:
    assert "漏氣" in terms(QUESTION) and query_terms("漏氣") == {"漏氣"}
    assert found("漏氣", QUESTION) and found("氣表漏氣", QUESTION) and found("怎麼辦", QUESTION)
    assert not found("停電", QUESTION)


def test_R19_one_character_queries_find_the_character_and_longer_ones_need_every_bigram() -> None:
    assert query_terms("氣") == {"氣"} and found("氣", QUESTION) and not found("電", QUESTION)
    assert query_terms("表漏氣") == {"表漏", "漏氣"}
    # Every bigram is in the text but not as one phrase: the phrase check drops it.
    assert query_terms("漏氣表") <= terms("漏氣檢查，氣表更換")
    assert not found("漏氣表", "漏氣檢查，氣表更換")


def test_R19_latin_words_are_whole_and_case_insensitive_full_width_too() -> None:
    text = "Gas METER leak: call the ＨＯＴＬＩＮＥ"
    assert {"gas", "meter", "leak", "hotline"} <= terms(text)
    assert found("gas meter", text) and found("Hotline", text) and found("LEAK", text)
    assert not found("met", text)  # whole words: no prefix of a word
    assert found("meter 漏氣", "meter 漏氣") and not found("meter 漏氣", "meter only")


def test_R19_pieces_may_be_anywhere_but_each_must_be_there() -> None:
    assert matches("漏氣 報修", "燃氣報修", "表具漏氣")
    assert not matches("漏氣 報修", "燃氣報修")


def test_R19_ranking_puts_the_question_before_the_answer() -> None:
    in_question = rank("漏氣", "漏氣怎麼辦", "關閥開窗")
    in_answer = rank("漏氣", "燃氣安全", "若漏氣請關閥，漏氣不止請報修")
    assert in_question == (1, 0) and in_answer == (0, 2) and in_question > in_answer
    assert rank("漏氣", "安全", "x", ["漏氣"]) == (1, 0)  # a tag counts as the question


def test_R19_article_requests_are_checked_field_by_field() -> None:
    good = {"question": " 漏氣怎麼辦 ", "answer": "關閥", "kind": "fault-report", "tags": ["燃氣", "燃氣", " "],
            "valid_from": "2026-01-01", "valid_to": None}
    assert forms.article(good) == {"question": "漏氣怎麼辦", "answer": "關閥", "kind": "fault-report",
                                   "tags": ["燃氣"], "valid_from": "2026-01-01", "valid_to": None}
    for change, field, how in (
            ({"extra": 1}, "extra", "invalid"), ({"question": ""}, "question", "required"),
            ({"question": "x" * 501}, "question", "too-long"), ({"answer": "x" * 20_001}, "answer", "too-long"),
            ({"answer": 3}, "answer", "invalid"), ({"tags": ["x"] * 21}, "tags", "too-long"),
            ({"tags": ["x" * 41]}, "tags", "too-long"), ({"tags": "a,b"}, "tags", "invalid"),
            ({"kind": "k" * 65}, "kind", "too-long"), ({"valid_to": "2026-13-01"}, "valid_to", "invalid"),
            ({"valid_from": "1 Jan 2026"}, "valid_from", "invalid"), ({"valid_to": "2025-12-31"}, "valid_to", "invalid")):
        with pytest.raises(BadRequest) as refused:
            forms.article({**good, **change})
        assert getattr(refused.value, "fields", None) == {field: how}, change
    with pytest.raises(BadRequest):
        forms.query("漏" * 101)
    with pytest.raises(BadRequest):
        forms.query(" ".join(f"w{i}" for i in range(40)))  # more than 32 terms


def test_R19_a_text_the_store_cannot_keep_is_refused_before_it_is_written() -> None:
    good = {"question": "漏氣怎麼辦", "answer": "關閥"}
    for change in ({"question": "漏\ud800氣"}, {"answer": "\udfff"}, {"tags": ["\ud800"]}, {"kind": "\ud800"}):
        with pytest.raises(BadRequest):
            forms.article({**good, **change})
    with pytest.raises(BadRequest):
        forms.case({"order_id": "wo-\ud800"})


def test_R14_an_article_id_never_reads_as_a_number_so_it_is_never_masked() -> None:
    from cti.knowledge.service import new_article_id
    from cti.masking import mask_numbers, mask_text
    ids = {new_article_id() for _ in range(2000)}
    assert len(ids) == 2000
    for article_id in ids:
        assert mask_text(article_id) == article_id
        assert mask_numbers({"article_id": article_id}) == {"article_id": article_id}
    # What the old ids could be (12 hex digits, all of them digits) is masked: the reason.
    assert mask_text("kb-123456789012") != "kb-123456789012"
