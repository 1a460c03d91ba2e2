"""The IVR on Asterisk: carries out ``ivr.machine`` commands over ARI and feeds it DTMF,
playback and timeout events. Decisions are the machine's (menus) and the core's (what
happens to the call after); this only translates.

- ``start`` (the core's ``StartIvr``, after it answered the caller and started the
  recording): the channel's language is set (prompts resolve to
  ``sounds/<language>/cti/<name>``), then the machine runs. Prompts play with ids
  ``cti-ivr-<call>-<n>``; a key stops the current one.
- When the machine routes, the core is told (``IvrRouted``): it treats the call like
  any other (R7 kind and skills, R8 emergency, R9 plan). After hours, a callback
  request goes to the core too (``IvrCallbackRequested``), then the call ends.
- A caller who hangs up in the IVR leaves nothing behind.
- Each call's steps run in that call's lane (``cti.lanes``, shared with the adapter):
  one caller's slow request never delays another caller's menu.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from acd import events as e
from cti.asterisk.ari import AriClient
from cti.errors import AriError
from cti.ivr.settings import IvrSettings
from cti.lanes import Lanes
from ivr import machine as m

log = logging.getLogger("cti.ivr")

Submit = Callable[[e.Event], None]


class IvrRunner:
    def __init__(self, ari: AriClient, submit: Submit, clock: Callable[[], float], settings: IvrSettings,
                 lanes: Lanes | None = None) -> None:
        self._ari = ari
        self._lanes = lanes if lanes is not None else Lanes(10.0)
        self._submit = submit
        self._clock = clock
        self.settings = settings
        self._calls: dict[str, m.Ivr] = {}  # call id -> its machine
        self._wake = asyncio.Event()
        self._fired: dict[str, float] = {}  # call id -> the deadline already timed out

    def active(self, call_id: str) -> bool:
        return call_id in self._calls

    # ------------------------------------------------------------ wire -> machine

    def start(self, call_id: str, caller: str) -> None:
        machine = m.Ivr(self.settings.menus)
        self._calls[call_id] = machine
        self._lanes.put(call_id, "IVR start", lambda: self._begin(call_id, machine))

    def digit(self, call_id: str, digit: str) -> None:
        self._feed(call_id, m.Digit(digit, self._clock()))

    def playback_finished(self, playback_id: str) -> None:
        call_id, _, n = playback_id.removeprefix("cti-ivr-").rpartition("-")
        if n.isdigit():
            self._feed(call_id, m.PlaybackFinished(int(n), self._clock()))

    def hung_up(self, call_id: str) -> None:
        self._feed(call_id, m.HungUp(self._clock()))

    def _feed(self, call_id: str, event: m.IvrEvent) -> None:
        machine = self._calls.get(call_id)
        if machine is not None:
            commands = machine.handle(event)
            self._lanes.put(call_id, "IVR step", lambda: self._carry_out(call_id, commands))

    # ------------------------------------------------------------ machine -> wire

    async def _begin(self, call_id: str, machine: m.Ivr) -> None:
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
                self._calls.pop(call_id, None)
                r = cmd.route
                log.info("IVR routes call %s to %s (%s; kind %s)", call_id, r.queue, cmd.reason, r.kind or "-")
                self._submit(e.IvrRouted(call_id, r.queue, self._clock(), r.skills, r.priority, r.kind,
                                         r.emergency))
            elif isinstance(cmd, m.Ended):
                self._calls.pop(call_id, None)
                log.info("caller of %s hung up in the IVR", call_id)
            elif isinstance(cmd, m.RequestCallback):
                log.info("after hours: callback requested on call %s for queue %s", call_id, cmd.queue)
                self._submit(e.IvrCallbackRequested(call_id, cmd.queue, cmd.kind, cmd.at))
            elif isinstance(cmd, m.HangUp):
                self._calls.pop(call_id, None)
                log.info("call %s ends in the IVR: %s", call_id, cmd.reason)
                await self._ari.request_quiet("DELETE", f"/channels/{call_id}")

    # ------------------------------------------------------------ supervised tasks

    async def run(self) -> None:
        """Send the machines their timeouts at their deadlines (their steps run in the
        calls' lanes, owned by the adapter)."""
        while True:
            self._wake.clear()
            deadlines = [(ivr.deadline, k) for k, ivr in self._calls.items() if ivr.deadline is not None]
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
