"""JSON-ready data from the core's state dataclasses, and back, derived from their
type hints: a field added to ``Agent`` or ``Call`` (``acd.state``) is saved and
restored with no hand-written line. Fields marked ``NOT_SAVED`` (configuration, indexes) are rebuilt.

Supported field types: str, int, float, bool, None, enums, dataclasses, and tuple,
list, set, frozenset, dict (string keys), deque and unions of those.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any
from types import MappingProxyType

NOT_SAVED: Mapping[str, Any] = MappingProxyType({"saved": False})


@functools.cache  # (one entry per dataclass of the core)
def saved_fields(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, type) of the fields of dataclass ``cls`` that a snapshot holds (worked out
    once per class: a snapshot of a busy engine asks it for every agent and call)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.metadata.get("saved", True))


_PLAIN = (str, int, float, bool, type(None))


def _plain(tp: Any) -> bool:
    """A field of type ``tp`` is saved as it is (no conversion, no copy)."""
    if tp in _PLAIN:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return all(arg in _PLAIN for arg in typing.get_args(tp))
    return False


PLAIN, ENUM, DEEP = 0, 1, 2


@functools.cache
def _plan(cls: type) -> tuple[tuple[str, int], ...]:
    """(name, how) per saved field of ``cls``: a plain field is copied as it is, an
    enum saved as its value, the others go through ``dump``. A snapshot of 10,000 agents
    asks this of every field of every agent: the generic path took 5x longer (and the
    router's loop stops meanwhile)."""
    def how(tp: Any) -> int:
        if _plain(tp):
            return PLAIN
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return ENUM
        return DEEP
    return tuple((name, how(tp)) for name, tp in saved_fields(cls))


def dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for name, how in _plan(type(value)):
            field_value = getattr(value, name)
            out[name] = field_value if how is PLAIN else field_value.value if how is ENUM else dump(field_value)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(dump(v) for v in value)
    if isinstance(value, (tuple, list, collections.deque)):
        return [dump(v) for v in value]
    if isinstance(value, dict):
        return {str(k): dump(v) for k, v in value.items()}
    return value


def load(tp: Any, data: Any) -> Any:
    """``data`` (from ``dump``) as a value of type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return load(arg, data)
            except (TypeError, ValueError, KeyError) as exc:
                errors.append(exc)
        raise ValueError(f"{data!r:.80} fits none of {tp}: {errors}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(load(args[0], v) for v in data)
        if len(args) != len(data):
            raise ValueError(f"{data!r:.80} is not a {tp}")
        return tuple(load(a, v) for a, v in zip(args, data))
    if origin in (list, set, frozenset, collections.deque):
        items = [load(args[0], v) for v in data]
        return origin(items)
    if origin in (dict, collections.OrderedDict):
        return origin((k, load(args[1], v)) for k, v in data.items())
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise ValueError(f"{data!r:.80} is not a {tp.__name__}")
        return tp(**{name: load(t, data[name]) for name, t in saved_fields(tp) if name in data})
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise ValueError(f"{data!r:.80} is not a number")
        return float(data)
    if tp in (str, int, bool):
        if not isinstance(data, tp) or (tp is int and isinstance(data, bool)):
            raise ValueError(f"{data!r:.80} is not a {tp.__name__}")
        return data
    if tp is Any:
        return data
    raise TypeError(f"no snapshot rule for {tp}")


def restore_into(obj: Any, data: dict[str, Any]) -> None:
    """Set the saved fields of dataclass instance ``obj`` from ``data``."""
    cls: type = type(obj)
    for name, tp in saved_fields(cls):
        if name in data:
            value = load(tp, data[name])
            current = getattr(obj, name)
            if isinstance(current, collections.deque) and current.maxlen is not None:
                value = collections.deque(value, maxlen=current.maxlen)
            setattr(obj, name, value)
