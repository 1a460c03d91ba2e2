"""Events and commands as JSON-ready dicts: the format of the Redis event log and of the
streams between adapters and the router.

``{"type": "CallArrived", "call_id": ..., ...}``; tuples travel as lists and come back
as tuples. Decoding refuses an unknown type or bad fields with ``CodecError``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any
from types import MappingProxyType

from acd import commands as c
from acd import events as e
from acd.errors import AcdError


class CodecError(AcdError):
    pass


def _registry(module: Any, union: Any) -> dict[str, type]:
    return {cls.__name__: cls for cls in union.__args__}


EVENTS: Mapping[str, type] = MappingProxyType(_registry(e, e.Event))
COMMANDS: Mapping[str, type] = MappingProxyType(_registry(c, c.Command))


def encode(obj: e.Event | c.Command) -> dict[str, Any]:
    """Fields left at their defaults are not written: decoding restores them, entries
    are shorter, and a field added with a default (``Tick.resumed``) is unseen by an
    engine of the version before it while it keeps its default (a rolling upgrade)."""
    cls: type = type(obj)
    defaults = _defaults(cls)
    return {"type": type(obj).__name__, **{
        name: value for name, value in dataclasses.asdict(obj).items()
        if name not in defaults or value != defaults[name] or type(value) is not type(defaults[name])}}


@functools.cache  # (one entry per message type)
def _defaults(cls: type) -> Mapping[str, Any]:
    return MappingProxyType({f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING})


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _decode(data: Any, kinds: Mapping[str, type]) -> Any:
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
        obj = cls(**given)
    except TypeError as exc:
        raise CodecError(f"{data['type']}: {exc}") from None
    for name, hint in _hints(cls).items():
        value = getattr(obj, name)
        if not _fits(value, hint):
            raise CodecError(f"{data['type']}.{name}: expected {hint}, got {value!r:.80}")
    return obj


@functools.cache  # (one entry per message type)
def _hints(cls: type) -> Mapping[str, Any]:
    return MappingProxyType(typing.get_type_hints(cls))


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded value has its field's type: a field of the wrong type must
    not reach the core (it would fail there, far from where it came in)."""
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    if hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_fits(value, arg) for arg in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    return True  # other kinds are the dataclass's own business


def decode_event(data: Any) -> e.Event:
    event: e.Event = _decode(data, EVENTS)
    if not isinstance(getattr(event, "at", None), (int, float)):
        raise CodecError(f"{type(event).__name__}: 'at' must be a number")
    return event


def decode_command(data: Any) -> c.Command:
    command: c.Command = _decode(data, COMMANDS)
    return command
