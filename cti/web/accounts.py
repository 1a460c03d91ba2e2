"""Who the people and services are (R14): the roles, ``[auth]``'s accounts and tokens,
and their secrets (argon2id hashes, made by ``cti passwd``; tokens as SHA-256). How a
request proves one of them is ``cti.web.auth``.

Roles:

- ``agent``: acts on itself only (its state, its own calls);
- ``supervisor``: agents' states, queues, plans, live figures (numbers masked);
- ``inspector``: R18 quality inspection (sampled calls, their recordings, scoring);
- ``reader``: recordings and call records (full numbers);
- ``admin``: everything, including ``/state``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cti.configreader import Table
from cti.errors import ConfigError

ROLES = ("agent", "supervisor", "inspector", "reader", "admin")
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
    min_pin_length: int = 6  # shorter secrets are refused (``cti passwd`` too)
    failures_per_address: int = 20  # failed sign-ins from one address within a minute lock it
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()  # X-Forwarded-For from these


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
            raise ConfigError(f"{a.path}.role", "supervisor, inspector, reader or admin", role)
        phone = a.text("phone") if "phone" in a.data else ""
        if phone and not re.fullmatch(r"[A-Za-z]+/[A-Za-z0-9_.@-]+", phone):
            raise ConfigError(f"{a.path}.phone", "a channel endpoint such as PJSIP/sup3001", phone)
        accounts.append(Account(a.text("name"), role, check_hash(f"{a.path}.password_hash", a.text("password_hash")),
                                phone))
        a.check_unknown()
    tokens: list[ApiToken] = []
    for k in t.tables("tokens"):
        role = k.text("role")
        # a department's system: its own work orders (R12); an intake system (the website,
        # the mail room): creates web and letter orders only (R20)
        if role not in (*ROLES[1:], "department", "intake"):
            raise ConfigError(f"{k.path}.role", "supervisor, inspector, reader, admin, department or intake", role)
        digest = k.text("sha256").lower()
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise ConfigError(f"{k.path}.sha256", "the SHA-256 of the token in hex (`cti token` makes one)", "***")
        tokens.append(ApiToken(k.text("name"), role, digest))
        k.check_unknown()
    names = [a.name for a in accounts]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"auth.accounts[{i}].name", "a name not used by another account", name)
    proxies = []
    for i, text in enumerate(t.str_list("trusted_proxies") if "trusted_proxies" in t.data else []):
        try:
            proxies.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ConfigError(f"{t.path}.trusted_proxies[{i}]", "an address or network (10.0.0.5, 10.0.0.0/24)",
                              text) from None
    t.used.add("trusted_proxies")
    settings = AuthSettings(tuple(accounts), tuple(tokens), t.flag("metrics_open", False),
                            t.number("session_ttl_s", 8 * 3600.0, 60.0), t.flag("cookie_secure", True),
                            t.integer("min_pin_length", 6, 4, 64),
                            t.integer("failures_per_address", 20, 5, 100_000), tuple(proxies))
    t.check_unknown()
    return settings


def verify_secret(hashed: str, secret: str) -> bool:
    """Whether ``secret`` is the one ``hashed`` was made from (constant-time, slow: run
    it off the event loop)."""
    try:
        return _HASHER.verify(hashed, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
