"""R4: every answered call has its recording. Pure: the facts come in, a report comes out.

A call's recording is ``missing`` (no file), ``empty`` (no audio), ``silent`` (only
line noise) or ``short`` (its length differs from the answered time by more than the
tolerance); otherwise ``ok``. Coverage is the share of answered calls that are ok.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from recording.wav import SILENCE_RMS, WavInfo


@dataclass(frozen=True, slots=True)
class AnsweredCall:
    call_id: str
    answered_at: float
    ended_at: float

    @property
    def answered_s(self) -> float:
        return self.ended_at - self.answered_at


@dataclass(frozen=True, slots=True)
class Finding:
    call_id: str
    problem: str  # missing, empty, silent, short, unreadable
    detail: str


@dataclass(frozen=True, slots=True)
class Report:
    answered: int
    ok: int
    findings: tuple[Finding, ...]

    @property
    def coverage(self) -> float:
        return 1.0 if self.answered == 0 else self.ok / self.answered


def audit(
    calls: Iterable[AnsweredCall],
    recordings: Mapping[str, WavInfo | str],
    tolerance_s: float = 1.0,
) -> Report:
    """``recordings``: call id -> what the file holds, or why it could not be read."""
    findings: list[Finding] = []
    answered = ok = 0
    for call in calls:
        answered += 1
        info = recordings.get(call.call_id)
        if info is None:
            findings.append(Finding(call.call_id, "missing", "no recording"))
        elif isinstance(info, str):
            findings.append(Finding(call.call_id, "unreadable", info))
        elif info.duration_s == 0:
            findings.append(Finding(call.call_id, "empty", "no audio"))
        elif abs(info.duration_s - call.answered_s) > tolerance_s:
            findings.append(Finding(
                call.call_id, "short",
                f"{info.duration_s:.1f} s recorded for {call.answered_s:.1f} s answered",
            ))
        elif info.rms < SILENCE_RMS:
            findings.append(Finding(call.call_id, "silent", f"RMS {info.rms:.1f}"))
        else:
            ok += 1
    return Report(answered, ok, tuple(findings))
