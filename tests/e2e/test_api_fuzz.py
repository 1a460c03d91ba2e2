"""The whole HTTP API fuzzed (schemathesis, from cti/web/static/openapi.json) against the
running engine with every role and with none: no request gets a server error (5xx
other than 503 standby, which this leader never is) and the engine keeps running."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, settings

from cti.web.accounts import token_digest
from cti.web.server import OPENAPI
from tests.e2e.harness import ADMIN_TOKEN, Engine, EngineStarter

SCHEMA = schemathesis.openapi.from_path(str(OPENAPI))
FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
READER = "fuzz-reader-token-not-a-secret"
ROLES = {
    "none": None,
    "agent": "Basic " + base64.b64encode(b"1001:432109").decode(),
    "supervisor": "Basic " + base64.b64encode(b"li:li-fuzz-password").decode(),
    "reader": f"Bearer {READER}",
    "admin": f"Bearer {ADMIN_TOKEN}",
}
CONFIG = f"""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
pin_hash = "{FAST.hash('432109')}"

[[auth.accounts]]
name = "li"
role = "supervisor"
password_hash = "{FAST.hash('li-fuzz-password')}"

[[auth.tokens]]
name = "records"
role = "reader"
sha256 = "{token_digest(READER)}"
"""


@pytest.fixture(scope="module")
def fuzzed(sandbox_running: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    starter = EngineStarter(Path(tmp_path_factory.mktemp("fuzz")))
    engine = starter.start(agents=[], extra=CONFIG, recording=True)
    yield engine
    assert engine.health()["status"] == "ok"  # still running after everything
    assert "Error handling request" not in engine.log() and "Traceback" not in engine.log()
    starter.stop_all()


@SCHEMA.exclude(path="/events").parametrize()  # a stream that stays open: tested in test_desk_browser
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_R14_no_request_with_any_role_gets_a_server_error(case: schemathesis.Case, fuzzed: Engine) -> None:
    base = f"http://127.0.0.1:{fuzzed.port}"
    for role, authorization in ROLES.items():
        headers = {"Authorization": authorization} if authorization else {}
        response = case.call(base_url=base, headers=headers, timeout=10)
        assert response.status_code < 500, (role, case.method, case.formatted_path, response.status_code,
                                             response.text[:300])
        if authorization is None and (case.method, case.path) not in (
                ("GET", "/health"), ("GET", "/openapi.json"), ("POST", "/auth/login"), ("GET", "/agent"),
                ("GET", "/wallboard"), ("GET", "/reports"), ("GET", "/quality"), ("GET", "/knowledge"), ("GET", "/static/{name}")):
            assert response.status_code == 401, (case.method, case.formatted_path, response.status_code)
