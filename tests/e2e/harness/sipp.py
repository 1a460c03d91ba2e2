"""SIPp processes: callers and agents (contrib/sipp scenarios), and callers who press
keys with RFC 2833 DTMF (sip-tester's dtmf_2833 pcaps) as a phone does."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.e2e.harness.instance import HOST

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
class Leg:
    """One call of a SIPp process as that SIPp saw it on the wire (the steps its
    scenario writes: contrib/sipp/caller.xml, agent_*.xml), in epoch seconds.

    A caller: ``invited`` (INVITE sent), ``answered`` (200 OK received), then either
    ``hung_up_by == "caller"`` (its own BYE after its talk time, -d) or ``"pbx"`` (a
    BYE from Asterisk). An agent's phone: ``invited`` (INVITE received), ``answered``
    (its 200 OK acknowledged), ``cancelled`` (CANCEL received), ``hung_up_by == "pbx"``
    (BYE received: agents never hang up themselves)."""

    number: int
    steps: list[tuple[float, str]]

    def at(self, step: str) -> float | None:
        return next((when for when, what in self.steps if what == step), None)

    @property
    def invited(self) -> float | None:
        return self.at("invite")

    @property
    def answered(self) -> float | None:
        return self.at("answered")

    @property
    def cancelled(self) -> float | None:
        return self.at("cancel-received")

    @property
    def hung_up_by(self) -> str | None:
        # (each step is its own process writing one line: the final one stands in for a
        # lost one, as SIPp only reaches end-caller after its BYE, end-pbx after Asterisk's)
        if self.at("bye-sent") is not None or self.at("end-caller") is not None:
            return "caller"
        if self.at("bye-received") is not None or self.at("end-pbx") is not None:
            return "pbx"
        return None

    @property
    def ended(self) -> float | None:
        return (self.at("bye-sent") or self.at("bye-received") or self.at("cancel-received")
                or self.at("end-caller") or self.at("end-pbx"))

    @property
    def talk_s(self) -> float:
        """From the answer to the hang-up (0 when never answered or not yet ended)."""
        if self.answered is None or self.ended is None:
            return 0.0
        return self.ended - self.answered

    @property
    def done(self) -> bool:
        """The scenario reached its end (its last step is written)."""
        return any(what in ("end-caller", "end-pbx", "cancel-received") for _, what in self.steps)

    def __str__(self) -> str:
        first = self.steps[0][0] if self.steps else 0.0
        return f"call {self.number}: " + ", ".join(f"{what} +{when - first:.2f}s" for when, what in self.steps)

    def hung_up_itself(self, talk_ms: int) -> Leg:
        """This caller was answered, talked its whole -d and hung up itself: nobody cut
        it off (with a BYE from Asterisk) before it was done."""
        assert self.answered is not None, f"never answered: {self}"
        assert self.hung_up_by == "caller", f"not the caller's own hang-up: {self}"
        assert self.talk_s >= talk_ms / 1000 - 0.25, f"talked {self.talk_s:.2f} s, not {talk_ms} ms: {self}"
        return self

    def cut_off(self) -> Leg:
        """This caller was answered, then hung up by Asterisk (a BYE received) before
        its own talk time was over."""
        assert self.answered is not None, f"never answered: {self}"
        assert self.hung_up_by == "pbx", f"not hung up by the PBX: {self}"
        return self


@dataclass
class Sipp:
    proc: subprocess.Popen[str]
    name: str
    log: Path
    started: float = field(default_factory=time.time)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_group(self.proc)
            raise AssertionError(f"SIPp {self.name} did not finish in {timeout:g} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def calls(self) -> list[Leg]:
        """Every call this SIPp has made or received so far, as it saw them (see
        ``Leg``), in the order they began. Readable while it runs: an agent's phone."""
        path = sandbox_root() / "tmp" / f"cti-sipp-{self.proc.pid}.events"
        legs: dict[int, list[tuple[float, str]]] = {}
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            when, number, what = float(parts[0]), int(parts[1]), parts[2]
            if when >= self.started:  # not a line of an earlier process that had the same pid
                legs.setdefault(number, []).append((when, what))
        return sorted((Leg(n, sorted(steps)) for n, steps in legs.items()), key=lambda leg: leg.steps[0][0])

    def invites(self) -> list[Leg]:
        """The calls that reached this phone (an agent's: INVITEs received)."""
        return [leg for leg in self.calls() if leg.invited is not None]

    def answered(self) -> list[Leg]:
        return [leg for leg in self.calls() if leg.answered is not None]

    def outcomes(self, timeout: float) -> list[Leg]:
        """Waits for this SIPp to end (exit code 0), then every call's ``Leg``, once
        each has written its last step (written just after SIPp's own actions)."""
        code = self.wait(timeout)
        assert code == 0, f"SIPp {self.name} exited {code}:\n{self.output()}"
        deadline = time.monotonic() + 5
        while True:
            legs = self.calls()
            if (legs and all(leg.done for leg in legs)) or time.monotonic() > deadline:
                return legs
            time.sleep(0.05)

    def leg_with(self, caller: Leg, timeout: float = 10.0) -> Leg:
        """This phone's (an agent's) call that talked with ``caller``'s: answered while
        the caller was on the line, and hung up by Asterisk only once the caller's call
        ended (waits for that BYE). Fails when there is none."""
        assert caller.answered is not None and caller.ended is not None, f"the caller never talked: {caller}"

        def found() -> Leg | None:
            for leg in self.calls():
                if (leg.answered is not None and caller.invited is not None
                        and caller.invited - 0.2 <= leg.answered <= caller.ended + 0.2
                        and leg.hung_up_by == "pbx" and leg.ended is not None and leg.ended >= caller.ended - 0.3):
                    return leg
            return None

        deadline = time.monotonic() + timeout
        while (leg := found()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no call of {self.name} talked with the caller's {caller}; its calls:\n"
                                     + "\n".join(map(str, self.calls())))
            time.sleep(0.1)
        return leg

    def talked_with(self, caller: Leg, timeout: float = 2.0) -> bool:
        """Whether one of this phone's calls talked with ``caller``'s (``leg_with``)."""
        try:
            self.leg_with(caller, timeout)
            return True
        except AssertionError:
            return False

    def outcome(self, timeout: float) -> Leg:
        """How this SIPp's one call ended: who hung up, whether and when it was answered."""
        legs = self.outcomes(timeout)
        assert len(legs) == 1, f"SIPp {self.name}: {len(legs)} calls seen:\n" + "\n".join(map(str, legs))
        return legs[0]


def holds(predicate: Callable[[], Any], seconds: float, what: str, interval: float = 0.1) -> None:
    """A negative check over a window: ``predicate`` stays true for ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        assert predicate(), f"no longer true: {what}"
        if time.monotonic() > deadline:
            return
        time.sleep(interval)


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
    return write_scenario(name, base[:pause] + presses + base[pause:])


def write_scenario(name: str, text: str) -> str:
    """Write scenario ``name`` into the sandbox's scenario directory, atomically: the
    e2e processes running at once share that directory, and a SIPp of another one may
    be reading the same file."""
    path = sandbox_root() / SANDBOX_SIPP / name
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f".{name}.{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)
    return name


def call_with_keys(sandbox: Sandbox, keys: str, talk_ms: int = 3000, exten: str = "100",
                   gap_ms: int = 2500, then_ms: int | None = None) -> Sipp:
    """A caller who dials ``exten``, presses ``keys`` and talks on for ``talk_ms``."""
    return sandbox.call_scenario(keys_scenario(keys, gap_ms, then_ms), exten, talk_ms)
