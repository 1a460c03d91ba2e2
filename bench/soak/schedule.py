"""The fault schedule: drawn from the seed alone (the same seed, the same schedule), and
printed before the run so a failure can be replayed.

Each fault starts at a moment drawn uniformly over the fault window (after a warm-up,
ending early enough that routing can be seen to return before the traffic stops); the
moments are independent, so windows overlap when they happen to (a leader killed
while AMI is blackholed, the Redis primary killed while a standby starts...). A
windowed fault (a blackhole) lasts ``duration_s``; an instant one (a kill) has
``duration_s`` 0 and the killed process is started again ``restart_after_s`` later."""

from __future__ import annotations

import random
from dataclasses import dataclass

# name: (windowed?, what it does)
KINDS: dict[str, tuple[bool, str]] = {
    "kill9-leader": (False, "kill -9 of the leading engine; started again later as standby"),
    "kill9-standby": (False, "kill -9 of the standby engine; started again later"),
    "sigterm-leader": (False, "SIGTERM of the leading engine; started again later as standby"),
    "kill9-redis-primary": (False, "kill -9 of the Redis primary (Sentinel promotes the replica); "
                                   "a new replica started later"),
    "ami-drop": (False, "every AMI connection reset by the fault proxy"),
    "ari-drop": (False, "every ARI connection (HTTP and websocket) reset by the fault proxy"),
    "ami-blackhole": (True, "AMI blackholed by the fault proxy (bytes stop, no reset)"),
    "ari-blackhole": (True, "ARI blackholed by the fault proxy (bytes stop, no reset)"),
}
# Drawn from a stream of their own (the seed's schedule of the kinds above stays as it
# was before they were added): about one per five minutes of fault window, at least one.
LATER_KINDS: dict[str, tuple[bool, str]] = {
    "webhook-hang": (True, "the department's webhook receiver blackholed (no answer, no reset)"),
    "disk-full": (True, "the recording archive's disk (a tmpfs of its own) filled to the last byte"),
}
FIXED_S = {"disk-full": 60.0}  # (the issue's minute; the others' windows are drawn)
KINDS.update(LATER_KINDS)
# How often each is drawn (the engines' own deaths are the point of the soak).
WEIGHTS = {"kill9-leader": 3, "kill9-standby": 2, "sigterm-leader": 2, "kill9-redis-primary": 2,
           "ami-drop": 1, "ari-drop": 1, "ami-blackhole": 1, "ari-blackhole": 1}  # (not the later kinds)
WARMUP_S = 20.0
QUIET_END_S = 60.0  # no fault in the last minute: routing must be seen to return


@dataclass(frozen=True)
class Fault:
    number: int
    at_s: float  # from the start of the traffic
    kind: str
    duration_s: float = 0.0  # windowed faults: how long; instant ones: 0
    restart_after_s: float = 0.0  # killed processes: started again this long after

    @property
    def heals_at_s(self) -> float:
        """When the fault itself is over (a blackhole lifted, a killed process started
        again): recovery is timed from here."""
        return self.at_s + (self.duration_s if KINDS[self.kind][0] else 0.0)

    def __str__(self) -> str:
        extra = (f" for {self.duration_s:.1f} s" if self.duration_s
                 else f", restarted after {self.restart_after_s:.1f} s" if self.restart_after_s else "")
        return f"#{self.number:02d} t+{self.at_s:7.1f} s  {self.kind}{extra}"


def draw(seed: int, minutes: float) -> list[Fault]:
    """About one fault per 40 s of fault window, at least three; every kind of fault
    appears once before any repeats (when there is room)."""
    rng = random.Random(seed)
    total = minutes * 60.0
    window = max(30.0, total - WARMUP_S - QUIET_END_S)
    count = max(3, int(window // 40))
    kinds = [k for k in KINDS if k not in LATER_KINDS]
    rng.shuffle(kinds)
    chosen = kinds[:count]
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    chosen += rng.choices(names, weights, k=max(0, count - len(chosen)))
    moments = sorted(rng.uniform(WARMUP_S, WARMUP_S + window) for _ in chosen)
    drawn = []
    for at, kind in zip(moments, chosen):
        windowed = KINDS[kind][0]
        duration = round(rng.uniform(4.0, 20.0), 1) if windowed else 0.0
        restart = round(rng.uniform(2.0, 12.0), 1) if kind.startswith(("kill9", "sigterm")) else 0.0
        drawn.append((round(at, 1), kind, duration, restart))
    later = random.Random(f"{seed}/later")
    for kind in LATER_KINDS:
        for _ in range(max(1, int(window // 300))):
            at, duration = round(later.uniform(WARMUP_S, WARMUP_S + window), 1), round(later.uniform(10.0, 40.0), 1)
            drawn.append((at, kind, FIXED_S.get(kind, duration), 0.0))
    return [Fault(i, *d) for i, d in enumerate(sorted(drawn), start=1)]


def overlaps(faults: list[Fault], busy_s: float = 15.0) -> list[tuple[int, int]]:
    """Pairs of faults whose effects overlap: the second starts before the first has
    healed and had ``busy_s`` to recover (a take-over, a failover)."""
    pairs = []
    for a in faults:
        for b in faults:
            if a.number < b.number and b.at_s < a.heals_at_s + a.restart_after_s + busy_s:
                pairs.append((a.number, b.number))
    return pairs


def describe(seed: int, minutes: float, faults: list[Fault]) -> str:
    lines = [f"soak: seed {seed}, {minutes:g} min, {len(faults)} faults (replay: make soak SEED={seed} "
             f"MINUTES={minutes:g})"]
    lines += [f"  {f}" for f in faults]
    pairs = overlaps(faults)
    if pairs:
        lines.append("  overlapping: " + ", ".join(f"#{a:02d}+#{b:02d}" for a, b in pairs))
    return "\n".join(lines)
