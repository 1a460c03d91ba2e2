"""The ``[metrics]``, ``[thresholds]`` and ``[plan]`` tables: R13 service-level settings
and alert thresholds (cti.supervision.thresholds), and the R9 emergency plan (levels
with entry and exit conditions, and their actions)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from acd.plans import LEVELS, Conditions, ExitConditions, Level, PlanConfig
from cti.configreader import Table
from cti.errors import ConfigError
from cti.supervision.thresholds import Thresholds


@dataclass(frozen=True, slots=True)
class SupervisionConfig:
    """R13 metrics and the R9 emergency plan."""

    sl_threshold_s: float = 20.0
    sl_target: float = 0.8
    plan: PlanConfig | None = None
    plan_webhook_url: str | None = None
    thresholds: Thresholds = Thresholds()  # [thresholds]: when a queue's tile turns amber or red


def parse_plan(t: Table, names: list[str], agent_ids: set[str], base: SupervisionConfig) -> SupervisionConfig:
    queue = t.text("queue")
    if queue not in names:
        raise ConfigError("plan.queue", f"one of the queues {names}", queue)
    mode = t.text("mode", "auto")
    if mode not in ("auto", "confirm"):
        raise ConfigError("plan.mode", "auto or confirm", mode)
    levels_t = t.table("levels")
    levels: dict[str, Level] = {}
    for name in list(levels_t.data):
        if name not in LEVELS:
            raise ConfigError(f"plan.levels.{name}", f"one of {list(LEVELS)}", name)
        lv = levels_t.table(name)
        en, lx = lv.table("enter"), lv.table("leave")
        enter = Conditions(
            en.integer("waiting_at_least", None, 1) if "waiting_at_least" in en.data else None,
            en.number("longest_wait_at_least_s", 0.0) if "longest_wait_at_least_s" in en.data else None,
            en.number("answer_rate_below", 0.0) if "answer_rate_below" in en.data else None,
            en.integer("overflows_at_least", None, 1) if "overflows_at_least" in en.data else None,
        )
        leave = ExitConditions(
            lx.integer("waiting_at_most", None, 0) if "waiting_at_most" in lx.data else None,
            lx.number("longest_wait_at_most_s", 0.0) if "longest_wait_at_most_s" in lx.data else None,
            lx.number("answer_rate_at_least", 0.0) if "answer_rate_at_least" in lx.data else None,
        )
        en.check_unknown()
        lx.check_unknown()
        standby = lv.str_list("standby_agents") if "standby_agents" in lv.data else ()
        for agent_id in standby:
            if agent_id not in agent_ids:
                raise ConfigError(f"plan.levels.{name}.standby_agents", "agents of [[agents]]", agent_id)
        overflow = lv.text("overflow_to", "-") if "overflow_to" in lv.data else None
        if overflow is not None and overflow not in names:
            raise ConfigError(f"plan.levels.{name}.overflow_to", f"one of the queues {names}", overflow)
        levels[name] = Level(name, enter, leave, standby, overflow,
                             lv.text("announcement", "-") if "announcement" in lv.data else None,
                             lv.flag("offer_callbacks", False))
        lv.check_unknown()
    hook = t.text("webhook_url", "-") if "webhook_url" in t.data else None
    plan = PlanConfig(queue, levels, mode, t.number("min_time_s", 60.0))
    t.check_unknown()
    return replace(base, plan=plan, plan_webhook_url=hook)
