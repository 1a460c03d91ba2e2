"""The IVR on Asterisk: carries out ``ivr.machine`` commands over ARI and feeds it DTMF,
playback and timeout events. Decisions are the machine's; this only translates.

- A caller who dialled an IVR extension is answered (and recorded, R4), its channel
  language set (prompts resolve to ``sounds/<language>/cti/<name>``), then the machine
  runs. Prompts play with ids ``cti-ivr-<call>-<n>``; a key stops the current one.
- When the machine routes, the call enters the routing core with the route's queue,
  skills, priority and kind (R7), or as an emergency (R8), and an emergency
  notification is posted to the webhook at once, with the report time. After hours
  (the machine's decision) a callback request goes to the callback webhook and the
  call ends.
- A caller who hangs up in the IVR leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import aiohttp

from acd import events as e
from cti.ari import AriClient
from cti.config import EmergencyConfig, IvrSettings
from cti.errors import AriError
from cti.masking import mask_number
from ivr import machine as m

log = logging.getLogger("cti.ivr")

Submit = Callable[[e.Event], None]


class IvrRunner:
    def __init__(
        self, ari: AriClient, submit: Submit, clock: Callable[[], float], settings: IvrSettings,
        emergency: EmergencyConfig, session: aiohttp.ClientSession,
        on_answer: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._ari = ari
        self._submit = submit
        self._clock = clock
        self.settings = settings
        self.emergency = emergency
        self._session = session
        self._on_answer = on_answer
        self._calls: dict[str, tuple[m.Ivr, str]] = {}  # call id -> (machine, caller)
        self._wake = asyncio.Event()
        self._work: asyncio.Queue[Awaitable[None]] = asyncio.Queue()
        self.emergency_calls: set[str] = set()
        self.overrides: dict[str, str] = {}  # R9 plan overflow, shared with the adapter
        self.callback_requests: list[dict[str, Any]] = []
        self._fired: dict[str, float] = {}  # call id -> the deadline already timed out
        self.notifications_sent = 0

    def wants(self, exten: str) -> bool:
        return exten in self.settings.extensions

    def active(self, call_id: str) -> bool:
        return call_id in self._calls

    # ------------------------------------------------------------ wire -> machine

    def start(self, call_id: str, caller: str) -> None:
        machine = m.Ivr(self.settings.menus)
        self._calls[call_id] = (machine, caller)
        self._work.put_nowait(self._begin(call_id, machine))

    def digit(self, call_id: str, digit: str) -> None:
        self._feed(call_id, m.Digit(digit, self._clock()))

    def playback_finished(self, playback_id: str) -> None:
        call_id, _, n = playback_id.removeprefix("cti-ivr-").rpartition("-")
        if n.isdigit():
            self._feed(call_id, m.PlaybackFinished(int(n), self._clock()))

    def hung_up(self, call_id: str) -> None:
        self._feed(call_id, m.HungUp(self._clock()))

    def _feed(self, call_id: str, event: m.IvrEvent) -> None:
        entry = self._calls.get(call_id)
        if entry is not None:
            self._work.put_nowait(self._carry_out(call_id, entry[0].handle(event)))

    # ------------------------------------------------------------ machine -> wire

    async def _begin(self, call_id: str, machine: m.Ivr) -> None:
        await self._ari.request_quiet("POST", f"/channels/{call_id}/answer")
        if self._on_answer is not None:
            await self._on_answer(call_id)
        await self._ari.request_quiet("POST", f"/channels/{call_id}/variable",
                          variable="CHANNEL(language)", value=self.settings.language)
        await self._carry_out(call_id, machine.start(self._clock()))

    async def _carry_out(self, call_id: str, commands: list[m.IvrCommand]) -> None:
        for cmd in commands:
            if isinstance(cmd, m.Play):
                try:
                    await self._ari.request(
                        "POST", f"/channels/{call_id}/play/cti-ivr-{call_id}-{cmd.play_id}",
                        media=[f"sound:cti/{p}" for p in cmd.prompts],
                    )
                except AriError as exc:  # a missing prompt must not stall the caller
                    log.warning("IVR prompt for call %s failed: %s", call_id, exc)
                    self._feed(call_id, m.PlaybackFinished(cmd.play_id, self._clock()))
            elif isinstance(cmd, m.StopPlayback):
                await self._ari.request_quiet("DELETE", f"/playbacks/cti-ivr-{call_id}-{cmd.play_id}")
            elif isinstance(cmd, m.WaitForDigit):
                self._wake.set()
            elif isinstance(cmd, m.RouteCall):
                await self._route(call_id, cmd)
            elif isinstance(cmd, m.Ended):
                self._calls.pop(call_id, None)
                log.info("caller of %s hung up in the IVR", call_id)
            elif isinstance(cmd, m.RequestCallback):
                caller = self._calls[call_id][1] if call_id in self._calls else ""
                self.callback_requests.append({"call_id": call_id, "caller": caller, "queue": cmd.queue,
                                               "kind": cmd.kind, "at": cmd.at})
                log.info("after hours: callback requested on call %s for queue %s", call_id, cmd.queue)
                self._work.put_nowait(self._post(self.settings.callback_webhook_url, {
                    "type": "callback-request", "call_id": call_id, "caller": caller, "queue": cmd.queue,
                    "kind": cmd.kind, "requested_at": datetime.fromtimestamp(cmd.at, timezone.utc).isoformat(),
                }))
            elif isinstance(cmd, m.HangUp):
                self._calls.pop(call_id, None)
                log.info("call %s ends in the IVR: %s", call_id, cmd.reason)
                await self._ari.request_quiet("DELETE", f"/channels/{call_id}")

    async def _route(self, call_id: str, cmd: m.RouteCall) -> None:
        _, caller = self._calls.pop(call_id)
        route = cmd.route
        if route.queue in self.overrides and not route.emergency:
            route = m.Route(self.overrides[route.queue], route.skills, route.priority, route.kind, False)
        log.info("IVR routes call %s to %s (%s; kind %s)", call_id, route.queue, cmd.reason, route.kind or "-")
        now = self._clock()
        if route.emergency:
            self.emergency_calls.add(call_id)
            self._work.put_nowait(self._notify(call_id, caller, route, now))
        self._submit(e.CallArrived(call_id, route.queue, caller, now, route.priority, route.kind,
                                   route.skills, route.emergency))

    async def _notify(self, call_id: str, caller: str, route: m.Route, at: float) -> None:
        """R8: the emergency notification, at once, with the report time."""
        log.warning("EMERGENCY reported on call %s from %s", call_id, mask_number(caller))
        await self._post(self.emergency.webhook_url, {
            "type": "emergency", "call_id": call_id, "caller": caller, "kind": route.kind,
            "queue": route.queue,
            "reported_at": datetime.fromtimestamp(at, timezone.utc).isoformat(),
        })

    async def _post(self, url: str | None, body: dict[str, Any]) -> None:
        """A notification, with three tries; nothing waits for it."""
        if url is None:
            return
        for attempt in range(3):
            try:
                async with self._session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    if resp.status < 300:
                        self.notifications_sent += 1
                        return
                    log.error("%s webhook answered %d", body["type"], resp.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.error("%s webhook failed (try %d): %s", body["type"], attempt + 1, exc)
            await asyncio.sleep(0.5 * (attempt + 1))

    # ------------------------------------------------------------ supervised tasks

    async def run(self) -> None:
        """Carry out the machines' work in order, and send timeouts at their deadlines."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._run_work())
            tg.create_task(self._run_timeouts())

    async def _run_work(self) -> None:
        while True:
            job = await self._work.get()
            try:
                await job
            except Exception:
                log.exception("IVR step failed")

    async def _run_timeouts(self) -> None:
        while True:
            self._wake.clear()
            deadlines = [(ivr.deadline, k) for k, (ivr, _) in self._calls.items() if ivr.deadline is not None]
            now = self._clock()
            for deadline, call_id in deadlines:
                if deadline <= now and self._fired.get(call_id) != deadline:
                    self._fired[call_id] = deadline
                    self._feed(call_id, m.Timeout(now))
            self._fired = {k: d for k, d in self._fired.items() if k in self._calls}
            pending = [d for d, _ in deadlines if d > now]
            timeout = min(pending) - now if pending else None
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass
