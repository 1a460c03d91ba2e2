"""Calls over HTTP: the live call list (``GET /calls``: supervisors with numbers
masked, readers and admins with numbers, R14); the agent's call controls: transfers
(blind and attended), holds, and the disposition of its call (R12: it becomes a work
order, ``cti.workorders``); and supervisors listening to a call, coaching its agent,
or joining it.

The agent on the call acts on it (its session or token), supervisors and admins on
any call; the core decides (``acd.transfers``) and refuses what the call's state does
not allow (409). A number to transfer to must be one the trunk's rules allow (R14);
numbers are masked in the audit log.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from aiohttp import web

from acd import CallView
from acd import events as e
from cti.calls.listening import MODES, Session
from cti.errors import BadRequest, Conflict, Missing, NotConfigured
from cti.masking import mask_number
from cti.calls.stasis import StasisAdapter
from cti.calls.trunks import Trunk
from cti.web.server import AUTH, Feature, Part, answer, identity, json_body, need, runtime
from cti.orders.http import WORKORDERS, shown
from cti.outbound.http import VISITS

audit = logging.getLogger("cti.audit")


ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
ADAPTER = web.AppKey("adapter", Part[StasisAdapter])  # the node's adapter, when one runs in this process
TRUNK = web.AppKey("trunk", Part[Trunk])  # where transfers to external numbers are dialled
FEATURE = Feature(ROUTES, (ADAPTER, TRUNK))


def _call(request: web.Request) -> CallView:
    call_id = request.match_info["call_id"]
    call = next((k for k in runtime(request).engine.calls() if k.call_id == call_id), None)
    if call is None or call.agent_id is None:
        need(request, "supervisor")  # (an agent learns nothing of other calls)
        raise Missing(f"no connected call {call_id!r}")
    return call


@ROUTES.post("/calls/{call_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    """``{"to": "agent"|"queue"|"external", "target": ..., "attended": false}``."""
    call = _call(request)
    assert call.agent_id is not None
    who = need(request, "supervisor", agent_id=call.agent_id)
    body = await json_body(request)
    to, target, attended = body.get("to"), body.get("target"), body.get("attended", False)
    if to not in ("agent", "queue", "external"):
        raise BadRequest("'to' is agent, queue or external")
    if not isinstance(target, str) or not target.strip() or len(target) > 64:
        raise BadRequest("'target' is an agent id, a queue name or a number")
    if not isinstance(attended, bool):
        raise BadRequest("'attended' must be true or false")
    target = target.strip()
    if to == "external":
        trunk = request.app[TRUNK].peek()
        if trunk is None:
            raise NotConfigured("no [[trunks]] to dial an external number through")
        if trunk.dial_string(target) is None:
            raise BadRequest("the trunk's rules do not allow that number (R14)")
    rt = runtime(request)
    rt.apply(e.TransferRequested(call.call_id, call.agent_id, to, target, attended, rt.clock()))
    audit.info("call %s: %s transfer by %s to %s %s", call.call_id, "attended" if attended else "blind",
               who.name, to, mask_number(target) if to == "external" else target)
    return _view(request, call.call_id)


@ROUTES.post("/calls/{call_id}/transfer/{step}")
async def transfer_step(request: web.Request) -> web.Response:
    """``complete`` or ``cancel`` an attended transfer."""
    call = _call(request)
    assert call.agent_id is not None
    who = need(request, "supervisor", agent_id=call.agent_id)
    step = request.match_info["step"]
    rt = runtime(request)
    if step == "complete":
        rt.apply(e.TransferCompleted(call.call_id, call.agent_id, rt.clock()))
    elif step == "cancel":
        rt.apply(e.TransferCancelled(call.call_id, call.agent_id, rt.clock()))
    else:
        raise Missing(f"no transfer step {step!r}")
    audit.info("call %s: transfer %s by %s", call.call_id, step, who.name)
    return _view(request, call.call_id)


@ROUTES.post("/calls/{call_id}/hold")
@ROUTES.post("/calls/{call_id}/unhold")
async def hold(request: web.Request) -> web.Response:
    """R3: hold (``/hold``) or take off hold (``/unhold``) from the desk or the API."""
    call = _call(request)
    assert call.agent_id is not None
    who = need(request, "supervisor", agent_id=call.agent_id)
    on = request.path.endswith("/hold")
    rt = runtime(request)
    rt.apply(e.HoldRequested(call.call_id, call.agent_id, on, rt.clock()))
    audit.info("call %s: %s by %s", call.call_id, "hold" if on else "unhold", who.name)
    return _view(request, call.call_id)


def _view(request: web.Request, call_id: str) -> web.Response:
    call = next((k for k in runtime(request).engine.calls() if k.call_id == call_id), None)
    if call is None:
        return web.json_response({"call_id": call_id, "state": "ended"})
    return answer(request, dataclasses.asdict(call))


@ROUTES.post("/calls/{call_id}/listen")
async def listen(request: web.Request) -> web.Response:
    """``{"mode": "listen"|"whisper"|"barge", "phone": ...}``: a supervisor listens to
    the call (its phone rings; answered, it hears both sides), coaches the agent, or
    joins the call; asked again with another mode, it switches without hanging up.
    The phone is the one configured for the supervisor's account; the admin names one
    of the configured phones. Audited (R14)."""
    who = need(request, "supervisor")
    call = _call(request)
    assert call.agent_id is not None
    body = await json_body(request)
    mode = body.get("mode", "listen")
    if mode not in MODES:
        raise BadRequest(f"'mode' is one of {list(MODES)}")
    adapter = request.app[ADAPTER].peek()
    if adapter is None:
        raise NotConfigured("listening runs beside the Asterisk node: not on a cluster router")
    listening = adapter.listening
    if call.call_id in listening.sessions:
        session = listening.change(call.call_id, mode, who.name)
        return web.json_response(_session(session))
    auth = request.app[AUTH]
    phone = auth.phone_of(who)
    asked = body.get("phone")
    if who.role == "admin" and isinstance(asked, str) and asked in auth.phones():
        phone = asked
    if not phone:
        raise BadRequest("no phone configured for this account ([[auth.accounts]] phone)")
    leg = adapter.agent_leg(call.call_id, call.agent_id)
    if leg is None:
        raise Conflict("the agent's leg of this call is not known here")
    listening.start(call.call_id, call.agent_id, leg, phone, mode, who.name)
    return web.json_response(_session(listening.sessions[call.call_id]))


@ROUTES.post("/calls/{call_id}/listen/stop")
async def listen_stop(request: web.Request) -> web.Response:
    who = need(request, "supervisor")
    adapter = request.app[ADAPTER].peek()
    call_id = request.match_info["call_id"]
    if adapter is None or call_id not in adapter.listening.sessions:
        raise Missing(f"nobody listens to call {call_id!r}")
    adapter.listening.stop(call_id, who.name)
    return web.json_response({"call_id": call_id, "mode": None})


def _session(session: Session) -> dict[str, object]:
    return {"call_id": session.call_id, "agent_id": session.agent_id, "mode": session.mode, "by": session.who,
            "answered": session.answered}


@ROUTES.get("/calls")
async def list_calls(request: web.Request) -> web.Response:
    who = need(request, "supervisor", "reader")
    engine = runtime(request).engine
    if who.sees_numbers:
        audit.info("call list with numbers read by %s", who.name)
    return answer(request, [
        {
            **dataclasses.asdict(k),
            "position": engine.position(k.call_id),
            "expected_wait_s": engine.expected_wait_s(k.call_id),
        }
        for k in engine.calls()
    ])


LATE_DISPOSITION_S = 24 * 3600.0  # an agent may record its own calls' dispositions this long after


@ROUTES.post("/calls/{call_id}/disposition")
async def dispose(request: web.Request) -> web.Response:
    """``{"kind", "fields": {...}, "agent_id"?}``: the agent's own call (the one it is
    on, the last one, in wrap-up, or an earlier one of the last 24 hours whose form the
    desk kept as a draft); a supervisor may record it for an agent."""
    call_id = request.match_info["call_id"]
    body = await json_body(request)
    who = identity(request)
    agent_id = who.agent_id or body.get("agent_id")
    if not isinstance(agent_id, str):
        raise BadRequest("name the agent whose call this was ('agent_id')")
    who = need(request, "supervisor", agent_id=agent_id)
    kind, fields = body.get("kind"), body.get("fields", {})
    if not isinstance(kind, str) or not isinstance(fields, dict):
        raise BadRequest("a disposition is {'kind': text, 'fields': {...}}")
    rt = runtime(request)
    wo = request.app[WORKORDERS].get()
    view = rt.engine.agent(agent_id)
    live = next((k for k in rt.engine.calls() if k.call_id == call_id and k.agent_id == agent_id), None)
    if live is not None:
        call: dict[str, Any] | None = {"call_id": call_id, "caller": live.caller, "arrived_at": live.arrived_at,
                                        "queue": live.queue}
    elif call_id == view.last_call_id:
        call = await wo.ended_call(call_id)
    else:  # an earlier call of the agent's, its disposition kept as a draft when the next call came
        ended = await wo.ended_call(call_id)
        call = ended if (ended is not None and ended.get("agent_id") == agent_id
                         and float(ended.get("ended_at") or 0) >= rt.clock() - LATE_DISPOSITION_S) else None
    if call is None:
        raise Conflict(f"call {call_id} is not one of agent {agent_id}'s calls of the last "
                       f"{LATE_DISPOSITION_S / 3600:g} hours")
    disposition, order = await wo.dispose(call, agent_id, kind, fields, who.name)
    visits = request.app[VISITS].peek()
    if disposition["fields"].get("outcome") == "do-not-call" and visits is not None and call.get("caller"):
        await visits.set_blocked(str(call["caller"]), True, who.name, f"the customer asked, call {call_id}")
    if view.state == "wrap-up" and call_id == view.last_call_id:
        rt.apply(e.DispositionRecorded(agent_id, call_id, rt.clock()))
    return answer(request, {**disposition, "order": shown(order, who) if order else None,
                            "agent": rt.engine.agent(agent_id).state}, status=201, whole=who.agent_id == agent_id)
