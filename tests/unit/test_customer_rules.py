"""R19's pure rules: numbers normalised as records keep them, what an edit may hold,
what a disposition adds to a record, and two records merged into one."""

from __future__ import annotations

import re

import pytest

from cti.customers import rules


@pytest.mark.parametrize("written", ["13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678",
                                     "0086-138-1234-5678", "+8613812345678", " (138) 1234.5678 "])
def test_R19_a_number_is_normalised_however_it_is_written(written: str) -> None:
    assert rules.normalise(written) == "13812345678"


@pytest.mark.parametrize("written", ["", "anonymous", "unknown", "138****5678", "12", "+"])
def test_R19_what_is_no_number_normalises_to_nothing(written: str) -> None:
    assert rules.normalise(written) == ""


def test_R19_a_fixed_line_keeps_its_area_code_and_a_short_number_is_not_cut() -> None:
    assert rules.normalise("(010) 8888-1234") == "01088881234"
    assert rules.normalise("+86 1234") == "861234"  # too short to be +86 and a number
    assert rules.variants("13812345678") == ["13812345678", "+8613812345678", "008613812345678", "8613812345678"]


def test_R19_an_edit_is_checked_key_by_key() -> None:
    change = rules.edit({"name": " 王小明 ", "numbers": ["138 1234 5678", "+86 138-1234-5678", "010 8888 1234"],
                         "addresses": [{"address": "北區 1 號", "region": "north"}, {"address": "北區  1 號"}],
                         "calls_allowed": False})
    assert change == {"name": "王小明", "numbers": ["13812345678", "01088881234"],
                      "addresses": [{"address": "北區 1 號", "region": "north"}], "calls_allowed": False}
    for bad, says in (({"nick": "x"}, "not ['nick']"), ({}, "at least one"), ({"name": 1}, "name is text"),
                      ({"notes": "x" * 4001}, "4000 characters"), ({"account_id": "a\x00"}, "NUL"),
                      ({"numbers": ["abc"]}, "phone number"), ({"numbers": ["1380000000"] * 11}, "10 numbers"),
                      ({"calls_allowed": 1}, "true or false"), ({"addresses": [{"address": ""}]}, "not empty"),
                      ({"addresses": ["x"]}, "an address is")):
        with pytest.raises(rules.Invalid, match=re.escape(says)):
            rules.edit(bad)


def test_R19_a_disposition_fills_what_the_record_lacks_and_never_overwrites_an_agents_words() -> None:
    seen = rules.learned({"customer_name": "王小明", "address": "南區 2 號", "region": "south",
                          "contact_number": "+86 139 9876 5432", "account_id": "M-1"}, "13812345678")
    assert seen["numbers"] == ["13812345678", "13998765432"]
    record = {"name": "王曉明", "account_id": "", "addresses": [{"address": "北區 1 號", "region": "north"}]}
    assert rules.enriched(record, seen) == {
        "name": "王曉明", "account_id": "M-1",
        "addresses": [{"address": "北區 1 號", "region": "north"}, {"address": "南區 2 號", "region": "south"}]}
    assert rules.learned({}, "anonymous") == {"name": "", "account_id": "", "numbers": [], "addresses": []}


def test_R19_a_merge_keeps_the_kept_records_words_and_never_loses_a_refusal_of_calls() -> None:
    kept = {"name": "王小明", "account_id": "", "notes": "a", "calls_allowed": True,
            "addresses": [{"address": "北區 1 號", "region": ""}]}
    gone = {"name": "Wang", "account_id": "M-1", "notes": "b", "calls_allowed": False,
            "addresses": [{"address": "北區 1 號", "region": "north"}, {"address": "南區 2 號", "region": "south"}]}
    assert rules.merged(kept, gone) == {
        "name": "王小明", "account_id": "M-1", "notes": "a\nb", "calls_allowed": False,
        "addresses": [{"address": "北區 1 號", "region": "north"}, {"address": "南區 2 號", "region": "south"}]}
    assert rules.changes({"name": "a", "notes": ""}, {"name": "b", "notes": ""}) == {"name": ["a", "b"]}
