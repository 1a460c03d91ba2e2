"""R6: a caller's hang-up Asterisk did not confirm is asked for again, later, while the
caller's channel is still known (cti/calls/hangups.py). Pure: ARI answers scripted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import cti.calls.hangups as hangups
from cti.calls.hangups import HangUps
from cti.errors import AriError
from cti.health import Faults


class ScriptedAri:
    def __init__(self, answers: list[int]) -> None:
        self.answers = answers  # statuses for the caller's DELETE, in turn (200: done)
        self.deletes: list[str] = []
        self.faults = Faults()

    async def request(self, method: str, path: str, **params: Any) -> Any:
        if path.startswith("/channels/"):
            self.deletes.append(path)
            status = self.answers.pop(0) if self.answers else 200
            if status != 200:
                raise AriError(method, path, status, "no answer within 5 s" if status == 0 else "scripted")
        return {}


def run_steps(ari: ScriptedAri, there: set[str], wait_s: float = 0.3) -> None:
    async def run() -> None:
        steps: list[Callable[[], Awaitable[None]]] = []
        h = HangUps(ari, lambda call_id, what, step: steps.append(step), lambda call_id: call_id in there)  # type: ignore[arg-type]
        await h.caller("k1")
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            while steps:
                await steps.pop(0)()
            await asyncio.sleep(0.005)
    asyncio.run(run())


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hangups, "RETRY_S", (0.01, 0.02, 0.03))


def test_R6_a_hang_up_asterisk_did_not_answer_is_asked_again_until_it_is_done() -> None:
    ari = ScriptedAri([0, 500])  # a timeout, an error, then done
    run_steps(ari, {"k1"})
    assert ari.deletes == ["/channels/k1"] * 3
    assert ari.faults.counts == {("retried", "hang-up"): 2}


def test_R6_a_caller_already_gone_is_not_hung_up_again() -> None:
    ari = ScriptedAri([404])
    run_steps(ari, {"k1"})
    assert ari.deletes == ["/channels/k1"]


def test_R6_a_caller_whose_end_was_seen_meanwhile_is_not_asked_for_again() -> None:
    there = {"k1"}

    class LateAri(ScriptedAri):
        async def request(self, method: str, path: str, **params: Any) -> Any:
            try:
                return await super().request(method, path, **params)
            finally:
                there.discard("k1")  # the timed-out request reached Asterisk after all: StasisEnd

    ari = LateAri([0, 0, 0])
    run_steps(ari, there)
    assert ari.deletes == ["/channels/k1"]
    assert not ari.faults.counts


def test_R6_retries_are_bounded() -> None:
    ari = ScriptedAri([0] * 10)
    run_steps(ari, {"k1"})
    assert ari.deletes == ["/channels/k1"] * 4  # the first and three more, then it is given up

