"""What a recording file holds: a valid WAV's duration and whether it is silent."""

from __future__ import annotations

import array
import math
import sys
import wave
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class WavInfo:
    duration_s: float
    rms: float  # of 16-bit samples, 0..32767
    peak: int


class NotWav(ValueError):
    pass


def inspect(path: Path) -> WavInfo:
    try:
        with wave.open(str(path), "rb") as w:
            frames = w.getnframes()
            rate = w.getframerate()
            width = w.getsampwidth()
            data = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise NotWav(f"{path.name}: not a valid WAV ({exc})") from None
    if rate <= 0:
        raise NotWav(f"{path.name}: sample rate {rate}")
    if width != 2:
        raise NotWav(f"{path.name}: {8 * width}-bit samples, expected 16-bit")
    samples = array.array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return WavInfo(0.0, 0.0, 0)
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    return WavInfo(frames / rate, rms, max(abs(min(samples)), max(samples)))


SILENCE_RMS = 30.0  # about -60 dBFS: line noise, no voice
