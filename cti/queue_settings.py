"""The ``[[queues]]`` tables: each queue's rules for the core (R1 ring time and RONA,
strategy and skill relaxation, overflow, R10 sticky agent, R3 holds, wrap-up, R11
callbacks and R2 on their dial-outs, R17 the survey after the call), checked at start."""

from __future__ import annotations

from acd import QueueConfig
from acd.model import HoldAction, RelaxStep, Strategy
from cti.configreader import Table
from cti.errors import ConfigError


def parse_queue(q: Table) -> QueueConfig:
    """One ``[[queues]]`` table as the core's queue rules (refused when wrong)."""
    strategy = q.choice("strategy", Strategy, Strategy.LONGEST_IDLE)
    steps: list[RelaxStep] = []
    for step in q.tables("relaxation"):
        drop = step.data.get("drop", [])
        step.used.add("drop")
        if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
            raise ConfigError(f"{step.path}.drop", 'a list of skill names, or ["*"]', drop)
        steps.append(
            RelaxStep(step.number("after_s", 0.0), step.integer("lower_levels_by", 0, 0, 4), tuple(drop))
        )
        step.check_unknown()
    if [s.after_s for s in steps] != sorted(s.after_s for s in steps):
        raise ConfigError(f"{q.path}.relaxation", "steps in increasing after_s", [s.after_s for s in steps])
    actions = q.data.get("hold_actions", ["remind-agent", "apologize"])
    q.used.add("hold_actions")
    valid = [a.value for a in HoldAction]
    if not isinstance(actions, list) or not all(a in valid for a in actions):
        raise ConfigError(f"{q.path}.hold_actions", f"a list of {valid}", actions)
    return QueueConfig(
        name=q.text("name"),
        ring_cycle_s=q.number("ring_cycle_s", 5.0, 0.1),
        answer_within_rings=q.integer("answer_within_rings", 2, 1),
        wrap_up_s=q.number("wrap_up_s", 10.0),
        strategy=strategy,
        weight=q.integer("weight", 0, 0),
        relaxation=tuple(steps),
        max_waiting=q.optional_int("max_waiting", 1),
        overflow_queue=q.text("overflow_queue", "-") if "overflow_queue" in q.data else None,
        overflow_after_s=q.number("overflow_after_s", 0.0) if "overflow_after_s" in q.data else None,
        overflow_at_waiting=q.optional_int("overflow_at_waiting", 1),
        sticky_window_s=q.number("sticky_window_s", 0.0),
        sticky_hold_s=q.number("sticky_hold_s", 20.0),
        rona_not_ready_after=q.integer("rona_not_ready_after", 1, 1),
        rona_logout_after=q.integer("rona_logout_after", 0, 0),
        hold_max_s=q.number("hold_max_s", 30.0, 0.1),
        hold_actions=tuple(HoldAction(a) for a in actions),
        announce_agent_id=q.flag("announce_agent_id", True),
        wrap_up_ends=q.one_of("wrap_up_ends", ("timer", "disposition", "first"), "timer"),
        outbound_max_rings=q.integer("outbound_max_rings", 6, 1, 20), callback_retry_s=q.number(
            "callback_retry_s", 120.0, 1.0), callback_max_attempts=q.integer("callback_max_attempts", 3, 1, 20),
        offer_callbacks=q.one_of("offer_callbacks", ("plan", "always", "above-wait"), "plan"),
        callback_above_wait_s=q.number("callback_above_wait_s", 60.0, 1.0),
        survey=q.flag("survey", False), survey_timeout_s=_survey_timeout(q))


def _survey_timeout(q: Table) -> float:
    """R17: the seconds a caller has to key the score, 1 to 60."""
    timeout = q.number("survey_timeout_s", 8.0, 1.0)
    if timeout > 60.0:
        raise ConfigError(f"{q.path}.survey_timeout_s", "at most 60 seconds", timeout)
    return timeout

