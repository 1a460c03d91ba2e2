"""Who may do what (R14): identities, roles and how requests prove them.

The roles, accounts and tokens (``[auth]``) are ``cti.web.accounts``.

How a request proves who it is (``Authorization`` header):

- ``Basic <agent id or account name>:<PIN or password>``: agents (``[[agents]]
  pin_hash``) and people (``[[auth.accounts]]``). Secrets are stored as argon2id
  hashes (argon2-cffi; ``cti passwd`` makes one) and verified on a worker thread
  (an argon2 check is deliberately slow: tens to hundreds of ms); a verified
  credential is remembered for a few minutes so that a client polling every second
  costs one check, not one per request. Secrets shorter than ``[auth] min_pin_length``
  (6) are refused without a check.
- A browser (the agent and supervisor pages): the session from ``POST /auth/login``
  also comes as a cookie (``cti_session``: HttpOnly, SameSite=Strict, Secure unless
  ``[auth] cookie_secure = false``); a request that changes state with the cookie must
  carry the session's CSRF token (``X-CSRF-Token``, given at sign-in).
- ``Bearer <token>``: services (``[[auth.tokens]]``, stored as SHA-256: a token is
  random and long, so a fast hash is enough) and sessions (``POST /auth/login`` with a
  name and secret returns one, valid ``session_ttl_s``). The legacy ``http.admin_token``
  and ``recording.reader_token`` are tokens of the admin and reader roles.

Guessing (``cti.web.guessing``): attempts are counted when they start, per name and
per client address (``X-Forwarded-For`` only from ``[auth] trusted_proxies``); locks
are kept in the store; a right secret whose name got locked while it was checked is
refused too. An unknown name costs the same argon2 check. At most four checks run at
once, 256 wait; more are refused. Every comparison of a secret is constant-time; no
secret is ever logged. The audit log records the authenticated identity, never a
client header.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from cti.web.accounts import AuthSettings, Identity, verify_secret
from cti.web.guessing import Guesses, client_address, dummy_like

log = logging.getLogger("cti.web.auth")

CHECKS_AT_ONCE = 4  # argon2 checks running at once (each holds a thread and 64 MiB)
CHECKS_WAITING = 256  # more waiting than this: refused at once


class Auth:
    def __init__(self, settings: AuthSettings, agent_pins: Mapping[str, str],
                 legacy_tokens: Mapping[str, str | None], clock: Callable[[], float] = time.monotonic) -> None:
        """``agent_pins``: agent id -> argon2 hash; ``legacy_tokens``: role -> token
        (``http.admin_token``, ``recording.reader_token``)."""
        self.settings = settings
        self._clock = clock
        self._secrets: dict[str, tuple[str, Identity]] = {
            f"agent:{agent}": (pin, Identity(f"agent:{agent}", "agent", agent)) for agent, pin in agent_pins.items()
        }
        self._phones = {f"account:{a.name}": a.phone for a in settings.accounts if a.phone}
        for account in settings.accounts:
            self._secrets[account.name] = (account.password_hash, Identity(f"account:{account.name}", account.role))
        # Who may hold a session now (identity name -> identity): a restored session takes its role from here.
        self._people = {identity.name: identity for _, identity in self._secrets.values()}
        # An unknown name is checked against a hash of the same cost as an agent's PIN.
        self._dummy = dummy_like(next(iter([*agent_pins.values(), *(a.password_hash for a in settings.accounts)]),
                                       None))
        self._tokens: list[tuple[bytes, Identity]] = [
            (bytes.fromhex(k.sha256), Identity(f"token:{k.name}", k.role)) for k in settings.tokens
        ]
        for role, token in legacy_tokens.items():
            if token is not None:
                self._tokens.append((hashlib.sha256(token.encode()).digest(), Identity(f"{role}-token", role)))
        # sha256(session token) -> (identity, expires); bounded, swept on use.
        self._sessions: dict[bytes, tuple[Identity, float]] = {}
        # sha256(name, secret) -> (identity, remembered until): verified credentials.
        self._verified: collections.OrderedDict[bytes, tuple[Identity, float]] = collections.OrderedDict()
        self.guesses = Guesses(settings.failures_per_address)
        self._checks = asyncio.Semaphore(CHECKS_AT_ONCE)
        self._waiting = 0
        self.max_sessions = 10_000
        self._csrf_key = secrets.token_bytes(32)  # replaced by the store's (``restore``)
        # What the store has still to write (``cti.web.sessions``), once it keeps
        # (``restore``): sessions opened (sha256 hex -> row), sessions closed (never
        # dropped: a sign-out stays here until written).
        self._keeping = False
        self._opened: dict[str, tuple[str, str, str, str | None, float]] = {}
        self._closed: set[str] = set()
        self._handed: frozenset[str] = frozenset()  # opens being written now

    # ------------------------------------------------------------ requests

    def phone_of(self, who: Identity) -> str:
        """The phone configured for a person's account ("" when none)."""
        return self._phones.get(who.name, "")

    def phones(self) -> frozenset[str]:
        return frozenset(self._phones.values())

    def address(self, remote: str | None, forwarded_for: str | None) -> str | None:
        """The client's address (``guessing.client_address``)."""
        return client_address(remote, forwarded_for, self.settings.trusted_proxies)

    async def identify(self, authorization: str, address: str | None = None) -> Identity | None:
        """The identity an ``Authorization`` header proves, or None (``address``: the
        client's, for throttling guesses)."""
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return self._bearer(credentials)
        if scheme.lower() == "basic" and credentials:
            try:
                user, sep, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            return await self.verify(user, secret, address) if sep else None
        return None

    def _bearer(self, token: str) -> Identity | None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        now = self._clock()
        session = self._sessions.get(digest)
        if session is not None:
            if session[1] > now:
                return session[0]
            del self._sessions[digest]
        found = None
        for known, identity in self._tokens:  # every one compared: no early exit
            if hmac.compare_digest(known, digest):
                found = identity
        return found

    async def verify(self, name: str, secret: str, address: str | None = None) -> Identity | None:
        """An agent id (``agent:`` optional) or account name with its PIN or password
        (``address``: the client's; None for a phone's ``*45``)."""
        key = name if name in self._secrets else f"agent:{name}"
        entry = self._secrets.get(key)
        now = self._clock()
        cache_key = hashlib.sha256(key.encode() + b"\0" + secret.encode("utf-8", "surrogateescape")).digest()
        remembered = self._verified.get(cache_key)
        if remembered is not None and remembered[1] > now:
            return remembered[0]
        counted = [f"name:{key[:200]}"] + ([f"address:{address}"] if address else [])
        if any(self.guesses.locked(k, now) for k in counted):
            self.guesses.failed(counted, now)  # a guess at a locked name keeps it locked
            log.warning("sign-in for %s refused: too many failures", _shown(key, entry))
            return None
        if len(secret) < self.settings.min_pin_length:  # never right (``cti passwd`` makes no shorter one)
            self.guesses.failed(counted, now)
            log.warning("sign-in failed for %s: a secret shorter than %d", _shown(key, entry),
                        self.settings.min_pin_length)
            return None
        if self._waiting >= CHECKS_WAITING:
            log.warning("sign-in for %s refused: too many sign-ins at once", _shown(key, entry))
            return None
        self.guesses.start(counted)  # counted now, before the check: a burst sees its own attempts
        ok = False
        try:
            self._waiting += 1
            try:
                async with self._checks:
                    # The same work for every attempt: unknown names against a hash of the same cost.
                    ok = await asyncio.to_thread(verify_secret, entry[0] if entry is not None else self._dummy, secret)
            finally:
                self._waiting -= 1
            ok = ok and entry is not None
        finally:
            self.guesses.end(counted)
        now = self._clock()
        if not ok:
            self.guesses.failed(counted, now)
            log.warning("sign-in failed for %s", _shown(key, entry))
            return None
        if any(self.guesses.locked(k, now) for k in counted):  # the name got locked while this was checked
            log.warning("sign-in for %s refused: locked while it was checked", key)
            return None
        assert entry is not None
        self._verified[cache_key] = (entry[1], now + 300.0)
        while len(self._verified) > 1024:
            self._verified.popitem(last=False)
        return entry[1]

    # ------------------------------------------------------------ sessions

    def open_session(self, identity: Identity) -> str:
        now = self._clock()
        if len(self._sessions) >= self.max_sessions:
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            while len(self._sessions) >= self.max_sessions:  # the oldest go, from the store too
                evicted = next(iter(self._sessions))
                self._sessions.pop(evicted)
                self._forget(evicted.hex())
        token = secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode()).digest()
        self._sessions[digest] = (identity, now + self.settings.session_ttl_s)
        if self._keeping:
            self._opened[digest.hex()] = (digest.hex(), identity.name, identity.role, identity.agent_id,
                                          time.time() + self.settings.session_ttl_s)
        return token

    def _forget(self, digest: str) -> None:
        """A session gone: the store deletes it (kept until written, whatever the count;
        one the store was never given needs nothing)."""
        if self._keeping and (self._opened.pop(digest, None) is None or digest in self._handed):
            self._closed.add(digest)

    def restore(self, sessions: list[tuple[str, str, str, str | None, float]], csrf_key: bytes,
                locks: Mapping[str, float] | None = None) -> int:
        """Sessions kept by the store (a restarted or new leader honours them, so the
        pages go on without signing in again), the CSRF key they were given under and
        the sign-in locks still running (key -> until, epoch s). A session's role is the
        one its name has in the configuration now: a session of a name no longer
        configured is dropped, from the store too. Answers how many it kept."""
        self._csrf_key = csrf_key
        self._keeping = True  # from now on the store keeps what changes
        now, wall, kept = self._clock(), time.time(), 0
        self.guesses.restore(locks or {}, now)
        for i, (digest, name, role, agent_id, expires) in enumerate(sessions):
            who = self._people.get(name)
            if who is None or i < len(sessions) - self.max_sessions or expires <= wall:
                self._forget(digest)
                continue
            if who.role != role:
                log.info("session of %s restored as %s (was %s)", name, who.role, role)
            self._sessions[bytes.fromhex(digest)] = (who, now + expires - wall)
            kept += 1
        return kept

    def unwritten(self) -> tuple[dict[str, tuple[str, str, str, str | None, float]], frozenset[str], dict[str, float]]:
        """What the store has still to write: sessions opened, sessions closed, locks."""
        self._handed = frozenset(self._opened)
        return dict(self._opened), frozenset(self._closed), self.guesses.unwritten()

    def settled(self) -> bool:
        """Nothing left for the store to write."""
        return not (self._opened or self._closed or self.guesses.unwritten())

    def written(self, opened: Mapping[str, Any], closed: frozenset[str], locks: Mapping[str, float]) -> None:
        """The store wrote these (``unwritten``'s answer): what changed since stays."""
        for digest, row in opened.items():
            if self._opened.get(digest) == row:
                del self._opened[digest]
        self._closed -= closed
        self._handed = frozenset()
        self.guesses.written(locks)

    def session(self, token: str) -> Identity | None:
        """The identity of a session token (a cookie), or None."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = self._sessions.get(digest)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def csrf_token(self, session_token: str) -> str:
        """The CSRF token that goes with a session (derived from the session and a key
        the store keeps)."""
        return hmac.new(self._csrf_key, session_token.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_token: str, given: str) -> bool:
        return hmac.compare_digest(self.csrf_token(session_token).encode(), given.encode("utf-8", "surrogateescape"))

    def close_session(self, token: str) -> None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        if self._sessions.pop(digest, None) is not None:
            self._forget(digest.hex())


def _shown(key: str, entry: object) -> str:  # (an unknown name is never logged)
    return key if entry is not None else "an unknown name"

