"""Integration tests talk to the real redis-server that `make test` starts
(contrib/redis, 127.0.0.1:6390). Without it they fail; they never skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

REDIS_URL = os.environ.get("CTI_TEST_REDIS_URL", "redis://127.0.0.1:6390/0")


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)  # never a hung test
    try:
        await client.ping()
    except Exception as exc:  # fail loudly: the test needs the real server
        pytest.fail(f"redis-server is not running at {REDIS_URL} (`contrib/redis up`): {exc}")
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own, so tests never share state."""
    return f"test-{uuid.uuid4().hex[:8]}:"



@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A database of the test's own on the test PostgreSQL, dropped afterwards."""
    from tests.e2e.harness.postgres import postgres_database

    with postgres_database() as url:
        yield url

@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The same store tests on both databases the engine supports."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path}/cti.sqlite"
    return str(request.getfixturevalue("fresh_postgres"))
