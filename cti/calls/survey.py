"""R17 on the wire: the caller's survey after the agent hung up first (``StartSurvey``).

The core has ended the call already (handled, the agent in wrap-up); the caller's
channel stays in Stasis, and so does its recording (R4: a snoop on that channel). The
bridge goes; the caller hears ``sound:cti/survey`` in the channel's language (the
IVR's, else the PBX's) and keys a score from 1 to 5. A wrong key hears
``invalid`` and the question again, once (the keys' rules: ``ivr.survey``); a second
wrong key, no key within the queue's ``survey_timeout_s`` after the question, or a
hang-up is no response. The
answer goes to the core (``SurveyEnded``), then the caller hears ``survey-thanks``
and is hung up (a ``cti-bye-`` playback: the adapter hangs up when it finishes).

Everything awaited has a deadline: the question's own (``PROMPT_MAX_S`` for it to be
heard, then the timeout) runs on the loop's timer; a survey is forgotten when it ends
or its channel goes, so nothing grows. Playbacks are named ``cti-survey-<call>-<n>``,
``n`` the question's number in the call (1, then 2 after a wrong key): an engine
started again knows the names of a survey's questions without having asked them, and
stops the one playing before it thanks (else the thanks, and the request that clears
the mark, would wait behind it: Asterisk runs a channel's requests in order).

A survey lives in this process only; its channel carries ``CTI_SURVEY`` (queue, agent,
kind) so that an adapter started again (a restart, a take-over) finds a caller left in
a survey nobody runs (``orphans``, at every resync): counted as no response, thanked,
hung up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any
from dataclasses import dataclass, field

from acd import commands as c
from acd import events as e
from cti.asterisk.ari import AriClient
from cti.errors import AriError
from ivr.survey import WRONG_KEYS_ALLOWED, Key, on_key

log = logging.getLogger("cti.survey")

Then = Callable[[str, str, Callable[[], Awaitable[None]]], None]  # (call id, what, step)
PREFIX = "cti-survey-"
PROMPT_MAX_S = 30.0  # the question is heard within this, or the timeout starts anyway
ASKED_MAX = WRONG_KEYS_ALLOWED + 1  # questions in a survey at most
# The caller's channel variable: "queue|agent|kind" while its survey runs, ``ENDED`` once
# the engine has ended the call and the caller hears a last prompt (the survey's thanks,
# a farewell) before the hang-up. An engine started again reads it (``orphans``).
MARK = "CTI_SURVEY"
ENDED = "ended"


@dataclass(slots=True)
class _Survey:
    cmd: c.StartSurvey
    n: int = 1  # the question's playback now: cti-survey-<call>-<n> (its number in the call)
    wrong: int = 0  # wrong keys so far
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class Surveys:
    def __init__(self, ari: AriClient, submit: Callable[[e.Event], None], clock: Callable[[], float],
                 then: Then) -> None:
        self._ari, self._submit, self._clock, self._then = ari, submit, clock, then
        self._surveys: dict[str, _Survey] = {}  # call id -> its survey, until it ends
        self._leaving: set[str] = set()  # callers a restart left in a survey, thanked here (channels still up)

    def active(self, call_id: str) -> bool:
        return call_id in self._surveys

    def taken(self) -> set[str]:
        """The callers' channels this runs a survey for, or thanks after one a restart
        left: none of them is a new caller (a resync must not queue them again)."""
        return {*self._surveys, *self._leaving}

    def __len__(self) -> int:
        return len(self._surveys)

    async def start(self, cmd: c.StartSurvey) -> None:
        """In the call's lane: the agent is gone; the caller hears the question."""
        if cmd.call_id in self._surveys:
            return
        self._surveys[cmd.call_id] = _Survey(cmd)
        log.info("R17: call %s: survey (queue %s, agent %s)", cmd.call_id, cmd.queue, cmd.agent_id)
        await self._ari.request_quiet("DELETE", f"/bridges/cti-{cmd.call_id}")
        await self._ari.request_quiet("POST", f"/channels/{cmd.call_id}/variable", variable=MARK,
                                      value="|".join((cmd.queue, cmd.agent_id, cmd.kind)))
        await self._ask(cmd.call_id, ("survey",))

    async def orphans(self, channels: Mapping[str, Mapping[str, Any]], known: Collection[str]) -> dict[str, str]:
        """Callers of this app's inbound calls that nobody knows (not in ``known``, no
        survey here) and whose channel says a survey ran: no response, thanks, hang-up.
        Returns what the channel of each unknown caller still there says (``MARK``; ""
        when nothing: a new caller for all this knows)."""
        marks: dict[str, str] = {}
        self._leaving &= channels.keys()
        for chan_id, channel in channels.items():
            plan = channel.get("dialplan")
            if (chan_id in known or chan_id in self._surveys or chan_id in self._leaving
                    or not isinstance(plan, Mapping)
                    or plan.get("app_name") != "Stasis" or ",inbound," not in f"{plan.get('app_data', '')},"):
                continue
            try:
                got = await self._ari.request("GET", f"/channels/{chan_id}/variable", variable=MARK)
            except AriError as exc:  # (Asterisk: 404 "Provided variable was not found" when unset)
                if exc.status == 404 and "variable" in str(exc).lower():
                    marks[chan_id] = ""  # no mark: a caller of ours nobody knows
                continue  # (else gone, or ARI away: left to the next resync)
            marks[chan_id] = str((got or {}).get("value") or "")
            queue, _, rest = marks[chan_id].partition("|")
            agent, _, kind = rest.partition("|")
            if not queue or not agent:
                continue
            self._leaving.add(chan_id)
            log.warning("R17: call %s was left in its survey (a restart): no response", chan_id)
            self._submit(e.SurveyEnded(chan_id, queue, agent, kind, None, self._clock()))
            self._then(chan_id, "survey thanks", functools.partial(self._thank, chan_id, *range(1, ASKED_MAX + 1)))
        return marks

    async def _ask(self, call_id: str, prompts: tuple[str, ...]) -> None:
        survey = self._surveys.get(call_id)
        if survey is None:
            return  # ended meanwhile
        self._arm(survey, PROMPT_MAX_S + survey.cmd.timeout_s)
        try:
            await self._ari.request("POST", f"/channels/{call_id}/play/{PREFIX}{call_id}-{survey.n}",
                                    media=[f"sound:cti/{p}" for p in prompts])
        except AriError as exc:  # the caller is gone, or no prompt: no response
            log.warning("R17: the survey of call %s could not be played: %s", call_id, exc)
            self._end(call_id, None, thank=exc.status != 404)

    def _arm(self, survey: _Survey, after_s: float) -> None:
        if survey.timer is not None:
            survey.timer.cancel()
        call_id, n = survey.cmd.call_id, survey.n
        survey.timer = asyncio.get_running_loop().call_later(after_s, self._timed_out, call_id, n)

    def playback_finished(self, playback_id: str) -> None:
        """The question was heard: the caller has the timeout from now."""
        call_id, _, n = playback_id.removeprefix(PREFIX).rpartition("-")
        survey = self._surveys.get(call_id)
        if survey is not None and n.isdigit() and int(n) == survey.n:
            self._arm(survey, survey.cmd.timeout_s)

    def _timed_out(self, call_id: str, n: int) -> None:
        survey = self._surveys.get(call_id)
        if survey is not None and survey.n == n:
            log.info("R17: call %s: no key within the survey's time", call_id)
            self._end(call_id, None)

    def digit(self, call_id: str, digit: str) -> None:
        survey = self._surveys.get(call_id)
        if survey is None:
            return
        what, score = on_key(digit, survey.wrong)
        if what is not Key.AGAIN:
            self._end(call_id, score)
            return
        survey.wrong += 1
        log.info("R17: call %s: key %s is no score; the question again", call_id, digit)
        old = survey.n
        survey.n += 1  # what the old question's end says no longer counts
        self._then(call_id, "survey again", lambda: self._again(call_id, old))

    async def _again(self, call_id: str, old: int) -> None:
        await self._ari.request_quiet("DELETE", f"/playbacks/{PREFIX}{call_id}-{old}")
        await self._ask(call_id, ("invalid", "survey"))

    def hung_up(self, call_id: str) -> None:
        """The caller's channel is gone: no response, if still asked."""
        if call_id in self._surveys:
            self._end(call_id, None, thank=False)

    def _end(self, call_id: str, score: int | None, thank: bool = True) -> None:
        survey = self._surveys.pop(call_id, None)
        if survey is None:
            return
        if survey.timer is not None:
            survey.timer.cancel()
        cmd = survey.cmd
        log.info("R17: call %s: survey %s", call_id, "no response" if score is None else f"score {score}")
        self._submit(e.SurveyEnded(call_id, cmd.queue, cmd.agent_id, cmd.kind, score, self._clock()))
        if thank:
            self._then(call_id, "survey thanks", lambda: self._thank(call_id, survey.n))

    async def _thank(self, call_id: str, *questions: int) -> None:
        for n in questions:  # (the one playing; a restart's: any it may be)
            await self._ari.request_quiet("DELETE", f"/playbacks/{PREFIX}{call_id}-{n}")
        await self._ari.request_quiet("POST", f"/channels/{call_id}/variable", variable=MARK, value=ENDED)  # counted
        try:  # the adapter hangs up when cti-bye- finishes
            await self._ari.request("POST", f"/channels/{call_id}/play/cti-bye-{call_id}",
                                    media="sound:cti/survey-thanks")
        except AriError:
            await self._ari.request_quiet("DELETE", f"/channels/{call_id}")
