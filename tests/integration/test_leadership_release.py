"""R6: a leader's stop is prompt even when Redis does not answer. At SIGTERM the leader
gives its lease up so that a standby leads at once; on a Redis that accepts connections
but never answers (a connection left dead by an outage), that release is abandoned after
its bound instead of holding the stop for a command timeout and its retry."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cti.journal.leadership import Leadership
from cti.journal.store import RedisStore
from cti.health import ConnectionState


async def test_R6_the_lease_release_at_a_stop_is_bounded_when_redis_is_silent() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing: a blackhole

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0, socket_connect_timeout=2.0,
                            retry=Retry(NoBackoff(), 1))  # as the engine's client: 2 s, one retry
    try:
        leadership = Leadership(RedisStore(client, "release-test:"), "router-a", 1500, ConnectionState("redis"))
        started = time.monotonic()
        await leadership.release()  # bounded at 1 s by default
        took = time.monotonic() - started
        assert accepted, "the release never reached the server"
        assert took < 3.0, f"the stop waited {took:.1f} s for a silent Redis (unbounded: 2 x 2 s)"
    finally:
        await client.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
