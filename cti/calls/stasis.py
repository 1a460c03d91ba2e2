"""The ARI adapter of one Asterisk node: ARI events -> core events, call actions ->
ARI requests (and AMI through the recorder, the IVR through its runner).

It translates only; every decision is the core's. The call id is the caller's
channel id; the agents' legs and bridges are ``cti.calls.legs``, what a waiting caller
hears ``cti.calls.media``, transfers ``cti.calls.transfers``; ``hooks`` take the events
of the phones (``cti.agents.phone``) and of supervisors listening
(``cti.calls.listening``). Playbacks are named for what follows them: ``cti-wait-``
(again if it loops, else music), ``cti-bye-`` (then hang up), ``cti-announce-`` (R15).

Lanes (``cti.lanes``): ``dispatch`` carries out each call's actions in that call's
own lane, in the core's order (``cti.calls.ordering``: a call never waits for another
call's work, nor for recording, nor an offer for the caller's answer and music). What
follows an ARI event without a new decision goes into the call's lane too.

``resync`` rebuilds the mapping from the core's calls and Asterisk's channel list: at
every websocket (re)connect and when a restarted or standby router takes over. What
the core believes and Asterisk no longer has is reported as hang-ups or failed offers;
what happened while nobody listened (an agent answered) is reported as it happened;
bridges are re-made where they are missing. Nothing waits for a lost event.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, assert_never

from acd import CallView
from acd import commands as c
from acd import events as e
from cti.asterisk.ari import AriClient
from cti.calls.legs import AgentLegs
from cti.calls.ordering import Ordering
from cti.outbound.customers import Customers
from cti.calls.trunks import Trunk
from cti.calls.hangups import HangUps
from cti.calls.media import WaitingMedia
from cti.calls.listening import Listening
from cti.calls.survey import PREFIX as SURVEY_PREFIX, Surveys
from cti.calls.transfers import EXTERNAL_PREFIX, Directory, Transfers
from cti.calls.unseen import unseen_callers
from cti.lanes import Lanes
from cti.masking import mask_number

if TYPE_CHECKING:
    from cti.agents.phone import Phones
    from cti.ivr.stasis import IvrRunner
    from cti.recording.recorder import Recorder

log = logging.getLogger("cti.stasis")

Clock = Callable[[], float]
Submit = Callable[[e.Event], None]


class StasisAdapter:
    def __init__(
        self,
        ari: AriClient,
        submit: Submit,
        clock: Clock,
        calls: Callable[[], list[CallView]] | None,
        fallback_label: str = "fallback",
        ivr: IvrRunner | None = None,
        recorder: Recorder | None = None,
        lanes: Lanes | None = None,
        endpoints: frozenset[str] | None = None,
        trunk: Trunk | None = None,
        blocked: Callable[[str], bool] | None = None,
        peers: dict[str, str] | None = None,  # node -> this Asterisk's trunk to it ([cluster] peers)
        directory: Directory | None = None,  # where a phone's REFER may go
        listening: Listening | None = None,  # supervisors (cti.calls.listening)
        phones: Phones | None = None,  # the agents' phones (cti.agents.phone), when configured
    ) -> None:
        self._ari, self._calls, self._submit, self._clock = ari, calls, submit, clock
        self._recordings: dict[str, str] = {}  # call id -> recording id, when not the call's
        self._fallback_label, self.ivr, self.recorder = fallback_label, ivr, recorder
        self._callers: dict[str, str] = {}  # call id -> caller number (until the channel goes)
        self._names: dict[str, str] = {}  # call id -> channel name
        self._seq = itertools.count(1)
        # A cluster adapter (no core beside it) shares the phones with other adapters.
        self._legs = AgentLegs(ari, submit, clock, self._seq, check_endpoint=calls is None, endpoints=endpoints,
                                peers=peers)
        self.lanes = lanes if lanes is not None else Lanes(10.0)
        self._order = Ordering(self.lanes, self._legs, self._carry_out)
        self._media = WaitingMedia(ari, self.then, self._seq)
        self._hangups = HangUps(ari, self.then, lambda call_id: call_id in self._callers)
        self.surveys = Surveys(ari, submit, clock, self.then)  # R17
        self.customers = Customers(ari, submit, clock, self.then, trunk, blocked)  # R11, R2
        self.transfers = Transfers(ari, self._legs, submit, clock, trunk, self.then, directory)
        self.listening, self.phones = listening or Listening(ari, self.then), phones
        if phones is not None and calls is not None:  # (a cluster's phones ring from other nodes too)
            phones.judge_busy(self._legs.has_agent)
        self.hooks: list[Callable[[dict[str, Any]], bool]] = [
            *([phones.on_event] if phones else []), self.listening.on_event, self.transfers.on_event]
        if recorder is not None:  # its snoop channels (R4)
            self.hooks.append(lambda ev: recorder.on_event(ev, self.then))

    async def run(self) -> None:
        """Own the calls' lanes (a supervised task of the engine)."""
        await self.lanes.run()

    def then(self, call_id: str, what: str, step: Callable[[], Awaitable[None]]) -> None:
        """Run ``step`` in the lane of ``call_id`` (a call's, or any channel's)."""
        self.lanes.put(call_id, what, step)

    # ------------------------------------------------------------ wire -> core

    def on_event(self, ev: dict[str, Any]) -> None:
        kind = ev["type"]
        if any(hook(ev) for hook in self.hooks):
            return  # phones' states and feature codes, supervisors listening
        if kind == "PlaybackFinished":
            playback = ev.get("playback")
            self._playback_finished(playback if isinstance(playback, dict) else {})
            return
        channel = ev.get("channel")
        if not isinstance(channel, dict) or not isinstance(channel.get("id"), str):
            return  # nothing the core needs
        chan_id: str = channel["id"]
        if kind == "StasisStart":
            args = ev.get("args")
            self._stasis_start(chan_id, channel, args if isinstance(args, list) else [])
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            cause = ev.get("cause")
            if not self.customers.gone(chan_id, cause if isinstance(cause, int) else 0, kind):
                self._channel_gone(chan_id, cause if isinstance(cause, int) else 0)
        elif kind == "ChannelDtmfReceived":
            digit = str(ev.get("digit", ""))
            if self.ivr is not None and self.ivr.active(chan_id):
                self.ivr.digit(chan_id, digit)
            elif self.surveys.active(chan_id):
                self.surveys.digit(chan_id, digit)
            elif (taken := self._media.callback_key(chan_id, digit, self._callers.get(chan_id, ""))) is not None:
                self._submit(e.CallerChoseCallback(chan_id, self._clock(), taken[0]))

    def _playback_finished(self, playback: dict[str, Any]) -> None:
        playback_id = str(playback.get("id", ""))
        if playback_id.startswith("cti-announce-"):
            call_id = playback_id.removeprefix("cti-announce-")
            self._submit(e.AnnouncementFinished(call_id, self._clock()))
        elif playback_id.startswith("cti-bye-"):
            self._media.farewell_heard(playback_id.removeprefix("cti-bye-"))
        elif playback_id.startswith(SURVEY_PREFIX):
            self.surveys.playback_finished(playback_id)
        elif playback_id.startswith("cti-ivr-") and self.ivr is not None:
            self.ivr.playback_finished(playback_id)
        elif playback_id.startswith("cti-wait-"):
            self._media.finished(playback_id.removeprefix("cti-wait-"))

    def _stasis_start(self, chan_id: str, channel: dict[str, Any], args: list[Any]) -> None:
        role = args[0] if args else ""
        if role == "inbound":
            if chan_id in self._callers:
                return  # taken at a resync (its StasisStart came late)
            exten = str(args[1]) if len(args) > 1 else ""
            caller = str((channel.get("caller") or {}).get("number") or "")
            self._callers[chan_id] = caller
            self._names[chan_id] = str(channel.get("name") or "")
            log.info("call %s from %s dialled %s", chan_id, mask_number(caller), exten)
            self._submit(e.CallEntered(chan_id, caller, exten, self._clock()))
        elif role in ("customer", "screened"):  # R11: a callback's customer answered (a person?)
            if chan_id in self._callers:
                return  # adopted at a restart, answered meanwhile: the call's already
            number = (self.customers.answered(chan_id) if role == "customer"
                      else self.customers.screened(chan_id, args))
            if number is None:
                return
            self._callers[chan_id] = number  # from now on the call's channel
            self._names[chan_id] = str(channel.get("name") or "")
            self._submit(e.CustomerAnswered(chan_id, self._clock()))
        elif role == "offer":
            leg = self._legs.answered(chan_id)
            if leg is None:
                log.warning("answered leg %s is not one of ours; hanging it up", chan_id)
                self.then(chan_id, "hang-up of a stray leg",
                           lambda: self._ari.request_quiet("DELETE", f"/channels/{chan_id}"))
                return
            self._submit(e.OfferAnswered(leg.call_id, leg.agent_id, self._clock()))
        elif role == "external" and chan_id.startswith(EXTERNAL_PREFIX):
            self.then(chan_id.removeprefix(EXTERNAL_PREFIX), "external transfer answered",
                       lambda: self.transfers.external_answered(chan_id))
        else:
            log.warning("channel %s entered Stasis with unknown args %r; ignored", chan_id, args)

    def _channel_gone(self, chan_id: str, cause: int) -> None:
        now = self._clock()
        if chan_id in self._callers:
            self._caller_gone(chan_id, now)
        else:
            self._legs.gone(chan_id, cause, now)

    def _caller_gone(self, call_id: str, at: float) -> None:
        self._callers.pop(call_id, None)
        self.customers.forget(call_id)
        self._names.pop(call_id, None)
        self._media.forget(call_id)
        self.surveys.hung_up(call_id)
        if self.transfers.caller_gone(call_id):
            self.then(call_id, "kept bridge", lambda: self._ari.request_quiet("DELETE", f"/bridges/cti-{call_id}"))
        if self.ivr is not None:
            self.ivr.hung_up(call_id)
        if self.recorder is not None:
            self.recorder.channel_gone(self._recordings.pop(call_id, call_id), at)
        self._submit(e.CallerHungUp(call_id, at))

    async def resync(self) -> None:
        """Make the wire view match the core's calls and Asterisk's channels."""
        if self.phones is not None and self._calls is None:  # (a single node's: once its legs are known)
            await self.phones.resync()
        confirmed = self._legs.confirmed()  # (any other leg may be missing from the listing)
        channels = {ch["id"]: ch for ch in await self._ari.request("GET", "/channels")
                    if isinstance(ch, dict) and "id" in ch}
        self._legs.released_meanwhile(channels)
        core = {k.call_id for k in self._calls()} if self._calls is not None else set()
        marks = await self.surveys.orphans(channels, {*self._callers, *core, *self._legs.known()})  # R17
        if self._calls is None:  # cluster adapter: the router holds the calls
            self.vanished(channels)
            return
        calls = {k.call_id: k for k in self._calls()}
        now = self._clock()
        known = dict(self._callers)  # callers the core knows, and those in the IVR
        for call_id, view in calls.items():
            if not (view.callback and view.state in ("waiting", "offered", "retry")):  # (not dialled yet)
                known.setdefault(call_id, view.caller)
        for call_id in [k for k in known if k not in channels]:
            log.info("call %s ended while nobody listened", call_id)
            self._caller_gone(call_id, now)
        self._callers = {k: caller for k, caller in known.items() if k in channels}
        self._names = {k: str(channels[k].get("name") or "") for k in self._callers}
        for k in calls.values():  # R11: a callback's customer still ringing is not a caller yet
            if k.state == "dialing" and k.call_id in self._callers:
                if self.customers.adopt(k.call_id, self._callers[k.call_id], channels[k.call_id]):
                    self._submit(e.CustomerAnswered(k.call_id, now))  # answered while nobody listened
                else:
                    del self._callers[k.call_id]
        taken = {*self._callers, *calls, *self.surveys.taken()}  # (a survey's caller is no new caller)
        for chan_id, ch, args in unseen_callers(channels, self._ari.app, taken, marks, self._media.farewell_heard):
            self._stasis_start(chan_id, dict(ch), args)  # (its StasisStart lost with the events)
        for call_id in [k for k in self._callers if channels[k].get("state") != "Up"]:  # answer lost in a crash
            self.then(call_id, "answer",
                      functools.partial(self._ari.request_quiet, "POST", f"/channels/{call_id}/answer"))
        if self.recorder is not None:
            self.recorder.resync(channels, now)
            self.recorder.recover(channels, self.then, self._callers)  # (a snoop not yet recorded, a lost answer's)
        orphans = self._legs.resync(channels, calls, confirmed)
        if self.phones is not None:  # (a phone in a call of ours is not busy elsewhere)
            await self.phones.resync()
        for k in [k for k in calls.values() if k.call_id in channels]:
            if k.state == "waiting":  # what the caller should hear now (R8: the loop)
                await self._media.start(c.PlayWaitingMedia(
                    k.call_id, k.waiting_prompts if k.waiting_loop else (), loop=k.waiting_loop))
            elif k.state == "offered":
                for agent_id in k.offered_to:
                    leg_id = self._legs.of(k.call_id, agent_id)
                    if leg_id is None:
                        self._submit(e.OfferFailed(k.call_id, agent_id, "lost", now))
                    elif (leg := self._legs.get(leg_id)) is not None and leg.answered:
                        self._submit(e.OfferAnswered(k.call_id, agent_id, now))
            elif k.agent_id is not None:  # connected, or its customer being dialled
                if self._legs.of(k.call_id, k.agent_id) is None:
                    self._submit(e.AgentHungUp(k.call_id, k.agent_id, now))
                elif not k.bridged and k.state != "dialing":
                    self._submit(e.AnnouncementFinished(k.call_id, now))
                elif k.state != "dialing" and not self.transfers.resync(k, now):  # (held, consulting: as it was)
                    await self._connect(k.call_id, k.agent_id)
        for chan_id in orphans:
            await self._ari.request_quiet("DELETE", f"/channels/{chan_id}")

    def vanished(self, channels: Mapping[str, Any]) -> None:
        """Report what this adapter tracks and ``channels`` lacks as ended."""
        for chan_id in [k for k in [*self._callers, *self._legs.known()] if k not in channels]:
            self._channel_gone(chan_id, 0)

    def agent_leg(self, call_id: str, agent_id: str) -> str | None:
        return self._legs.of(call_id, agent_id)

    def channel_name(self, call_id: str) -> str | None:
        return self._names.get(call_id) or None

    # ------------------------------------------------------------ core -> wire

    async def dispatch(self, cmd: c.CallAction) -> None:
        """Hand ``cmd`` to its call's lane; returns at once (the runtime's executor)."""
        self._order.dispatch(cmd)

    async def execute(self, cmd: c.CallAction) -> None:
        """Carry out ``cmd`` now (tests, and the hand-over at stop)."""
        await self._order.execute(cmd)

    async def _carry_out(self, cmd: c.CallAction) -> None:
        match cmd:
            case c.AnswerCall(call_id=call_id):
                await self._ari.request_quiet("POST", f"/channels/{call_id}/answer")
            case c.StartRecording(call_id=call_id, caller=caller, recording_id=recording_id):
                if self.recorder is None:
                    log.error("R4: call %s should be recorded but this adapter has no [recording]", call_id)
                else:
                    if recording_id:  # its channel's end ends that recording too
                        self._recordings[call_id] = recording_id
                    await self.recorder.start(recording_id or call_id, caller,
                                              call_id if self.channel_name(call_id) else None)
            case c.LabelRecording(call_id=call_id, queue=queue, kind=kind, agent_id=agent_id):
                if self.recorder is not None:
                    self.recorder.label(call_id, queue, kind, agent_id)
            case c.StartIvr(call_id=call_id, caller=caller):
                if self.ivr is None:
                    log.error("call %s should enter the IVR but this adapter has no [ivr]", call_id)
                    await self._ari.request_quiet("DELETE", f"/channels/{call_id}")
                else:
                    self.ivr.start(call_id, caller)
            case c.PlayWaitingMedia():
                if cmd.call_id in self._callers:  # not for a caller who left meanwhile
                    await self._media.start(cmd)
            case c.OfferCall():
                await self._legs.offer(cmd, self._callers.get(cmd.call_id, ""))
            case c.CancelOffer(call_id=call_id, agent_id=agent_id):
                await self._legs.release(call_id, agent_id)
            case c.ConnectCall(call_id=call_id, agent_id=agent_id):
                await self._connect(call_id, agent_id)
            case c.HangUpCaller(call_id=call_id):  # (both at once; again later if Asterisk did not confirm)
                await self._hangups.caller(call_id)
            case c.StartSurvey():
                if cmd.call_id in self._callers:  # (not for a caller who left meanwhile)
                    await self.surveys.start(cmd)
                else:
                    self._submit(e.SurveyEnded(cmd.call_id, cmd.queue, cmd.agent_id, cmd.kind, None, self._clock()))
            case c.HangUpAgent(call_id=call_id, agent_id=agent_id):
                await self._legs.release(call_id, agent_id)
                if call_id in self._callers:  # the call goes on (a transfer): the next agent's bridge
                    self.transfers.keep_bridge(call_id)
                else:
                    await self._ari.request_quiet("DELETE", f"/bridges/cti-{call_id}")
            case c.RouteToFallback(call_id=call_id, reason=reason):
                log.warning("call %s handed to the PBX fallback: %s", call_id, reason)
                self._callers.pop(call_id, None)
                await self._media.stop_prompts(call_id)
                held = self._media.left_hold(call_id)  # (the dialplan takes it out of the bridge)
                if self.recorder is not None:  # it leaves our sight here
                    self.recorder.channel_gone(call_id, self._clock())
                # The label in the caller's own dialplan extension (extensions.conf); music
                # of its own is stopped after (Queue() plays its own): one request sooner.
                await self._ari.request_quiet("POST", f"/channels/{call_id}/continue", label=self._fallback_label)
                if not held:
                    await self._ari.request_quiet("DELETE", f"/channels/{call_id}/moh")
            case c.Farewell():
                await self._media.farewell(cmd)
            case c.AnnounceAgent():
                if not await self._media.announce(cmd):
                    self._submit(e.AnnouncementFinished(cmd.call_id, self._clock()))
            case c.RemindAgent(call_id=call_id, agent_id=agent_id):
                leg_id = self._legs.of(call_id, agent_id)
                if leg_id is not None:
                    await self._ari.request_quiet("POST", f"/channels/{leg_id}/play", media="sound:beep")
            case c.PlayApology(call_id=call_id):
                await self._ari.request_quiet(
                    "POST", f"/channels/{call_id}/play/cti-apology-{next(self._seq)}-{call_id}",
                    media="sound:cti/apology",
                )
            case c.TakeOffHold(call_id=call_id):
                if not await self.transfers.unhold(call_id):  # else the phone held it
                    for leg_id in self._legs.of_call(call_id):
                        await self._ari.request_quiet("DELETE", f"/channels/{leg_id}/hold")
            case c.HoldCaller(call_id=call_id):
                await self.transfers.hold(call_id)
            case c.ConnectConsult(call_id=call_id, agent_id=agent_id):
                await self.transfers.join_consult(call_id, agent_id)
            case c.DropAgentLeg(call_id=call_id, agent_id=agent_id):
                await self._legs.release(call_id, agent_id)
            case c.TransferOut():
                await self.transfers.out(cmd, self._callers.get(cmd.call_id, ""))
            case c.DialCustomer():
                leg_id = self._legs.of(cmd.call_id, cmd.agent_id)
                if leg_id is not None:  # the agent hears ringing meanwhile
                    await self._ari.request_quiet("POST", f"/channels/{leg_id}/ring")
                await self.customers.dial(cmd)
            case c.CancelOutbound(attempt_id=attempt_id):
                await self._ari.request_quiet("DELETE", f"/channels/{attempt_id}")
            case _:
                assert_never(cmd)

    async def _connect(self, call_id: str, agent_id: str) -> None:
        if self._legs.of(call_id, agent_id) is not None:
            self.transfers.connected(call_id)
            await self._media.stop(call_id)
            await self._bridge(call_id, agent_id)  # (out of the holding bridge, into its own)
            self._media.left_hold(call_id)

    async def _bridge(self, call_id: str, agent_id: str, attempt: int = 0) -> None:
        """R6: a bridge Asterisk did not make (stalled past the deadline) is asked for
        again, a few times, while both sides are there (it re-makes only what is missing)."""
        if not await self._legs.connect(call_id, agent_id) and call_id in self._callers and attempt < 3:
            if (faults := getattr(self._ari, "faults", None)) is not None:
                faults.count("retried", "bridge")
            asyncio.get_running_loop().call_later(2.0 * (attempt + 1), lambda: self.then(
                call_id, "bridge again", lambda: self._bridge(call_id, agent_id, attempt + 1)))
