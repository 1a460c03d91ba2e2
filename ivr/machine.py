"""The IVR: menus as configuration, one pure state machine per call.

Theory of operation
-------------------
``Ivr.start(at)`` and ``Ivr.handle(event)`` return commands; no I/O, no clock.

    playing --digit--> (option) route | submenu: playing | (invalid) retry
    playing --playback finished--> waiting (deadline = at + menu.timeout_s)
    waiting --digit--> as above;  waiting --timeout--> retry (no key)
    retry: attempt += 1; past menu.max_attempts -> the menu's default route,
           else "invalid" prompt + the menu again
    any --hang-up--> done (abandoned in the IVR: nothing is left behind)
    route to a closed queue (business hours, not an emergency) -> after-hours prompt;
        with a callback offer: key 1 -> callback request + thanks; then the call ends

Every ``Play`` carries an id; a ``PlaybackFinished`` for an older id (a prompt cut off
by a key) is ignored, so a stopped prompt never starts the wait.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from acd.hours import BusinessHours
from acd.model import Route  # where an option sends the call

# ------------------------------------------------------------------ configuration


@dataclass(frozen=True, slots=True)
class Option:
    digit: str
    route: Route | None = None
    submenu: str | None = None


@dataclass(frozen=True, slots=True)
class Menu:
    name: str
    prompts: tuple[str, ...]
    options: tuple[Option, ...]
    default: Route
    timeout_s: float = 5.0
    max_attempts: int = 3
    invalid_prompt: str = "invalid"

    def option(self, digit: str) -> Option | None:
        return next((o for o in self.options if o.digit == digit), None)


@dataclass(frozen=True, slots=True)
class IvrConfig:
    greeting: tuple[str, ...]
    start: str
    menus: dict[str, Menu] = field(default_factory=dict)
    hours: dict[str, BusinessHours] = field(default_factory=dict)  # per queue; default open
    after_hours_prompt: str = "after-hours"
    callback_offer_prompt: str | None = None  # "press 1 to be called back"
    callback_taken_prompt: str = "callback-taken"
    utc_offset_s: int = 8 * 3600  # business hours are local time (UTC+8 by default)


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str
    at: float


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    play_id: int
    at: float


@dataclass(frozen=True, slots=True)
class Timeout:
    at: float


@dataclass(frozen=True, slots=True)
class HungUp:
    at: float


IvrEvent = Digit | PlaybackFinished | Timeout | HungUp

# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class Play:
    play_id: int
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StopPlayback:
    play_id: int


@dataclass(frozen=True, slots=True)
class WaitForDigit:
    deadline: float


@dataclass(frozen=True, slots=True)
class RouteCall:
    route: Route
    reason: str  # "option 2", "default after 3 attempts", ...


@dataclass(frozen=True, slots=True)
class Ended:
    """The caller hung up in the IVR."""

    at: float


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """After hours the caller asked to be called back (R11 takes it from there)."""

    queue: str
    kind: str
    at: float


@dataclass(frozen=True, slots=True)
class HangUp:
    """The IVR is done with the caller (after hours)."""

    reason: str


IvrCommand = Play | StopPlayback | WaitForDigit | RouteCall | Ended | RequestCallback | HangUp


class Ivr:
    """One caller's way through the menus."""

    def __init__(self, config: IvrConfig) -> None:
        self.config = config
        self.menu = config.menus[config.start]
        self.state = "new"  # playing, waiting, done
        self.attempt = 1
        self.play_id = 0
        self.deadline: float | None = None
        self.keys: list[str] = []
        self.closed_route: Route | None = None
        self._now = 0.0

    def start(self, at: float) -> list[IvrCommand]:
        self._now = at
        return self._play(self.config.greeting + self.menu.prompts)

    def handle(self, event: IvrEvent) -> list[IvrCommand]:
        if self.state == "done":
            return []
        self._now = event.at
        if isinstance(event, HungUp):
            self.state, self.deadline = "done", None
            return [Ended(event.at)]
        if self.state.startswith("closed"):
            return self._after_hours(event)
        if isinstance(event, PlaybackFinished):
            if self.state != "playing" or event.play_id != self.play_id:
                return []  # a prompt that was cut off, or an old one
            self.state = "waiting"
            self.deadline = event.at + self.menu.timeout_s
            return [WaitForDigit(self.deadline)]
        if isinstance(event, Timeout):
            if self.state != "waiting" or self.deadline is None or event.at < self.deadline:
                return []
            return self._retry("no key")
        self.keys.append(event.digit)
        out: list[IvrCommand] = [StopPlayback(self.play_id)] if self.state == "playing" else []
        option = self.menu.option(event.digit)
        if option is None:
            return out + self._retry(f"invalid key {event.digit}")
        if option.submenu is not None:
            self.menu = self.config.menus[option.submenu]
            self.attempt = 1
            return out + self._play(self.menu.prompts)
        assert option.route is not None
        return out + self._finish(option.route, f"{self.menu.name}: option {event.digit}", event.at)

    def _retry(self, why: str) -> list[IvrCommand]:
        self.attempt += 1
        if self.attempt > self.menu.max_attempts:
            return self._finish(
                self.menu.default,
                f"{self.menu.name}: default after {self.menu.max_attempts} attempts ({why})",
                self._now,
            )
        return self._play((self.menu.invalid_prompt,) + self.menu.prompts)

    def _play(self, prompts: tuple[str, ...]) -> list[IvrCommand]:
        self.play_id += 1
        self.state, self.deadline = "playing", None
        return [Play(self.play_id, prompts)]

    def _finish(self, route: Route, reason: str, at: float) -> list[IvrCommand]:
        hours = self.config.hours.get(route.queue)
        local = datetime.fromtimestamp(at + self.config.utc_offset_s, timezone.utc).replace(tzinfo=None)
        if hours is not None and not route.emergency and not hours.is_open(local):
            self.closed_route = route
            prompts: tuple[str, ...] = (self.config.after_hours_prompt,)
            if self.config.callback_offer_prompt is not None:
                prompts += (self.config.callback_offer_prompt,)
            out = self._play(prompts)
            self.state = "closed"
            return out
        self.state, self.deadline = "done", None
        return [RouteCall(route, reason)]

    def _after_hours(self, event: IvrEvent) -> list[IvrCommand]:
        """After hours: the announcement; with a callback offer, key 1 takes it."""
        route = self.closed_route
        assert route is not None
        offer = self.config.callback_offer_prompt is not None
        if isinstance(event, Digit) and offer and event.digit == "1" and self.state == "closed":
            self.state = "closed-thanks"
            return [StopPlayback(self.play_id), RequestCallback(route.queue, route.kind, event.at),
                    *self._play_keep(self.config.callback_taken_prompt)]
        if isinstance(event, PlaybackFinished) and event.play_id == self.play_id:
            if self.state == "closed" and offer and self.deadline is None:
                self.deadline = event.at + self.menu.timeout_s
                return [WaitForDigit(self.deadline)]
            self.state = "done"
            return [HangUp("after hours")]
        if isinstance(event, Timeout) and self.deadline is not None and event.at >= self.deadline:
            self.state = "done"
            return [HangUp("after hours")]
        return []

    def _play_keep(self, prompt: str) -> list[IvrCommand]:
        self.play_id += 1
        self.deadline = None
        return [Play(self.play_id, (prompt,))]
