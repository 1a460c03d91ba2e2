"""Engine configurations for the tests (TOML text)."""

from __future__ import annotations

from tests.e2e.harness.instance import HOST

ADMIN_TOKEN = "e2e-admin-token-not-a-secret"
READER_TOKEN = "e2e-recordings-reader-not-a-secret"


def engine_config(
    http_port: int,
    agents: list[str],
    ring_cycle_s: float = 5,
    answer_within_rings: int = 2,
    wrap_up_s: float = 1,
    login_at_start: bool = True,
    announce: bool = False,
    extra: str = "",
) -> str:
    """A one-queue engine config, or, with ``extra``, the sandbox connection settings
    followed by ``extra`` (queues, agents, routes) as given."""
    header = f"""
log_level = "INFO"
[asterisk]
ari_url = "http://{HOST}:8088"
ami_host = "{HOST}"
ari_user = "cti"
ari_password = "cti-sandbox"
ami_user = "cti"
ami_secret = "cti-sandbox"
[http]
port = {http_port}
admin_token = "{ADMIN_TOKEN}"
"""
    if extra:
        return header + extra
    text = header + f"""
[[queues]]
name = "support"
ring_cycle_s = {ring_cycle_s}
answer_within_rings = {answer_within_rings}
wrap_up_s = {wrap_up_s}
announce_agent_id = {str(announce).lower()}
"""
    for agent_id in agents:
        text += f"""
[[agents]]
id = "{agent_id}"
endpoint = "PJSIP/agent{agent_id}"
queues = ["support"]
login_at_start = {str(login_at_start).lower()}
"""
    return text
