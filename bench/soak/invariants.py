"""The soak's invariants, each from a source other than the engine's own word: SIPp's
traces and statistics (callers and agents' phones), Asterisk's ARI events (an observer
of its own, subscribed to everything), the recording archive's files, the store's
database file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from recording.wav import SILENCE_RMS, NotWav, inspect
from tests.e2e.harness import AriObserver, Sipp
from tests.e2e.harness.sipp import Leg

from bench.soak.traffic import sipp_totals

ROUTING_PROMISE_S = 30.0  # after the last fault healed, an agent's phone rings within this


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Findings:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def broken(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def ari_time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def callers(found: Findings, sipps: dict[str, Sipp], planned: dict[str, int]) -> list[Leg]:
    """Every caller accounted for once: each SIPp made the calls it was told to, its
    own statistics count each once (successful + failed = created), and each call's
    trace reached its end (nobody waits forever after the faults ended)."""
    legs: list[Leg] = []
    for name, sipp in sipps.items():
        mine = sipp.calls()
        legs += mine
        totals = sipp_totals(sipp)
        created = totals.get("Outgoing calls created", -1)
        counted = totals.get("Successful call", 0) + totals.get("Failed call", 0)
        unfinished = [str(leg) for leg in mine if not leg.done]
        found.check(f"callers {name}: each made and counted once", created == planned[name] == counted
                    == len(mine), f"planned {planned[name]}, SIPp created {created}, successful+failed {counted}, "
                    f"traced {len(mine)}")
        found.check(f"callers {name}: every call ended", not unfinished,
                    f"{len(unfinished)} never ended: {unfinished[:3]}")
        found.figures[f"callers {name}"] = {"created": created, "successful": totals.get("Successful call"),
                                           "failed": totals.get("Failed call")}
    return legs


def agent_overlaps(phones: dict[str, Sipp]) -> dict[str, list[str]]:
    """From the agents' own phones: calls answered while another was still up."""
    found: dict[str, list[str]] = {}
    for agent_id, phone in phones.items():
        spans = sorted((leg.answered, leg.ended or float("inf"), leg.number) for leg in phone.answered()
                       if leg.answered is not None)
        for (a0, a1, n), (b0, _b1, m) in zip(spans, spans[1:]):
            if b0 < a1 - 0.05:
                found.setdefault(agent_id, []).append(f"call {m} answered {a1 - b0:.2f} s before call {n} ended")
    return found


def one_call_per_agent(found: Findings, phones: dict[str, Sipp], observer: AriObserver) -> None:
    peaks = observer.agent_peaks()
    found.check("no agent had two channels at once (Asterisk's ARI events)", bool(peaks) and max(peaks.values()) <= 1,
                f"most channels at once per agent: {peaks}")
    overlaps = agent_overlaps(phones)
    found.check("no agent's phone had two calls answered at once (SIPp agent traces)", not overlaps, str(overlaps))


def engine_offers(observer: AriObserver) -> list[tuple[str, float, bool]]:
    """Each agent channel Asterisk created: (agent id, when, made by the engine?). The
    engine names its offers ``cti-offer-...``; app_queue's fallback ones are not."""
    out = []
    for ev in observer.of("ChannelCreated"):
        ch = ev.get("channel") or {}
        name = str(ch.get("name", ""))
        if name.startswith("PJSIP/agent"):
            out.append((name.split("-")[0].removeprefix("PJSIP/agent"), ari_time(ev["timestamp"]),
                        str(ch.get("id", "")).startswith("cti-")))
    return out


def recordings(found: Findings, phones: dict[str, Sipp], observer: AriObserver, archive: Path,
               alerts: str = "") -> None:
    """Every call an agent's phone answered from the engine and talked at least a
    second in has its recording in the archive: a sidecar naming the agent whose time
    overlaps the talk (the most), a WAV whose SHA-256 is the sidecar's, not silent and as long as
    the talk (2 s less at most), or else an engine's R4 ALERT line naming the call.
    Calls that came through the dialplan's fallback queue (no engine leading) are
    counted apart and checked the same way: Asterisk recorded them, the next leader
    archived them (``cti.recording.fallback``)."""
    sidecars = []
    for path in archive.glob("[0-9][0-9][0-9][0-9]/*/*/*.json"):
        try:
            sidecars.append((path, json.loads(path.read_text())))
        except (OSError, ValueError):
            sidecars.append((path, {}))
    offers = engine_offers(observer)
    used: set[Path] = set()
    missing, bad, alerted, fallback, talked = [], [], [], 0, 0
    for agent_id, phone in phones.items():
        for leg in phone.answered():
            if leg.answered is None or leg.ended is None or leg.talk_s < 1.0:
                continue
            # the channel Asterisk made for this ring: the latest created before the INVITE reached the phone
            made = [o for o in offers if o[0] == agent_id and o[1] <= (leg.invited or leg.answered) + 0.5]
            if made and not max(made, key=lambda o: o[1])[2]:
                fallback += 1
            else:
                talked += 1
            # the agent's recording that overlaps this talk most (a short one is found too)
            overlap = {p: min(float(meta.get("ended_at", 0)), leg.ended) - max(float(meta.get("started_at", 1e18)),
                                                                                leg.answered)
                       for p, meta in sidecars if p not in used and meta.get("agent_id") == agent_id}
            match = max((p for p, o in overlap.items() if o > 0), key=lambda p: overlap[p], default=None)
            if match is None:
                missing.append(f"agent {agent_id}: {leg}")
                continue
            used.add(match)
            meta = dict(sidecars[[p for p, _ in sidecars].index(match)][1])
            wav = match.with_suffix(".wav")
            try:
                digest = hashlib.sha256(wav.read_bytes()).hexdigest()
                info = inspect(wav)
            except (OSError, NotWav) as exc:
                bad.append(f"{wav.name}: {exc}")
                continue
            short = info.duration_s < leg.talk_s - 2.0
            if digest != meta.get("sha256") or info.rms <= SILENCE_RMS or short:
                problem = (f"{wav.name}: sha256 {'ok' if digest == meta.get('sha256') else 'DIFFERS'}, "
                           f"rms {info.rms:.0f}, {info.duration_s:.1f} s of audio for {leg.talk_s:.1f} s talked")
                # R4 allows a failed recording when an alert names it (and why)
                (alerted if wav.stem in alerts else bad).append(problem)
    found.figures["agent calls talked (engine)"] = talked
    found.figures["agent calls through the fallback queue"] = fallback
    found.figures["recordings in the archive"] = len(sidecars)
    found.check("every call an agent talked in has a recording, the fallback queue's too (archive sidecar + WAV)",
                not missing, f"{len(missing)} of {talked + fallback} missing: {missing[:5]}")
    found.figures["recordings short or bad, with an R4 alert naming them"] = alerted
    found.check("every recording found has its hash and its audio (or an R4 alert names it)", not bad,
                f"{len(bad)} bad: {bad[:5]}")


def dispositions(found: Findings, accepted: dict[str, str], refused: list[str], store: Path) -> None:
    """Every disposition the API accepted (201) is in the store's database file."""
    rows: set[tuple[str, str]] = set()
    if store.exists():
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            rows = {(c, a) for c, a in db.execute("SELECT call_id, agent_id FROM dispositions")}
    lost = sorted(f"{c} ({a})" for c, a in accepted.items() if (c, a) not in rows)
    found.figures["dispositions accepted"] = len(accepted)
    found.figures["dispositions refused"] = len(refused)
    found.check("every disposition the API accepted is in the store", not lost,
                f"{len(lost)} of {len(accepted)} lost: {lost[:5]}; refused: {refused[:3]}")


def routing_after_last_fault(found: Findings, phones: dict[str, Sipp], healed_at: float, ended_at: float) -> None:
    """After the last fault healed, an agent's phone rang within the promise (the
    callers keep arriving every few seconds till the end)."""
    rings = sorted(leg.invited for phone in phones.values() for leg in phone.calls()
                   if leg.invited is not None and leg.invited >= healed_at)
    after = rings[0] - healed_at if rings else None
    found.figures["first agent ring after the last fault healed (s)"] = None if after is None else round(after, 2)
    found.check(f"routing returned within {ROUTING_PROMISE_S:g} s of the last fault (SIPp agent traces)",
                after is not None and after <= ROUTING_PROMISE_S,
                f"first ring {after if after is None else round(after, 2)} s after it healed "
                f"(traffic went on {ended_at - healed_at:.0f} s more)")


def outcomes(found: Findings, legs: list[Leg], phones: dict[str, Sipp]) -> dict[str, int]:
    """Each caller's outcome, from the two sides' traces alone: served (an agent's
    phone talked with it: the agent's leg answered while the caller was up, and hung
    up by Asterisk within a second of the caller's own hang-up), gave up (hung up
    itself with no agent), cut off (hung up by the PBX) or refused (never answered).
    Each agent leg goes with one caller at most; each caller with one agent leg."""
    agent_legs = [(agent_id, leg) for agent_id, phone in phones.items() for leg in phone.answered()
                  if leg.answered is not None and leg.ended is not None]
    # An agent's phone hung up within half a second of its answer is either a caller's
    # who hung up just then (an impatient caller reached at the last moment: answered,
    # as the engine counts it) or a phantom (answered as the leader died: Asterisk hangs
    # it up at once, the caller goes on and is offered again). Only a caller still there
    # at the agent's answer who hung up, and so hung the agent up, within its half second
    # is this one's; a phantom is counted, not matched.
    phantoms = []
    free = {id(leg): leg for leg in legs if leg.answered is not None and leg.ended is not None}
    unmatched = []
    served: set[int] = set()
    # (the talks first, then the short ones among the callers left)
    for agent_id, a in sorted(agent_legs, key=lambda x: (x[1].talk_s < 0.5, x[1].ended or 0.0)):
        # (the agent is hung up when the engine hears the caller went: later during an
        # ARI or AMI outage, never before the caller's end)
        near = [c for c in free.values() if c.invited is not None and c.invited - 0.2 <= (a.answered or 0)
                <= (c.ended or 0) + 0.2 and (c.ended or 0) - 1.0 <= (a.ended or 0)
                and (a.talk_s >= 0.5 or (a.answered or 0) < (c.ended or 0) <= (a.ended or 0))]
        if not near:
            (phantoms if a.talk_s < 0.5 else unmatched).append(f"agent {agent_id}: {a}")
            continue
        best = min(near, key=lambda c: abs((c.ended or 0) - (a.ended or 0)))
        served.add(id(best))
        del free[id(best)]
    found.figures["agent calls hung up within 0.5 s of the answer, with no caller (phantoms)"] = phantoms
    counts = {"served": 0, "gave up": 0, "cut off": 0, "refused": 0}
    for leg in legs:
        if leg.answered is None:
            counts["refused"] += 1
        elif id(leg) in served:
            counts["served"] += 1
        elif leg.hung_up_by == "pbx":
            counts["cut off"] += 1
        else:
            counts["gave up"] += 1
    found.figures["callers by outcome (SIPp traces)"] = counts
    found.check("each caller has one outcome and each agent call one caller", sum(counts.values()) == len(legs)
                and not unmatched, f"{len(unmatched)} agent legs with no caller: {unmatched[:3]}")
    return counts


def engine_report(found: Findings, report: dict[str, Any] | None, counts: dict[str, int]) -> None:
    """The engine's queue report for the day against the callers' traces: offered =
    callers, answered = served. The calls the dialplan sent to its fallback queue while
    no engine led are in it too (queue ``fallback``, from Asterisk's queue_log, brought
    in by the next leader)."""
    if report is None:
        found.check("the engine's queue report could be read", False, "no engine answered /reports/queues")
        return
    rows = report.get("rows", []) if isinstance(report, dict) else []
    total = {k: sum(int(r.get(k) or 0) for r in rows) for k in ("offered", "answered", "abandoned")}
    callers = sum(counts.values())
    found.figures["engine's report (offered, answered, abandoned)"] = total
    found.check("the engine's report equals the callers' traces (offered = callers, answered = served)",
                total["offered"] == callers and total["answered"] == counts["served"],
                f"report {total}; traces: {callers} callers, {counts['served']} served")


def work_orders(found: Findings, orders: dict[str, str], tries: list[tuple[dict[str, str], bytes]],
                store: Path) -> None:
    """Every work order the API made is in the store, and was delivered to its
    department's webhook under one idempotency key (``wo-<order id>``; delivered at
    least once: a try whose answer was lost is tried again with the same key), or is
    still waiting in the outbox (the store says ``new``). An order the store says was
    dispatched was delivered. The receiver's own record, not the engine's."""
    stored: dict[str, str] = {}
    if store.exists():
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            stored = dict(db.execute("SELECT order_id, status FROM work_orders"))
    keys: dict[str, set[str]] = {}
    deliveries: dict[str, int] = {}
    for headers, body in tries:
        try:
            doc = json.loads(body)
        except ValueError:
            continue
        if doc.get("type") != "work-order":
            continue
        order_id = str(doc.get("order_id"))
        keys.setdefault(order_id, set()).add(headers.get("Idempotency-Key", "?"))
        deliveries[order_id] = deliveries.get(order_id, 0) + 1
    lost = sorted(o for o in orders if o not in stored)
    wrong_keys = {o: sorted(k) for o, k in keys.items() if k != {f"wo-{o}"}}
    undelivered = sorted(o for o in stored if o not in keys)
    dispatched_unseen = [o for o in undelivered if stored[o] != "new"]
    found.figures["work orders made (accepted, in the store, delivered)"] = (len(orders), len(stored), len(keys))
    found.figures["work orders still in the outbox"] = undelivered
    found.figures["work-order deliveries per order: most"] = max(deliveries.values(), default=0)
    found.check("every work order the API made is in the store", not lost, f"{len(lost)} lost: {lost[:5]}")
    found.check("each work order delivered under its one idempotency key", not wrong_keys, str(wrong_keys)[:400])
    found.check("no work order marked dispatched that the department never received", not dispatched_unseen,
                f"{dispatched_unseen[:5]} (statuses {[stored[o] for o in dispatched_unseen[:5]]})")
