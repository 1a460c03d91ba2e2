"""R13 thresholds: a queue's figures against their amber and red limits, from the
configuration ([thresholds], per queue), in the wallboard's figures and in /metrics."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from acd import AgentConfig, Engine, QueueConfig
from acd import events as e
from cti.config import load
from cti.errors import ConfigError
from cti.runtime import Runtime
from cti.supervision.prometheus import prometheus_text
from cti.supervision.services import Supervision
from tests.unit.test_config import BASE, write


def test_R13_defaults_follow_the_sl_target_and_a_queue_overrides_some_figures(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, BASE + """
[metrics]
sl_target = 0.9

[thresholds]
longest_wait_s = { amber = 20, red = 45 }

[thresholds.queues.support]
abandon_rate = { amber = 0.02, red = 0.04 }
"""))
    th = cfg.supervision.thresholds
    every, support = th.of("other"), th.of("support")
    assert (every["service_level"].amber, every["service_level"].red) == (0.9, pytest.approx(0.7))
    assert (every["longest_wait_s"].amber, every["longest_wait_s"].red) == (20.0, 45.0)
    assert (support["abandon_rate"].amber, support["abandon_rate"].red) == (0.02, 0.04)
    assert support["longest_wait_s"] == every["longest_wait_s"]  # the rest as for every queue
    assessed = th.assess("support", {"service_level": 0.85, "abandon_rate": 0.05, "longest_wait_s": 10.0,
                                     "waiting_per_agent": None})
    assert {k: v["state"] for k, v in assessed.items()} == {
        "service_level": "amber", "abandon_rate": "red", "longest_wait_s": "ok", "waiting_per_agent": None}


@pytest.mark.parametrize("text, key", [
    ("[thresholds]\nhandle_time = { amber = 1, red = 2 }\n", "thresholds.handle_time"),
    ("[thresholds]\nservice_level = { amber = 0.6, red = 0.8 }\n", "thresholds.service_level"),
    ("[thresholds]\nlongest_wait_s = { amber = 60, red = 30 }\n", "thresholds.longest_wait_s"),
    ("[thresholds]\nlongest_wait_s = { amber = 20, red = 40, blue = 1 }\n", "thresholds.longest_wait_s.blue"),
    ("[thresholds]\nlongest_wait_s = 30\n", "thresholds.longest_wait_s"),
    ("[thresholds.queues.nosuch]\nlongest_wait_s = { amber = 1, red = 2 }\n", "thresholds.queues.nosuch"),
])
def test_R13_a_bad_threshold_is_refused_at_start_naming_its_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(write(tmp_path, BASE + text))
    assert err.value.key == key


def supervision(tmp_path: Path) -> Supervision:
    cfg = load(write(tmp_path, BASE.replace('queues = ["support"]', 'queues = ["support"]\n\n[[agents]]\nid = "1002"\n'
                                            'endpoint = "PJSIP/agent1002"\nqueues = ["support"]') + """
[thresholds]
longest_wait_s = { amber = 20, red = 40 }
waiting_per_agent = { amber = 1, red = 2 }
"""))
    engine = Engine([QueueConfig("support")], [a.agent for a in cfg.agents])
    notifier: Any = SimpleNamespace(sent=0, failed=0, dropped=0, retries=0, pending=0)
    clock = SimpleNamespace(now=1000.0)
    return Supervision(cfg.supervision, Runtime(engine, lambda: clock.now), [], notifier)


def test_R13_waiting_callers_turn_the_queue_amber_then_red_in_the_figures_and_metrics(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sup = supervision(tmp_path)
    rt = sup.runtime
    rt.apply(e.AgentLoggedIn("1001", 1000.0))
    rt.apply(e.AgentLoggedIn("1002", 1000.0))
    queue = sup.figures()["queues"]["support"]
    assert queue["state"] == "ok" and queue["staffed"] == 2
    assert queue["thresholds"]["service_level"]["state"] is None  # nothing offered: no colour
    rt.apply(e.CallArrived("k1", "support", "13812345678", 1000.0))  # offered at once: none waits
    assert sup.figures()["queues"]["support"]["waiting"] == 0
    rt.apply(e.AgentPaused("1002", "lunch", 1000.0))
    rt.apply(e.CallArrived("k2", "support", "13812345678", 1000.0))
    rt.apply(e.CallArrived("k3", "support", "13812345678", 1000.0))
    queue = sup.figures()["queues"]["support"]  # 2 waiting, 1 staffed (1001 ringing): 2 per agent
    assert (queue["waiting"], queue["staffed"]) == (2, 1)
    assert queue["thresholds"]["waiting_per_agent"]["state"] == "amber" and queue["state"] == "amber"
    rt.apply(e.OfferFailed("k1", "1001", "rejected", 1000.0))
    rt.apply(e.AgentPaused("1001", "training", 1000.0))
    figures = sup.figures()
    queue = figures["queues"]["support"]
    assert (queue["waiting"], queue["staffed"]) == (3, 0)
    assert queue["thresholds"]["waiting_per_agent"]["state"] == "red"
    assert queue["thresholds"]["waiting_per_agent"]["value"] is None  # infinite: no JSON number
    assert queue["state"] == "red"
    with caplog.at_level("WARNING", logger="cti.supervision"):
        sup.watch(figures["queues"])
        sup.watch(figures["queues"])  # logged once per crossing, not per look
    crossed = [r.getMessage() for r in caplog.records if "waiting_per_agent ok -> red" in r.getMessage()]
    assert len(crossed) == 1 and "queue support" in crossed[0]
    text = prometheus_text(figures).decode()
    assert 'cti_queue_threshold_state{figure="waiting_per_agent",queue="support"} 2.0' in text
    assert 'cti_queue_threshold_state{figure="longest_wait_s",queue="support"} 0.0' in text
    assert 'figure="service_level"' not in text  # no figure, no sample
