"""What a waiting caller hears: prompts (looped, or followed by music) or music alone.

Playbacks are named ``cti-wait-<call>-<n>``; when the one now playing finishes, the
next loop (R8's safety instructions) or the music (after R9's incident announcement)
follows at once in the call's own lane, never waiting for other calls.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from acd import commands as c
from cti.asterisk.ari import AriClient
from cti.errors import AriError

log = logging.getLogger("cti.stasis")

Then = Callable[[str, str, Callable[[], Awaitable[None]]], None]  # (call id, what, step)


@dataclass(slots=True)
class _Waiting:
    prompts: tuple[str, ...]
    loop: bool
    n: int = 0  # the playback now playing: cti-wait-<call>-<n>; 0: music


class WaitingMedia:
    def __init__(self, ari: AriClient, then: Then, seq: itertools.count[int]) -> None:
        self._ari = ari
        self._then = then
        self._seq = seq
        self._waiting: dict[str, _Waiting] = {}
        self._may_call_back: set[str] = set()  # R9: key 1 takes a callback

    def chose_callback(self, call_id: str, digit: str) -> bool:
        """Whether this key press takes the callback offered to this caller (once)."""
        if digit != "1" or call_id not in self._may_call_back:
            return False
        self._may_call_back.discard(call_id)
        return True

    def forget(self, call_id: str) -> None:
        """The caller's channel is gone."""
        self._waiting.pop(call_id, None)
        self._may_call_back.discard(call_id)

    def finished(self, name: str) -> None:
        """Playback ``cti-wait-<name>`` finished: loop again, or music."""
        call_id, _, n = name.rpartition("-")
        waiting = self._waiting.get(call_id)
        if waiting is None or not n.isdigit() or waiting.n != int(n):
            return  # stopped, or an older one
        if waiting.loop:
            self._then(call_id, "next loop", lambda: self._play(call_id))
        else:
            waiting.n = 0
            self._then(call_id, "music", lambda: self._ari.request_quiet("POST", f"/channels/{call_id}/moh"))

    async def start(self, cmd: c.PlayWaitingMedia) -> None:
        """Prompts (looped, or then music), or music at once (R8, R9)."""
        if cmd.offer_callback:
            self._may_call_back.add(cmd.call_id)
        if not cmd.prompts:
            self._waiting[cmd.call_id] = _Waiting((), False)
            await self._ari.request_quiet("POST", f"/channels/{cmd.call_id}/moh")
            return
        self._waiting[cmd.call_id] = _Waiting(cmd.prompts, cmd.loop)
        await self._play(cmd.call_id)

    async def _play(self, call_id: str) -> None:
        waiting = self._waiting.get(call_id)
        if waiting is None:
            return  # the wait is over
        waiting.n = next(self._seq)
        try:
            await self._ari.request(
                "POST", f"/channels/{call_id}/play/cti-wait-{call_id}-{waiting.n}",
                media=[f"sound:cti/{p}" for p in waiting.prompts],
            )
        except AriError as exc:  # a missing prompt: music rather than silence
            log.warning("waiting prompts for call %s failed: %s", call_id, exc)
            if exc.status != 404:
                waiting.n = 0
                await self._ari.request_quiet("POST", f"/channels/{call_id}/moh")

    async def stop(self, call_id: str) -> None:
        """Whatever the caller hears while waiting stops: music, or the prompts."""
        await self.stop_prompts(call_id)
        await self._ari.request_quiet("DELETE", f"/channels/{call_id}/moh")

    async def stop_prompts(self, call_id: str) -> None:
        """The prompts stop (a playback holds the channel's ARI commands until it ends;
        music does not)."""
        waiting = self._waiting.pop(call_id, None)
        self._may_call_back.discard(call_id)
        if waiting is not None and waiting.n:
            await self._ari.request_quiet("DELETE", f"/playbacks/cti-wait-{call_id}-{waiting.n}")
