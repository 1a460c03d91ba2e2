"""Hang-ups Asterisk did not confirm, done again (R6: nobody is left on a dead line).

Seen in issue 32's load runs: when Asterisk stalls for several seconds, the engine's
``DELETE /channels/{caller}`` gets no answer within its deadline and is abandoned; the
core has ended the call, nobody will route it again, and the caller stayed on a silent
line until its own phone gave up. Now a caller's hang-up that was not confirmed (no
answer, or an error other than "already gone") is asked for again in the call's lane,
later and later, for as long as the caller's channel is still known to the adapter
(its end, seen from Asterisk's events, stops the retries); each retry logged and counted
(``cti_faults_total{kind="retried",where="hang-up"}``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cti.asterisk.ari import AriClient
from cti.errors import AriError

log = logging.getLogger("cti.stasis")

RETRY_S = (2.0, 5.0, 10.0, 30.0, 60.0)  # the waits before each new attempt (then it is given up)

Then = Callable[[str, str, Callable[[], Awaitable[None]]], None]


class HangUps:
    def __init__(self, ari: AriClient, then: Then, still_there: Callable[[str], bool]) -> None:
        self._ari = ari
        self._then = then
        self._still_there = still_there

    async def _gone(self, path: str) -> bool:
        """DELETE ``path``; True when Asterisk confirmed it, or it was already gone."""
        try:
            await self._ari.request("DELETE", path)
            return True
        except AriError as exc:
            if exc.status in (404, 409, 422):
                return True
            log.warning("%s", exc)
            return False

    async def caller(self, call_id: str, attempt: int = 0) -> None:
        """Hang up the caller and its bridge (both at once); again later if unconfirmed."""
        if attempt and not self._still_there(call_id):
            return  # it ended meanwhile (the earlier request did reach Asterisk after all)
        hung_up, _ = await asyncio.gather(self._gone(f"/channels/{call_id}"), self._gone(f"/bridges/cti-{call_id}"))
        if hung_up or not self._still_there(call_id):
            return
        if attempt >= len(RETRY_S):
            log.error("call %s: Asterisk never confirmed the caller's hang-up (%d tries)", call_id, attempt + 1)
            return
        faults = getattr(self._ari, "faults", None)
        if faults is not None:
            faults.count("retried", "hang-up")
        wait = RETRY_S[attempt]
        log.warning("call %s: the caller's hang-up was not confirmed; asked again in %.0f s", call_id, wait)
        asyncio.get_running_loop().call_later(
            wait, lambda: self._then(call_id, "hang up again", lambda: self.caller(call_id, attempt + 1)))
