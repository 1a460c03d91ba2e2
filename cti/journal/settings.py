"""The ``[redis]`` table: where the engine's durable state lives (R6), read here so
that ``cti.config`` stays the map of the whole file."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cti.configreader import Table
from cti.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """Durable state and leadership (R6). Without a [redis] table the engine keeps its
    state in memory only."""

    url: str
    prefix: str
    node_id: str
    lease_ms: int
    snapshot_every: int
    ca_file: Path | None = None  # rediss://: the CA that signed the server's certificate
    # Redis Sentinel: where the sentinels listen and the name of the service they watch;
    # the engine asks them for the primary and follows a failover.
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = "cti"
    # The journal waits until this many replicas have each batch of events (WAIT)
    # before its commands are carried out, at most replica_wait_ms.
    replicas_ack: int = 0
    replica_wait_ms: int = 500

    @property
    def where(self) -> str:
        if self.sentinels:
            return f"service {self.service!r} of sentinels " + ", ".join(f"{h}:{p}" for h, p in self.sentinels)
        return self.url


def parse_redis(r: Table) -> RedisConfig:
    sentinels = _sentinels(r) if "sentinels" in r.data else ()
    if sentinels and "url" in r.data:
        raise ConfigError("redis.url", "no url when sentinels are given (they name the primary)", r.data["url"])
    url = r.text("url") if not sentinels else ""
    if not sentinels and not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("redis.url", "a redis:// URL", url)
    if sentinels and "ca_file" in r.data:
        raise ConfigError("redis.ca_file", "no TLS with sentinels (not supported yet)", r.data["ca_file"])
    cfg = RedisConfig(
        url=url,
        prefix=r.text("prefix", "cti:"),
        node_id=r.text("node_id", f"{socket.gethostname()}-{os.getpid()}"),
        lease_ms=r.integer("lease_ms", 5000, 500),
        snapshot_every=r.integer("snapshot_every", 1000, 1),
        ca_file=Path(r.text("ca_file")) if "ca_file" in r.data else None,
        sentinels=sentinels,
        service=r.text("service", "cti"),
        replicas_ack=r.integer("replicas_ack", 0, 0, 5),
        replica_wait_ms=r.integer("replica_wait_ms", 500, 1, 10_000),
    )
    if cfg.ca_file is not None and not url.startswith("rediss://"):
        raise ConfigError("redis.ca_file", "a rediss:// url to go with it (TLS)", url)
    if cfg.ca_file is not None and not cfg.ca_file.is_file():
        raise ConfigError("redis.ca_file", "a readable CA certificate file", str(cfg.ca_file))
    r.check_unknown()
    return cfg


def _sentinels(r: Table) -> tuple[tuple[str, int], ...]:
    """``sentinels = ["127.0.0.1:26379", ...]``: host:port of each sentinel."""
    found: list[tuple[str, int]] = []
    for item in r.str_list("sentinels"):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("redis.sentinels", 'a list of "host:port"', item)
        found.append((host, int(port)))
    return tuple(found)
