"""R14: guessing a PIN (issue 28, item 1). Attempts are counted when they start, so a
burst sent at once is cut after the first few, through every way in: ``POST
/auth/login`` and Basic on any route (the real aiohttp app), and the phone's ``*45``
(``Auth.verify`` without an address, as ``cti.node`` calls it). Unknown names cost the
same argon2 check; addresses are throttled as well as names; at most a few checks run
at once; PINs are 6 digits at least by default. Real argon2 hashes, cheap parameters."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher, extract_parameters

from cti import cli
from cti.configreader import Table
from cti.errors import ConfigError
from cti.web import auth as auth_module
from cti.web.auth import Auth
from cti.web.accounts import Account, AuthSettings, parse_auth
from cti.web.server import build_app

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PIN = "482913"
PASSWORD = "li-password-for-tests"


def make_auth(hasher: PasswordHasher = FAST, **settings: object) -> Auth:
    return Auth(AuthSettings(accounts=(Account("li", "supervisor", hasher.hash(PASSWORD)),), **settings),  # type: ignore[arg-type]
                {"1001": hasher.hash(PIN), "1002": hasher.hash("135790")}, {})


def burst_client(auth: Auth) -> TestClient:
    """The real app; every request of a burst in flight at once (no connection limit)."""
    return TestClient(TestServer(build_app(auth, [])), connector=aiohttp.TCPConnector(limit=0))


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def guesses(right: str, n: int = 300, at: int = 10) -> list[str]:
    """``n`` PINs sent at once, ``right`` the ``at``-th: early in the burst (before any
    check of the others has ended), after the first few."""
    wrong = [f"{i:06d}" for i in range(n) if f"{i:06d}" != right][: n - 1]
    return wrong[:at] + [right] + wrong[at:]


async def test_R14_a_burst_of_300_guesses_at_auth_login_with_the_right_pin_never_signs_in() -> None:
    """PINs hashed at the cost ``cti passwd`` uses: the checks take as long as in the engine."""
    auth = make_auth(PasswordHasher())
    async with burst_client(auth) as http:
        async def login(pin: str) -> int:
            async with http.post("/auth/login", json={"name": "1001", "secret": pin}) as r:
                return r.status
        statuses = await asyncio.gather(*(login(pin) for pin in guesses(PIN)))
        assert 200 not in statuses and set(statuses) == {401}
        assert await login(PIN) == 401  # right after the burst: locked, even with the PIN
        assert await login("135790") == 401  # ... and this client's address is too (another name)


async def test_R14_a_burst_of_300_guesses_as_basic_on_a_route_never_signs_in() -> None:
    auth = make_auth(PasswordHasher())
    async with burst_client(auth) as http:
        async def me(pin: str) -> int:
            async with http.get("/auth/me", headers={"Authorization": basic("1001", pin)}) as r:
                return r.status
        statuses = await asyncio.gather(*(me(pin) for pin in guesses(PIN)))
        assert 200 not in statuses and set(statuses) == {401}
        assert await me(PIN) == 401


async def test_R14_a_burst_of_300_guesses_at_the_phones_login_never_signs_in() -> None:
    """``*45``: the node checks the PIN with ``verify("agent:<id>", pin)`` (no address)."""
    auth = make_auth()
    found = await asyncio.gather(*(auth.verify("agent:1001", pin) for pin in guesses(PIN)))
    assert found == [None] * 300
    assert await auth.verify("agent:1001", PIN) is None


async def test_R14_a_right_pin_after_a_few_failures_still_signs_in() -> None:
    """The lock is for bursts and guessing, not for an agent who mistyped."""
    auth = make_auth()
    for pin in ("000000", "111111", "222222", "333333"):
        assert await auth.verify("1001", pin, "10.0.0.7") is None
    assert await auth.verify("1001", PIN, "10.0.0.7") is not None


class Checks:
    """The hashes argon2 was asked to check against, and how many ran at once at most."""

    def __init__(self) -> None:
        self.hashes: list[str] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Checks:
    seen = Checks()
    real = auth_module.verify_secret

    def counting(hashed: str, secret: str) -> bool:
        with seen.lock:
            seen.hashes.append(hashed)
            seen.running += 1
            seen.most = max(seen.most, seen.running)
        try:
            time.sleep(0.02)  # long enough for the others to pile up
            return real(hashed, secret)
        finally:
            with seen.lock:
                seen.running -= 1
    monkeypatch.setattr(auth_module, "verify_secret", counting)
    return seen


async def test_R14_an_unknown_name_costs_the_same_argon2_check_and_locks_the_same(checks: Checks) -> None:
    auth = make_auth()
    assert await auth.verify("9999", "123456") is None
    assert await auth.verify("1001", "123456") is None
    hashes = checks.hashes
    assert len(hashes) == 2 and hashes[0] != hashes[1]  # a dummy hash for 9999, the agent's for 1001
    assert extract_parameters(hashes[0]) == extract_parameters(hashes[1])  # of the same cost
    for name in ("9999", "1001"):  # both locked after five failures: the same answer, with no check
        for _ in range(4):
            assert await auth.verify(name, "000000") is None
        before = len(checks.hashes)
        assert await auth.verify(name, "000000") is None
        assert len(checks.hashes) == before


async def test_R14_argon2_checks_run_a_few_at_once(checks: Checks) -> None:
    auth = make_auth()
    await asyncio.gather(*(auth.verify(f"name-{i}", "123456", f"10.0.1.{i}") for i in range(24)))
    assert len(checks.hashes) == 24
    assert 1 < checks.most <= 4


async def test_R14_sign_ins_beyond_the_waiting_bound_are_refused_without_a_check(
        checks: Checks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_module, "CHECKS_WAITING", 6)
    auth = make_auth()
    found = await asyncio.gather(*(auth.verify(f"name-{i}", "123456", f"10.0.2.{i}") for i in range(20)))
    assert found == [None] * 20
    assert len(checks.hashes) == 6  # the first six waited for their check; the rest were refused at once


async def test_R14_addresses_are_throttled_as_well_as_names() -> None:
    auth = make_auth(failures_per_address=10)
    for i in range(10):  # a spray over many names from one address
        assert await auth.verify(f"20{i:02d}", "000000", "203.0.113.9") is None
    assert await auth.verify("1001", PIN, "203.0.113.9") is None  # that address is locked
    assert await auth.verify("1001", PIN, "198.51.100.4") is not None  # the name is not


def test_R14_x_forwarded_for_counts_only_from_a_trusted_proxy() -> None:
    plain = make_auth()
    assert plain.address("203.0.113.9", "10.9.9.9") == "203.0.113.9"  # no proxies configured: the peer
    settings = parse_auth(Table({"trusted_proxies": ["10.0.0.0/24", "::1"]}, "auth"))
    proxied = Auth(settings, {}, {})
    assert proxied.address("10.0.0.5", "198.51.100.4") == "198.51.100.4"
    assert proxied.address("10.0.0.5", "1.2.3.4, 198.51.100.4") == "198.51.100.4"  # the left one is the client's word
    assert proxied.address("10.0.0.5", "198.51.100.4, 10.0.0.6") == "198.51.100.4"  # through two proxies
    assert proxied.address("203.0.113.9", "198.51.100.4") == "203.0.113.9"  # not a proxy: its header is ignored
    with pytest.raises(ConfigError, match="trusted_proxies"):
        parse_auth(Table({"trusted_proxies": ["not-an-address"]}, "auth"))


async def test_R14_pins_shorter_than_min_pin_length_are_refused() -> None:
    short = FAST.hash("4321")
    default = Auth(AuthSettings(), {"1001": short}, {})
    assert await default.verify("1001", "4321") is None  # 6 by default: a 4-digit PIN no longer signs in
    assert parse_auth(Table({}, "auth")).min_pin_length == 6
    four = Auth(parse_auth(Table({"min_pin_length": 4}, "auth")), {"1001": short}, {})
    assert await four.verify("1001", "4321") is not None  # configured: it takes effect
    for bad in (3, 65, "six"):
        with pytest.raises(ConfigError, match="min_pin_length"):
            parse_auth(Table({"min_pin_length": bad}, "auth"))


def test_R14_cti_passwd_refuses_a_pin_shorter_than_six(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("12345\n"))
    assert cli.main(["passwd"]) != 0
    assert "$argon2" not in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n"))
    assert cli.main(["passwd"]) == 0
    assert capsys.readouterr().out.startswith("$argon2id$")
    monkeypatch.setattr("sys.stdin", io.StringIO("1234\n"))
    assert cli.main(["passwd", "--min-length", "4"]) == 0
