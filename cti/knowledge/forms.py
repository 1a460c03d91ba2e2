"""R19: what a knowledge request may hold, checked before anything is written: an
unknown key, a wrong type, a text too long, a date that is not ISO 8601 or a period
that ends before it starts is refused (400) naming the field and how
(``required``, ``too-long``, ``invalid``). NUL characters are refused for every body
by ``cti.web.server.json_body``."""

from __future__ import annotations

from datetime import date
from typing import Any

from cti.errors import BadRequest
from cti.knowledge.terms import MAX_QUERY, MAX_QUERY_TERMS, query_terms

MAX_QUESTION = 500
MAX_ANSWER = 20_000
MAX_TAGS = 20
MAX_TAG = 40
MAX_KIND = 64
ARTICLE_KEYS = frozenset({"question", "answer", "kind", "tags", "valid_from", "valid_to"})
CASE_KEYS = frozenset({"order_id", "kind", "tags"})


class BadField(BadRequest):
    """A field at fault (400 with ``fields``: the field and how, for a page to place it)."""

    def __init__(self, message: str, fields: dict[str, str]) -> None:
        super().__init__(message)
        self.fields = fields


def _bad(message: str, name: str, how: str) -> BadField:
    return BadField(message, {name: how})


def _encodable(value: str, name: str) -> str:
    """A text the stores can keep (a lone surrogate, which JSON can carry, cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(f"{name} holds characters that are not text (lone surrogates)", name, "invalid") from None
    return value


def _unknown(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"unknown keys {unknown}: the keys are {sorted(allowed)}", unknown[0], "invalid")


def _text(body: dict[str, Any], name: str, limit: int, required: bool) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _bad(f"{name} is text", name, "invalid")
    value = _encodable(value.strip(), name)
    if required and not value:
        raise _bad(f"{name} is required", name, "required")
    if len(value) > limit:
        raise _bad(f"{name} is longer than {limit} characters", name, "too-long")
    return value


def kind(value: Any, name: str = "kind") -> str:
    """A call's kind (a configured work-order kind, or any text of at most 64 characters)."""
    if not isinstance(value, str):
        raise _bad(f"{name} is text", name, "invalid")
    found: str = _encodable(value.strip(), name)
    if len(found) > MAX_KIND:
        raise _bad(f"{name} is longer than {MAX_KIND} characters", name, "too-long")
    return found


def tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _bad("tags is a list of texts", "tags", "invalid")
    if len(value) > MAX_TAGS:
        raise _bad(f"at most {MAX_TAGS} tags", "tags", "too-long")
    out: list[str] = []
    for tag in (_encodable(t.strip(), "tags") for t in value):
        if len(tag) > MAX_TAG:
            raise _bad(f"a tag is at most {MAX_TAG} characters", "tags", "too-long")
        if tag and tag not in out:
            out.append(tag)
    return out


def day(value: Any, name: str) -> str | None:
    """An ISO 8601 date (``YYYY-MM-DD``), or None (no limit)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) != 10:
        raise _bad(f"{name} is a date (YYYY-MM-DD) or null", name, "invalid")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise _bad(f"{name} is a date (YYYY-MM-DD) or null", name, "invalid") from None


def article(body: dict[str, Any], extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """An article's content from a request body (every field; those not given empty)."""
    _unknown(body, ARTICLE_KEYS | extra)
    first, last = day(body.get("valid_from"), "valid_from"), day(body.get("valid_to"), "valid_to")
    if first and last and last < first:
        raise _bad("valid_to is on or after valid_from", "valid_to", "invalid")
    return {"question": _text(body, "question", MAX_QUESTION, True),
            "answer": _text(body, "answer", MAX_ANSWER, True),
            "kind": kind(body.get("kind", "")),
            "tags": tags(body.get("tags")),
            "valid_from": first, "valid_to": last}


def version(body: dict[str, Any]) -> int | None:
    """The version an edit was made from (optional: a stale one is refused, 409)."""
    value = body.get("version")
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise _bad("version is a positive integer", "version", "invalid")
    return value


def case(body: dict[str, Any]) -> tuple[str, str | None, list[str]]:
    """(order id, kind or None for the order's, tags) of a case request."""
    _unknown(body, CASE_KEYS)
    order_id = body.get("order_id")
    if not isinstance(order_id, str) or not 0 < len(_encodable(order_id, "order_id").strip()) <= 128:
        raise _bad("a case is {'order_id': text, 'kind', 'tags'}", "order_id", "required")
    chosen = kind(body["kind"]) if body.get("kind") is not None else None
    return order_id.strip(), chosen or None, tags(body.get("tags"))


def query(text: str) -> str:
    """A search query (at most ``MAX_QUERY`` characters and ``MAX_QUERY_TERMS`` terms)."""
    text = _encodable(text.strip(), "q")
    if len(text) > MAX_QUERY:
        raise _bad(f"q is at most {MAX_QUERY} characters", "q", "too-long")
    if len(query_terms(text)) > MAX_QUERY_TERMS:
        raise _bad(f"q asks for more than {MAX_QUERY_TERMS} terms: a shorter query", "q", "too-long")
    return text


def limit(value: str | None, default: int, most: int) -> int:
    try:
        found = int(value) if value else default
    except ValueError:
        raise _bad("limit is an integer", "limit", "invalid") from None
    if not 1 <= found <= most:
        raise _bad(f"limit is 1..{most}", "limit", "invalid")
    return found
