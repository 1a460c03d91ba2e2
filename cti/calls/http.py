"""The agent's call controls over HTTP: transfers (blind and attended) and holds.

The agent on the call acts on it (its session or token), supervisors and admins on
any call; the core decides (``acd.transfers``) and refuses what the call's state does
not allow (409). A number to transfer to must be one the trunk's rules allow (R14);
numbers are masked in the audit log.
"""

from __future__ import annotations

import dataclasses
import logging

from aiohttp import web

from acd import CallView
from acd import events as e
from cti.errors import BadRequest, NotConfigured
from cti.masking import mask_number
from cti.web import INSTANCE, json_body, need, runtime

audit = logging.getLogger("cti.audit")


def routes(app: web.Application) -> None:
    app.router.add_post("/calls/{call_id}/transfer", transfer)
    app.router.add_post("/calls/{call_id}/transfer/{step}", transfer_step)
    app.router.add_post("/calls/{call_id}/hold", hold)
    app.router.add_post("/calls/{call_id}/unhold", hold)


def _call(request: web.Request) -> CallView:
    call_id = request.match_info["call_id"]
    call = next((k for k in runtime(request).engine.calls() if k.call_id == call_id), None)
    if call is None or call.agent_id is None:
        need(request, "supervisor")  # (an agent learns nothing of other calls)
        raise web.HTTPNotFound(text=f"no connected call {call_id!r}")
    return call


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
        trunk = request.app[INSTANCE].trunk
        if trunk is None:
            raise NotConfigured("no [[trunks]] to dial an external number through")
        if trunk.dial_string(target) is None:
            raise BadRequest("the trunk's rules do not allow that number (R14)")
    rt = runtime(request)
    rt.apply(e.TransferRequested(call.call_id, call.agent_id, to, target, attended, rt.clock()))
    audit.info("call %s: %s transfer by %s to %s %s", call.call_id, "attended" if attended else "blind",
               who.name, to, mask_number(target) if to == "external" else target)
    return _view(request, call.call_id)


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
        raise web.HTTPNotFound(text=f"no transfer step {step!r}")
    audit.info("call %s: transfer %s by %s", call.call_id, step, who.name)
    return _view(request, call.call_id)


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
    return web.json_response({**dataclasses.asdict(call), "caller": mask_number(call.caller)})
