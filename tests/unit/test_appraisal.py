"""R13 with R17 and R18: the appraisal joins each agent's activity (summed over the
range, occupancy from the summed seconds), its satisfaction figures and its quality
figures; an agent with no surveys or inspections gets "—" (None), not 0."""

from __future__ import annotations

from reports.appraisal import COLUMNS, appraisal
from reports.quality import AgentQuality
from reports.satisfaction import Answer, by


def day(agent: str, answered: int, login: float, pause: float, busy: float, rona: int = 0) -> dict[str, object]:
    return {"period": "d", "agent": agent, "answered": answered, "talk_s": 60.0 * answered, "login_s": login,
            "pause_s": pause, "on_call_s": busy, "wrap_s": 0.0, "ringing_s": 0.0, "rona": rona, "hold_overruns": 0}


def test_R13_R17_R18_the_appraisal_joins_activity_satisfaction_and_quality_per_agent() -> None:
    activity = [day("1001", 10, 3600, 600, 1500, rona=1), day("1001", 5, 3600, 0, 600), day("1002", 3, 1800, 0, 900)]
    answers = by([("1001", Answer(5)), ("1001", Answer(4)), ("1001", Answer(2)), ("1001", Answer(None)),
                  ("1003", Answer(1))])
    quality = {"1001": AgentQuality("1001", 2, 45.0, 1, 1)}
    rows = {r["agent"]: r for r in appraisal(activity, answers, quality)}
    assert list(rows) == ["1001", "1002", "1003"]  # worked, or surveyed, or inspected
    a = rows["1001"]
    assert (a["answered"], a["rona"]) == (15, 1)
    assert a["occupancy"] == (1500 + 600) / (3600 - 600 + 3600)  # from the summed seconds, not a mean of days
    assert (a["surveys"], a["survey_response_rate"], a["csat"]) == (4, 0.75, 2 / 3)
    assert a["mean_score"] == 11 / 3
    assert (a["inspections"], a["quality_score"], a["critical_failures"], a["disputes"]) == (2, 45.0, 1, 1)
    b = rows["1002"]
    assert b["answered"] == 3 and b["occupancy"] == 0.5
    assert (b["surveys"], b["csat"], b["inspections"], b["quality_score"]) == (0, None, 0, None)
    c = rows["1003"]
    assert (c["answered"], c["occupancy"], c["csat"]) == (0, None, 0.0)
    assert all(list(r) == list(COLUMNS) for r in rows.values())
