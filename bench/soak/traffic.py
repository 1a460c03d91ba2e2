"""The soak's traffic: SIPp agents answering, SIPp callers at a steady modest rate
(bounded: each SIPp makes a fixed number of calls, then exits), and dispositions
recorded through the API while agents talk."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.harness import HOST, Sandbox, Sipp, stop_group
from tests.e2e.harness.sandbox import free_port

from bench.soak.cluster import AGENTS, Cluster


@dataclass(frozen=True)
class CallerKind:
    name: str
    every_s: float  # one new caller this often
    talk_ms: int  # SIPp -d: from Asterisk's answer to the caller's own BYE (waiting included)


# Patient callers (most), and callers who give up after a short wait when no agent
# comes (or, reached at once, talk briefly).
KINDS = (CallerKind("patient", 8.0, 24000), CallerKind("impatient", 23.0, 6000))
# How the agents' phones behave (the others answer after 0.5 s): one puts each caller
# on hold 1 s after answering and takes it back 5 s later (R3: the hold, its music, the
# recording through it, a take-over in the middle of it); one rings 4 s first.
PHONES = {"1003": ("agent_answer.xml", "-set", "ring_ms", "4000"), "1004": ("agent_hold.xml",)}


@dataclass
class Traffic:
    sandbox: Sandbox
    minutes: float
    agents: dict[str, Sipp] = field(default_factory=dict)
    callers: dict[str, Sipp] = field(default_factory=dict)
    planned: dict[str, int] = field(default_factory=dict)

    def start_agents(self) -> None:
        for agent_id in AGENTS:
            self.agents[agent_id] = self.sandbox.agent(agent_id, *PHONES.get(agent_id, ("agent_answer.xml",)))
        self.sandbox.settle()

    def start_callers(self) -> None:
        """One SIPp per kind of caller, its calls spread evenly over the run."""
        for kind in KINDS:
            calls = max(1, int(self.minutes * 60 / kind.every_s))
            self.planned[kind.name] = calls
            port = free_port()
            self.callers[kind.name] = self.sandbox.sipp(
                f"caller-{kind.name}", "-sf", "caller.xml", "-i", HOST, "-p", str(port),
                "-mp", str(30000 + (port % 200) * 100), "-s", "100", "-m", str(calls),
                "-r", "1", "-rp", str(int(kind.every_s * 1000)), "-d", str(kind.talk_ms),
                # (SIPp's default limit of calls at once, 3 x rate x talk, lets a few calls
                # stranded in Asterisk stop the traffic: a caller who never ends is checked,
                # the others keep coming)
                "-l", str(calls),
                "-trace_err", f"{HOST}:5060")

    def wait_callers(self, timeout: float) -> dict[str, int | None]:
        """Each caller SIPp's exit code (None: still running after ``timeout``)."""
        deadline = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for name, sipp in self.callers.items():
            try:
                codes[name] = sipp.proc.wait(max(0.1, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - still running: stopped now (its stranded calls are checked)
                codes[name] = None
                stop_group(sipp.proc)
        return codes


def sipp_totals(sipp: Sipp) -> dict[str, int]:
    """SIPp's own end-of-run statistics (its screen, in its log): the cumulative
    figures of its last screen, e.g. ``Successful call``, ``Failed call``."""
    text = sipp.log.read_text(errors="replace") if sipp.log.exists() else ""
    totals: dict[str, int] = {}
    for m in re.finditer(r"^\s*(Outgoing calls created|Incoming calls created|Successful call|Failed call)"
                         r"\s*\|\s*(\d+)\s*\|\s*(\d+)", text, re.M):
        totals[m.group(1)] = int(m.group(3))  # (the last screen's cumulative column wins)
    return totals


REPORT = {"customer_name": "Soak", "address": "1 Loop Road", "contact_number": "13800000000",
          "content": "gas smell", "occurred_at": "this morning", "urgency": "normal", "region": "north"}


class Dispositions:
    """While agents talk, a disposition for each of their calls is recorded through the
    leading engine's API (as the desk does when the agent fills in its form); what the
    API accepted is checked in the store at the end."""

    def __init__(self, cluster: Cluster, every_s: float = 3.0) -> None:
        self.cluster = cluster
        self.every_s = every_s
        self.accepted: dict[str, str] = {}  # call id -> agent id
        self.orders: dict[str, str] = {}  # work order id -> call id (fault reports accepted)
        self.refused: list[str] = []
        self.tried: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-dispositions", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            engine = self.cluster.leader()
            if engine is None:
                continue
            try:
                agents: list[dict[str, Any]] = engine.get("/agents")
            except (OSError, ValueError):
                continue
            for agent in agents:
                call_id = agent.get("call_id")
                if agent.get("state") != "on-call" or not call_id or call_id in self.tried:
                    continue
                self.tried.add(call_id)
                report = len(self.tried) % 2 == 0  # every other call: a fault report, a work order
                try:
                    done = engine.post(f"/calls/{call_id}/disposition", {
                        "agent_id": agent["agent_id"], "kind": "fault-report" if report else "consultation",
                        "fields": REPORT if report else {"content": f"soak call {call_id}"}})
                except urllib.error.HTTPError as exc:
                    self.refused.append(f"{call_id}: HTTP {exc.code} {exc.read()[:200]!r}")
                    continue
                except OSError:
                    continue  # no answer (the engine died meanwhile): not accepted, not counted
                self.accepted[call_id] = agent["agent_id"]
                order = (done or {}).get("order") if isinstance(done, dict) else None
                if report and isinstance(order, dict) and order.get("order_id"):
                    self.orders[str(order["order_id"])] = call_id
                elif report:
                    self.refused.append(f"{call_id}: a fault report accepted without a work order: {done!r:.200}")


def agent_log(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("sipp-agent*.log"))
