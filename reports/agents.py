"""R13 per agent: where the agents' time went and what they did with it, per period.

An agent's state span is cut at quarter hours (``pieces``) and its seconds added to the
bucket of (agent, quarter hour, state, reason); each answered call adds to the agent's
bucket for the quarter hour it ended in (calls, talk, hold, ring-no-answers where they
happened, hold overruns). A report merges buckets into periods like the queues' one:

- login_s: every state but logged-out; ready_s; pause_s (not-ready) and pause_by_reason;
  ringing_s (offered), on_call_s, wrap_s (wrap-up);
- answered, talk_s (hold included), hold_s, rona, hold_overruns;
- dispositions: what the agent recorded (R12), per business kind;
- occupancy = (on_call_s + wrap_s + ringing_s) / (login_s - pause_s): the share of the
  time available to take calls spent on them (0 when none was available).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from types import MappingProxyType
from zoneinfo import ZoneInfo

from reports.intervals import BUCKET_S, Filter, bucket_of, period_of
from reports.records import AgentSpan, CallRecord

STATE_FIELD = MappingProxyType({"ready": "ready_s", "not-ready": "pause_s", "offered": "ringing_s", "on-call": "on_call_s",
               "wrap-up": "wrap_s"})


def pieces(span: AgentSpan) -> list[tuple[float, float]]:
    """(quarter hour start, seconds) of the span, cut at quarter hours."""
    out = []
    at = span.started_at
    while at < span.ended_at:
        start = bucket_of(at)
        end = min(span.ended_at, start + BUCKET_S)
        out.append((start, end - at))
        at = end
    return out


@dataclass(frozen=True, slots=True)
class CallSums:
    answered: int = 0
    talk_s: float = 0.0
    hold_s: float = 0.0
    rona: int = 0
    hold_overruns: int = 0


def call_pieces(r: CallRecord) -> list[tuple[str, float, CallSums]]:
    """What a call adds to agents' buckets: (agent, quarter hour, sums)."""
    out = [(o.agent_id, bucket_of(o.at + o.rang_s), CallSums(rona=1)) for o in r.offers if o.result == "no-answer"]
    for t in r.transfers:  # each agent its own part (R13)
        out.append((t.agent_id, bucket_of(t.at), CallSums(1, t.talked_s, t.held_s)))
    if r.outcome == "handled" and r.agent_id is not None:
        talk = r.talked_s - sum(t.talked_s for t in r.transfers)
        held = r.held_s - sum(t.held_s for t in r.transfers)
        out.append((r.agent_id, bucket_of(r.ended_at), CallSums(1, talk, held, 0, r.hold_overruns)))
    return out


TimeRow = tuple[str, float, str, str, float]  # agent, quarter hour, state, reason, seconds
CallRow = tuple[str, float, CallSums]  # agent, quarter hour, sums


def agent_report(times: Iterable[TimeRow], calls: Iterable[CallRow], interval: str, zone: str,
                 where: Filter = Filter(), dispositions: Iterable[tuple[str, float, str]] = ()) -> list[dict[str, object]]:
    """Rows per period and agent; ``dispositions``: (agent, when, kind) of what the
    agents recorded (R12), counted per kind."""
    tz = ZoneInfo(zone)
    periods: dict[float, datetime | None] = {}

    def period(start: float) -> datetime | None:
        if start not in periods:
            local = datetime.fromtimestamp(start, tz)
            periods[start] = period_of(local, interval) if where.takes(local) else None
        return periods[start]

    rows: dict[tuple[datetime, str], dict[str, object]] = {}

    def row(p: datetime, agent: str) -> dict[str, object]:
        found = rows.get((p, agent))
        if found is None:
            found = rows[(p, agent)] = {"period": p.isoformat(), "agent": agent, "login_s": 0.0, "ready_s": 0.0,
                                        "pause_s": 0.0, "pause_by_reason": {}, "ringing_s": 0.0, "on_call_s": 0.0,
                                        "wrap_s": 0.0, "answered": 0, "talk_s": 0.0, "hold_s": 0.0, "rona": 0,
                                        "hold_overruns": 0, "dispositions": {}}
        return found

    for agent, start, state, reason, seconds in times:
        p = period(start)
        if p is None or state == "logged-out":
            continue
        r = row(p, agent)
        r["login_s"] = float(r["login_s"]) + seconds  # type: ignore[arg-type]
        name = STATE_FIELD.get(state)
        if name is not None:
            r[name] = float(r[name]) + seconds  # type: ignore[arg-type]
        if state == "not-ready":
            by = r["pause_by_reason"]
            assert isinstance(by, dict)
            by[reason or ""] = by.get(reason or "", 0.0) + seconds
    for agent, start, sums in calls:
        p = period(start)
        if p is None:
            continue
        r = row(p, agent)
        for name in ("answered", "talk_s", "hold_s", "rona", "hold_overruns"):
            r[name] = r[name] + getattr(sums, name)
    for agent, at, kind in dispositions:
        p = period(bucket_of(at))
        if p is not None:
            counted = row(p, agent)["dispositions"]
            assert isinstance(counted, dict)
            counted[kind] = counted.get(kind, 0) + 1
    for r in rows.values():
        r["occupancy"] = occupancy(*time_split(r))
    return [rows[k] for k in sorted(rows)]


def time_split(row: Mapping[str, Any]) -> tuple[float, float]:
    """(busy, available) seconds of an agent report's row: on calls (talking, wrap-up,
    ringing), and logged in less paused."""
    busy = float(row.get("on_call_s") or 0) + float(row.get("wrap_s") or 0) + float(row.get("ringing_s") or 0)
    return busy, float(row.get("login_s") or 0) - float(row.get("pause_s") or 0)


def occupancy(busy_s: float, available_s: float) -> float | None:
    """The share of the time available to take calls spent on them (None: nobody was
    available, no figure, "—")."""
    return busy_s / available_s if available_s > 0 else None


def flat(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The rows with one column per pause reason and per disposition kind, every row
    with every column (for CSV)."""
    out = []
    for r in rows:
        reasons, kinds = r.get("pause_by_reason", {}), r.get("dispositions", {})
        assert isinstance(reasons, dict) and isinstance(kinds, dict)
        out.append({**{k: v for k, v in r.items() if not isinstance(v, dict)},
                    **{f"pause_{k or 'unspecified'}_s": v for k, v in reasons.items()},
                    **{f"dispositions_{k}": v for k, v in kinds.items()}})
    keys = ["period", "agent"] + sorted({k for r in out for k in r} - {"period", "agent"})
    return [{k: r.get(k, 0) for k in keys} for r in out]
