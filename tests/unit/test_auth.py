"""R14: identities and roles (cti.web.auth). Real argon2 hashes (cheap parameters for the
test's speed; the engine reads the cost from each hash), no HTTP here: the e2e tests
prove the endpoints."""

from __future__ import annotations

import base64

import pytest
from argon2 import PasswordHasher

from cti.web import guessing
from cti.web.auth import Auth
from cti.web.accounts import ApiToken, Account, AuthSettings, Identity, parse_auth, token_digest
from cti.configreader import Table
from cti.errors import ConfigError

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def make_auth(clock: list[float] | None = None) -> Auth:
    now = clock if clock is not None else [0.0]
    settings = AuthSettings(
        accounts=(Account("li", "supervisor", FAST.hash("li-secret-1")),),
        tokens=(ApiToken("prometheus", "supervisor", token_digest("scrape-token-0123456789")),),
    )
    return Auth(settings, {"1001": FAST.hash("432109")}, {"admin": "admin-token-0123456789", "reader": None},
                clock=lambda: now[0])


async def test_R14_agents_people_and_services_prove_who_they_are() -> None:
    auth = make_auth()
    assert await auth.identify(basic("1001", "432109")) == Identity("agent:1001", "agent", "1001")
    assert await auth.identify(basic("li", "li-secret-1")) == Identity("account:li", "supervisor")
    assert await auth.identify("Bearer scrape-token-0123456789") == Identity("token:prometheus", "supervisor")
    assert await auth.identify("Bearer admin-token-0123456789") == Identity("admin-token", "admin")
    for bad in (basic("1001", "123409"), basic("li", ""), basic("nobody", "x"), "Bearer nope", "Bearer ",
                "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Token x", "",
                "Bearer \u00e9\u4e2d", "Basic " + base64.b64encode(b"\xff\xfe:x").decode()):
        assert await auth.identify(bad) is None, bad


async def test_R14_five_failures_lock_a_name_for_a_minute() -> None:
    clock = [0.0]
    auth = make_auth(clock)
    for _ in range(5):
        assert await auth.identify(basic("1001", "000000")) is None
    assert await auth.identify(basic("1001", "432109")) is None  # locked, even with the PIN
    clock[0] = 61.0
    assert await auth.identify(basic("1001", "432109")) is not None


async def test_R14_sessions_expire_and_close() -> None:
    clock = [0.0]
    auth = make_auth(clock)
    li = await auth.verify("li", "li-secret-1")
    assert li is not None
    token = auth.open_session(li)
    assert await auth.identify(f"Bearer {token}") == li
    auth.close_session(token)
    assert await auth.identify(f"Bearer {token}") is None
    token = auth.open_session(li)
    clock[0] = auth.settings.session_ttl_s + 1
    assert await auth.identify(f"Bearer {token}") is None


def test_R14_the_auth_config_refuses_what_it_cannot_honour() -> None:
    good = {"accounts": [{"name": "li", "role": "supervisor", "password_hash": FAST.hash("x")}],
            "tokens": [{"name": "p", "role": "reader", "sha256": "ab" * 32}]}
    assert parse_auth(Table(good, "auth")).accounts[0].role == "supervisor"
    for bad, key in (
        ({"accounts": [{"name": "li", "role": "root", "password_hash": FAST.hash("x")}]}, "role"),
        ({"accounts": [{"name": "li", "role": "admin", "password_hash": "plain-text"}]}, "password_hash"),
        ({"tokens": [{"name": "p", "role": "reader", "sha256": "not-hex"}]}, "sha256"),
        ({"metrics_opn": True}, "metrics_opn"),
    ):
        with pytest.raises(ConfigError, match=key):
            parse_auth(Table(bad, "auth"))


async def test_R14_guessing_names_grows_no_memory_beyond_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """Failed sign-ins under names that do not exist are counted like the others (the
    answer must not tell which names exist), but only the last ``TRACKED`` names are
    remembered: a spray of random names cannot grow the engine's memory."""
    monkeypatch.setattr(guessing, "TRACKED", 50)
    auth = make_auth()
    for i in range(200):
        assert await auth.identify(basic(f"nobody-{i}", "x" * 8)) is None
    assert auth.guesses.tracked() == 50
