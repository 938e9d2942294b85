"""CPU time per pipeline stage, measured on the thread that does the work.

Each stage is timed with the thread's own CPU clock (`time.thread_time_ns`), so time spent
waiting (for a frame, for the detector, for a core another process holds) is never charged to
it, and the figure is the stage's cost under whatever load the machine has. A clock read is a
system call (1-4 µs here): at 24 cameras the engine reads it about 2,500 times a second, under
0.5 % of a core. `vigil-analytics bench e2e` adds every stage up and compares the sum with the
CPU time the process got.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
import time
from typing import Final

REQUIRED_STAGES: Final = (
    "decode",
    "convert",
    "privacy",
    "tamper",
    "motion",
    "preprocess",
    "inference",
    "postprocess",
    "tracker",
    "track_stages",
    "rules",
)
"""Work a camera needs done whatever the engine's design: what the compute bound is made of."""

OVERHEAD_STAGES: Final = ("source", "publish", "handoff", "queue")
"""Measured work that moves frames and results around (bookkeeping, queues, events)."""


@dataclass(frozen=True, slots=True)
class StageCost:
    """How often a stage ran and the CPU time it took, in total."""

    calls: int
    cpu_s: float

    @property
    def ms_per_call(self) -> float:
        """Return the mean CPU milliseconds per call."""
        return 1000.0 * self.cpu_s / self.calls if self.calls else 0.0

    def __add__(self, other: StageCost) -> StageCost:
        return StageCost(self.calls + other.calls, self.cpu_s + other.cpu_s)

    def __sub__(self, other: StageCost) -> StageCost:
        return StageCost(self.calls - other.calls, self.cpu_s - other.cpu_s)


type CostTable = Mapping[str, StageCost]


class StageCosts:
    """Calls and thread CPU time per stage, written by one thread and read by any.

    Only the owning thread writes; readers take a snapshot, which may be one update behind.
    """

    __slots__ = ("_calls", "_ns")

    def __init__(self) -> None:
        """Start with every stage at zero."""
        self._ns: dict[str, int] = {}
        self._calls: dict[str, int] = {}

    def add(self, stage: str, cpu_ns: int, calls: int = 1) -> None:
        """Charge `cpu_ns` nanoseconds of CPU and `calls` calls to a stage."""
        self._ns[stage] = self._ns.get(stage, 0) + cpu_ns
        self._calls[stage] = self._calls.get(stage, 0) + calls

    def laps(self) -> Laps:
        """Return a lap timer that charges this thread's CPU time since its last lap."""
        return Laps(self)

    def snapshot(self) -> dict[str, StageCost]:
        """Return the totals so far."""
        calls = dict(self._calls)
        return {
            stage: StageCost(count, self._ns.get(stage, 0) / 1e9) for stage, count in calls.items()
        }


class Laps:
    """Charge the calling thread's CPU time between two marks to the stage named at the second."""

    __slots__ = ("_costs", "_last")

    def __init__(self, costs: StageCosts) -> None:
        """Start timing now."""
        self._costs = costs
        self._last = time.thread_time_ns()

    def __call__(self, stage: str, calls: int = 1) -> None:
        """Charge the time since the previous mark to `stage` and start the next lap."""
        now = time.thread_time_ns()
        self._costs.add(stage, now - self._last, calls)
        self._last = now

    def restart(self) -> None:
        """Start the next lap now without charging anything (after a wait)."""
        self._last = time.thread_time_ns()


class _Discard(Laps):
    """A lap timer that charges nothing (for callers that do not measure)."""

    __slots__ = ()

    def __init__(self) -> None:
        self._last = 0

    def __call__(self, stage: str, calls: int = 1) -> None:
        """Do nothing."""

    def restart(self) -> None:
        """Do nothing."""


NO_LAPS: Final[Laps] = _Discard()
"""The lap timer of callers that do not measure."""


def merge(tables: Iterable[CostTable]) -> dict[str, StageCost]:
    """Add several cost tables stage by stage."""
    total: dict[str, StageCost] = {}
    for table in tables:
        for stage, cost in table.items():
            total[stage] = total[stage] + cost if stage in total else cost
    return total


def difference(after: CostTable, before: CostTable) -> dict[str, StageCost]:
    """Return what each stage cost between two snapshots."""
    zero = StageCost(0, 0.0)
    return {stage: cost - before.get(stage, zero) for stage, cost in after.items()}
