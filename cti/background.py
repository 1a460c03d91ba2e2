"""Rounds of background work (writing the record, return visits' steps): a step
repeated until its task is cancelled; a failed round is reported (logged and counted
by its owner) and the next round tries again, so one failure never stops the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def repeat(step: Callable[[], Awaitable[None]], every_s: float, failed: Callable[[Exception], None]) -> None:
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed(exc)
        await asyncio.sleep(every_s)
