"""R18's ``[quality]`` table: read into the sampling rules and the form, every fault
refused at start with the key that is wrong; the ``inspector`` role for accounts."""

from __future__ import annotations

from typing import Any

import pytest

from cti.configreader import Table
from cti.errors import ConfigError
from cti.quality.settings import parse_quality
from cti.web.accounts import hash_secret, parse_auth

FORM: dict[str, Any] = {"name": "service", "sections": [
    {"name": "Opening", "items": [{"id": "greeting", "label": "Standard greeting"}]},
    {"name": "Handling", "items": [{"id": "accuracy", "label": "Correct answer", "points": 20, "weight": 3},
                                   {"id": "privacy", "label": "No full number read out", "critical": True}]}]}


def quality(**given: Any) -> Any:
    return parse_quality(Table({"form": FORM, **given}, "quality"), 6)


def test_R18_the_quality_table_gives_the_rules_and_the_form() -> None:
    assert parse_quality(Table({}, "quality"), 6) is None  # not configured
    s = quality(share=0.1, triggers=["complaint", "rona"], low_score_below=2, period="week", sample_every_s=60,
                supervisors_inspect=True)
    assert s.rules.share == 0.1 and s.rules.triggers == frozenset({"complaint", "rona"})
    assert s.rules.low_score_below == 2 and s.period == "week" and s.sample_every_s == 60.0
    assert s.supervisors_inspect and not s.inspector_sees_numbers
    items = s.form.items()
    assert items["accuracy"].points == 20 and items["accuracy"].weight == 3.0 and items["privacy"].critical
    assert items["greeting"].points == 10 and not items["greeting"].critical  # the defaults
    assert quality().rules.triggers == frozenset({"complaint", "hold-overrun", "rona", "low-score"})


@pytest.mark.parametrize(("given", "key"), [
    ({"share": 1.5}, "quality.share"),
    ({"share": -0.1}, "quality.share"),
    ({"triggers": ["long-call"]}, "quality.triggers"),
    ({"period": "year"}, "quality.period"),
    ({"low_score_below": 9}, "quality.low_score_below"),
    ({"sample_every_s": 0}, "quality.sample_every_s"),
    ({"shares": 0.1}, "quality.shares"),
    ({"form": {"name": "x", "sections": []}}, "quality.form.sections"),
    ({"form": {"sections": [{"name": "a", "items": []}]}}, "quality.form.sections[0].items"),
    ({"form": {"sections": [{"name": "a", "items": [{"id": "i"}, {"id": "i"}]}]}}, "quality.form.sections"),
    ({"form": {"sections": [{"name": "a", "items": [{"id": "i", "points": 0}]}]}},
     "quality.form.sections[0].items[0].points"),
    ({"form": {"sections": [{"name": "a", "items": [{"id": "i", "weight": 0}]}]}},
     "quality.form.sections[0].items[0].weight"),
    ({"form": {"sections": [{"name": "a", "items": [{"id": "a b"}]}]}}, "quality.form.sections[0].items[0].id"),
    ({"form": {"sections": [{"name": "a", "items": [{"id": "i", "critcal": True}]}]}},
     "quality.form.sections[0].items[0].critcal"),
])
def test_R18_a_wrong_quality_table_is_refused_at_start(given: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        quality(**given)
    assert err.value.key == key, err.value


def test_R18_accounts_may_have_the_inspector_role() -> None:
    auth = parse_auth(Table({"accounts": [{"name": "zhao", "role": "inspector",
                                           "password_hash": hash_secret("zhao-secret")}]}, "auth"))
    assert auth.accounts[0].role == "inspector"
    with pytest.raises(ConfigError):
        parse_auth(Table({"accounts": [{"name": "x", "role": "quality", "password_hash": hash_secret("x-secret")}]},
                         "auth"))
