"""baresip (Debian's package, installed in the sandbox root by its set-up) as an agent's
real softphone: it REGISTERs with the agent's SIP password (digest authentication),
answers calls by itself, sends a tone as its voice, writes what it hears to a
WAV file, and is driven over its ``ctrl_tcp`` socket (netstring JSON commands; its
events are collected). Stopped by its own process group."""

from __future__ import annotations

import itertools
import json
import random
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from tests.e2e.harness.sandbox import ARI, ARI_AUTH, HOST, SANDBOX, SANDBOX_ROOT, free_port, wait_for
from tests.e2e.harness.sipp import stop_group

PASSWORD_FILE = SANDBOX_ROOT.parent / "agent-sip-password"  # written by `contrib/sandbox up`
_RTP = itertools.count()  # each phone its own 100 media ports


def sip_ports() -> int:
    """A port p where baresip can listen: SIP over UDP and TCP on p and TLS on p + 1
    (baresip 1.1 always opens all three)."""
    for _ in range(200):
        port = random.randrange(34000, 35998, 2)
        taken = []
        try:
            for kind, at in ((socket.SOCK_DGRAM, port), (socket.SOCK_STREAM, port), (socket.SOCK_STREAM, port + 1)):
                probe = socket.socket(socket.AF_INET, kind)
                taken.append(probe)
                probe.bind((HOST, at))
            return port
        except OSError:
            continue
        finally:
            for probe in taken:
                probe.close()
    raise AssertionError("no free SIP ports for baresip in 34000-35999")


class Softphone:
    def __init__(self, agent_id: str, tmp: Path, tone_hz: int = 700, user: str = "") -> None:
        """``user``: a SIP user without registration (the sandbox's "caller") instead
        of agent ``agent_id``'s registered account."""
        self.agent_id = agent_id
        self.inside = f"/tmp/cti-baresip-{agent_id}-{int(time.time() * 1000)}"
        self.dir = SANDBOX_ROOT / self.inside.lstrip("/")
        self.dir.mkdir(parents=True)
        self.ctrl_port = free_port()
        sip_port = sip_ports()
        rtp = 38000 + next(_RTP) % 20 * 100  # below Asterisk's own RTP ports (40000-59999)
        self.heard_file = self.dir / "heard.wav"
        (self.dir / "config").write_text("\n".join([
            "poll_method epoll", f"sip_listen {HOST}:{sip_port}", f"net_interface {HOST}",
            "sip_trans_def udp", f"audio_player aufile,{self.inside}/heard.wav",
            f"audio_source aufile,{self.inside}/voice.wav",
            "audio_alert aufile,/dev/null", f"rtp_ports {rtp}-{rtp + 98}", "module_path /usr/lib/baresip/modules",
            "module g711.so", "module aufile.so", "module ctrl_tcp.so",
            "module_app account.so", "module_app menu.so", f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}", ""]))
        # Its voice: a tone (8 kHz, as the calls' G.711), two minutes of it.
        subprocess.run([str(SANDBOX), "exec", "sox", "-n", "-r", "8000", "-c", "1", "-b", "16",
                        f"{self.inside}/voice.wav", "synth", "120", "sine", str(tone_hz), "vol", "0.5"],
                       check=True, capture_output=True, timeout=30)
        if user:
            account = f"<sip:{user}@{HOST}>;regint=0"
        else:
            account = f"<sip:agent{agent_id}@{HOST}>;auth_pass={PASSWORD_FILE.read_text().strip()};regint=60"
        (self.dir / "accounts").write_text(f"{account};answermode=auto;audio_codecs=PCMU,PCMA\n")
        self.log = tmp / f"baresip-{agent_id}.log"
        self.proc = subprocess.Popen([str(SANDBOX), "exec", "baresip", "-f", self.inside],
                                     stdout=self.log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.events: list[dict[str, Any]] = []
        self._responses: list[dict[str, Any]] = []
        self._sock = wait_for(self._connect, 10, f"baresip {agent_id}'s control socket")
        threading.Thread(target=self._read, daemon=True).start()

    def _connect(self) -> socket.socket | None:
        assert self.proc.poll() is None, f"baresip exited:\n{self.output()}"
        try:
            return socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5)
        except OSError:
            return None

    def _read(self) -> None:
        buf = b""
        self._sock.settimeout(None)
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while b":" in buf:
                size, _, rest = buf.partition(b":")
                if not size.isdigit() or len(rest) < int(size) + 1:
                    break
                message = json.loads(rest[:int(size)])
                message["_at"] = time.time()  # when it came (wall clock)
                buf = rest[int(size) + 1:]
                (self._responses if message.get("response") else self.events).append(message)

    def command(self, command: str, params: str = "") -> dict[str, Any]:
        before = len(self._responses)
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self._sock.sendall(str(len(body)).encode() + b":" + body + b",")
        return dict(wait_for(lambda: self._responses[before] if len(self._responses) > before else None,
                             10, f"baresip's answer to {command}"))

    def event(self, kind: str, after: int = 0, timeout: float = 15.0) -> dict[str, Any]:
        """The first event of ``kind`` from index ``after`` on."""
        return dict(wait_for(lambda: next((x for x in self.events[after:] if x.get("type") == kind), None),
                             timeout, f"baresip {self.agent_id}: {kind}"))

    def registered(self, timeout: float = 15.0) -> None:
        """Asterisk has the phone's registration (its endpoint is online)."""
        def online() -> bool:
            assert self.proc.poll() is None, f"baresip exited:\n{self.output()}"
            req = urllib.request.Request(f"{ARI}/endpoints/PJSIP/agent{self.agent_id}",
                                         headers={"Authorization": ARI_AUTH})
            with urllib.request.urlopen(req, timeout=5) as resp:
                return bool(json.loads(resp.read())["state"] == "online")
        wait_for(online, timeout, f"agent{self.agent_id}'s softphone registered")

    def heard(self) -> np.ndarray[Any, Any]:
        """What the phone heard in its last call (8 kHz samples), once that call ended."""
        data = self.heard_file.read_bytes()
        return np.frombuffer(data[44:len(data) - (len(data) - 44) % 2], dtype="<i2").astype(np.float64)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def close(self) -> None:
        try:
            self.command("quit")
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            stop_group(self.proc)
        self._sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
