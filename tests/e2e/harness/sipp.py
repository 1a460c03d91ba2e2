"""SIPp processes: callers and agents (contrib/sipp scenarios), and callers who press
keys with RFC 2833 DTMF (sip-tester's dtmf_2833 pcaps) as a phone does."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.e2e.harness.sandbox import Sandbox

SANDBOX_SIPP = "opt/cti-sipp"  # the scenarios' directory inside the sandbox root


def stop_group(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Stop a process we started, and its children, by its own process group."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)
    except ProcessLookupError:
        pass


@dataclass
class Sipp:
    proc: subprocess.Popen[str]
    name: str
    log: Path

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_group(self.proc)
            raise AssertionError(f"SIPp {self.name} did not finish in {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def sandbox_root() -> Path:
    from tests.e2e.harness.sandbox import SANDBOX_ROOT

    return SANDBOX_ROOT


AUDIO = '  <nop><action><exec play_pcap_audio="/opt/cti-sipp/caller-audio.pcap" /></action></nop>\n'


def keys_scenario(keys: str, gap_ms: int = 2500, then_ms: int | None = None) -> str:
    """A caller scenario that talks, presses ``keys`` (the first after ``gap_ms``, the
    others ``then_ms`` apart, ``gap_ms`` by default) inside its audio stream as a phone
    does (Asterisk's strict RTP learns the stream first), then talks on for -d ms."""
    name = f"caller-keys-{keys.replace('*', 'star').replace('#', 'pound')}" + (
        f"-{gap_ms}-{then_ms}.xml" if then_ms is not None else ".xml")
    gaps = [gap_ms] + [then_ms if then_ms is not None else gap_ms] * (len(keys) - 1)
    base = (sandbox_root() / SANDBOX_SIPP / "caller.xml").read_text()
    presses = "".join(
        f'  <pause milliseconds="{gap}" />\n  <nop><action><exec play_pcap_audio='
        f'"/usr/share/sip-tester/dtmf_2833_{ {"*": "star", "#": "pound"}.get(k, k)}.pcap" />'
        f"</action></nop>\n  <pause milliseconds=\"300\" />\n" + AUDIO
        for k, gap in zip(keys, gaps)
    )
    marker = "  <!-- real audio for the whole call"
    start = base.index(marker)
    pause = base.index("  <pause />", start)
    (sandbox_root() / SANDBOX_SIPP / name).write_text(base[:pause] + presses + base[pause:])
    return name


def call_with_keys(sandbox: Sandbox, keys: str, talk_ms: int = 3000, exten: str = "100",
                   gap_ms: int = 2500, then_ms: int | None = None) -> Sipp:
    """A caller who dials ``exten``, presses ``keys`` and talks on for ``talk_ms``."""
    scenario = keys_scenario(keys, gap_ms, then_ms)
    sandbox._port += 1
    return sandbox.sipp(
        f"caller{sandbox._port}", "-sf", scenario, "-i", "127.0.0.1", "-p", str(sandbox._port),
        "-mp", str(30000 + (sandbox._port - 5100) * 100), "-s", exten, "-m", "1", "-d", str(talk_ms),
        "-trace_err", "127.0.0.1:5060",
    )
