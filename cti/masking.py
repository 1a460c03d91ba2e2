"""R14: phone numbers never reach the logs (or any text for an unprivileged reader)
in full; nor do passwords in URLs."""

from __future__ import annotations

import logging
import re
import secrets
import string
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def mask_number(number: str) -> str:
    """Keep at most the first 3 and last 4 digits: 13812345678 -> 138****5678;
    separators are dropped first (138-1234-5678 -> 138****5678)."""
    digits = re.sub(r"[\s().-]", "", number.strip())
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) <= 7:
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


# A phone number inside text: 7 to 15 digits in a row, or written in groups as people
# and phones do (138-1234-5678, 138 1234 5678, +86 138 1234 5678, (010) 1234-5678).
# Not part of a longer token: no digit or letter around it, and a dot counts as part of
# the token only when a digit follows it (a channel id 1732280000.12 stays; a number
# before a full stop is masked). Dates (2026-12-02) have groups too short to match.
_NUMBER = re.compile(
    r"(?<![\w.])(?<!\d\.)"
    r"(?:\+?\d{7,15}"
    r"|(?:\+\d{1,3}[ -]?)?(?:\(\d{2,4}\)[ -]?|\d{3,4}[ -])\d{3,4}[ -]\d{4})"
    r"(?![\w]|\.\d)"
)


def letters_id(prefix: str, length: int = 10, *, upper: bool = False) -> str:
    """A new id that never reads as a phone number: ``prefix`` then letters only. An id
    of hex digits is all decimal digits now and then (T-5798525535) and was masked for
    every role that sees numbers masked (R14). 26**10 ids at the default length."""
    alphabet = string.ascii_uppercase if upper else string.ascii_lowercase
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def mask_text(text: str) -> str:
    """Every phone number in ``text`` masked."""
    return _NUMBER.sub(lambda m: mask_number(m.group(0)), text)


# Fields that hold a phone number whole (dispositions, orders, customers, visits,
# campaigns, calls): their value is masked as one number.
NUMBER_FIELDS = frozenset({"caller", "contact_number", "number", "numbers", "phone", "callback_number",
                           "customer_number"})


def mask_numbers(data: Any) -> Any:
    """R14, the serialisation boundary: ``data`` (JSON-like) with every phone number
    masked, at any depth: a number field's value as one number (when it has digits),
    and numbers inside any other text (a note, a free-text field)."""
    if isinstance(data, dict):
        return {k: (mask_number(v) if k in NUMBER_FIELDS and isinstance(v, str) and any(ch.isdigit() for ch in v)
                    else mask_numbers(v)) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [mask_numbers(v) for v in data]
    if isinstance(data, str):
        return mask_text(data)
    return data


def redact_url(url: str) -> str:
    """A URL with any password replaced (redis://user:secret@host -> redis://user:***@host)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<a URL that does not parse>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


class MaskingFilter(logging.Filter):
    """A safety net for one logger or handler: the message's numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """Newlines and other control characters written as escapes (``\\n``, ``\\x1b``):
    text from a request (a path with ``%0A``) cannot start a log line of its own."""
    return _CONTROL.sub(lambda m: repr(m.group(0))[1:-1] if m.group(0) in "\n\r\t" else f"\\x{ord(m.group(0)):02x}"
                        if ord(m.group(0)) < 256 else f"\\u{ord(m.group(0)):04x}", text)


class MaskingFormatter(logging.Formatter):
    """The engine's log formatter: the whole line masked, traceback text included; the
    message's control characters escaped (one record, one line, before its traceback)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        escaped = logging.makeLogRecord({**record.__dict__, "message": escape_controls(record.message)})
        return super().formatMessage(escaped)

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))
