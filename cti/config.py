"""The one config loader: defaults <- TOML file <- environment <- command line.

Everything is validated at start into frozen objects; a bad value stops the start with a
``ConfigError`` naming the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
from types import MappingProxyType

from acd import AgentConfig, QueueConfig
from acd.model import MAX_PRIORITY, Intake, Route
from cti.web import i18n
from cti.web.accounts import AuthSettings, check_hash, parse_auth
from cti.configreader import Table
from cti.queue_settings import parse_queue
from cti.calls.trunks import Trunk, parse_trunks
from cti.deadlines import Deadlines, parse_deadlines
from cti.journal.settings import RedisConfig, parse_redis
from cti.desk.settings import DeskSettings, parse_desk
from cti.errors import ConfigError
from cti.ivr.settings import IvrSettings, parse_ivr
from cti.notify import NotifySettings, parse_notifications
from cti.recording.settings import RecordingConfig, parse_recording
from cti.supervision.settings import SupervisionConfig, parse_plan
from cti.supervision.thresholds import parse_thresholds
from cti.audit import AuditSettings, parse_audit
from cti.orders.settings import (
    StoreSettings, WorkOrderSettings, parse_calendar, parse_complaints, parse_store, parse_workorders,
)
from cti.outbound.visits import VisitSettings, parse_visits
from cti.quality.settings import QualitySettings, parse_quality

# Secrets may come from the environment so that none has to sit in a file.
ENV_OVERRIDES = MappingProxyType({
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
    "CTI_WEBHOOK_SECRET": ("notifications", "signing_secret"),
    "CTI_STORE_URL": ("store", "url"),
})


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
class ClusterConfig:
    """``all``: adapter and router in one process (one Asterisk node). Several nodes:
    one ``adapter`` per Asterisk node and ``router`` processes (one leads), talking
    through Redis Streams."""

    role: str = "all"
    node: str = "local"
    # An adapter's trunks to the other Asterisk nodes: node name -> the PJSIP endpoint
    # on this Asterisk that reaches it. An agent whose phone is on another node is rung
    # as PJSIP/<agent's endpoint resource>@<trunk> (one agent pool across nodes).
    peers: tuple[tuple[str, str], ...] = ()
    # An adapter whose Asterisk stays away this long ends its calls in the router.
    node_gone_after_s: float = 120.0


@dataclass(frozen=True, slots=True)
class EmergencyConfig:
    """R8: who is told at once, and what the caller hears while waiting."""

    webhook_url: str | None = None
    instructions_prompt: str = "safety-instructions"


@dataclass(frozen=True, slots=True)
class AgentEntry:
    agent: AgentConfig
    login_at_start: bool
    pin_hash: str | None = None  # argon2: the agent signs in with its id and PIN (R14)


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
    deadlines: Deadlines = Deadlines()
    notifications: NotifySettings = NotifySettings()
    auth: AuthSettings = AuthSettings()
    store: StoreSettings = StoreSettings()
    workorders: WorkOrderSettings = WorkOrderSettings()
    desk: DeskSettings = DeskSettings()
    trunks: tuple[Trunk, ...] = ()  # dialling out (R11 callbacks, R2)
    return_visits: VisitSettings = VisitSettings()
    timezone: str = "UTC"  # [site]: reports' days, call windows, recordings' folders
    locale: str = "zh-CN"  # [site]: the pages' language for a person who has chosen none (cti/web/i18n.py)
    audit: AuditSettings = AuditSettings()  # R14: the one keyed audit log
    quality: QualitySettings | None = None  # R18: [quality] (None: not configured)

    def intake(self) -> Intake:
        """How the core treats a call before it waits (``acd.intake``)."""
        menus = self.ivr.menus if self.ivr is not None else None
        return Intake(
            routes=dict(self.routes), default_queue=self.default_queue,
            ivr_extensions=frozenset(self.ivr.extensions if self.ivr is not None else ()),
            record=self.recording is not None,
            emergency_prompt=self.emergency.instructions_prompt,
            callback_taken_prompt=menus.callback_taken_prompt if menus else "callback-taken",
            hours=dict(menus.hours) if menus else {},
            after_hours_prompt=menus.after_hours_prompt if menus else "after-hours",
            utc_offset_s=menus.utc_offset_s if menus else 8 * 3600,
        )


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
    return _validate(Table(raw, ""))


def _validate(root: Table) -> Config:
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
    http = HttpConfig(host=http_t.text("host", "127.0.0.1"), port=http_t.integer("port", 8480, 0, 65535),
                      admin_token=token)
    http_t.check_unknown()

    queues: list[QueueConfig] = []
    for q in root.tables("queues"):
        queues.append(parse_queue(q))
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
            if member_of.count(queue_name) > 1:  # (the core indexes an agent once per queue)
                raise ConfigError(f"{a.path}.queues", "each queue once", list(member_of))
        endpoint = a.text("endpoint")
        if "/" not in endpoint:
            raise ConfigError(f"{a.path}.endpoint", "a channel endpoint such as PJSIP/agent1001", endpoint)
        wrap = a.number("wrap_up_s", -1.0, -1.0)
        agent = AgentConfig(
            agent_id, endpoint, member_of, a.skill_table("skills"),
            None if wrap < 0 else wrap, a.text("number", agent_id),
        )
        pin = check_hash(f"{a.path}.pin_hash", a.text("pin_hash")) if "pin_hash" in a.data else None
        a.used.add("pin_hash")
        agents.append(AgentEntry(agent, a.flag("login_at_start", False), pin))
        a.check_unknown()

    redis_cfg = parse_redis(root.table("redis")) if "redis" in root.data else None
    root.used.add("redis")

    recording = parse_recording(root.table("recording")) if "recording" in root.data else None
    root.used.add("recording")

    site = root.table("site")
    zone = site.text("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("site.timezone", "an IANA time zone such as Asia/Shanghai", zone) from None
    calendar = parse_calendar(site, zone)  # R16: working days
    locale = site.text("locale", i18n.DEFAULT)
    if i18n.known(locale) != locale:
        raise ConfigError("site.locale", f"one of {', '.join(i18n.LOCALES)}", locale)
    site.check_unknown()
    if recording is not None:
        recording = dataclasses.replace(recording, timezone=zone)
    ivr_settings = parse_ivr(root, names) if "ivr" in root.data else None
    root.used.add("ivr")
    em = root.table("emergency")
    hook = em.text("webhook_url", "-") if "webhook_url" in em.data else None
    if hook is not None and not hook.startswith(("http://", "https://")):
        raise ConfigError("emergency.webhook_url", "an http:// or https:// URL", hook)
    emergency = EmergencyConfig(hook, em.text("instructions_prompt", "safety-instructions"))
    em.check_unknown()

    mt = root.table("metrics")
    sl_target = mt.number("sl_target", 0.8)
    supervision = SupervisionConfig(mt.number("sl_threshold_s", 20.0, 1.0), sl_target,
                                    thresholds=parse_thresholds(root.table("thresholds"), names, sl_target))
    mt.check_unknown()
    if "plan" in root.data:
        supervision = parse_plan(root.table("plan"), names, {a.agent.agent_id for a in agents}, supervision)
    root.used.add("plan")

    cl = root.table("cluster")
    peers = cl.data.get("peers", {})
    cl.used.add("peers")
    if not isinstance(peers, dict) or not all(isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", v)
                                              for v in peers.values()):
        raise ConfigError("cluster.peers", 'a table of node = "PJSIP endpoint of the trunk to it"', peers)
    cluster = ClusterConfig(role=cl.one_of("role", ("all", "router", "adapter"), "all"), node=cl.text("node", "local"),
                            peers=tuple(sorted(peers.items())),
                            node_gone_after_s=cl.number("node_gone_after_s", 120.0, 1.0))
    if "node_gone_after_s" in cl.data and cluster.role != "adapter":
        raise ConfigError("cluster.node_gone_after_s", 'an adapter\'s setting (role = "adapter")',
                          cl.data["node_gone_after_s"])
    if not re.fullmatch(r"[A-Za-z0-9_.]+", cluster.node):
        raise ConfigError("cluster.node", "letters, digits, '_' or '.'", cluster.node)
    if cluster.peers and cluster.role != "adapter":
        raise ConfigError("cluster.peers", 'trunks to other nodes on an adapter (role = "adapter")', peers)
    if cluster.role != "all" and redis_cfg is None:
        raise ConfigError("redis", f"a [redis] table (cluster.role = {cluster.role!r} needs it)", None)
    cl.check_unknown()

    deadlines = parse_deadlines(root.table("deadlines"))
    notifications = parse_notifications(root.table("notifications"))
    auth = parse_auth(root.table("auth"))
    orders = dataclasses.replace(parse_workorders(root.table("workorders"), recording.retention_months if recording
                                                  else 6), complaints=parse_complaints(root.table("complaints"), calendar))
    more = (parse_store(root.table("store")), orders, parse_desk(root.table("desk")),
            parse_trunks(root, queues, supervision.plan), parse_visits(root.table("return_visits"), names, zone), zone)

    audit_settings = parse_audit(root.table("audit"))
    quality = parse_quality(root.table("quality"), recording.retention_months if recording else 6)
    log_level = root.text("log_level", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log_level", "DEBUG, INFO, WARNING or ERROR", log_level)
    root.check_unknown()
    return Config(
        asterisk, http, default_queue, routes, tuple(queues), tuple(agents), log_level, redis_cfg,
        cluster, recording, ivr_settings, emergency, supervision, deadlines, notifications, auth, *more,
        audit=audit_settings, locale=locale, quality=quality,
    )

