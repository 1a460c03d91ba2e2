"""What becomes of an offer and of a call with an agent: the offer answered (R15: the
agent's id announced before the bridge) or failed, the caller or the agent hanging
up, and the end of the call (the agent's wrap-up, R10's memory of the agent).

Theory of operation
-------------------
An offer answered by one of the agents it rings connects the call to that agent; the
others (ring-all) stop ringing and are ready again in their idle places. A callback
(R11) is dialled once its agent answers (``callbacks.dial``). An offer that fails
(busy, unreachable, rejected) takes that agent out (not ready, the failure), unless
Asterisk missed its deadline (no fault of the agent's); with nobody left ringing the
call waits again at its original place. A hang-up ends the call: the other side is
hung up, the call's end notice is given, and its agent goes to wrap-up.
"""

from __future__ import annotations

from acd import callbacks, intake, matching, presence, transfers
from acd import calls as cs
from acd import commands as c
from acd import events as e
from acd.center import Center
from acd.model import AgentState, CallState
from acd.state import Agent, Call


def offer_answered(center: Center, ev: e.OfferAnswered, out: list[c.Command]) -> None:
    call = center.find_call(ev.call_id)
    if call is None or call.state is not CallState.OFFERED or ev.agent_id not in call.offered_to:
        if call is None or not transfers.consult_answered(center, call, ev.agent_id, ev.at, out):
            out.append(c.HangUpAgent(ev.call_id, ev.agent_id))  # answered after the offer was taken back
        return
    agent = center.agent(ev.agent_id)
    losers = sorted(call.offered_to - {ev.agent_id})
    # R11: a callback's customer is dialled now that its agent is there.
    cs.set_state(call, CallState.DIALING if call.callback else CallState.CONNECTED)
    call.offered_to = set()
    call.gen = center.new_gen()
    call.agent_id = ev.agent_id
    transfers.answered(call, ev.at)
    call.callback_offered = False
    agent.consecutive_misses = 0
    center.set_agent_state(agent, AgentState.ON_CALL, None, ev.at, out)
    for loser_id in losers:  # ring-all: the others stop ringing, no fault of theirs
        loser = center.agent(loser_id)
        loser.call_id = None
        out.append(c.CancelOffer(call.call_id, loser_id, "answered-elsewhere"))
        presence.end_offer(center, loser, AgentState.READY, None, ev.at, out, loser.idle_since)
    if call.callback:  # R11: agent first, then the customer is dialled
        callbacks.dial(center, call, ev.agent_id, ev.at, out)
    elif center.queue(call.queue).config.announce_agent_id:
        out.append(c.AnnounceAgent(call.call_id, ev.agent_id, agent.config.announced_number))
    else:
        call.bridged = True
        out.append(c.ConnectCall(call.call_id, ev.agent_id))


def announcement_finished(center: Center, ev: e.AnnouncementFinished, out: list[c.Command]) -> None:
    """R15: the agent's id was announced: now the bridge."""
    call = center.find_call(ev.call_id)
    if call and call.state is CallState.CONNECTED and not call.bridged:
        call.bridged = True
        assert call.agent_id is not None
        out.append(c.ConnectCall(call.call_id, call.agent_id))


def offer_failed(center: Center, call_id: str, agent_id: str, reason: str, at: float,
                 out: list[c.Command]) -> None:
    call = center.find_call(call_id)
    if call is None or call.state is not CallState.OFFERED or agent_id not in call.offered_to:
        if call is not None and call.state is CallState.CONNECTED:
            transfers.consult_failed(center, call, agent_id, reason, at, out)
        return  # an offer already taken back
    agent = center.agent(agent_id)
    call.offered_to.discard(agent_id)
    if call.sticky_agent == agent_id and not call.pinned:
        call.sticky_agent = None
    agent.call_id = None
    if reason == "deadline":  # Asterisk did not take the offer in time: not the agent's fault
        presence.end_offer(center, agent, AgentState.READY, None, at, out)
    else:
        presence.end_offer(center, agent, AgentState.NOT_READY, reason, at, out)
    if not call.offered_to:  # the call waits again at its original place
        call.gen = center.new_gen()
        matching.match_call(center, call, at, out)


def caller_hung_up(center: Center, ev: e.CallerHungUp, out: list[c.Command]) -> None:
    if not intake.left_in_ivr(center, ev.call_id, out):
        caller_left(center, ev, out)


def caller_left(center: Center, ev: e.CallerHungUp, out: list[c.Command]) -> None:
    if callbacks.caller_gone(center, ev, out):
        return
    call = center.remove_call(ev.call_id)
    if call is None:
        return
    if call.state is CallState.CONNECTED:
        assert call.agent_id is not None
        transfers.caller_left(center, call, ev.at, out)
        out.append(c.HangUpAgent(call.call_id, call.agent_id))
        finish(center, call, center.agent(call.agent_id), ev.at, out, "caller")
        return
    if call.state is CallState.WAITING:
        center.unindex(call)
    for agent_id in sorted(call.offered_to):
        agent = center.agent(agent_id)
        agent.call_id = None
        out.append(c.CancelOffer(call.call_id, agent_id, "caller-gone"))
        # The agent did nothing wrong: ready again in the same idle position.
        presence.end_offer(center, agent, AgentState.READY, None, ev.at, out, agent.idle_since)
    cs.ended(call, "abandoned", None, ev.at - call.arrived_at, 0.0, ev.at, out, "caller")


def agent_hung_up(center: Center, ev: e.AgentHungUp, out: list[c.Command]) -> None:
    call = center.find_call(ev.call_id)
    if call is not None and call.state is CallState.OFFERED:
        offer_failed(center, ev.call_id, ev.agent_id, "offer-rejected", ev.at, out)
        return
    if (call is None or call.state is not CallState.CONNECTED
            or transfers.agent_left(center, call, ev.agent_id, ev.at, out) or call.agent_id != ev.agent_id):
        return
    center.remove_call(call.call_id)
    config = center.queue(call.queue).config
    if config.survey and not (call.callback or call.outbound):  # R17: the caller rates the call
        out.append(c.StartSurvey(call.call_id, call.queue, ev.agent_id, call.kind, config.survey_timeout_s))
    else:
        out.append(c.HangUpCaller(call.call_id, "agent-hung-up"))
    finish(center, call, center.agent(ev.agent_id), ev.at, out, "agent")


def survey_ended(ev: e.SurveyEnded, out: list[c.Command]) -> None:
    """R17: the call has ended already; its score (or no response) is recorded."""
    score = ev.score if ev.score is not None and 1 <= ev.score <= 5 else None
    out.append(c.SurveyAnswered(ev.call_id, ev.queue, ev.agent_id, ev.kind, score, ev.at))


def finish(center: Center, call: Call, agent: Agent, at: float, out: list[c.Command], by: str) -> None:
    """The call ended with its agent: counted (R13), remembered for R10, wrap-up."""
    waited, talked = transfers.totals(call, at)
    part = talked - call.parts_talk_s  # this agent's part (R13: the earlier ones were counted)
    agent.call_id = None
    agent.talk_time_s += part
    agent.calls_by_queue[call.queue] = agent.calls_by_queue.get(call.queue, 0) + 1
    queue = center.queue(call.queue)
    queue.handle_times.append(talked)
    cs.ended(call, "handled", agent.agent_id, waited, talked, at, out, by)
    center.remember_agent(call.caller, agent.agent_id, at)
    presence.start_wrap_up(center, agent, queue.config, call.call_id, at, out)
