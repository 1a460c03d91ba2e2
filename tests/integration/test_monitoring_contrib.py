"""contrib/monitoring: the alert rules are valid for Prometheus and the Grafana dashboard
only queries metrics the engine exposes."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from cti.supervision.prometheus import prometheus_text

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "contrib" / "monitoring"


def test_alert_rules_pass_promtool() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(MON / "alerts.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_and_rules_name_only_exposed_metrics() -> None:
    figures = {
        "queues": {"q": {"waiting": 1, "longest_wait_s": 2.0, "calls_total": {"handled": 1},
                         "thresholds": {"longest_wait_s": {"value": 2.0, "amber": 30, "red": 60, "state": "ok"}},
                         "windows": {w: {**{k: 0.0 for k in ("offered", "answered", "abandoned", "service_level",
                                                             "answer_rate", "abandon_rate", "asa_s", "mean_talk_s", "aht_s")},
                                         "agents_needed": 2} for w in ("15m", "1h", "day")}}},
        "agents": {"by_state": {"ready": 1}, "occupancy": 0.5, "ring_no_answer": {"a": 1}, "hold_overruns": {"a": 1}},
        "plan": {"level": "II"}, "recording_coverage": 1.0, "connections": {"ari": True},
        "event_loop_lag_s": 0.0, "notifications": {"sent": 1, "failed": 0, "dropped": 0},
        "maintenance_errors": {"the purge": 1}, "notifications_pending": 0, "workorders_overdue": 0,
        "campaigns": {"CABCDEFG": {"name": "n", "status": "active", "done": 1}},
        "faults": [{"kind": "deadline", "where": "ari POST", "count": 1}],
    }
    exposed = set(re.findall(r"^(cti_[a-z_]+)", prometheus_text(figures).decode(), re.M))
    dashboard = json.loads((MON / "grafana-dashboard.json").read_text())
    used = {name for p in dashboard["panels"] for t in p["targets"] for name in re.findall(r"cti_[a-z_]+", t["expr"])}
    used |= set(re.findall(r"cti_[a-z_]+", (MON / "alerts.yml").read_text()))
    assert used and used <= exposed, used - exposed
