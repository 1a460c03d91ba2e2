"""``[quality]`` (R18): the sampling period and rules, who inspects, whether inspectors
see full numbers, and the form (sections of items with points, weights and critical
flags). Refused at start when wrong."""

from __future__ import annotations

from dataclasses import dataclass

from cti.configreader import Table
from cti.errors import ConfigError
from reports.quality import TRIGGERS, Form, Item, SamplingRules, Section

PERIODS = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class QualitySettings:
    form: Form
    rules: SamplingRules = SamplingRules()
    period: str = "day"  # the sampling period, in the site's time zone: each agent's share per period
    sample_every_s: float = 300.0  # how often the leader samples the current (and the previous) period
    supervisors_inspect: bool = False  # supervisors act as inspectors too (the permission)
    inspector_sees_numbers: bool = False  # R14: inspectors see callers' numbers masked unless this
    retention_months: int = 6  # inspections go with the call's record (R5)


def parse_quality(t: Table, retention_months: int) -> QualitySettings | None:
    """None when there is no ``[quality]`` table (the routes answer not-configured)."""
    if not t.data:
        t.check_unknown()
        return None
    triggers = t.str_list("triggers") if "triggers" in t.data else TRIGGERS
    t.used.add("triggers")
    bad = [x for x in triggers if x not in TRIGGERS]
    if bad:
        raise ConfigError(f"{t.path}.triggers", f"triggers among {list(TRIGGERS)}", bad)
    share = t.number("share", 0.05)
    if share > 1.0:
        raise ConfigError(f"{t.path}.share", "a share of each agent's calls from 0 to 1", share)
    rules = SamplingRules(share, frozenset(triggers), t.integer("low_score_below", 3, 1, 6))
    settings = QualitySettings(
        parse_form(t.table("form")), rules, t.one_of("period", PERIODS, "day"),
        t.number("sample_every_s", 300.0, 1.0), t.flag("supervisors_inspect", False),
        t.flag("inspector_sees_numbers", False), retention_months)
    t.check_unknown()
    return settings


def parse_form(f: Table) -> Form:
    """``[quality.form]`` name, ``[[quality.form.sections]]`` name and
    ``[[quality.form.sections.items]]`` id, label, points (10), weight (1), critical."""
    sections: list[Section] = []
    for s in f.tables("sections"):
        items: list[Item] = []
        for i in s.tables("items"):
            item_id = i.text("id")
            if len(item_id) > 64 or not item_id.replace("-", "").replace("_", "").isalnum():
                raise ConfigError(f"{i.path}.id", "letters, digits, '-' or '_' (64 at most)", item_id)
            items.append(Item(item_id, i.text("label", item_id), i.integer("points", 10, 1, 1000),
                              i.number("weight", 1.0, 0.001), i.flag("critical", False)))
            i.check_unknown()
        if not items:
            raise ConfigError(f"{s.path}.items", "at least one item ([[...items]])", [])
        sections.append(Section(s.text("name"), tuple(items)))
        s.check_unknown()
    try:
        form = Form(f.text("name", "inspection"), tuple(sections))
    except ValueError as exc:
        raise ConfigError(f"{f.path}.sections", str(exc), [s.name for s in sections]) from None
    f.check_unknown()
    return form
