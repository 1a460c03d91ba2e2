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
    client = aioredis.Redis.from_url(REDIS_URL)
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


def postgres_url() -> str:
    """The test PostgreSQL that `make test` starts (contrib/postgres); fails without it."""
    import subprocess
    from pathlib import Path

    found = subprocess.run([str(Path(__file__).resolve().parents[2] / "contrib" / "postgres"), "url"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        pytest.fail(f"PostgreSQL is not set up (`contrib/postgres up`): {found.stderr.strip()}")
    return found.stdout.strip()


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A database of the test's own on the test PostgreSQL, dropped afterwards."""
    import psycopg

    base = postgres_url()
    name = f"cti_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL does not answer at {base.split('@')[-1]} (`contrib/postgres up`): {exc}")
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The same store tests on both databases the engine supports."""
    if request.param == "sqlite":
        return f"sqlite:{tmp_path}/cti.sqlite"
    return str(request.getfixturevalue("fresh_postgres"))
