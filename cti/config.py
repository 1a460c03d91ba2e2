"""The one config loader: defaults <- TOML file <- environment <- command line.

Everything is validated at start into frozen objects; a bad value stops the start with a
``ConfigError`` naming the key and what was expected.
"""

from __future__ import annotations

import os
import re
from datetime import date, time
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acd import AgentConfig, QueueConfig
from acd.model import MAX_PRIORITY, HoldAction, RelaxStep, Strategy, skills
from cti.errors import ConfigError
from cti.recorder import RecordingConfig
from acd.plans import LEVELS, Conditions, ExitConditions, Level, PlanConfig
from ivr.hours import DAYS, BusinessHours
from ivr.machine import IvrConfig, Menu, Option, Route  # Route: what an extension or option means

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
    "CTI_ADMIN_TOKEN": ("http", "admin_token"),
    "CTI_RECORDING_READER_TOKEN": ("recording", "reader_token"),
    "CTI_REDIS_URL": ("redis", "url"),
    "CTI_NODE_ID": ("redis", "node_id"),
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
    # R14: the full state holds callers' numbers: only with this token (none: refused).
    admin_token: str | None = None


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """Durable state and leadership (R6). Without a [redis] table the engine keeps its
    state in memory only."""

    url: str
    prefix: str
    node_id: str
    lease_ms: int
    snapshot_every: int


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """``all``: adapter and router in one process (one Asterisk node). Several nodes:
    one ``adapter`` per Asterisk node and ``router`` processes (one leads), talking
    through Redis Streams."""

    role: str = "all"
    node: str = "local"


@dataclass(frozen=True, slots=True)
class IvrSettings:
    """Which extensions go through the IVR, in which language, with which menus."""

    extensions: tuple[str, ...]
    language: str
    menus: IvrConfig  # menus, and business hours per queue (a queue not listed: always open)
    callback_webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class EmergencyConfig:
    """R8: who is told at once, and what the caller hears while waiting."""

    webhook_url: str | None = None
    instructions_prompt: str = "safety-instructions"


@dataclass(frozen=True, slots=True)
class SupervisionConfig:
    """R13 metrics and the R9 emergency plan."""

    sl_threshold_s: float = 20.0
    sl_target: float = 0.8
    plan: PlanConfig | None = None
    plan_webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class AgentEntry:
    agent: AgentConfig
    login_at_start: bool


@dataclass(frozen=True, slots=True)
class Config:
    asterisk: AsteriskConfig
    http: HttpConfig
    default_queue: str
    # Dialled extension -> route; other extensions go to ``default_queue``.
    routes: Mapping[str, Route]
    queues: tuple[QueueConfig, ...]
    agents: tuple[AgentEntry, ...]
    log_level: str
    redis: RedisConfig | None = None
    cluster: ClusterConfig = ClusterConfig()
    recording: RecordingConfig | None = None
    ivr: IvrSettings | None = None
    emergency: EmergencyConfig = EmergencyConfig()
    supervision: SupervisionConfig = SupervisionConfig()


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

    def skill_table(self, key: str) -> tuple[tuple[str, int], ...]:
        """A skills table such as { billing = 3, gas = 5 } (levels 1..5)."""
        value = self._get(key, {})
        if not isinstance(value, dict):
            raise ConfigError(self._key(key), "a table of skill = level (1..5)", value)
        for name, level in value.items():
            if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
                raise ConfigError(f"{self._key(key)}.{name}", "a level from 1 to 5", level)
        return skills(value)

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
    token = http_t.text("admin_token", "-") if "admin_token" in http_t.data else None
    if token is not None and len(token) < 16:
        raise ConfigError("http.admin_token", "a token of 16 characters or more", "***")
    http = HttpConfig(
        host=http_t.text("host", "127.0.0.1"), port=http_t.integer("port", 8480, 0, 65535),
        admin_token=token,
    )
    http_t.check_unknown()

    queues: list[QueueConfig] = []
    for q in root.tables("queues"):
        queues.append(_queue(q))
        q.check_unknown()
    if not queues:
        raise ConfigError("queues", "at least one [[queues]] table", None)
    names = [q.name for q in queues]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"queues[{i}].name", "a name not used by another queue", name)

    for i, queue in enumerate(queues):
        if queue.overflow_queue is not None and queue.overflow_queue not in names:
            raise ConfigError(f"queues[{i}].overflow_queue", f"one of the queues {names}", queue.overflow_queue)

    routing = root.table("routing")
    default_queue = routing.text("default_queue", names[0])
    if default_queue not in names:
        raise ConfigError("routing.default_queue", f"one of the queues {names}", default_queue)
    routing.check_unknown()
    routes: dict[str, Route] = {}
    for r in root.tables("routes"):
        exten = r.text("exten")
        if exten in routes:
            raise ConfigError(f"{r.path}.exten", "an extension not routed twice", exten)
        queue_name = r.text("queue")
        if queue_name not in names:
            raise ConfigError(f"{r.path}.queue", f"one of the queues {names}", queue_name)
        routes[exten] = Route(
            queue=queue_name,
            skills=r.skill_table("skills"),
            priority=r.integer("priority", 0, 0, MAX_PRIORITY),
            kind=r.text("kind", "-") if "kind" in r.data else "",
            emergency=r.flag("emergency", False),
        )
        r.check_unknown()

    agents: list[AgentEntry] = []
    seen: set[str] = set()
    for a in root.tables("agents"):
        agent_id = a.text("id")
        if not re.fullmatch(r"[A-Za-z0-9_.]+", agent_id):
            raise ConfigError(f"{a.path}.id", "letters, digits, '_' or '.'", agent_id)
        if agent_id in seen:
            raise ConfigError(f"{a.path}.id", "an id not used by another agent", agent_id)
        seen.add(agent_id)
        member_of = a.str_list("queues")
        for queue_name in member_of:
            if queue_name not in names:
                raise ConfigError(f"{a.path}.queues", f"queues among {names}", queue_name)
        endpoint = a.text("endpoint")
        if "/" not in endpoint:
            raise ConfigError(f"{a.path}.endpoint", "a channel endpoint such as PJSIP/agent1001", endpoint)
        wrap = a.number("wrap_up_s", -1.0, -1.0)
        agent = AgentConfig(
            agent_id, endpoint, member_of, a.skill_table("skills"),
            None if wrap < 0 else wrap, a.text("number", agent_id),
        )
        agents.append(AgentEntry(agent, a.flag("login_at_start", False)))
        a.check_unknown()

    redis_cfg: RedisConfig | None = None
    if "redis" in root.data:
        r = root.table("redis")
        url = r.text("url")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("redis.url", "a redis:// URL", url)
        redis_cfg = RedisConfig(
            url=url,
            prefix=r.text("prefix", "cti:"),
            node_id=r.text("node_id", f"{socket.gethostname()}-{os.getpid()}"),
            lease_ms=r.integer("lease_ms", 5000, 500),
            snapshot_every=r.integer("snapshot_every", 1000, 1),
        )
        r.check_unknown()
    else:
        root.used.add("redis")

    recording: RecordingConfig | None = None
    if "recording" in root.data:
        rc = root.table("recording")
        reader = rc.text("reader_token", "-") if "reader_token" in rc.data else None
        if reader is not None and len(reader) < 16:
            raise ConfigError("recording.reader_token", "a token of 16 characters or more", "***")
        recording = RecordingConfig(
            spool_dir=Path(rc.text("spool_dir")),
            asterisk_spool_dir=rc.text("asterisk_spool_dir", "/var/spool/asterisk/monitor/cti"),
            archive_dir=Path(rc.text("archive_dir")),
            retention_months=rc.integer("retention_months", 6, 1),
            tolerance_s=rc.number("tolerance_s", 1.0),
            audit_interval_s=rc.number("audit_interval_s", 60.0, 1.0),
            purge_interval_s=rc.number("purge_interval_s", 3600.0, 1.0),
            reader_token=reader,
        )
        rc.check_unknown()
    else:
        root.used.add("recording")

    ivr_settings = _ivr(root, names) if "ivr" in root.data else None
    root.used.add("ivr")
    em = root.table("emergency")
    hook = em.text("webhook_url", "-") if "webhook_url" in em.data else None
    if hook is not None and not hook.startswith(("http://", "https://")):
        raise ConfigError("emergency.webhook_url", "an http:// or https:// URL", hook)
    emergency = EmergencyConfig(hook, em.text("instructions_prompt", "safety-instructions"))
    em.check_unknown()

    mt = root.table("metrics")
    supervision = SupervisionConfig(mt.number("sl_threshold_s", 20.0, 1.0), mt.number("sl_target", 0.8))
    mt.check_unknown()
    if "plan" in root.data:
        supervision = _plan(root.table("plan"), names, {a.agent.agent_id for a in agents}, supervision)
    else:
        root.used.add("plan")

    cl = root.table("cluster")
    cluster = ClusterConfig(role=cl.text("role", "all"), node=cl.text("node", "local"))
    if cluster.role not in ("all", "router", "adapter"):
        raise ConfigError("cluster.role", "all, router or adapter", cluster.role)
    if not re.fullmatch(r"[A-Za-z0-9_.]+", cluster.node):
        raise ConfigError("cluster.node", "letters, digits, '_' or '.'", cluster.node)
    if cluster.role != "all" and redis_cfg is None:
        raise ConfigError("redis", f"a [redis] table (cluster.role = {cluster.role!r} needs it)", None)
    cl.check_unknown()

    log_level = root.text("log_level", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log_level", "DEBUG, INFO, WARNING or ERROR", log_level)
    root.check_unknown()
    return Config(
        asterisk, http, default_queue, routes, tuple(queues), tuple(agents), log_level, redis_cfg,
        cluster, recording, ivr_settings, emergency, supervision,
    )


def _plan(t: _Section, names: list[str], agent_ids: set[str], base: SupervisionConfig) -> SupervisionConfig:
    queue = t.text("queue")
    if queue not in names:
        raise ConfigError("plan.queue", f"one of the queues {names}", queue)
    mode = t.text("mode", "auto")
    if mode not in ("auto", "confirm"):
        raise ConfigError("plan.mode", "auto or confirm", mode)
    levels_t = t.table("levels")
    levels: dict[str, Level] = {}
    for name in list(levels_t.data):
        if name not in LEVELS:
            raise ConfigError(f"plan.levels.{name}", f"one of {list(LEVELS)}", name)
        lv = levels_t.table(name)
        en, lx = lv.table("enter"), lv.table("leave")
        enter = Conditions(
            en.integer("waiting_at_least", None, 1) if "waiting_at_least" in en.data else None,
            en.number("longest_wait_at_least_s", 0.0) if "longest_wait_at_least_s" in en.data else None,
            en.number("answer_rate_below", 0.0) if "answer_rate_below" in en.data else None,
            en.integer("overflows_at_least", None, 1) if "overflows_at_least" in en.data else None,
        )
        leave = ExitConditions(
            lx.integer("waiting_at_most", None, 0) if "waiting_at_most" in lx.data else None,
            lx.number("longest_wait_at_most_s", 0.0) if "longest_wait_at_most_s" in lx.data else None,
            lx.number("answer_rate_at_least", 0.0) if "answer_rate_at_least" in lx.data else None,
        )
        en.check_unknown()
        lx.check_unknown()
        standby = lv.str_list("standby_agents") if "standby_agents" in lv.data else ()
        for agent_id in standby:
            if agent_id not in agent_ids:
                raise ConfigError(f"plan.levels.{name}.standby_agents", "agents of [[agents]]", agent_id)
        overflow = lv.text("overflow_to", "-") if "overflow_to" in lv.data else None
        if overflow is not None and overflow not in names:
            raise ConfigError(f"plan.levels.{name}.overflow_to", f"one of the queues {names}", overflow)
        levels[name] = Level(name, enter, leave, standby, overflow,
                             lv.text("announcement", "-") if "announcement" in lv.data else None,
                             lv.flag("offer_callbacks", False))
        lv.check_unknown()
    hook = t.text("webhook_url", "-") if "webhook_url" in t.data else None
    plan = PlanConfig(queue, levels, mode, t.number("min_time_s", 60.0))
    t.check_unknown()
    return SupervisionConfig(base.sl_threshold_s, base.sl_target, plan, hook)


def _route(t: _Section, names: list[str]) -> Route:
    queue = t.text("queue")
    if queue not in names:
        raise ConfigError(f"{t.path}.queue", f"one of the queues {names}", queue)
    return Route(queue, t.skill_table("skills"), t.integer("priority", 0, 0, MAX_PRIORITY),
                    t.text("kind", "-") if "kind" in t.data else "", t.flag("emergency", False))


def _ivr(root: _Section, names: list[str]) -> IvrSettings:
    t = root.table("ivr")
    exts = t.str_list("extensions")
    language = t.text("language", "zh")
    greeting = t.str_list("greeting")
    menus: dict[str, Menu] = {}
    for m in t.tables("menus"):
        name = m.text("name")
        options: list[Option] = []
        for o in m.tables("options"):
            digit = o.text("digit")
            if digit not in list("0123456789*#"):
                raise ConfigError(f"{o.path}.digit", "one of 0-9, * or #", digit)
            if "submenu" in o.data:
                options.append(Option(digit, submenu=o.text("submenu")))
            else:
                options.append(Option(digit, route=_route(o, names)))
            o.check_unknown()
        menus[name] = Menu(
            name, m.str_list("prompts"), tuple(options), _route(m.table("default"), names),
            m.number("timeout_s", 5.0, 0.5), m.integer("max_attempts", 3, 1),
            m.text("invalid_prompt", "invalid"),
        )
        m.check_unknown()
    start = t.text("start", next(iter(menus), "main"))
    if start not in menus:
        raise ConfigError("ivr.start", f"one of the menus {sorted(menus)}", start)
    for menu in menus.values():
        for option in menu.options:
            if option.submenu is not None and option.submenu not in menus:
                raise ConfigError("ivr.menus", f"submenus among {sorted(menus)}", option.submenu)
    hours: dict[str, BusinessHours] = {}
    for h in t.tables("hours"):
        queue = h.text("queue")
        weekly: dict[str, tuple[tuple[time, time], ...]] = {}
        for day in DAYS:
            spans = h.data.get(day)
            h.used.add(day)
            if spans is None:
                continue
            try:
                weekly[day] = tuple(
                    (time.fromisoformat(a), time.fromisoformat(b)) for a, b in (x.split("-") for x in spans)
                )
            except (ValueError, AttributeError, TypeError):
                raise ConfigError(f"{h.path}.{day}", 'a list like ["08:00-18:00"]', spans) from None
        closed = h.data.get("closed", [])
        h.used.add("closed")
        try:
            closed_dates = frozenset(date.fromisoformat(d) for d in closed)
        except (ValueError, TypeError):
            raise ConfigError(f"{h.path}.closed", "a list of ISO dates", closed) from None
        hours[queue] = BusinessHours(weekly, closed_dates)
        h.check_unknown()
    offer = t.text("callback_offer_prompt", "-") if "callback_offer_prompt" in t.data else None
    hook = t.text("callback_webhook_url", "-") if "callback_webhook_url" in t.data else None
    if hook is not None and not hook.startswith(("http://", "https://")):
        raise ConfigError("ivr.callback_webhook_url", "an http:// or https:// URL", hook)
    menus_config = IvrConfig(
        greeting, start, menus, hours, t.text("after_hours_prompt", "after-hours"), offer,
        t.text("callback_taken_prompt", "callback-taken"),
        int(t.number("utc_offset_h", 8.0, -12.0) * 3600),
    )
    settings = IvrSettings(exts, language, menus_config, hook)
    t.check_unknown()
    return settings


def _queue(q: _Section) -> QueueConfig:
    strategy = q.choice("strategy", Strategy, Strategy.LONGEST_IDLE)
    steps: list[RelaxStep] = []
    for step in q.tables("relaxation"):
        drop = step.data.get("drop", [])
        step.used.add("drop")
        if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
            raise ConfigError(f"{step.path}.drop", 'a list of skill names, or ["*"]', drop)
        steps.append(
            RelaxStep(step.number("after_s", 0.0), step.integer("lower_levels_by", 0, 0, 4), tuple(drop))
        )
        step.check_unknown()
    if [s.after_s for s in steps] != sorted(s.after_s for s in steps):
        raise ConfigError(f"{q.path}.relaxation", "steps in increasing after_s", [s.after_s for s in steps])
    actions = q.data.get("hold_actions", ["remind-agent", "apologize"])
    q.used.add("hold_actions")
    valid = [a.value for a in HoldAction]
    if not isinstance(actions, list) or not all(a in valid for a in actions):
        raise ConfigError(f"{q.path}.hold_actions", f"a list of {valid}", actions)
    return QueueConfig(
        name=q.text("name"),
        ring_cycle_s=q.number("ring_cycle_s", 5.0, 0.1),
        answer_within_rings=q.integer("answer_within_rings", 2, 1),
        wrap_up_s=q.number("wrap_up_s", 10.0),
        strategy=strategy,
        weight=q.integer("weight", 0, 0),
        relaxation=tuple(steps),
        max_waiting=q.optional_int("max_waiting", 1),
        overflow_queue=q.text("overflow_queue", "-") if "overflow_queue" in q.data else None,
        overflow_after_s=q.number("overflow_after_s", 0.0) if "overflow_after_s" in q.data else None,
        overflow_at_waiting=q.optional_int("overflow_at_waiting", 1),
        sticky_window_s=q.number("sticky_window_s", 0.0),
        sticky_hold_s=q.number("sticky_hold_s", 20.0),
        rona_not_ready_after=q.integer("rona_not_ready_after", 1, 1),
        rona_logout_after=q.integer("rona_logout_after", 0, 0),
        hold_max_s=q.number("hold_max_s", 30.0, 0.1),
        hold_actions=tuple(HoldAction(a) for a in actions),
        outbound_max_rings=q.integer("outbound_max_rings", 6, 1),
        announce_agent_id=q.flag("announce_agent_id", True),
    )
