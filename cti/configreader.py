"""Reads typed values out of TOML tables, naming the key path in every error: the
part of the config loader that each feature's settings use (``cti.config`` layers
and validates the whole)."""

from __future__ import annotations

from datetime import time
from typing import Any

from acd.hours import DAYS
from acd.model import skills
from cti.errors import ConfigError

class Table:
    """Reads typed values out of one TOML table, remembering the key path for errors."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(path, "a table", data)
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _REQUIRED:
            raise ConfigError(self._key(key), "a value (it is required)", None)
        return default

    def text(self, key: str, default: Any = None) -> str:
        value = self._get(key, _REQUIRED if default is None else default)
        if not isinstance(value, str) or not value:
            raise ConfigError(self._key(key), "a non-empty string", value)
        return value

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise ConfigError(self._key(key), f"a number >= {minimum:g}", value)
        return float(value)

    def integer(self, key: str, default: Any, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._get(key, default)
        if isinstance(value, str) and value.isdigit():
            value = int(value)  # from the environment
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(self._key(key), f"an integer >= {minimum}", value)
        if maximum is not None and value > maximum:
            raise ConfigError(self._key(key), f"an integer <= {maximum}", value)
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(self._key(key), "true or false", value)
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key, _REQUIRED)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(self._key(key), "a non-empty list of strings", value)
        return tuple(value)

    def optional_int(self, key: str, minimum: int) -> int | None:
        if key not in self.data:
            self.used.add(key)
            return None
        return self.integer(key, None, minimum)

    def choice(self, key: str, enum: Any, default: Any) -> Any:
        value = self._get(key, default.value)
        try:
            return enum(value)
        except ValueError:
            raise ConfigError(self._key(key), f"one of {[m.value for m in enum]}", value) from None

    def one_of(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self._get(key, default)
        if value not in allowed:
            raise ConfigError(self._key(key), f"one of {list(allowed)}", value)
        return str(value)

    def skill_table(self, key: str) -> tuple[tuple[str, int], ...]:
        """A skills table such as { billing = 3, gas = 5 } (levels 1..5)."""
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(self._key(key), "a table of skill = level (1..5)", value)
        for name, level in value.items():
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
                raise ConfigError(f"{self._key(key)}.{name}", "a level from 1 to 5", level)
        return skills(value)

    def weekly_spans(self) -> dict[str, tuple[tuple[time, time], ...]]:
        """Opening spans per day: ``mon = ["08:00-12:00", "13:00-18:00"]`` ... ``sun``;
        a day not given has none."""
        weekly: dict[str, tuple[tuple[time, time], ...]] = {}
        for day in DAYS:
            spans = self.data.get(day)
            self.used.add(day)
            if spans is None:
                continue
            try:
                weekly[day] = tuple(
                    (time.fromisoformat(a), time.fromisoformat(b)) for a, b in (x.split("-") for x in spans)
                )
            except (ValueError, AttributeError, TypeError):
                raise ConfigError(self._key(day), 'a list like ["08:00-18:00"]', spans) from None
        return weekly

    def table(self, key: str) -> Table:
        self.used.add(key)
        return Table(self.data.get(key, {}), self._key(key))

    def tables(self, key: str) -> list[Table]:
        self.used.add(key)
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(self._key(key), "an array of tables ([[...]])", value)
        return [Table(v, f"{self._key(key)}[{i}]") for i, v in enumerate(value)]

    def check_unknown(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise ConfigError(self._key(key), "no such setting (a typo?)", self.data[key])


_REQUIRED = object()
