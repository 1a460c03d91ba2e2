"""Who may do what (R14): identities, roles and how requests prove them.

Roles:

- ``agent``: acts on itself only (its state, its own calls);
- ``supervisor``: agents' states, queues, plans, live figures (numbers masked);
- ``reader``: recordings and call records (full numbers);
- ``admin``: everything, including ``/state``.

How a request proves who it is (``Authorization`` header):

- ``Basic <agent id or account name>:<PIN or password>``: agents (``[[agents]]
  pin_hash``) and people (``[[auth.accounts]]``). Secrets are stored as argon2id
  hashes (argon2-cffi; ``cti passwd`` makes one) and verified on a worker thread
  (an argon2 check is deliberately slow: tens to hundreds of ms); a verified
  credential is remembered for a few minutes so that a client polling every second
  costs one check, not one per request. Five failures for one name within a minute
  lock that name for a minute.
- A browser (the agent and supervisor pages): the session from ``POST /auth/login``
  also comes as a cookie (``cti_session``: HttpOnly, SameSite=Strict, Secure unless
  ``[auth] cookie_secure = false``); a request that changes state with the cookie must
  carry the session's CSRF token (``X-CSRF-Token``, given at sign-in).
- ``Bearer <token>``: services (``[[auth.tokens]]``, stored as SHA-256: a token is
  random and long, so a fast hash is enough) and sessions (``POST /auth/login`` with a
  name and secret returns one, valid ``session_ttl_s``). The legacy ``http.admin_token``
  and ``recording.reader_token`` are tokens of the admin and reader roles.

Every comparison of a secret is constant-time; no secret is ever logged. The audit log
records the authenticated identity, never a client header.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cti.configreader import Table
from cti.errors import ConfigError

log = logging.getLogger("cti.web.auth")

ROLES = ("agent", "supervisor", "reader", "admin")
_HASHER = PasswordHasher()


@dataclass(frozen=True, slots=True)
class Identity:
    name: str  # "agent:1001", "account:li", "token:prometheus", "admin-token"
    role: str
    agent_id: str | None = None

    @property
    def sees_numbers(self) -> bool:
        """R14: full phone numbers only for the reader and admin roles."""
        return self.role in ("reader", "admin")


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    role: str
    password_hash: str  # argon2id
    phone: str = ""  # a supervisor's phone (PJSIP/...): rung to listen to calls


@dataclass(frozen=True, slots=True)
class ApiToken:
    name: str
    role: str
    sha256: str  # hex digest of the token


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """``[auth]``: people's accounts, services' tokens, whether /metrics is open."""

    accounts: tuple[Account, ...] = ()
    tokens: tuple[ApiToken, ...] = ()
    metrics_open: bool = False
    session_ttl_s: float = 8 * 3600.0
    cookie_secure: bool = True


def hash_secret(secret: str) -> str:
    """An argon2id hash of a PIN or password, for the configuration."""
    return _HASHER.hash(secret)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_hash(key: str, value: str) -> str:
    """Refuse at start a hash argon2 cannot read (a typo would lock the account out)."""
    try:
        _HASHER.check_needs_rehash(value)
    except (InvalidHashError, ValueError):
        raise ConfigError(key, "an argon2 hash (make one with `cti passwd`)", "***") from None
    if not value.startswith("$argon2"):
        raise ConfigError(key, "an argon2 hash (make one with `cti passwd`)", "***")
    return value


def parse_auth(t: Table) -> AuthSettings:
    accounts: list[Account] = []
    for a in t.tables("accounts"):
        role = a.text("role")
        if role not in ROLES[1:]:
            raise ConfigError(f"{a.path}.role", "supervisor, reader or admin", role)
        phone = a.text("phone") if "phone" in a.data else ""
        if phone and not re.fullmatch(r"[A-Za-z]+/[A-Za-z0-9_.@-]+", phone):
            raise ConfigError(f"{a.path}.phone", "a channel endpoint such as PJSIP/sup3001", phone)
        accounts.append(Account(a.text("name"), role, check_hash(f"{a.path}.password_hash", a.text("password_hash")),
                                phone))
        a.check_unknown()
    tokens: list[ApiToken] = []
    for k in t.tables("tokens"):
        role = k.text("role")
        if role not in (*ROLES[1:], "department"):  # a department's system: its own work orders (R12)
            raise ConfigError(f"{k.path}.role", "supervisor, reader, admin or department", role)
        digest = k.text("sha256").lower()
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise ConfigError(f"{k.path}.sha256", "the SHA-256 of the token in hex (`cti token` makes one)", "***")
        tokens.append(ApiToken(k.text("name"), role, digest))
        k.check_unknown()
    names = [a.name for a in accounts]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"auth.accounts[{i}].name", "a name not used by another account", name)
    settings = AuthSettings(tuple(accounts), tuple(tokens), t.flag("metrics_open", False),
                            t.number("session_ttl_s", 8 * 3600.0, 60.0), t.flag("cookie_secure", True))
    t.check_unknown()
    return settings


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
        self._failures: dict[str, collections.deque[float]] = {}
        self.max_sessions = 10_000
        self._csrf_key = secrets.token_bytes(32)  # replaced by the store's (``restore``)
        # Session changes for the store to keep (``cti.web.sessions``), when one does:
        # ("open", (sha256 hex, name, role, agent id, expires epoch s)) or ("close", sha256 hex).
        self.kept: collections.deque[tuple[str, Any]] | None = None

    # ------------------------------------------------------------ requests

    def phone_of(self, who: Identity) -> str:
        """The phone configured for a person's account ("" when none)."""
        return self._phones.get(who.name, "")

    def phones(self) -> frozenset[str]:
        return frozenset(self._phones.values())

    async def identify(self, authorization: str) -> Identity | None:
        """The identity an ``Authorization`` header proves, or None."""
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and credentials:
            return self._bearer(credentials)
        if scheme.lower() == "basic" and credentials:
            try:
                user, sep, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return None
            return await self.verify(user, secret) if sep else None
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

    async def verify(self, name: str, secret: str) -> Identity | None:
        """An agent id (``agent:`` optional) or account name with its PIN or password."""
        key = name if name in self._secrets else f"agent:{name}"
        entry = self._secrets.get(key)
        now = self._clock()
        cache_key = hashlib.sha256(key.encode() + b"\0" + secret.encode("utf-8", "surrogateescape")).digest()
        remembered = self._verified.get(cache_key)
        if remembered is not None and remembered[1] > now:
            return remembered[0]
        if self._locked(key, now):
            log.warning("sign-in for %s refused: too many failures", key)
            return None
        ok = False
        if entry is not None:
            ok = await asyncio.to_thread(_matches, entry[0], secret)
        if not ok:
            if entry is not None:  # only names that exist can be locked (bounded by the accounts)
                self._failures.setdefault(key, collections.deque()).append(now)
            log.warning("sign-in failed for %s", key if entry is not None else "an unknown name")
            return None
        assert entry is not None
        self._verified[cache_key] = (entry[1], now + 300.0)
        while len(self._verified) > 1024:
            self._verified.popitem(last=False)
        return entry[1]

    def _locked(self, key: str, now: float) -> bool:
        failures = self._failures.get(key)
        if failures is None:
            return False
        while failures and failures[0] < now - 60.0:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return False
        return len(failures) >= 5

    # ------------------------------------------------------------ sessions

    def open_session(self, identity: Identity) -> str:
        now = self._clock()
        if len(self._sessions) >= self.max_sessions:
            self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
            while len(self._sessions) >= self.max_sessions:
                self._sessions.pop(next(iter(self._sessions)))
        token = secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode()).digest()
        self._sessions[digest] = (identity, now + self.settings.session_ttl_s)
        if self.kept is not None:
            self.kept.append(("open", (digest.hex(), identity.name, identity.role, identity.agent_id,
                                       time.time() + self.settings.session_ttl_s)))
        return token

    def restore(self, sessions: list[tuple[str, str, str, str | None, float]], csrf_key: bytes) -> None:
        """Sessions kept by the store (a restarted or new leader honours them, so the
        pages go on without signing in again) and the CSRF key they were given under."""
        self._csrf_key = csrf_key
        now, wall = self._clock(), time.time()
        for digest, name, role, agent_id, expires in sessions[-self.max_sessions:]:
            if expires > wall:
                self._sessions[bytes.fromhex(digest)] = (Identity(name, role, agent_id), now + expires - wall)
        self.kept = collections.deque(maxlen=100_000)  # from now on the store keeps what changes

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
        self._sessions.pop(digest, None)
        if self.kept is not None:
            self.kept.append(("close", digest.hex()))


def _matches(hashed: str, secret: str) -> bool:
    try:
        return _HASHER.verify(hashed, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
