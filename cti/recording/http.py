"""Recordings over HTTP (R4/R5, R14): only for the reader and admin roles; every
access (and every refusal) is audited with the authenticated identity. The use cases are ``cti.recording.services``; they run on the
recorder's worker thread (SQLite, files, hashing), never on the event loop."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from cti.errors import BadRequest, Forbidden, NotConfigured
from cti.recording import services
from cti.recording.recorder import Recorder
from cti.web.server import Feature, Part, answer, identity, json_body, need


ROUTES = web.RouteTableDef()  # each handler declares its route; filled at import, read-only after
RECORDER = web.AppKey("recorder", Part[Recorder])
FEATURE = Feature(ROUTES, (RECORDER,))
log = logging.getLogger("cti.recording")


async def _reader(request: web.Request) -> tuple[Recorder, str]:
    """R14: recordings only for the reader and admin roles; returns who asks."""
    recorder = request.app[RECORDER].peek()
    who = f"{identity(request).name}@{request.remote}"
    try:
        need(request, "reader")
    except Forbidden:
        if recorder is not None:
            await recorder.io(lambda: recorder.archive.audit.record(who, "access-refused", path=request.path))
        raise
    if recorder is None:
        raise NotConfigured("recording is not configured on this engine instance")
    return recorder, who


def _epoch(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(f"{name} must be epoch seconds") from None


@ROUTES.get("/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    recorder, who = await _reader(request)
    q = request.query
    found = await recorder.io(services.search, recorder.archive, who, _epoch(request, "since"),
                              _epoch(request, "until"), q.get("caller"), q.get("agent"), q.get("queue"),
                              q.get("kind"))
    return answer(request, [dataclasses.asdict(m) for m in found])


@ROUTES.get("/recordings/{call_id}")
async def get_recording(request: web.Request) -> web.Response:
    recorder, who = await _reader(request)
    call_id = request.match_info["call_id"]
    data = await recorder.io(services.fetch, recorder.archive, call_id, who)
    return web.Response(body=data, content_type="audio/wav",
                        headers={"Content-Disposition": f'attachment; filename="{call_id}.wav"'})


@ROUTES.get("/recordings/audit")
async def recordings_audit(request: web.Request) -> web.Response:
    recorder, who = await _reader(request)
    report = await recorder.io(recorder.run_audit)
    await recorder.io(lambda: recorder.archive.audit.record(who, "audit", coverage=report.coverage))
    return web.json_response(services.report_json(report))


@ROUTES.post("/recordings/holds")
async def add_hold(request: web.Request) -> web.Response:
    recorder, who = await _reader(request)
    body = await json_body(request)
    fields = {k: body.get(k) for k in ("reason", "call_id", "caller", "start", "end")}
    if not all(v is None or isinstance(v, str) for v in fields.values()) or fields["reason"] is None:
        raise BadRequest("a hold needs a reason and a call_id, caller, or start and end (strings)")
    hold = await recorder.io(services.place_hold, recorder.archive, who, fields["reason"], fields["call_id"],
                             fields["caller"], fields["start"], fields["end"], recorder.knows)
    return web.json_response({"hold_id": hold.hold_id}, status=201)


@ROUTES.delete("/recordings/holds/{hold_id}")
async def release_hold(request: web.Request) -> web.Response:
    recorder, who = await _reader(request)
    await recorder.io(services.release_hold, recorder.archive, request.match_info["hold_id"], who)
    return web.json_response({"released": request.match_info["hold_id"]})


def legal_holds(app: web.Application) -> tuple[Callable[[str, str, str], Awaitable[str | None]],
                                               Callable[[str], Awaitable[bool]]]:
    """R5 for other features (R16: a complaint's recordings while it is open): place a
    legal hold on the recordings of a customer (every call of ``caller``: the complaint's
    call, the feedback calls to them), or of one call when the number is not known;
    release one; through this engine's recorder, when it has one (without one nothing is
    held: said once in the log; the caller tries again later)."""
    warned = False

    async def hold(call_id: str, caller: str, reason: str) -> str | None:
        nonlocal warned
        recorder = app[RECORDER].peek()
        if recorder is None:
            if not warned:
                warned = True
                log.warning("R5: no recorder on this engine: calls' recordings are not held (%s)", reason)
            return None
        placed = await recorder.io(services.place_hold, recorder.archive, "engine", reason,
                                   None if caller else call_id, caller or None)
        return placed.hold_id

    async def release(hold_id: str) -> bool:
        recorder = app[RECORDER].peek()
        if recorder is None:
            return False
        await recorder.io(services.release_hold, recorder.archive, hold_id, "engine")
        return True
    return hold, release


def player(app: web.Application) -> Callable[[str, str], Awaitable[bytes]]:
    """R18 for other features (the inspection page plays a call): a call's recording,
    SHA-256 checked, the access written to the audit log as ``who``; through this
    engine's recorder (none here: not-configured)."""
    async def play(call_id: str, who: str) -> bytes:
        recorder = app[RECORDER].peek()
        if recorder is None:
            raise NotConfigured("recording is not configured on this engine instance")
        return await recorder.io(services.fetch, recorder.archive, call_id, who)
    return play
