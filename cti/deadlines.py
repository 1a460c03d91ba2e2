"""``[deadlines]``: how long each network operation may take (docs/operations.md:
"Nothing slow or broken stops routing")."""

from __future__ import annotations

from dataclasses import dataclass

from cti.configreader import Table
from cti.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each network operation may take before it is abandoned (docs/operations.md:
    "Deadlines"). Measured on the sandbox (bench/deadline_probe.py), ARI and AMI
    answer within 4 ms and Redis within 6 ms at worst: the defaults leave three orders
    of magnitude."""

    ari_request_s: float = 5.0
    ami_action_s: float = 5.0
    ami_ping_interval_s: float = 5.0
    redis_s: float = 2.0
    webhook_s: float = 5.0
    # One call action on Asterisk (several requests: an offer waits up to 2 s for
    # the agent's previous leg, a connect makes three): past this, abandoned.
    command_s: float = 10.0


def parse_deadlines(dl: Table) -> Deadlines:
    deadlines = Deadlines(*(dl.number(key, default, 0.05) for key, default in (
        ("ari_request_s", 5.0), ("ami_action_s", 5.0), ("ami_ping_interval_s", 5.0), ("redis_s", 2.0),
        ("webhook_s", 5.0), ("command_s", 10.0))))
    if deadlines.command_s <= deadlines.ari_request_s:
        raise ConfigError("deadlines.command_s", f"more than deadlines.ari_request_s ({deadlines.ari_request_s:g})",
                          deadlines.command_s)
    dl.check_unknown()
    return deadlines
