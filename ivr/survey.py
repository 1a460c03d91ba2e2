"""R17 the survey's keys, without I/O: what a key pressed during the question means.

A key 1 to 5 is the score. Another key is no score: the first time the caller hears the
question again (after ``invalid``), past ``WRONG_KEYS_ALLOWED`` the survey ends with no
response (as it does with no key in time, or a hang-up: the adapter's timer and
channel tell those).
"""

from __future__ import annotations

import enum

SCORES = frozenset("12345")  # the keys that are a score (their value)
WRONG_KEYS_ALLOWED = 1  # wrong keys that hear the question again


class Key(enum.Enum):
    SCORE = "score"  # the survey ends with the score
    AGAIN = "again"  # the question again
    NO_RESPONSE = "no-response"  # the survey ends without a score


def on_key(digit: str, wrong_before: int) -> tuple[Key, int | None]:
    """What ``digit`` does after ``wrong_before`` wrong keys: (what, the score or None)."""
    if digit in SCORES:
        return Key.SCORE, int(digit)
    if wrong_before < WRONG_KEYS_ALLOWED:
        return Key.AGAIN, None
    return Key.NO_RESPONSE, None
