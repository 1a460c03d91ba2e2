"""R14 on the PBX itself (issue 28, items 6-8), with real SIP from SIPp: an agent's
phone is trusted only with its SIP password (digest), the nodes' trunk dials only an
agent's name, the engine's AMI account has no write class and recordings need no AMI,
and Asterisk does not run as root."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.harness import HOST, INSTANCE, SANDBOX_ROOT, SPOOL, Sandbox, wait_for
from tests.e2e.harness.observer import ami_as_engine
from tests.e2e.harness.sipp import Sipp, sandbox_root
from tests.e2e.test_callbacks import customers, received

PASSWORD_FILE = SANDBOX_ROOT.parent / "agent-sip-password"  # written by `contrib/sandbox up`
# Where this instance's node trunk expects the other node: node a's is node b (127.0.0.2);
# an instance's stands at 127.0.2.N, where nothing but these tests' SIPp sends from.
NODE_PEER = "127.0.0.2" if INSTANCE == 0 else f"127.0.2.{INSTANCE}"


def probe(sandbox: Sandbox, name: str, source: str, port: int, from_user: str, target: str) -> tuple[Sipp, Path]:
    """One INVITE without credentials (contrib/sipp/probe_invite.xml) from ``source``,
    From ``from_user``, to ``target`` on this instance; its SIP messages traced."""
    trace = f"probe-{name}-{os.getpid()}.log"
    (sandbox_root() / "opt/cti-sipp" / trace).unlink(missing_ok=True)
    sipp = sandbox.sipp(f"probe-{name}", "-sf", "probe_invite.xml", "-set", "from", from_user, "-s", target,
                        "-i", source, "-p", str(port), "-m", "1", "-trace_msg", "-message_file", trace,
                        "-trace_err", f"{HOST}:5060")
    return sipp, sandbox_root() / "opt/cti-sipp" / trace


def answers(trace: Path) -> list[str]:
    """The status lines SIPp received."""
    text = trace.read_text(errors="replace") if trace.exists() else ""
    return [line.strip() for line in text.splitlines() if line.strip().startswith("SIP/2.0 ")]


def test_R14_a_feature_code_from_an_agents_address_without_its_password_is_challenged(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """An INVITE From agent1001, from the agent's own address, to *46 (log out) without
    the agent's SIP password: Asterisk answers 401 and the agent stays logged in. The
    same code with the password (SIPp answers the digest challenge) logs it out."""
    sandbox.agent("1001")
    engine = start_engine(agents=["1001"])
    assert engine.agent("1001")["state"] == "ready"
    stranger, trace = probe(sandbox, "agent", HOST, 5181, "agent1001", "*46")
    assert stranger.wait(30) == 0, (answers(trace), stranger.output())
    assert any(line.startswith("SIP/2.0 401") for line in answers(trace)), answers(trace)
    assert engine.agent("1001")["state"] == "ready"
    assert "agent 1001: logout from the phone" not in engine.log()
    # The agent's phone with its password: challenged, answers, and the code works.
    phone = sandbox.sipp("feature-1001", "-sf", "agent_feature.xml", "-set", "from", "agent1001",
                         "-au", "agent1001", "-ap", PASSWORD_FILE.read_text().strip(), "-s", "*46",
                         "-i", HOST, "-p", "5182", "-m", "1", "-trace_err", f"{HOST}:5060")
    assert phone.wait(40) == 0, phone.output()
    wait_for(lambda: engine.agent("1001")["state"] == "logged-out", 10, "agent 1001 logged out by its phone")
    assert "agent 1001: logout from the phone" in engine.log()


def test_R14_the_node_trunk_dials_only_an_agents_name(sandbox: Sandbox) -> None:
    """INVITEs that reach from-node (from the other node's address) with "&" or "," in
    the user part: refused, the customers' trunk never dialled. One that names the
    trunk in From but comes from elsewhere: not the trunk, refused, nobody rung. A plain
    agent name from the other node still rings the agent."""
    agent = sandbox.agent("1001")
    _, trace = customers(sandbox, "customer_answer.xml", f"node-{os.getpid()}")
    crafted = [
        ("amp", NODE_PEER, "node-b", "agent1001&PJSIP/13800000001%40customers"),
        ("comma", NODE_PEER, "node-b", "agent1001&PJSIP/13800000002%40customers,60"),
        ("spoofed", HOST, "node-b", "agent1001"),  # the trunk named in From, not from its address
    ]
    probes = [(name, *probe(sandbox, name, source, 5185 + n, from_user, target))
              for n, (name, source, from_user, target) in enumerate(crafted)]
    for _, sipp, _ in probes:
        sipp.wait(30)
    assert received(trace, "INVITE") == []  # the customers' trunk never rang
    assert not [ch for ch in sandbox.channels() if "customers" in ch["name"]]
    for name, sipp, sent in probes:  # each refused at once (404, or 401 for the stranger)
        assert sipp.wait(1) == 0, (name, answers(sent), sipp.output())
        assert answers(sent) and not any(line.startswith(("SIP/2.0 18", "SIP/2.0 2")) for line in answers(sent))
    assert not agent.invites()  # nor was the agent's phone rung by any of them
    # The trunk's purpose still works: the other node rings agent 1001 by its name.
    caller = sandbox.call(exten="agent1001", talk_ms=2000, source=NODE_PEER, node=HOST)
    assert caller.wait(30) == 0, caller.output()
    agent.leg_with(caller.outcome(5).hung_up_itself(2000))
    assert received(trace, "INVITE") == []


def test_R14_the_engines_ami_account_has_no_write_class(sandbox: Sandbox) -> None:
    """MixMonitor's AMI action (whose Command option runs a shell command when the
    recording ends) is refused to the engine's AMI account, like every action that needs
    a class; Ping still works."""
    replies = ami_as_engine(b"Action: MixMonitor\r\nActionID: m1\r\nChannel: PJSIP/agent1001-00000000\r\n"
                            b"File: /tmp/cti-x.wav\r\nCommand: touch /tmp/cti-pwned\r\n\r\n"
                            b"Action: Ping\r\nActionID: p1\r\n\r\n", 2)
    assert b"Response: Error" in replies[b"m1"] and b"Permission denied" in replies[b"m1"], replies
    assert b"Response: Success" in replies[b"p1"], replies


def test_R14_asterisk_runs_as_its_own_user_and_writes_the_recordings_as_it(
        sandbox: Sandbox, start_engine) -> None:  # type: ignore[no-untyped-def]
    """Asterisk's process is not root's; an answered call's recording (made over ARI)
    is written by Asterisk's own user and archived with its audio."""
    from recording.wav import SILENCE_RMS, inspect
    from tests.e2e.test_recording import archive_dir

    pidfile = SANDBOX_ROOT.parent / ("asterisk.pid" if INSTANCE == 0 else f"asterisk-w{INSTANCE}.pid")
    status = Path(f"/proc/{pidfile.read_text().strip()}/status").read_text()
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert uid != "0", status
    sandbox.agent("1001")
    engine = start_engine(agents=["1001"], recording=True, wrap_up_s=0)
    caller = sandbox.call(talk_ms=4000)
    (entered,) = engine.lines(r"call (\S+) from \S+ dialled", 15)
    spooled = SPOOL / f"{entered.group(1)}.wav"
    owner = wait_for(lambda: spooled.exists() and spooled.stat().st_uid, 20, "Asterisk to write the recording")
    assert owner == int(uid)
    assert caller.wait(30) == 0, caller.output()
    (meta,) = wait_for(lambda: engine.recordings() or None, 30, "the recording archived")
    info = inspect(archive_dir(engine) / meta["path"])
    assert meta["call_id"] == entered.group(1) and info.duration_s >= 3.5 and info.rms > SILENCE_RMS, info
