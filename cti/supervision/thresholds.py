"""R13 thresholds: when a queue's figure turns the wallboard amber or red and raises an
alert (on the wallboard, in the log, and as ``cti_queue_threshold_state`` for
Prometheus).

Four figures, each with an amber and a red limit, set for every queue in
``[thresholds]`` and per queue in ``[thresholds.queues.NAME]``::

    [thresholds]
    service_level = { amber = 0.8, red = 0.6 }       # 15 min, below is worse
    abandon_rate = { amber = 0.05, red = 0.10 }      # 15 min, above is worse
    longest_wait_s = { amber = 30, red = 60 }        # now, above is worse
    waiting_per_agent = { amber = 1, red = 2 }       # now, above is worse

A figure with nothing under it (no call offered in the window) is no colour. Waiting
per agent is calls waiting over the queue's agents able to take one soon (ready,
ringing, talking or in wrap-up); with callers waiting and nobody staffed it is red."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cti.configreader import Table
from cti.errors import ConfigError

STATES = ("ok", "amber", "red")  # worse to the right; Prometheus exports the index


@dataclass(frozen=True, slots=True)
class Limit:
    amber: float
    red: float
    below: bool  # True: a value under the limit is worse (service level)

    def state(self, value: float | None) -> str | None:
        if value is None:
            return None
        def worse(limit: float) -> bool:
            return value < limit if self.below else value > limit
        return "red" if worse(self.red) else "amber" if worse(self.amber) else "ok"


# The figures, whether lower is worse, and their limits when none are configured (the
# service level's amber is the site's [metrics] sl_target).
DEFAULTS: Mapping[str, Limit] = MappingProxyType({
    "service_level": Limit(0.8, 0.6, True),
    "abandon_rate": Limit(0.05, 0.10, False),
    "longest_wait_s": Limit(30.0, 60.0, False),
    "waiting_per_agent": Limit(1.0, 2.0, False),
})


@dataclass(frozen=True, slots=True)
class Thresholds:
    every: Mapping[str, Limit] = field(default_factory=lambda: DEFAULTS)
    queues: Mapping[str, Mapping[str, Limit]] = field(default_factory=lambda: MappingProxyType({}))

    def of(self, queue: str) -> Mapping[str, Limit]:
        return self.queues.get(queue, self.every)

    def assess(self, queue: str, values: Mapping[str, float | None]) -> dict[str, dict[str, object]]:
        """Each figure of ``queue``: its value, limits and state (None: no figure)."""
        out: dict[str, dict[str, object]] = {}
        for name, limit in self.of(queue).items():
            value = values.get(name)
            out[name] = {"value": value if value is None or math.isfinite(value) else None,  # (JSON has no inf)
                         "amber": limit.amber, "red": limit.red, "state": limit.state(value)}
        return out


def worst(assessed: Mapping[str, Mapping[str, object]]) -> str:
    states = [str(a["state"]) for a in assessed.values() if a["state"] is not None]
    return max(states, key=STATES.index, default="ok")


def waiting_per_agent(waiting: int, staffed: int) -> float:
    if not waiting:
        return 0.0
    return waiting / staffed if staffed else math.inf


def _limits(t: Table, base: Mapping[str, Limit], where: str) -> Mapping[str, Limit]:
    out = dict(base)
    for name in list(t.data):
        if name == "queues" and where == "thresholds":
            continue
        if name not in DEFAULTS:
            raise ConfigError(f"{where}.{name}", f"one of {list(DEFAULTS)}", name)
        pair = t.table(name)
        below = DEFAULTS[name].below
        amber, red = pair.number("amber", base[name].amber), pair.number("red", base[name].red)
        pair.check_unknown()
        if (below and red > amber) or (not below and red < amber):
            raise ConfigError(f"{where}.{name}", "red beyond amber (" + ("lower" if below else "higher") + ")",
                              f"amber {amber}, red {red}")
        out[name] = Limit(amber, red, below)
    return MappingProxyType(out)


def parse_thresholds(t: Table, queue_names: list[str], sl_target: float) -> Thresholds:
    """``[thresholds]`` and ``[thresholds.queues.NAME]``; the service level's amber
    defaults to ``sl_target`` (its red 0.2 lower)."""
    base = dict(DEFAULTS)
    base["service_level"] = Limit(sl_target, max(0.0, sl_target - 0.2), True)
    every = _limits(t, MappingProxyType(base), "thresholds")
    queues: dict[str, Mapping[str, Limit]] = {}
    if "queues" in t.data:
        qt = t.table("queues")
        for name in list(qt.data):
            if name not in queue_names:
                raise ConfigError(f"thresholds.queues.{name}", f"one of the queues {queue_names}", name)
            one = qt.table(name)
            queues[name] = _limits(one, every, f"thresholds.queues.{name}")
            one.check_unknown()
        qt.check_unknown()
    t.check_unknown()
    return Thresholds(every, MappingProxyType(queues))
