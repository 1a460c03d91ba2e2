"""Errors of the adapters and the running engine; cli.py maps them to exit codes."""

from __future__ import annotations

from typing import Any


class CtiError(Exception):
    """Base of cti's errors."""


class ConfigError(CtiError):
    def __init__(self, key: str, expected: str, got: Any) -> None:
        shown = "nothing" if got is None else repr(got)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        super().__init__(f"{key}: expected {expected}, got {shown}")
        self.key = key


class AsteriskUnreachable(CtiError):
    """Asterisk did not answer at start (ARI or AMI)."""


class AriError(CtiError):
    def __init__(self, method: str, path: str, status: int, text: str) -> None:
        super().__init__(f"ARI {method} {path} -> {status} {text.strip()[:200]}")
        self.status = status


class BadRequest(CtiError):
    """A request the API cannot take as it is (bad JSON, a missing field)."""


class Unauthorized(CtiError):
    """The request does not say who is asking, or the credentials are wrong (401)."""


class Forbidden(CtiError):
    """The request lacks the role it needs."""


class UnsupportedMedia(CtiError):
    """A state change whose body is not JSON (415)."""


class NotConfigured(CtiError):
    """The feature asked for is not configured on this engine instance."""


class NotRouting(CtiError):
    """This engine instance does not route calls (a standby, or an adapter of a cluster)."""


class Missing(CtiError):
    """What the request names does not exist (404)."""


class Conflict(CtiError):
    """The request does not fit the current state (409)."""


class Overloaded(CtiError):
    """This engine instance has no room for the request now (503): try again later."""


class TooLarge(CtiError):
    """A request body, or a part of it, beyond its documented limit (413)."""


class TooMany(CtiError):
    """The caller holds as many of these as it may (429): close one first."""
