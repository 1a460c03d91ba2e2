"""Issue 32: waiting callers share the node's holding bridge and its one music stream
(cti/calls/media.py), instead of a music generator per channel. Pure: ARI answers are
scripted; the real bridge is exercised by the e2e suite (every queued call goes through
it, recorded, with prompts and DTMF)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from acd import commands as c
from cti.calls.media import HOLD, WaitingMedia
from cti.errors import AriError


class ScriptedAri:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.fail: dict[tuple[str, str], list[int]] = {}  # (method, path) -> statuses to answer, in turn

    async def request(self, method: str, path: str, **params: Any) -> Any:
        self.requests.append((method, path, params))
        statuses = self.fail.get((method, path))
        if statuses:
            raise AriError(method, path, statuses.pop(0), "scripted")
        return {}

    async def request_quiet(self, method: str, path: str, **params: Any) -> None:
        try:
            await self.request(method, path, **params)
        except AriError:
            pass


def media() -> tuple[WaitingMedia, ScriptedAri, list[Callable[[], Awaitable[None]]]]:
    ari = ScriptedAri()
    steps: list[Callable[[], Awaitable[None]]] = []
    return WaitingMedia(ari, lambda call_id, what, step: steps.append(step), itertools.count(1)), ari, steps  # type: ignore[arg-type]


def paths(ari: ScriptedAri) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in ari.requests]


def test_the_holding_bridge_and_its_music_are_made_once_for_every_waiting_caller() -> None:
    async def run() -> None:
        m, ari, _ = media()
        await asyncio.gather(*(m.start(c.PlayWaitingMedia(f"k{i}")) for i in range(20)))
        assert paths(ari).count(("POST", f"/bridges/{HOLD}")) == 1
        assert paths(ari).count(("POST", f"/bridges/{HOLD}/moh")) == 1
        joined = [p["channel"] for m_, path, p in ari.requests if path == f"/bridges/{HOLD}/addChannel"]
        assert sorted(joined) == sorted(f"k{i}" for i in range(20))
        assert not [p for _, p in paths(ari) if p.endswith("/moh") and p.startswith("/channels/")]
    asyncio.run(run())


def test_a_bridge_an_earlier_engine_made_is_used_as_it_is() -> None:
    async def run() -> None:
        m, ari, _ = media()
        ari.fail[("POST", f"/bridges/{HOLD}")] = [409]
        ari.fail[("POST", f"/bridges/{HOLD}/moh")] = [409]
        await m.start(c.PlayWaitingMedia("k1"))
        assert paths(ari)[-1] == ("POST", f"/bridges/{HOLD}/addChannel")
        await m.start(c.PlayWaitingMedia("k2"))
        assert paths(ari).count(("POST", f"/bridges/{HOLD}")) == 1
    asyncio.run(run())


def test_a_bridge_asterisk_lost_is_made_again_and_the_caller_joins_it() -> None:
    async def run() -> None:
        m, ari, _ = media()
        await m.start(c.PlayWaitingMedia("k1"))
        ari.fail[("POST", f"/bridges/{HOLD}/addChannel")] = [404]  # Asterisk restarted meanwhile
        await m.start(c.PlayWaitingMedia("k2"))
        assert paths(ari)[-3:] == [("POST", f"/bridges/{HOLD}"), ("POST", f"/bridges/{HOLD}/moh"),
                                   ("POST", f"/bridges/{HOLD}/addChannel")]
        assert ari.requests[-1][2] == {"channel": "k2"}
    asyncio.run(run())


def test_without_a_holding_bridge_the_caller_still_hears_music_of_its_own() -> None:
    async def run() -> None:
        m, ari, _ = media()
        ari.fail[("POST", f"/bridges/{HOLD}")] = [500]
        await m.start(c.PlayWaitingMedia("k1"))
        assert paths(ari)[-1] == ("POST", "/channels/k1/moh")
        await m.stop("k1")  # and that music is stopped
        assert paths(ari)[-1] == ("DELETE", "/channels/k1/moh")
        before = len(ari.requests)  # the next callers do not ask for the bridge again meanwhile
        await m.start(c.PlayWaitingMedia("k2"))
        assert paths(ari)[before:] == [("POST", "/channels/k2/moh")]
    asyncio.run(run())


def test_a_holding_bridge_without_its_music_module_falls_back_to_music_of_each_channel() -> None:
    async def run() -> None:
        m, ari, _ = media()
        ari.fail[("POST", f"/bridges/{HOLD}/moh")] = [500]  # Asterisk without chan_bridge_media
        await m.start(c.PlayWaitingMedia("k1"))
        assert paths(ari)[-1] == ("POST", "/channels/k1/moh")
        assert ("POST", f"/bridges/{HOLD}/addChannel") not in paths(ari)  # no caller in a silent bridge
    asyncio.run(run())


def test_a_caller_gone_before_joining_gets_nothing() -> None:
    async def run() -> None:
        m, ari, _ = media()
        ari.fail[("POST", f"/bridges/{HOLD}/addChannel")] = [422]
        await m.start(c.PlayWaitingMedia("k1"))
        assert paths(ari)[-1] == ("POST", f"/bridges/{HOLD}/addChannel")
    asyncio.run(run())


def test_R9_a_prompt_for_one_held_caller_is_played_over_the_music_which_comes_back_by_itself() -> None:
    async def run() -> None:
        m, ari, steps = media()
        await m.start(c.PlayWaitingMedia("k1"))
        await m.say("k1", ("callback-enter-number",))
        assert paths(ari)[-1] == ("POST", "/channels/k1/play/cti-wait-k1-1")
        assert ("DELETE", "/channels/k1/moh") not in paths(ari)  # no music of its own to stop
        before = len(ari.requests)
        m.finished("k1-1")
        assert not steps and len(ari.requests) == before  # nothing to ask: the bridge plays on
        await m.stop("k1")  # (the agent answers: the caller is moved by the bridging request)
        assert ("DELETE", "/channels/k1/moh") not in paths(ari)
    asyncio.run(run())


def test_R8_prompts_first_then_the_caller_joins_the_holding_bridge() -> None:
    async def run() -> None:
        m, ari, steps = media()
        await m.start(c.PlayWaitingMedia("k1", ("incident",)))
        assert paths(ari) == [("POST", "/channels/k1/play/cti-wait-k1-1")]
        m.finished("k1-1")
        assert len(steps) == 1
        await steps.pop()()
        assert paths(ari)[-1] == ("POST", f"/bridges/{HOLD}/addChannel")
        m.left_hold("k1")  # moved into its agent's bridge, then offered again: music of its own is
        await m.stop("k1")  # not assumed gone: a caller out of the bridge has its music stopped
        assert paths(ari)[-1] == ("DELETE", "/channels/k1/moh")
    asyncio.run(run())


def test_a_caller_joining_the_emptied_bridge_starts_its_music_again_once_not_each_of_a_burst(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Asterisk's announcer leaves a holding bridge with its last caller: the next caller
    alone there would hear silence unless the music is asked for again (and again a
    moment later, in case the request found the announcer still leaving)."""
    import cti.calls.media as media_module
    monkeypatch.setattr(media_module, "MUSIC_AGAIN_S", 0.01)

    async def run() -> None:
        m, ari, steps = media()
        await m.start(c.PlayWaitingMedia("k1"))
        assert paths(ari).count(("POST", f"/bridges/{HOLD}/moh")) == 1  # (made with the bridge)
        await m.start(c.PlayWaitingMedia("k2"))
        m.left_hold("k1")  # k1 to its agent: k2 still there, the music plays on
        await m.start(c.PlayWaitingMedia("k3"))
        assert paths(ari).count(("POST", f"/bridges/{HOLD}/moh")) == 1
        m.left_hold("k2")
        m.forget("k3")  # the bridge is empty: its announcer has left
        await asyncio.gather(*(m.start(c.PlayWaitingMedia(f"b{i}")) for i in range(10)))
        assert paths(ari).count(("POST", f"/bridges/{HOLD}/moh")) == 2  # one of the burst asked
        await asyncio.sleep(0.05)
        assert len(steps) == 1
        await steps.pop()()
        assert paths(ari).count(("POST", f"/bridges/{HOLD}/moh")) == 3  # and once more, later
    asyncio.run(run())
