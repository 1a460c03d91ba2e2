"""R13: the record as an Asterisk ``queue_log`` file, so the tools contact centers
already run on app_queue's history read ours unchanged.

One line per event, ``time|callid|queuename|agent|event|data1|data2|...`` (Asterisk's
documented format; time in whole epoch seconds; agent ``NONE`` where there is none):

- ENTERQUEUE|url|callerid (url empty; the caller's number, masked unless allowed)
- RINGNOANSWER|ringtime in ms (each offer the agent let ring out)
- EXITWITHTIMEOUT|position|origposition|waittime (a call overflowing to the next queue,
  which it ENTERQUEUEs at once)
- CONNECT|holdtime|bridged channel id|ringtime (holdtime: the wait, whole seconds)
- COMPLETEAGENT|holdtime|calltime|origposition, or COMPLETECALLER (the side that hung up)
- TRANSFER|extension|context|holdtime|calltime|origposition (an agent's part ending in a
  transfer: the target agent, queue or number, masked unless allowed; context
  cti-agent, cti-queue or cti-external), the next agent's CONNECT following
- ABANDON|position|origposition|waittime
- ADDMEMBER and REMOVEMEMBER (an agent logging in and out), PAUSE|reason and
  UNPAUSE|reason, per queue of the agent (callid NONE).

Positions are not kept by the engine (it orders by priority and arrival): 1 is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from reports.records import AgentSpan, CallRecord


def _line(at: float, call_id: str, queue: str, agent: str, event: str, *data: object) -> tuple[float, str]:
    fields = [str(int(at)), call_id or "NONE", queue or "NONE", agent or "NONE", event, *(str(d) for d in data)]
    return at, "|".join(f.replace("|", "/").replace("\n", " ") for f in fields)


def call_lines(r: CallRecord, number: Callable[[str], str]) -> list[tuple[float, str]]:
    out = []
    path = list(r.overflowed_from) + [r.queue]
    entered = r.arrived_at
    for i, queue in enumerate(path):
        out.append(_line(entered, r.call_id, queue, "", "ENTERQUEUE", "", number(r.caller)))
        if i < len(path) - 1:
            left = r.overflowed_at[i] if i < len(r.overflowed_at) else entered
            out.append(_line(left, r.call_id, queue, "", "EXITWITHTIMEOUT", 1, 1, int(left - r.arrived_at)))
            entered = left
    for offer in r.offers:
        if offer.result == "no-answer":
            out.append(_line(offer.at + offer.rang_s, r.call_id, r.queue, offer.agent_id, "RINGNOANSWER",
                             int(offer.rang_s * 1000)))
    if r.outcome == "handled":
        answered = r.arrived_at + r.waited_s
        for t in r.transfers:  # each agent's part: CONNECT, then TRANSFER|extension|context|holdtime|calltime
            out.append(_connect(r, t.agent_id, answered))
            target = number(t.target) if t.to == "external" else t.target
            out.append(_line(t.at, r.call_id, r.queue, t.agent_id, "TRANSFER", target, f"cti-{t.to}",
                             int(r.waited_s), int(t.talked_s), 1))
            # The next part starts when its agent answered (blind), or at the transfer (attended).
            answered = next((o.at + o.rang_s for o in r.offers if o.result == "answered" and o.at >= t.at), t.at)
        if r.agent_id is not None:
            out.append(_connect(r, r.agent_id, answered))
            event = "COMPLETECALLER" if r.ended_by == "caller" else "COMPLETEAGENT"
            part = r.talked_s - sum(t.talked_s for t in r.transfers)
            out.append(_line(r.ended_at, r.call_id, r.queue, r.agent_id, event, int(r.waited_s), int(part), 1))
    elif r.outcome == "abandoned":
        out.append(_line(r.ended_at, r.call_id, r.queue, "", "ABANDON", 1, 1, int(r.waited_s)))
    return out


def _connect(r: CallRecord, agent: str, at: float) -> tuple[float, str]:
    rang = next((o.rang_s for o in reversed(r.offers) if o.agent_id == agent and o.result == "answered"), 0.0)
    return _line(at, r.call_id, r.queue, agent, "CONNECT", int(r.waited_s), r.call_id, int(rang))


def span_lines(s: AgentSpan, queues: Iterable[str], closed: bool = True) -> list[tuple[float, str]]:
    """An agent's state span as member events: a pause begins and ends, a log-out ends
    with the agent added again. ``closed``: the span has ended (else only its start)."""
    out = []
    for queue in queues:
        if s.state == "not-ready":
            out.append(_line(s.started_at, "", queue, s.agent_id, "PAUSE", s.reason or ""))
            if closed:
                out.append(_line(s.ended_at, "", queue, s.agent_id, "UNPAUSE", s.reason or ""))
        elif s.state == "logged-out":
            out.append(_line(s.started_at, "", queue, s.agent_id, "REMOVEMEMBER", ""))
            if closed:
                out.append(_line(s.ended_at, "", queue, s.agent_id, "ADDMEMBER", ""))
    return out


def queue_log(calls: Iterable[CallRecord], spans: Iterable[AgentSpan], agent_queues: Mapping[str, Iterable[str]],
              number: Callable[[str], str], open_spans: Iterable[AgentSpan] = ()) -> str:
    """The file for these calls (every line of each: a call is whole) and spans, in
    time order. ``open_spans``: states still going on (their start only)."""
    lines = []
    for r in calls:
        lines += call_lines(r, number)
    for s in spans:
        lines += span_lines(s, agent_queues.get(s.agent_id, ()))
    for s in open_spans:
        lines += span_lines(s, agent_queues.get(s.agent_id, ()), closed=False)
    lines.sort(key=lambda x: x[0])
    return "".join(text + "\n" for _, text in lines)
