"""Rounds of background work (writing the record, return visits' steps): a step
repeated until its task is cancelled; a failed round is reported (logged and counted
by its owner) and the next round tries again, so one failure never stops the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def repeat(step: Callable[[], Awaitable[None]], every_s: float, failed: Callable[[Exception], None],
                 wake: asyncio.Event | None = None) -> None:
    """Run ``step`` every ``every_s``, or as soon as ``wake`` is set (then cleared)."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            cancelled_meanwhile()
            failed(exc)
        if wake is None:
            await asyncio.sleep(every_s)
            continue
        try:
            await asyncio.wait_for(wake.wait(), every_s)
        except TimeoutError:
            pass
        wake.clear()


def cancelled_meanwhile() -> None:
    """Re-raise a cancellation that a library turned into an ordinary error. redis-py
    can answer a task's cancellation in the middle of a command with a connection error
    (it drops the connection and reports that), so a loop that retries on errors would
    never stop: its task's ``cancel()`` and whoever awaits it (a stop, a test) would
    wait for ever. Called in such a loop's ``except Exception``."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()
