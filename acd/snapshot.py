"""The engine's whole state as JSON-ready data, and back (``Engine.snapshot`` and
``Engine.restore``).

Theory of operation
-------------------
A snapshot holds the records of ``acd.state`` (agents, calls, queues' saved fields,
through ``acd.saving``), the engine's own fields listed in ``ENGINE_FIELDS``, the
sequence counters and the live timers. Indexes (ready agents, waiting calls, sticky
holds) are not saved: they follow from the records and are rebuilt in the order the
live engine built them, so the restored engine makes the same decisions. Format
version 1; a restore with another version is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acd import agents as ag
from acd.model import AgentState, CallState, PlanActions
from acd.saving import dump, load, restore_into
from acd.state import Call, Entering
from acd.timeouts import timer_valid
from acd.timers import TimerKind

if TYPE_CHECKING:
    from acd.engine import Engine

VERSION = 1
ENGINE_FIELDS: dict[str, Any] = {  # the engine's own saved fields, beside the records
    "entering": dict[str, Entering],
    "plans": dict[str, PlanActions],
    "called_in": dict[str, tuple[str, ...]],
}


def save(eng: Engine) -> dict[str, Any]:
    return {
        "version": VERSION, "seq": eng._seq, "gen": eng._gen,
        "agents": {aid: dump(a) for aid, a in eng._agents.items()},
        "calls": {k.call_id: dump(k) for k in eng._calls.values()},
        "queues": {name: dump(q) for name, q in eng._queues.items()},
        "last_agent": [[caller, aid, t] for caller, (aid, t) in eng._last_agent.items()],
        "outbound": {k: [q, t] for k, (q, t) in sorted(eng._outbound.items())},
        "timer_seq": eng._timers.seq,
        "timers": sorted([at, seq, kind.value, key, gen] for at, seq, kind, key, gen
                         in eng._timers.entries() if timer_valid(eng, kind, key, gen)),
        **{name: dump(getattr(eng, f"_{name}")) for name in ENGINE_FIELDS},
    }


def restore(eng: Engine, data: dict[str, Any]) -> None:
    """Fill a new engine (same configuration) with the state ``save`` returned."""
    if data.get("version") != VERSION:
        raise ValueError(f"unknown snapshot version {data.get('version')!r}")
    eng._seq, eng._gen = data["seq"], data["gen"]
    for aid, d in data["agents"].items():
        if aid in eng._agents:  # else: an agent removed from the configuration
            restore_into(eng._agents[aid], d)
    for call_id, d in data["calls"].items():
        eng._calls[call_id] = load(Call, {"call_id": call_id, **d})
    for name, d in data["queues"].items():
        if name in eng._queues:
            restore_into(eng._queues[name], d)
    for caller, aid, t in data["last_agent"]:
        eng._last_agent[caller] = (aid, t)
    eng._outbound = {k: (q, t) for k, (q, t) in data["outbound"].items()}
    for at, seq, kind, key, gen in data["timers"]:
        eng._timers.restore(at, seq, TimerKind(kind), key, gen)
    eng._timers.seq = data["timer_seq"]
    for name, tp in ENGINE_FIELDS.items():
        setattr(eng, f"_{name}", load(tp, data.get(name, {})))
    for a in eng._agents.values():  # indexes: ready agents, then waiting calls
        if a.state is AgentState.READY and a.reachable:
            for name in a.config.queues:
                queue = eng._queues[name]
                queue.ready.add(a.agent_id, a.profile, ag.strategy_key(a, queue))
    for k in sorted(eng._calls.values(), key=lambda k: k.order):
        if k.state is CallState.WAITING:
            eng._park(k)
