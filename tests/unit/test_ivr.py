"""The IVR state machine on every path, with a virtual clock (R7, R8)."""

from __future__ import annotations

from datetime import date, datetime, time

from acd.hours import ALWAYS, BusinessHours
from ivr.machine import (Digit, Ended, HangUp, HungUp, Ivr, IvrConfig, Menu, Option, Play, RequestCallback,
                         PlaybackFinished, Route, RouteCall, StopPlayback, Timeout, WaitForDigit)

EMERGENCY = Route("emergency", priority=0, kind="emergency", emergency=True)
FAULT = Route("repair", (("gas", 2),), 5, "fault-report")
DEFAULT = Route("support", kind="consultation")
CONFIG = IvrConfig(
    greeting=("welcome",),
    start="main",
    menus={
        "main": Menu("main", ("main-menu",), (
            Option("0", EMERGENCY),
            Option("1", Route("support", kind="consultation")),
            Option("3", FAULT),
            Option("4", submenu="complaints"),
        ), DEFAULT, timeout_s=5, max_attempts=3),
        "complaints": Menu("complaints", ("complaint-menu",), (
            Option("1", Route("complaints", kind="complaint")),
            Option("2", Route("complaints", kind="suggestion")),
        ), Route("complaints", kind="complaint")),
    },
)


def routed(out: list) -> Route | None:
    return next((c.route for c in out if isinstance(c, RouteCall)), None)


def test_R7_greeting_then_a_valid_key_routes_with_kind_and_skills() -> None:
    """R7: the kind of business chosen in the IVR travels with the call."""
    ivr = Ivr(CONFIG)
    assert ivr.start(0.0) == [Play(1, ("welcome", "main-menu"))]
    out = ivr.handle(Digit("3", 2.0))  # during the greeting: cuts it off
    assert out[0] == StopPlayback(1) and routed(out) == FAULT
    assert ivr.handle(Digit("1", 3.0)) == []  # done: later keys change nothing


def test_R8_emergency_option() -> None:
    """R8: the emergency option routes as an emergency."""
    ivr = Ivr(CONFIG)
    ivr.start(0.0)
    assert routed(ivr.handle(Digit("0", 1.0))) == EMERGENCY


def test_wait_timeout_and_replay_then_default_route() -> None:
    ivr = Ivr(CONFIG)
    ivr.start(0.0)
    assert ivr.handle(PlaybackFinished(1, 4.0)) == [WaitForDigit(9.0)]
    assert ivr.handle(Timeout(8.9)) == []  # early: not yet
    out = ivr.handle(Timeout(9.0))
    assert out == [Play(2, ("invalid", "main-menu"))]
    ivr.handle(PlaybackFinished(2, 12.0))
    assert ivr.handle(Timeout(17.0)) == [Play(3, ("invalid", "main-menu"))]
    ivr.handle(PlaybackFinished(3, 20.0))
    out = ivr.handle(Timeout(25.0))
    assert routed(out) == DEFAULT and "default after 3 attempts" in out[0].reason


def test_three_invalid_keys_land_in_the_default_route() -> None:
    ivr = Ivr(CONFIG)
    ivr.start(0.0)
    assert ivr.handle(Digit("9", 1.0)) == [StopPlayback(1), Play(2, ("invalid", "main-menu"))]
    assert ivr.handle(Digit("8", 2.0)) == [StopPlayback(2), Play(3, ("invalid", "main-menu"))]
    assert routed(ivr.handle(Digit("7", 3.0))) == DEFAULT
    assert ivr.keys == ["9", "8", "7"]


def test_nested_menu_and_a_stale_playback_event() -> None:
    ivr = Ivr(CONFIG)
    ivr.start(0.0)
    assert ivr.handle(Digit("4", 1.0)) == [StopPlayback(1), Play(2, ("complaint-menu",))]
    assert ivr.handle(PlaybackFinished(1, 1.1)) == []  # the greeting that was cut off
    assert ivr.handle(PlaybackFinished(2, 3.0)) == [WaitForDigit(8.0)]
    assert routed(ivr.handle(Digit("2", 4.0))) == Route("complaints", kind="suggestion")


def test_hang_up_mid_menu_leaves_nothing() -> None:
    ivr = Ivr(CONFIG)
    ivr.start(0.0)
    assert ivr.handle(HungUp(2.0)) == [Ended(2.0)]
    assert ivr.handle(PlaybackFinished(1, 3.0)) == [] and ivr.handle(Timeout(100.0)) == []


def test_business_hours_default_always_open_and_after_hours() -> None:
    assert ALWAYS.is_open(datetime(2026, 12, 25, 3, 0))
    office = BusinessHours({"mon": ((time(8), time(18)),), "sat": ((time(9), time(12)),)},
                           frozenset({date(2026, 11, 23)}))
    assert office.is_open(datetime(2026, 11, 30, 9, 0))  # a Monday
    assert not office.is_open(datetime(2026, 11, 30, 18, 0))  # closes at 18:00
    assert not office.is_open(datetime(2026, 11, 23, 9, 0))  # a closed Monday
    assert not office.is_open(datetime(2026, 11, 29, 10, 0))  # Sunday
    assert office.is_open(datetime(2026, 11, 28, 11, 59))  # Saturday morning


def after_hours_config(offer: bool) -> IvrConfig:
    closed = BusinessHours({"mon": ((time(8), time(18)),)})  # Mondays 08-18 only
    return IvrConfig(CONFIG.greeting, CONFIG.start, CONFIG.menus, {"repair": closed},
                     "after-hours", "callback-offer" if offer else None, "callback-taken", 0)


SUNDAY_NOON = datetime(2026, 11, 29, 12, 0).timestamp() - datetime(1970, 1, 1).timestamp()


def test_after_hours_announcement_then_the_call_ends() -> None:
    """R6: a closed queue (not an emergency): the after-hours prompt, then hang up."""
    ivr = Ivr(after_hours_config(offer=False))
    ivr.start(SUNDAY_NOON)
    out = ivr.handle(Digit("3", SUNDAY_NOON + 1))
    assert routed(out) is None and out[-1] == Play(2, ("after-hours",))
    assert ivr.handle(PlaybackFinished(2, SUNDAY_NOON + 6)) == [HangUp("after hours")]


def test_after_hours_callback_offer_taken_with_key_1() -> None:
    ivr = Ivr(after_hours_config(offer=True))
    ivr.start(SUNDAY_NOON)
    out = ivr.handle(Digit("3", SUNDAY_NOON + 1))
    assert out[-1] == Play(2, ("after-hours", "callback-offer"))
    assert ivr.handle(PlaybackFinished(2, SUNDAY_NOON + 8)) == [WaitForDigit(SUNDAY_NOON + 13)]
    out = ivr.handle(Digit("1", SUNDAY_NOON + 10))
    assert RequestCallback("repair", "fault-report", SUNDAY_NOON + 10) in out
    assert out[-1] == Play(3, ("callback-taken",))
    assert ivr.handle(PlaybackFinished(3, SUNDAY_NOON + 12)) == [HangUp("after hours")]


def test_after_hours_no_key_ends_and_emergencies_are_always_taken() -> None:
    ivr = Ivr(after_hours_config(offer=True))
    ivr.start(SUNDAY_NOON)
    ivr.handle(Digit("3", SUNDAY_NOON + 1))
    ivr.handle(PlaybackFinished(2, SUNDAY_NOON + 8))
    assert ivr.handle(Timeout(SUNDAY_NOON + 13)) == [HangUp("after hours")]
    closed_all = IvrConfig(CONFIG.greeting, CONFIG.start, CONFIG.menus,
                           {"emergency": BusinessHours({})}, utc_offset_s=0)
    ivr = Ivr(closed_all)
    ivr.start(SUNDAY_NOON)
    assert routed(ivr.handle(Digit("0", SUNDAY_NOON + 1))) == EMERGENCY
    # Open hours route as usual.
    monday = SUNDAY_NOON + 86400 - 3 * 3600  # Monday 09:00
    ivr = Ivr(after_hours_config(offer=True))
    ivr.start(monday)
    assert routed(ivr.handle(Digit("3", monday + 1))) == FAULT
