"""Events and commands as JSON-ready dicts: the format of the Redis event log and of the
streams between adapters and the router.

``{"type": "CallArrived", "call_id": ..., ...}``; tuples travel as lists and come back
as tuples. Decoding refuses an unknown type or bad fields with ``CodecError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from acd import commands as c
from acd import events as e
from acd.errors import AcdError


class CodecError(AcdError):
    pass


def _registry(module: Any, union: Any) -> dict[str, type]:
    return {cls.__name__: cls for cls in union.__args__}


EVENTS: dict[str, type] = _registry(e, e.Event)
COMMANDS: dict[str, type] = _registry(c, c.Command)


def encode(obj: e.Event | c.Command) -> dict[str, Any]:
    return {"type": type(obj).__name__, **dataclasses.asdict(obj)}


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _decode(data: Any, kinds: dict[str, type]) -> Any:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise CodecError(f"not an encoded message: {data!r:.200}")
    cls = kinds.get(data["type"])
    if cls is None:
        raise CodecError(f"unknown message type {data['type']!r}")
    fields = {f.name for f in dataclasses.fields(cls)}
    given = {k: _tuples(v) for k, v in data.items() if k != "type"}
    if not set(given) <= fields:
        raise CodecError(f"{data['type']}: unknown fields {sorted(set(given) - fields)}")
    try:
        return cls(**given)
    except TypeError as exc:
        raise CodecError(f"{data['type']}: {exc}") from None


def decode_event(data: Any) -> e.Event:
    event: e.Event = _decode(data, EVENTS)
    if not isinstance(getattr(event, "at", None), (int, float)):
        raise CodecError(f"{type(event).__name__}: 'at' must be a number")
    return event


def decode_command(data: Any) -> c.Command:
    command: c.Command = _decode(data, COMMANDS)
    return command
