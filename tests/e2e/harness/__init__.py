"""The e2e harness: the sandbox, SIPp callers and agents, observers of what Asterisk
really did, webhook receivers, and the engine under test. Tests import from here;
``conftest.py`` only turns these into fixtures."""

from tests.e2e.harness.engine import REDIS_URL, Engine, EngineStarter
from tests.e2e.harness.faults import FaultProxy
from tests.e2e.harness.instance import HOST, INSTANCE
from tests.e2e.harness.observer import AmiWatcher, AriObserver
from tests.e2e.harness.sandbox import (
    AGENT_PORTS, ARI, ARI_AUTH, ROOT, SANDBOX, SANDBOX_ROOT, SPOOL, Sandbox, free_port, wait_for,
)
from tests.e2e.harness.sipp import Sipp, call_with_keys, keys_scenario, stop_group
from tests.e2e.harness.toml import ADMIN_TOKEN, READER_TOKEN, engine_config
from tests.e2e.harness.webhook import Webhook

__all__ = [
    "ADMIN_TOKEN", "AGENT_PORTS", "ARI", "ARI_AUTH", "HOST", "INSTANCE", "READER_TOKEN", "REDIS_URL", "ROOT", "SANDBOX",
    "SANDBOX_ROOT", "SPOOL", "AmiWatcher", "AriObserver", "Engine", "EngineStarter", "FaultProxy", "Sandbox", "Sipp",
    "Webhook", "call_with_keys", "engine_config", "free_port", "keys_scenario", "stop_group", "wait_for",
]
