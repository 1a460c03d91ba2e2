"""A database of the test's own on the loopback PostgreSQL that `make test` starts
(contrib/postgres), dropped afterwards. Missing server: the test fails."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.e2e.harness.sandbox import ROOT


@contextmanager
def postgres_database() -> Iterator[str]:
    found = subprocess.run([str(ROOT / "contrib" / "postgres"), "url"], capture_output=True, text=True)
    if found.returncode != 0:
        pytest.fail(f"PostgreSQL is not set up (`contrib/postgres up`): {found.stderr.strip()}")
    base = found.stdout.strip()
    name = f"cti_e2e_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL does not answer (`contrib/postgres up`): {exc}")
    admin.execute(f"CREATE DATABASE {name}")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
