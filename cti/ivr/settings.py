"""The ``[ivr]`` table: which extensions go through the IVR, in which language, with
which menus, and the business hours of queues (which apply to direct routes too: the
core's ``Intake`` gets them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from acd.hours import BusinessHours
from acd.model import MAX_PRIORITY, Route
from cti.configreader import Table
from cti.errors import ConfigError
from ivr.machine import IvrConfig, Menu, Option


@dataclass(frozen=True, slots=True)
class IvrSettings:
    extensions: tuple[str, ...]
    language: str
    menus: IvrConfig  # menus, and business hours per queue (a queue not listed: always open)
    callback_webhook_url: str | None = None


def parse_route(t: Table, names: list[str]) -> Route:
    queue = t.text("queue")
    if queue not in names:
        raise ConfigError(f"{t.path}.queue", f"one of the queues {names}", queue)
    return Route(queue, t.skill_table("skills"), t.integer("priority", 0, 0, MAX_PRIORITY),
                    t.text("kind", "-") if "kind" in t.data else "", t.flag("emergency", False))


def parse_ivr(root: Table, names: list[str]) -> IvrSettings:
    t = root.table("ivr")
    exts = t.str_list("extensions")
    language = t.text("language", "zh")
    greeting = t.str_list("greeting")
    menus: dict[str, Menu] = {}
    for m in t.tables("menus"):
        name = m.text("name")
        options: list[Option] = []
        for o in m.tables("options"):
            digit = o.text("digit")
            if digit not in list("0123456789*#"):
                raise ConfigError(f"{o.path}.digit", "one of 0-9, * or #", digit)
            if "submenu" in o.data:
                options.append(Option(digit, submenu=o.text("submenu")))
            else:
                options.append(Option(digit, route=parse_route(o, names)))
            o.check_unknown()
        menus[name] = Menu(
            name, m.str_list("prompts"), tuple(options), parse_route(m.table("default"), names),
            m.number("timeout_s", 5.0, 0.5), m.integer("max_attempts", 3, 1),
            m.text("invalid_prompt", "invalid"),
        )
        m.check_unknown()
    start = t.text("start", next(iter(menus), "main"))
    if start not in menus:
        raise ConfigError("ivr.start", f"one of the menus {sorted(menus)}", start)
    for menu in menus.values():
        for option in menu.options:
            if option.submenu is not None and option.submenu not in menus:
                raise ConfigError("ivr.menus", f"submenus among {sorted(menus)}", option.submenu)
    hours: dict[str, BusinessHours] = {}
    for h in t.tables("hours"):
        queue = h.text("queue")
        if queue not in names:
            raise ConfigError(f"{h.path}.queue", f"one of the queues {names}", queue)
        if queue in hours:
            raise ConfigError(f"{h.path}.queue", "a queue not given hours twice", queue)
        weekly = h.weekly_spans()
        closed = h.data.get("closed", [])
        h.used.add("closed")
        try:
            closed_dates = frozenset(date.fromisoformat(d) for d in closed)
        except (ValueError, TypeError):
            raise ConfigError(f"{h.path}.closed", "a list of ISO dates", closed) from None
        hours[queue] = BusinessHours(weekly, closed_dates)
        h.check_unknown()
    offer = t.text("callback_offer_prompt", "-") if "callback_offer_prompt" in t.data else None
    hook = t.text("callback_webhook_url", "-") if "callback_webhook_url" in t.data else None
    if hook is not None and not hook.startswith(("http://", "https://")):
        raise ConfigError("ivr.callback_webhook_url", "an http:// or https:// URL", hook)
    menus_config = IvrConfig(
        greeting, start, menus, hours, t.text("after_hours_prompt", "after-hours"), offer,
        t.text("callback_taken_prompt", "callback-taken"),
        int(t.number("utc_offset_h", 8.0, -12.0) * 3600),
    )
    settings = IvrSettings(exts, language, menus_config, hook)
    t.check_unknown()
    return settings
