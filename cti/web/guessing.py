"""R14: who is guessing secrets (``cti.web.auth``). Every sign-in attempt is counted
when it starts, for its name and for the client's address: attempts still being
checked count as failures, so a burst sent at once sees its own attempts. Five (for a
name) or ``[auth] failures_per_address`` (for an address) failures within a minute
lock it for a minute after the last one; an attempt at a locked name or address is a
failure too, so the lock holds while the guessing goes on. Locks are reported for the
store to keep (``cti.web.sessions``) and given back after a restart.

Bounded: the last ``TRACKED`` names and addresses are remembered, each with its last
few failure times."""

from __future__ import annotations

import collections
import ipaddress
import secrets
import time
from collections.abc import Mapping

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError

NAME_FAILURES = 5  # failures (and attempts being checked) for one name within WINDOW_S lock it
WINDOW_S = 60.0  # ... for a minute after the last one
TRACKED = 10_000  # names and addresses whose failures are remembered (the oldest go first)


class Guesses:
    def __init__(self, failures_per_address: int) -> None:
        self._per_address = failures_per_address
        # "name:<key>" / "address:<ip>" -> times of the last failures (monotonic).
        self._failures: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._checking: collections.Counter[str] = collections.Counter()  # attempts being checked
        self._locked_until: collections.OrderedDict[str, float] = collections.OrderedDict()  # monotonic
        self._keeping = False  # the store keeps the locks (``restore``)
        self._unwritten: dict[str, float] = {}  # locks for the store: key -> until (epoch s)

    def tracked(self) -> int:
        """How many names and addresses have failures remembered."""
        return len(self._failures)

    def _limit(self, key: str) -> int:
        return NAME_FAILURES if key.startswith("name:") else self._per_address

    def locked(self, key: str, now: float) -> bool:
        if self._locked_until.get(key, 0.0) > now:
            return True
        failures = self._failures.get(key)
        recent = sum(1 for t in failures if t > now - WINDOW_S) if failures is not None else 0
        return recent + self._checking.get(key, 0) >= self._limit(key)

    def start(self, keys: list[str]) -> None:
        """An attempt's check starts: it counts until ``end``."""
        for key in keys:
            self._checking[key] += 1

    def end(self, keys: list[str]) -> None:
        for key in keys:
            self._checking[key] -= 1
            if self._checking[key] <= 0:
                del self._checking[key]

    def failed(self, keys: list[str], now: float) -> None:
        for key in keys:
            failures = self._failures.pop(key, None) or collections.deque(maxlen=self._limit(key))
            failures.append(now)
            self._failures[key] = failures  # the most recent last: the oldest go first
            if len(failures) == failures.maxlen and failures[0] > now - WINDOW_S:
                self._locked_until.pop(key, None)
                self._locked_until[key] = now + WINDOW_S
                if self._keeping:
                    self._unwritten[key] = time.time() + WINDOW_S
        while len(self._failures) > TRACKED:
            self._failures.popitem(last=False)
        while len(self._locked_until) > TRACKED:
            self._locked_until.popitem(last=False)

    # ------------------------------------------------------------ the store

    def restore(self, locks: Mapping[str, float], now: float) -> None:
        """Locks the store kept (key -> until, epoch s); from now on it keeps the new ones."""
        wall = time.time()
        self._keeping = True
        for key, until in locks.items():
            if until > wall:
                self._locked_until[key] = max(self._locked_until.get(key, 0.0), now + until - wall)

    def unwritten(self) -> dict[str, float]:
        return dict(self._unwritten)

    def written(self, locks: Mapping[str, float]) -> None:
        for key, until in locks.items():
            if self._unwritten.get(key) == until:
                del self._unwritten[key]


def client_address(remote: str | None, forwarded_for: str | None,
                   trusted: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> str | None:
    """The client's address: the peer's, or, when the peer is one of ``trusted`` (``[auth]
    trusted_proxies``), the last address in ``X-Forwarded-For`` not of a trusted proxy
    (what is left of it the client wrote itself)."""
    if remote is None or not trusted or not forwarded_for:
        return remote
    chain = [remote, *reversed([part.strip() for part in forwarded_for.split(",")])]
    for i, hop in enumerate(chain):
        try:
            ip = ipaddress.ip_address(hop)
        except ValueError:
            return chain[i - 1] if i else remote  # a broken entry: the last hop that was trusted sent it
        if not any(ip in net for net in trusted):
            return hop
    return chain[-1]


def dummy_like(model: str | None) -> str:
    """A hash of a random secret at the cost of ``model`` (argon2's default without one):
    what an unknown name is checked against, so that it takes as long as a known one."""
    try:
        hasher = PasswordHasher.from_parameters(extract_parameters(model)) if model else PasswordHasher()
    except (InvalidHashError, ValueError):
        hasher = PasswordHasher()
    return hasher.hash(secrets.token_hex(16))
