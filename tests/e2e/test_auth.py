"""R14 on the running engine: every endpoint but /health needs a role; agents act on
themselves only; supervisors steer agents; only reader and admin see callers' full
numbers, and a real number never leaks into the log, the figures or a webhook."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import re
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from argon2 import PasswordHasher

from cti.web.accounts import token_digest
from tests.e2e.harness import ADMIN_TOKEN, Sandbox, Webhook, wait_for
from tests.e2e.harness.observer import ami_as_engine
from tests.e2e.harness.sipp import sandbox_root, write_scenario

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
NUMBER = "13812345678"
SUPERVISOR = ("li", "li-password-for-tests")
READER = "reader-api-token-for-the-tests-only"


def auth_config(webhook: str) -> str:
    return f"""
[[queues]]
name = "support"
wrap_up_s = 0
announce_agent_id = false

[[agents]]
id = "1001"
endpoint = "PJSIP/agent1001"
queues = ["support"]
login_at_start = true
pin_hash = "{FAST.hash('432109')}"

[[agents]]
id = "1002"
endpoint = "PJSIP/agent1002"
queues = ["support"]
login_at_start = true
pin_hash = "{FAST.hash('876543')}"

[[routes]]
exten = "119"
queue = "support"
kind = "gas-leak"
emergency = true

[emergency]
webhook_url = "{webhook}"

[[auth.accounts]]
name = "{SUPERVISOR[0]}"
role = "supervisor"
password_hash = "{FAST.hash(SUPERVISOR[1])}"

[[auth.tokens]]
name = "records-office"
role = "reader"
sha256 = "{token_digest(READER)}"
"""


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def call(port: int, method: str, path: str, authorization: str | None = None,
         body: Any = None, content_type: str | None = "application/json") -> tuple[int, Any]:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    data = None
    if method in ("POST", "DELETE", "PUT", "PATCH"):
        data = json.dumps(body or {}).encode() if not isinstance(body, bytes) else body
        if content_type:
            headers["Content-Type"] = content_type
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def number_caller(sandbox: Sandbox, exten: str, talk_ms: int) -> Any:
    """A SIPp caller whose number is a real mobile number (endpoint of that name)."""
    base = (sandbox_root() / "opt/cti-sipp/caller.xml").read_text()
    write_scenario("caller-mobile.xml", base.replace("sip:caller@", f"sip:{NUMBER}@"))
    return sandbox.call_scenario("caller-mobile.xml", exten, talk_ms)


def test_R14_roles_for_every_endpoint(sandbox: Sandbox, start_engine) -> None:
    engine = start_engine(agents=[], extra=auth_config("http://127.0.0.1:9/none"))
    port = engine.port
    # Without credentials: 401 everywhere but /health.
    for method, path in [
        ("POST", "/agents/1001/logout"), ("POST", "/agents/1001/login"), ("POST", "/agents/1001/ready"),
        ("POST", "/agents/1001/pause"), ("POST", "/agents/1001/end-wrap-up"), ("POST", "/plan/level"),
        ("POST", "/plan/confirm"), ("POST", "/plan/incident"), ("POST", "/recordings/holds"),
        ("DELETE", "/recordings/holds/h1"), ("POST", "/auth/logout"),
        ("GET", "/agents"), ("GET", "/agents/1001"), ("GET", "/calls"), ("GET", "/state"),
        ("GET", "/wallboard.json"), ("GET", "/plan"), ("GET", "/metrics"), ("GET", "/recordings"),
        ("GET", "/auth/me"),
    ]:
        status, _ = call(port, method, path)
        assert status == 401, (method, path, status)
        status, _ = call(port, method, path, "Bearer wrong-token")
        assert status == 401, (method, path, "wrong token", status)
    assert call(port, "GET", "/health")[0] == 200
    assert engine.agent("1001")["state"] == "ready"  # nothing above changed anything
    # An agent acts on itself only.
    me = basic("1001", "432109")
    status, body = call(port, "POST", "/agents/1001/pause", me, {"reason": "lunch"})
    assert status == 200 and body["state"] == "not-ready", body
    assert call(port, "POST", "/agents/1002/pause", me, {"reason": "lunch"})[0] == 403
    assert call(port, "GET", "/agents/1001", me)[0] == 200
    for path in ("/agents", "/agents/1002", "/calls", "/state", "/wallboard.json", "/metrics", "/recordings"):
        assert call(port, "GET", path, me)[0] == 403, path
    assert call(port, "POST", "/agents/1001/ready", basic("1001", "0000"))[0] == 401  # wrong PIN
    # A supervisor steers agents and reads the figures, not /state or recordings.
    li = basic(*SUPERVISOR)
    status, body = call(port, "POST", "/agents/1002/pause", li, {"reason": "coaching"})
    assert status == 200 and body["state"] == "not-ready"
    for path in ("/agents", "/calls", "/wallboard.json", "/plan", "/metrics"):
        assert call(port, "GET", path, li)[0] in (200, 404), path  # /plan: 404 when no [plan]
    # Exactly 200: the figures and the plan view are the supervisor's (with no [plan]
    # configured, /plan answers with no level, not 404).
    for path, expected in (("/agents", 200), ("/calls", 200), ("/wallboard.json", 200), ("/metrics", 200),
                           ("/plan", 200)):
        assert call(port, "GET", path, li)[0] == expected, (path, expected)
    assert call(port, "GET", "/state", li)[0] == 403
    assert call(port, "GET", "/recordings", li)[0] in (403, 404)
    assert call(port, "GET", "/recordings", li)[0] == 403  # the role is refused before anything else
    # A session from a sign-in works like the credentials and ends at sign-out.
    status, session = call(port, "POST", "/auth/login", None, {"name": "li", "secret": SUPERVISOR[1]})
    assert status == 200 and session["role"] == "supervisor"
    bearer = f"Bearer {session['token']}"
    assert call(port, "GET", "/auth/me", bearer)[1]["name"] == "account:li"
    assert call(port, "POST", "/auth/logout", bearer)[0] == 200
    assert call(port, "GET", "/agents", bearer)[0] == 401
    assert call(port, "POST", "/auth/login", None, {"name": "li", "secret": "guess"})[0] == 401
    # Bad input: 400, not 500; a body that is not JSON is refused.
    admin = f"Bearer {ADMIN_TOKEN}"
    assert call(port, "POST", "/agents/1001/ready", admin, b"reason=x",
                "application/x-www-form-urlencoded")[0] == 415
    assert call(port, "POST", "/agents/1001/pause", admin, b"[" * 100_000 + b"]" * 100_000)[0] == 400
    assert call(port, "GET", "/agents", "Bearer \u00e9t\u00e9".encode().decode("latin-1"))[0] == 401
    assert call(port, "GET", "/agents", "Basic \u00ff\u00fe")[0] == 401
    # The audit log names the authenticated identity, never a client header.
    log = engine.log()
    assert "account:li" in log and "agent:1001" in log
    assert call(port, "GET", "/health")[0] == 200  # still running


def test_R14_a_burst_of_300_guesses_on_the_running_engine_never_signs_in(sandbox: Sandbox, start_engine) -> None:
    """Issue 28: 300 sign-ins sent at once, the right PIN the eleventh; none signs in,
    and the right PIN is refused right after the burst (the name and this address are
    locked for a minute). 1002's PIN is hashed at the cost ``cti passwd`` uses, so each
    check takes as long as on a real site."""
    config = re.sub(r'(?s)(id = "1002".*?pin_hash = ")[^"]+', lambda m: m.group(1) + PasswordHasher().hash("876543"),
                    auth_config("http://127.0.0.1:9/none"))
    engine = start_engine(agents=[], extra=config)
    pins = [f"{i:06d}" for i in range(299)]
    pins.insert(10, "876543")  # agent 1002's PIN
    start = threading.Barrier(len(pins))

    def login(pin: str) -> int:
        body = json.dumps({"name": "1002", "secret": pin}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{engine.port}/auth/login", method="POST", data=body,
                                     headers={"Content-Type": "application/json"})
        start.wait()
        for _ in range(5):  # 300 connections at once overflow the listen queue: a reset one is sent again
            try:
                with urllib.request.urlopen(req, timeout=300) as resp:  # (a guard: every check may queue)
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                return exc.code
            except ConnectionResetError:
                time.sleep(0.1)
        return 0
    with concurrent.futures.ThreadPoolExecutor(len(pins)) as pool:
        statuses = list(pool.map(login, pins))
    assert 200 not in statuses and set(statuses) == {401}, sorted(set(statuses))
    assert call(engine.port, "POST", "/auth/login", None, {"name": "1002", "secret": "876543"})[0] == 401
    assert call(engine.port, "GET", "/agents/1002", basic("1002", "876543"))[0] == 401
    assert "sign-in for agent:1002 refused" in engine.log()


def test_R14_a_callers_number_reaches_only_reader_and_admin(sandbox: Sandbox, start_engine) -> None:
    webhook = Webhook()
    try:
        engine = start_engine(agents=[], extra=auth_config(webhook.url))
        port = engine.port
        for agent_id in ("1001", "1002"):
            engine.post(f"/agents/{agent_id}/pause", {"reason": "meeting"})
        caller = number_caller(sandbox, "119", 15000)
        wait_for(lambda: engine.get("/calls"), 20, "the caller to wait")
        li = basic(*SUPERVISOR)
        shown = {}
        for path in ("/calls", "/wallboard.json", "/metrics"):
            status, body = call(port, "GET", path, li)
            assert status == 200, path
            shown[path] = body if isinstance(body, str) else json.dumps(body)
        assert all(NUMBER not in text for text in shown.values()), shown
        assert re.search(r"138\*+5678", shown["/calls"])
        full = call(port, "GET", "/calls", f"Bearer {ADMIN_TOKEN}")[1]
        assert full[0]["caller"] == NUMBER
        assert call(port, "GET", "/calls", f"Bearer {READER}")[1][0]["caller"] == NUMBER
        wait_for(lambda: webhook.received, 20, "the emergency webhook")
        assert webhook.received[0]["caller"] == NUMBER  # the emergency desk needs the number
        assert caller.wait(40) == 0
        caller.outcome(5).hung_up_itself(15000)  # it waited its 15 s (nobody free), then left
    finally:
        webhook.close()
    assert NUMBER not in engine.log()


def test_R14_the_engines_ami_account_cannot_originate_or_run_commands(sandbox: Sandbox) -> None:
    """Least privilege on the PBX: the engine's AMI user may do nothing that dials or
    runs shell commands (it has no class at all: test_pbx_security.py)."""
    replies = ami_as_engine(b"Action: Originate\r\nActionID: o1\r\nChannel: Local/s@default\r\n"
                            b"Application: System\r\nData: touch /tmp/pwned\r\n\r\n"
                            b"Action: Command\r\nActionID: c1\r\nCommand: core show version\r\n\r\n", 2)
    for action_id in (b"o1", b"c1"):
        assert b"Response: Error" in replies[action_id] and b"Permission denied" in replies[action_id], replies


def test_R14_redis_with_an_acl_user_and_a_password_that_is_never_shown(sandbox: Sandbox, start_engine) -> None:
    """Redis with its own ACL user (keys of the engine's prefix only, no admin or
    dangerous commands): the engine leads and routes; with a wrong password it stops at
    start with one line that does not show the password."""
    import subprocess
    import sys
    import uuid

    from tests.e2e.harness import REDIS_URL, ROOT

    user, password = f"cti-e2e-{uuid.uuid4().hex[:8]}", "redis-acl-password-e2e-only"
    port = REDIS_URL.rsplit(":", 1)[1].split("/")[0]
    subprocess.run(["redis-cli", "-p", port, "ACL", "SETUSER", user, "on", f">{password}", "~e2e-*",
                    "+@all", "-@admin", "-@dangerous"], check=True, capture_output=True)
    try:
        agent = sandbox.agent("1001")
        url = f"redis://{user}:{password}@127.0.0.1:{port}/0"
        engine = start_engine(agents=["1001"], redis=True, wrap_up_s=0, env={"CTI_REDIS_URL": url})
        caller = sandbox.call(talk_ms=2000)
        assert caller.wait(30) == 0
        assert engine.lines(r"answered: call \S+ by agent 1001", 10)
        agent.leg_with(caller.outcome(5).hung_up_itself(2000))  # the agent's phone talked with it
        assert password not in engine.log()
        engine.stop()
        wrong = subprocess.run([sys.executable, "-m", "cti.cli", "run", "--config", str(engine.config_path)],
                               capture_output=True, text=True, timeout=60, cwd=ROOT,
                               env={**__import__("os").environ,
                                    "CTI_REDIS_URL": f"redis://{user}:not-the-password-123@127.0.0.1:{port}/0"})
        assert wrong.returncode == 3, wrong.stderr
        assert "not-the-password-123" not in wrong.stderr + wrong.stdout and ":***@" in wrong.stderr
    finally:
        subprocess.run(["redis-cli", "-p", port, "ACL", "DELUSER", user], capture_output=True)


def test_R14_a_callback_request_reaches_the_plan_and_its_webhook_masked(sandbox: Sandbox, start_engine) -> None:
    """The plan path: a caller from 13812345678 takes the callback a plan level offers.
    A supervisor's /plan and the plan's webhook (not a callback desk) show the number
    masked; the admin's /plan shows it whole."""
    from tests.e2e.harness.sipp import keys_scenario
    from tests.e2e.test_supervision import PLAN, TRUNK

    webhook = Webhook()
    try:
        config = PLAN.replace('announcement = "incident-announcement"',
                              'announcement = "incident-announcement"\noffer_callbacks = true') + TRUNK
        config = config.replace('min_time_s = 3', f'min_time_s = 3\nwebhook_url = "{webhook.url}"')
        config += f'''
[[auth.accounts]]
name = "{SUPERVISOR[0]}"
role = "supervisor"
password_hash = "{FAST.hash(SUPERVISOR[1])}"
'''
        engine = start_engine(agents=[], extra=config)
        for agent_id in ("1001", "1002"):
            engine.post(f"/agents/{agent_id}/pause", {"reason": "meeting"})
        engine.post("/plan/level", {"level": "III"})
        wait_for(lambda: engine.agent("1004")["state"] == "ready", 5, "the standby agent called in")
        engine.post("/agents/1004/pause", {"reason": "other"})
        name = keys_scenario("11", 9000, 4000)  # 1: the callback; 1: "call me back on this number"
        mobile = write_scenario(name.replace(".xml", "-mobile.xml"), (sandbox_root() / "opt/cti-sipp" / name)
                                .read_text().replace("sip:caller@", f"sip:{NUMBER}@"))
        caller = sandbox.call_scenario(mobile, "100", 20000)
        assert caller.wait(60) == 0, caller.output()
        caller.outcome(5).cut_off()  # thanked, then hung up by the PBX before its own hang-up
        status, plan = call(engine.port, "GET", "/plan", basic(*SUPERVISOR))
        assert status == 200 and [k["caller"] for k in plan["callbacks"]] == ["138****5678"], plan
        assert call(engine.port, "GET", "/plan", f"Bearer {ADMIN_TOKEN}")[1]["callbacks"][0]["caller"] == NUMBER
        wait_for(lambda: any(n.get("type") == "callback-request" for n in webhook.received), 20,
                 "the callback request at the plan's webhook")
        sent = json.dumps(webhook.received)
        assert NUMBER not in sent and "138****5678" in sent
        assert NUMBER not in engine.log()
    finally:
        webhook.close()


def test_R14_redis_over_tls_with_the_sites_own_ca(sandbox: Sandbox, start_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Redis over TLS (rediss://) with a private CA ([redis] ca_file): a TLS-only
    redis-server of this test's own (its certificates made here with openssl, on a
    loopback port, stopped by its PID); the engine leads and routes a call through it.
    Without the CA the start fails: the server's certificate is checked."""
    import shutil
    import subprocess
    import sys
    import time

    from tests.e2e.harness import ROOT, free_port

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=cti-test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "redis.key", "-out", "redis.csr")
    (tmp_path / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "redis.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
        "-extfile", "san.ext", "-out", "redis.crt")
    port = free_port()
    server = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "redis.crt", "--tls-key-file", "redis.key", "--tls-ca-cert-file", "ca.crt",
         "--tls-auth-clients", "no", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "--tls", "--cacert", str(tmp_path / "ca.crt"), "-p", str(port), "ping"],
                             capture_output=True, text=True).stdout.strip() != "PONG":
            assert time.monotonic() < deadline and server.poll() is None, "the TLS redis-server did not start"
            time.sleep(0.1)
        agent = sandbox.agent("1001")
        url = f"rediss://127.0.0.1:{port}/0"
        engine = start_engine(agents=["1001"], redis=True, wrap_up_s=0, env={"CTI_REDIS_URL": url},
                              tail=f'\n[notifications]\noutbox_path = "{tmp_path / "outbox.sqlite"}"\n',
                              redis_ca=str(tmp_path / "ca.crt"))
        caller = sandbox.call(talk_ms=2000)
        assert caller.wait(30) == 0
        assert engine.lines(r"answered: call \S+ by agent 1001", 10)
        agent.leg_with(caller.outcome(5).hung_up_itself(2000))
        engine.stop()
        text = engine.config_path.read_text().replace(f'ca_file = "{tmp_path / "ca.crt"}"\n', "")
        untrusting = tmp_path / "no-ca.toml"
        untrusting.write_text(text)
        refused = subprocess.run([sys.executable, "-m", "cti.cli", "run", "--config", str(untrusting)],
                                 capture_output=True, text=True, timeout=60, cwd=ROOT,
                                 env={**__import__("os").environ, "CTI_REDIS_URL": url})
        assert refused.returncode == 3 and "certificate" in refused.stderr.lower(), refused.stderr
    finally:
        server.terminate()
        server.wait(10)
