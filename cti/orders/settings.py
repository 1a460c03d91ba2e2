"""``[store]`` (where dispositions, work orders and the record of calls live) and
``[workorders]`` (business kinds, departments, routing rules, return visits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from datetime import date
from types import MappingProxyType

from cti.configreader import Table
from cti.errors import ConfigError
from cti.orders.complaints import ComplaintSettings
from workorders import FIELDS, URGENCIES, Department, Kind, Rule, Rules
from workorders.calendar import WEEKDAYS, Calendar, parse_weekdays
from workorders.complaints import ComplaintRules
from workorders.model import DEFAULT_KINDS, OUTCOMES


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """``url``: ``sqlite:PATH`` (one machine; the default) or ``postgresql://...``
    (several engines; its password from ``CTI_STORE_URL`` rather than the file)."""

    url: str = "sqlite:var/cti.sqlite"
    timeout_s: float = 5.0  # every statement's deadline
    read_timeout_s: float = 30.0  # a report's or export's read: cancelled at this deadline

    @property
    def postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:"))


@dataclass(frozen=True, slots=True)
class WorkOrderSettings:
    rules: Rules = field(default_factory=lambda: Rules({k.name: k for k in DEFAULT_KINDS}))
    departments: tuple[Department, ...] = ()
    check_interval_s: float = 30.0  # how often overdue orders are looked for
    return_visit_after_days: float = 3.0
    retention_months: int = 6  # R5: kept as long as the call's record
    enabled: bool = False  # [workorders] configured: action kinds become orders
    complaints: ComplaintSettings = field(default_factory=ComplaintSettings)  # R16: [complaints], [site] calendar


def parse_store(t: Table) -> StoreSettings:
    url = t.text("url", "sqlite:var/cti.sqlite")
    if not url.startswith(("sqlite:", "postgresql://", "postgres://")) or url == "sqlite:":
        raise ConfigError(f"{t.path}.url", "sqlite:PATH or a postgresql:// URL", "***")
    settings = StoreSettings(url, t.number("timeout_s", 5.0, 0.1), t.number("read_timeout_s", 30.0, 0.1))
    t.check_unknown()
    return settings


def parse_workorders(t: Table, retention_months: int) -> WorkOrderSettings:
    if not t.data:
        t.check_unknown()
        return WorkOrderSettings(retention_months=retention_months)
    kinds = {k.name: k for k in DEFAULT_KINDS}
    given = t.tables("kinds")
    if given:
        kinds = {}
        for k in given:
            name = k.text("name")
            required = tuple(k.data.get("required", []))
            k.used.add("required")
            bad = [f for f in required if f not in FIELDS]
            if bad:
                raise ConfigError(f"{k.path}.required", f"fields among {sorted(FIELDS)}", bad)
            outcomes = tuple(k.data.get("action_outcomes", []))
            k.used.add("action_outcomes")
            if any(o not in OUTCOMES for o in outcomes):
                raise ConfigError(f"{k.path}.action_outcomes", f"outcomes among {list(OUTCOMES)}", list(outcomes))
            kinds[name] = Kind(name, k.text("label", name), required, k.flag("action", False),
                               k.flag("emergency", False), k.flag("return_visit", False), outcomes)
            k.check_unknown()
    departments: list[Department] = []
    for d in t.tables("departments"):
        url = d.text("webhook_url")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{d.path}.webhook_url", "an http:// or https:// URL", url)
        name = d.text("name")
        if not name or "," in name or len(name) > 64:
            raise ConfigError(f"{d.path}.name", "a name of 1 to 64 characters without a comma", name)
        departments.append(Department(name, url))
        d.check_unknown()
    names = {d.name for d in departments}
    rules: list[Rule] = []
    for r in t.tables("rules"):
        onsite_h = r.number("onsite_h", 0.0, 0.0)  # R20: the crew on site within (0: no deadline)
        rule = Rule(r.text("department"), r.number("due_h", 24.0, 0.01) * 3600.0,
                    r.text("kind", "*"), r.text("urgency", "*"), r.text("region", "*"),
                    onsite_h * 3600.0 if onsite_h > 0 else None)
        if rule.onsite_s is not None and rule.onsite_s > rule.due_s:
            raise ConfigError(f"{r.path}.onsite_h", f"at most due_h ({rule.due_s / 3600:g})", onsite_h)
        if rule.department not in names:
            raise ConfigError(f"{r.path}.department", f"one of the departments {sorted(names)}", rule.department)
        if rule.kind != "*" and rule.kind not in kinds:
            raise ConfigError(f"{r.path}.kind", f"* or one of the kinds {sorted(kinds)}", rule.kind)
        if rule.urgency != "*" and rule.urgency not in URGENCIES:
            raise ConfigError(f"{r.path}.urgency", f"* or one of {list(URGENCIES)}", rule.urgency)
        rules.append(rule)
        r.check_unknown()
    table = Rules(kinds, tuple(rules))
    missing = table.unrouted()
    if missing:
        raise ConfigError(f"{t.path}.rules", "a rule (region \"*\") for every action kind and urgency",
                          [f"{k}/{u}" for k, u in missing[:6]])
    settings = WorkOrderSettings(table, tuple(departments), t.number("check_interval_s", 30.0, 0.1),
                                 t.number("return_visit_after_days", 3.0, 0.0),
                                 t.integer("retention_months", retention_months, 1), True)
    t.check_unknown()
    return settings


def parse_calendar(site: Table, zone: str) -> Calendar:
    """R16: ``[site] workdays`` (default mon..fri), ``holidays`` and ``make_up_days``
    (ISO dates: days off on working days, and weekend days worked)."""
    try:
        workdays = parse_weekdays(list(site.str_list("workdays"))) if "workdays" in site.data else frozenset(range(5))
    except ValueError as exc:
        raise ConfigError(f"{site.path}.workdays", f"days among {list(WEEKDAYS)}", str(exc)) from None
    site.used.add("workdays")

    def days(key: str) -> frozenset[date]:
        given = site.str_list(key) if key in site.data else ()
        site.used.add(key)
        try:
            return frozenset(date.fromisoformat(d) for d in given)
        except ValueError:
            raise ConfigError(f"{site.path}.{key}", 'ISO dates such as "2026-10-01"', list(given)) from None
    if not workdays:  # (make-up days alone run out: every deadline after the last would fail)
        raise ConfigError(f"{site.path}.workdays", "at least one working day of the week", [])
    calendar = Calendar(zone, workdays, days("holidays"), days("make_up_days"))
    return calendar


def parse_complaints(t: Table, calendar: Calendar) -> ComplaintSettings:
    """R16 ``[complaints]``: the levels (the owner first), working days to give the
    result, the claim that starts at the manager's level, the level that may close
    without the customer's acceptance, and the accounts acting at each level."""
    levels = tuple(t.str_list("levels")) if "levels" in t.data else ComplaintRules().levels
    t.used.add("levels")
    if not levels or levels[0] != "owner" or len(set(levels)) != len(levels):
        raise ConfigError(f"{t.path}.levels", 'distinct levels, "owner" first', list(levels))
    close_from = t.text("close_from", "manager" if "manager" in levels else levels[-1])
    if close_from not in levels:
        raise ConfigError(f"{t.path}.close_from", f"one of the levels {list(levels)}", close_from)
    rules = ComplaintRules(levels, t.integer("feedback_days", 3, 0, 60), t.number("high_claim", 10_000.0),
                           close_from)
    accounts: dict[str, frozenset[str]] = {}
    at = t.table("accounts")
    for level in list(at.data):
        if level not in levels[1:]:
            raise ConfigError(f"{at.path}.{level}", f"one of the levels above the owner {list(levels[1:])}", level)
        accounts[level] = frozenset(at.str_list(level))
    at.check_unknown()
    t.check_unknown()
    return ComplaintSettings(rules, calendar, MappingProxyType(accounts))
