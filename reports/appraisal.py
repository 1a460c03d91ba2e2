"""R13 with R17 and R18: the agent appraisal, one row per agent over a date range, joining
what the agent did (answered calls, occupancy, ring-no-answers, hold overruns: the
agent report's definitions), what callers said of it (R17: surveys offered, response
rate, CSAT, mean score) and what its inspections found (R18: inspections scored, mean
quality score, critical failures, disputes). Pure: the figures come in already built by
their own definitions (``reports.agents``, ``reports.satisfaction``,
``reports.quality``); a figure with nothing under it is None ("—")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reports.agents import occupancy, time_split
from reports.quality import AgentQuality

# The columns, in order (the CSV's header).
COLUMNS = ("agent", "answered", "talk_s", "occupancy", "rona", "hold_overruns",
           "surveys", "survey_response_rate", "csat", "mean_score",
           "inspections", "quality_score", "critical_failures", "disputes")


def _activity(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """The agent report's rows (any interval) summed per agent over the range."""
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        a = out.setdefault(str(r["agent"]), {"answered": 0, "talk_s": 0.0, "rona": 0, "hold_overruns": 0,
                                             "available_s": 0.0, "busy_s": 0.0})
        for name in ("answered", "talk_s", "rona", "hold_overruns"):
            a[name] += float(r.get(name) or 0)
        busy, available = time_split(r)
        a["busy_s"] += busy
        a["available_s"] += available
    return out


def appraisal(activity_rows: Iterable[Mapping[str, Any]],
              satisfaction: Mapping[str, Mapping[str, Any]],
              quality: Mapping[str, AgentQuality]) -> list[dict[str, Any]]:
    """One row per agent that worked, was surveyed or was inspected in the range.
    ``satisfaction``: agent -> ``reports.satisfaction.figures``; ``quality``: agent ->
    ``reports.quality.AgentQuality``."""
    activity = _activity(activity_rows)
    rows = []
    for agent in sorted(set(activity) | set(satisfaction) | set(quality)):
        a, s, q = activity.get(agent), satisfaction.get(agent, {}), quality.get(agent)
        rows.append({
            "agent": agent,
            "answered": int(a["answered"]) if a else 0,
            "talk_s": round(a["talk_s"], 1) if a else 0.0,
            "occupancy": occupancy(a["busy_s"], a["available_s"]) if a else None,
            "rona": int(a["rona"]) if a else 0,
            "hold_overruns": int(a["hold_overruns"]) if a else 0,
            "surveys": int(s.get("offered") or 0),
            "survey_response_rate": s.get("response_rate"),
            "csat": s.get("csat"),
            "mean_score": s.get("mean_score"),
            "inspections": q.inspections if q else 0,
            "quality_score": q.mean_score if q else None,
            "critical_failures": q.critical_failures if q else 0,
            "disputes": q.disputed if q else 0,
        })
    return rows
