"""What a waiting caller hears: prompts (looped, or followed by music) or music alone.

Playbacks are named ``cti-wait-<call>-<n>``; when the one now playing finishes, the
next loop (R8's safety instructions) or the music (after R9's incident announcement)
follows at once in the call's own lane, never waiting for other calls.

Music is one stream for every waiting caller of the node (issue 32): the callers join
the node's holding bridge ``cti-hold``, whose one music source (an announcer channel,
``POST /bridges/{id}/moh``) Asterisk plays to all of them, instead of a music generator
reading and converting a file per caller. A prompt for one caller (a callback
dialogue, R9's announcement) is played to that caller in the bridge; the music comes
back by itself when it ends. The caller leaves the bridge when it is moved into its
agent's bridge (Asterisk moves a channel from one bridge to another in one request),
sent back to the dialplan, or hung up. The bridge is made when first needed and again
if Asterisk lost it; if it cannot be, the caller gets music on its own channel.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
import asyncio
import time
from dataclasses import dataclass

from acd import commands as c
from cti.asterisk.ari import AriClient
from cti.errors import AriError
from cti.calls.survey import ENDED, MARK

log = logging.getLogger("cti.stasis")

HOLD = "cti-hold"  # the node's holding bridge: its waiting callers and one music stream
MUSIC_AGAIN_S = 1.0  # a caller alone in the bridge: its music asked for again after this
HOLD_RETRY_S = 60.0  # after the bridge could not be made, callers get music of their own this long

Then = Callable[[str, str, Callable[[], Awaitable[None]]], None]  # (call id, what, step)


@dataclass(slots=True)
class _Dialog:
    """R11: a caller taking a callback confirms the number or keys in another."""

    step: str = "confirm"  # then "enter"
    digits: str = ""
    tries: int = 0


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
        self._may_call_back: set[str] = set()  # R9/R11: key 1 takes a callback
        self._dialogs: dict[str, _Dialog] = {}
        self._held: set[str] = set()  # callers in the holding bridge (their music)
        self._silent = False  # the bridge emptied since its music started: the announcer left
        self._hold_made = False
        self._hold_failed_at: float | None = None  # (monotonic)
        self._hold_lock = asyncio.Lock()

    async def _make_hold(self) -> bool:
        """The holding bridge with its music (made once; again after Asterisk lost it)."""
        async with self._hold_lock:
            if self._hold_made:
                return True
            if self._hold_failed_at is not None and time.monotonic() - self._hold_failed_at < HOLD_RETRY_S:
                return False
            try:
                try:
                    await self._ari.request("POST", f"/bridges/{HOLD}", type="holding", name=HOLD)
                except AriError as exc:
                    if exc.status != 409:  # 409: it is there (an earlier engine made it)
                        raise
                await self._ari.request("POST", f"/bridges/{HOLD}/moh")
            except AriError as exc:
                if exc.status != 409:  # (its music already playing)
                    log.warning("the holding bridge could not be made (music on each caller's channel "
                                "for %.0f s): %s", HOLD_RETRY_S, exc)
                    self._hold_failed_at = time.monotonic()
                    return False
            self._hold_made, self._hold_failed_at, self._silent = True, None, False
            return True

    async def music(self, call_id: str) -> None:
        """The caller hears the waiting music: it joins the holding bridge."""
        for attempt in (1, 2):
            if not await self._make_hold():
                break
            alone, self._silent = self._silent, False  # (one caller starts it again, not a burst)
            try:
                await self._ari.request("POST", f"/bridges/{HOLD}/addChannel", channel=call_id)
                self._held.add(call_id)
                if alone:
                    await self._music_again(call_id, later=True)
                return
            except AriError as exc:
                self._silent = self._silent or alone
                if exc.status == 422 or (exc.status == 400 and attempt == 2):
                    return  # the caller is gone (or not in the application): nothing to hear
                if exc.status in (400, 404):  # the bridge is gone (Asterisk restarted): made again
                    self._hold_made = False
                    continue
                log.warning("call %s could not join the holding bridge: %s", call_id, exc)
                break
        await self._ari.request_quiet("POST", f"/channels/{call_id}/moh")  # music of its own

    async def _music_again(self, call_id: str, later: bool = False) -> None:
        """The bridge's music, for a caller who may be alone in it. Asterisk's announcer
        leaves a holding bridge when the last caller does (it is "lonely"), so a caller
        joining an empty bridge starts it again; once more a second later, in case the
        announcer asked for was the one still leaving (the request then found it)."""
        if call_id not in self._held:
            return
        await self._ari.request_quiet("POST", f"/bridges/{HOLD}/moh")
        if later:
            asyncio.get_running_loop().call_later(
                MUSIC_AGAIN_S, lambda: self._then(call_id, "hold music", lambda: self._music_again(call_id)))

    def callback_key(self, call_id: str, digit: str, caller: str) -> tuple[str] | None:
        """A key from a caller offered a callback. Key 1 reads back the number the
        caller called from: 1 confirms it, 2 asks for another, keyed in and ended by #.
        Returns ``(number,)`` when the callback is taken ("" for the caller's own
        number), None while the dialogue goes on (or the key means nothing)."""
        dialog = self._dialogs.get(call_id)
        if dialog is None:
            if digit != "1" or call_id not in self._may_call_back:
                return None
            self._dialogs[call_id] = _Dialog()
            readback = [f"digit-{d}" for d in caller if d.isdigit()]
            prompts = ["callback-your-number", *readback, "callback-confirm-keys"] if readback else [
                "callback-enter-number"]
            if not readback:
                self._dialogs[call_id].step = "enter"
            self._then(call_id, "callback number", lambda: self.say(call_id, tuple(prompts)))
            return None
        if dialog.step == "confirm":
            if digit == "1":
                return self._taken(call_id, "")
            if digit == "2":
                dialog.step = "enter"
                self._then(call_id, "callback number", lambda: self.say(call_id, ("callback-enter-number",)))
            return None
        if digit.isdigit() and len(dialog.digits) < 20:
            dialog.digits += digit
        elif digit == "#":
            if len(dialog.digits) >= 5:
                return self._taken(call_id, dialog.digits)
            dialog.digits, dialog.tries = "", dialog.tries + 1
            if dialog.tries >= 3:  # no callback after all: the caller keeps waiting
                self._dialogs.pop(call_id, None)
                self._may_call_back.discard(call_id)
            else:
                self._then(call_id, "callback number", lambda: self.say(call_id, ("callback-enter-number",)))
        return None

    def _taken(self, call_id: str, number: str) -> tuple[str]:
        self._dialogs.pop(call_id, None)
        self._may_call_back.discard(call_id)
        return (number,)

    async def say(self, call_id: str, prompts: tuple[str, ...]) -> None:
        """Prompts now, instead of what the caller hears; then music again."""
        await self.stop_prompts(call_id, keep_offer=True)
        if call_id not in self._held:  # (in the holding bridge, the prompt is played over the music)
            await self._ari.request_quiet("DELETE", f"/channels/{call_id}/moh")
        self._waiting[call_id] = _Waiting(prompts, False)
        await self._play(call_id)

    def forget(self, call_id: str) -> None:
        """The caller's channel is gone."""
        self._waiting.pop(call_id, None)
        self._may_call_back.discard(call_id)
        self._dialogs.pop(call_id, None)
        self.left_hold(call_id)

    def left_hold(self, call_id: str) -> bool:
        """The caller was moved out of the holding bridge (into its agent's, or back to the
        dialplan), or is gone. False: it was not in the bridge (music of its own, or none)."""
        if call_id not in self._held:
            return False
        self._held.discard(call_id)
        self._silent = self._silent or not self._held
        return True

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
            if call_id not in self._held:  # (in the bridge, its music is back by itself)
                self._then(call_id, "music", lambda: self.music(call_id))

    async def start(self, cmd: c.PlayWaitingMedia) -> None:
        """Prompts (looped, or then music), or music at once (R8, R9)."""
        if cmd.offer_callback:
            self._may_call_back.add(cmd.call_id)
        if not cmd.prompts:
            self._waiting[cmd.call_id] = _Waiting((), False)
            await self.music(cmd.call_id)
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
            if exc.status != 404 and call_id not in self._held:
                waiting.n = 0
                await self.music(call_id)

    async def farewell(self, cmd: c.Farewell) -> None:
        """A last prompt, then the hang-up when it has been heard (``cti-bye-``)."""
        log.info("call %s: farewell (%s)", cmd.call_id, cmd.reason)
        await self.stop(cmd.call_id)
        await self._ari.request_quiet("POST", f"/channels/{cmd.call_id}/variable", variable=MARK, value=ENDED)
        try:  # (the mark: a restart during the prompt hangs up, not queues again: ``unseen``)
            await self._ari.request("POST", f"/channels/{cmd.call_id}/play/cti-bye-{cmd.call_id}",
                                    media=f"sound:cti/{cmd.prompt}")
        except AriError:
            await self._ari.request_quiet("DELETE", f"/channels/{cmd.call_id}")

    def farewell_heard(self, call_id: str) -> None:
        """The farewell's playback (``cti-bye-``) finished: the caller is hung up."""
        self._then(call_id, "hang-up after farewell",
                   lambda: self._ari.request_quiet("DELETE", f"/channels/{call_id}"))

    async def announce(self, cmd: c.AnnounceAgent) -> bool:
        """R15: "your agent number is <number>, at your service" before the bridge, in
        the caller's language (digits too: sound:cti/digit-N). False: it cannot be played."""
        await self.stop(cmd.call_id)
        try:
            await self._ari.request(
                "POST", f"/channels/{cmd.call_id}/play/cti-announce-{cmd.call_id}",
                media=["sound:cti/agent-id", *(f"sound:cti/digit-{d}" for d in cmd.number if d.isdigit()),
                       "sound:cti/at-your-service"])
            return True
        except AriError as exc:
            log.warning("announcing agent on call %s failed: %s", cmd.call_id, exc)
            return False

    async def stop(self, call_id: str) -> None:
        """Whatever the caller hears while waiting stops: the prompts, and music of its own
        channel. A caller in the holding bridge stays there until it is moved (into its
        agent's bridge: no gap of silence, one request fewer) or played something (a
        prompt for it alone covers the music)."""
        await self.stop_prompts(call_id)
        if call_id not in self._held:
            await self._ari.request_quiet("DELETE", f"/channels/{call_id}/moh")

    async def stop_prompts(self, call_id: str, keep_offer: bool = False) -> None:
        """The prompts stop (a playback holds the channel's ARI commands until it ends;
        music does not)."""
        waiting = self._waiting.pop(call_id, None)
        if not keep_offer:
            self._may_call_back.discard(call_id)
            self._dialogs.pop(call_id, None)
        if waiting is not None and waiting.n:
            await self._ari.request_quiet("DELETE", f"/playbacks/cti-wait-{call_id}-{waiting.n}")
