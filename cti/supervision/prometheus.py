"""R13 for machines: the supervision figures in Prometheus text format."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cti.supervision.thresholds import STATES


def prometheus_text(figures: dict[str, Any]) -> bytes:
    """The figures in Prometheus text exposition format (prometheus-client; one scrape,
    one consistent snapshot). Seconds, ratios, and _total counters."""
    families: list[Metric] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        keys = sorted(samples[0][0]) if samples else []
        metric: Metric
        if kind == "counter":
            metric = CounterMetricFamily(name.removesuffix("_total"), help_text, labels=keys)
        else:
            metric = GaugeMetricFamily(name, help_text, labels=keys)
        for labels, value in samples:
            metric.add_metric([str(labels[k]) for k in keys], float(value))
        families.append(metric)

    queues = figures["queues"]
    family("cti_queue_waiting_calls", "gauge", "Calls waiting for an agent.",
           [({"queue": q}, v["waiting"]) for q, v in queues.items()])
    family("cti_queue_longest_wait_seconds", "gauge", "Wait of the longest-waiting call.",
           [({"queue": q}, v["longest_wait_s"]) for q, v in queues.items()])
    family("cti_queue_calls_total", "counter", "Calls ended, by outcome.",
           [({"queue": q, "outcome": o}, n) for q, v in queues.items() for o, n in v["calls_total"].items()])
    family("cti_queue_callbacks_waiting", "gauge", "R11 callbacks keeping their place (or between attempts).",
           [({"queue": q}, v.get("callbacks_waiting", 0)) for q, v in queues.items()])
    family("cti_queue_callbacks_total", "counter", "R11 callbacks requested by waiting callers.",
           [({"queue": q}, v.get("callbacks_total", 0)) for q, v in queues.items()])
    family("cti_callback_attempts_total", "counter", "R11 dial-outs to customers by outcome (R2: no-answer).",
           [({"queue": q, "outcome": o}, n) for q, v in queues.items() for o, n in v.get("callback_attempts", {}).items()])
    family("cti_callback_connect_ratio", "gauge", "R11 dial-outs answered by a person / dial-outs.",
           [({"queue": q}, v["connect_rate"]) for q, v in queues.items() if v.get("connect_rate") is not None])
    per_window = [
        ("cti_queue_offered_calls", "offered", "Calls offered (ended) in the window."),
        ("cti_queue_answered_calls", "answered", "Calls answered in the window."),
        ("cti_queue_abandoned_calls", "abandoned", "Calls abandoned in the window."),
        ("cti_queue_service_level_ratio", "service_level", "Answered within the threshold / offered."),
        ("cti_queue_answer_rate_ratio", "answer_rate", "Answered / offered (接通率)."),
        ("cti_queue_abandon_rate_ratio", "abandon_rate", "Abandoned / offered."),
        ("cti_queue_average_speed_of_answer_seconds", "asa_s", "Mean wait of answered calls."),
        ("cti_queue_mean_talk_seconds", "mean_talk_s", "Mean talk time of answered calls."),
        ("cti_queue_average_handle_seconds", "aht_s", "Mean handle time (talk, hold, wrap-up) of answered calls."),
    ]
    for name, key, help_text in per_window:  # a ratio with nothing under it is left out (no sample), not 1 or 0
        family(name, "gauge", help_text,
               [({"queue": q, "window": w}, f[key]) for q, v in queues.items() for w, f in v["windows"].items()
                if f[key] is not None])
    family("cti_queue_threshold_state", "gauge",
           "R13 a queue figure against its [thresholds]: 0 ok, 1 amber, 2 red (absent: no figure).",
           [({"queue": q, "figure": name}, STATES.index(str(a["state"])))
            for q, v in queues.items() for name, a in v.get("thresholds", {}).items() if a["state"] is not None])
    family("cti_queue_agents_needed", "gauge", "Agents Erlang C says are needed for the service-level target (1h).",
           [({"queue": q}, v["windows"]["1h"]["agents_needed"]) for q, v in queues.items()
            if v["windows"]["1h"]["agents_needed"] is not None])
    agents = figures["agents"]
    family("cti_agents", "gauge", "Agents by state.", [({"state": s}, n) for s, n in agents["by_state"].items()])
    family("cti_agent_occupancy_ratio", "gauge", "Busy agents / staffed agents.", [({}, agents["occupancy"])] if agents["occupancy"] is not None else [])
    family("cti_agent_ring_no_answer_total", "counter", "R1 missed offers.",
           [({"agent": a}, n) for a, n in agents["ring_no_answer"].items()])
    family("cti_agent_hold_overruns_total", "counter", "R3 holds past hold_max_s.",
           [({"agent": a}, n) for a, n in agents["hold_overruns"].items()])
    plan = figures["plan"]
    if plan is not None:
        level = {None: 0, "III": 3, "II": 2, "I": 1}[plan["level"]]
        family("cti_emergency_level", "gauge", "R9 plan level: 0 none, 3 = III, 2 = II, 1 = I.", [({}, level)])
    if figures["recording_coverage"] is not None:
        family("cti_recording_coverage_ratio", "gauge", "R4 answered calls with a good recording (last day).",
               [({}, figures["recording_coverage"])])
    family("cti_connection_up", "gauge", "1 when connected.",
           [({"peer": p}, 1.0 if up else 0.0) for p, up in figures["connections"].items()])
    family("cti_event_loop_lag_seconds", "gauge", "How late the event loop woke (last second).",
           [({}, figures["event_loop_lag_s"])])
    family("cti_notifications_total", "counter",
           "Webhook notifications (emergency, callback request, plan) by outcome: sent, retried (a try that "
           "failed), failed (given up after max_age_s), dropped from a full queue.",
           [({"outcome": o}, n) for o, n in figures["notifications"].items()])
    family("cti_notifications_pending", "gauge", "Notifications waiting in the outbox for delivery.",
           [({}, figures.get("notifications_pending", 0))])
    family("cti_campaign_entries", "gauge", "R11 customers of each campaign by status (scheduled, queued, done, closed).",
           [({"campaign": cid, "status": st}, n) for cid, camp in (figures.get("campaigns") or {}).items()
            for st, n in camp.items() if st not in ("name", "status")])
    if figures.get("workorders_late_on_site") is not None:
        family("cti_workorders_late_on_site_total", "counter",
               "R20 work orders alerted because nobody was on site by the on-site deadline.",
               [({}, figures["workorders_late_on_site"])])
    if figures.get("workorders_overdue") is not None:
        family("cti_workorders_overdue", "gauge", "R12 open work orders past their due time.",
               [({}, figures["workorders_overdue"])])
    if figures.get("complaints_escalated") is not None:
        family("cti_complaints_escalated_total", "counter",
               "R16 complaints sent one level up because the customer had no result by its due time.",
               [({}, figures["complaints_escalated"])])
    family("cti_maintenance_errors_total", "counter",
           "Failed runs of a maintenance step (archiving, audit, purge); each is retried next cycle.",
           [({"step": step}, n) for step, n in figures.get("maintenance_errors", {}).items()])
    family("cti_faults_total", "counter",
           "Faults survived: deadline (an operation abandoned after its deadline), poison (input that did not "
           "decode, set aside), lost (operations failed by a lost connection), failed (a step that raised).",
           [({"kind": f["kind"], "where": f["where"]}, f["count"]) for f in figures.get("faults", [])])
    registry = CollectorRegistry()
    registry.register(_Snapshot(families))
    return generate_latest(registry)


class _Snapshot(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


