"""The one config loader: defaults <- TOML file <- environment <- command line.

Everything is validated at start into frozen objects; a bad value stops the start with a
``ConfigError`` naming the key and what was expected.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acd import AgentConfig, QueueConfig
from cti.errors import ConfigError

# Secrets may come from the environment so that none has to sit in a file.
ENV_OVERRIDES = {
    "CTI_ARI_URL": ("asterisk", "ari_url"),
    "CTI_ARI_USER": ("asterisk", "ari_user"),
    "CTI_ARI_PASSWORD": ("asterisk", "ari_password"),
    "CTI_AMI_HOST": ("asterisk", "ami_host"),
    "CTI_AMI_PORT": ("asterisk", "ami_port"),
    "CTI_AMI_USER": ("asterisk", "ami_user"),
    "CTI_AMI_SECRET": ("asterisk", "ami_secret"),
    "CTI_HTTP_HOST": ("http", "host"),
    "CTI_HTTP_PORT": ("http", "port"),
}


@dataclass(frozen=True, slots=True)
class AsteriskConfig:
    ari_url: str
    ari_user: str
    ari_password: str
    app: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    connect_timeout_s: float


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class AgentEntry:
    agent: AgentConfig
    login_at_start: bool


@dataclass(frozen=True, slots=True)
class Config:
    asterisk: AsteriskConfig
    http: HttpConfig
    default_queue: str
    # Dialled extension -> queue; other extensions go to ``default_queue``.
    routes: Mapping[str, str]
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentEntry, ...]
    log_level: str


class _Section:
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

    def table(self, key: str) -> _Section:
        self.used.add(key)
        return _Section(self.data.get(key, {}), self._key(key))

    def tables(self, key: str) -> list[_Section]:
        self.used.add(key)
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise ConfigError(self._key(key), "an array of tables ([[...]])", value)
        return [_Section(v, f"{self._key(key)}[{i}]") for i, v in enumerate(value)]

    def check_unknown(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise ConfigError(self._key(key), "no such setting (a typo?)", self.data[key])


_REQUIRED = object()


def load(path: str | Path, environ: Mapping[str, str] | None = None,
         overrides: Mapping[tuple[str, str], Any] | None = None) -> Config:
    """Read, layer and validate the configuration; raise ``ConfigError`` on any fault."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", "an existing file", str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", "valid TOML", f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", "a readable UTF-8 file", f"{path}: {exc}") from None
    env = os.environ if environ is None else environ
    layers = [(where, env[var]) for var, where in ENV_OVERRIDES.items() if var in env]
    layers += list((overrides or {}).items())
    for (section, key), value in layers:
        if not section:
            raw[key] = value
            continue
        table = raw.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(section, "a table", table)
        table[key] = value
    return _validate(_Section(raw, ""))


def _validate(root: _Section) -> Config:
    ast = root.table("asterisk")
    asterisk = AsteriskConfig(
        ari_url=ast.text("ari_url", "http://127.0.0.1:8088").rstrip("/"),
        ari_user=ast.text("ari_user"),
        ari_password=ast.text("ari_password"),
        app=ast.text("app", "cti"),
        ami_host=ast.text("ami_host", "127.0.0.1"),
        ami_port=ast.integer("ami_port", 5038, 1, 65535),
        ami_user=ast.text("ami_user"),
        ami_secret=ast.text("ami_secret"),
        connect_timeout_s=ast.number("connect_timeout_s", 5.0, 0.1),
    )
    if not asterisk.ari_url.startswith(("http://", "https://")):
        raise ConfigError("asterisk.ari_url", "an http:// or https:// URL", asterisk.ari_url)
    ast.check_unknown()

    http_t = root.table("http")
    http = HttpConfig(host=http_t.text("host", "127.0.0.1"), port=http_t.integer("port", 8480, 0, 65535))
    http_t.check_unknown()

    queues: list[QueueConfig] = []
    for q in root.tables("queues"):
        queues.append(
            QueueConfig(
                name=q.text("name"),
                ring_cycle_s=q.number("ring_cycle_s", 5.0, 0.1),
                answer_within_rings=q.integer("answer_within_rings", 2, 1),
                wrap_up_s=q.number("wrap_up_s", 10.0),
            )
        )
        q.check_unknown()
    if not queues:
        raise ConfigError("queues", "at least one [[queues]] table", None)
    names = [q.name for q in queues]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"queues[{i}].name", "a name not used by another queue", name)

    routing = root.table("routing")
    default_queue = routing.text("default_queue", names[0])
    routes_raw = routing._get("routes", {})
    if not isinstance(routes_raw, dict) or not all(isinstance(v, str) for v in routes_raw.values()):
        raise ConfigError("routing.routes", "a table of extension = \"queue\"", routes_raw)
    for where, queue in [("routing.default_queue", default_queue)] + [
        (f"routing.routes.{k}", v) for k, v in routes_raw.items()
    ]:
        if queue not in names:
            raise ConfigError(where, f"one of the queues {names}", queue)
    routing.check_unknown()

    agents: list[AgentEntry] = []
    seen: set[str] = set()
    for a in root.tables("agents"):
        agent_id = a.text("id")
        if agent_id in seen:
            raise ConfigError(f"{a.path}.id", "an id not used by another agent", agent_id)
        seen.add(agent_id)
        member_of = a.str_list("queues")
        for queue in member_of:
            if queue not in names:
                raise ConfigError(f"{a.path}.queues", f"queues among {names}", queue)
        endpoint = a.text("endpoint")
        if "/" not in endpoint:
            raise ConfigError(f"{a.path}.endpoint", "a channel endpoint such as PJSIP/agent1001", endpoint)
        agents.append(AgentEntry(AgentConfig(agent_id, endpoint, member_of), a.flag("login_at_start", False)))
        a.check_unknown()

    log_level = root.text("log_level", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log_level", "DEBUG, INFO, WARNING or ERROR", log_level)
    root.check_unknown()
    return Config(asterisk, http, default_queue, dict(routes_raw), tuple(queues), tuple(agents), log_level)
