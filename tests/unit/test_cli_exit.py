"""How the engine's process ends (the exit code a supervisor such as systemd reads)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from cti.cli import run_until_done
from cti.journal.store import Fenced


def test_R6_a_router_another_took_over_from_exits_3_with_one_line_not_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """Found by the soak (issue 33): a leader deposed by a Redis failover ended with an
    unhandled ExceptionGroup traceback. It ends with exit code 3 and one log line; a
    stop by signal ends 0; any other failure is still raised."""
    async def deposed() -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(asyncio.sleep(10))
            async def lose() -> None:
                raise Fenced("router node-0 lost leadership (token 1)")
            tg.create_task(lose())

    async def stopped() -> None:
        return None

    async def broken() -> None:
        async with asyncio.TaskGroup() as tg:
            async def fail() -> None:
                raise ValueError("a bug")
            tg.create_task(fail())

    with caplog.at_level(logging.ERROR, logger="cti.durability"):
        assert run_until_done(deposed()) == 3
    assert [r.getMessage() for r in caplog.records] == [
        "another router leads now (router node-0 lost leadership (token 1)): exiting; started again, "
        "this engine waits as a standby"]
    assert run_until_done(stopped()) == 0
    with pytest.raises(ExceptionGroup):
        run_until_done(broken())
