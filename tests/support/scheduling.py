"""Start the test files holding long runs first under pytest-xdist, whole files to a worker.

`--dist loadfile` queues the files by their number of tests, most first, so a file of one to
three end-to-end journeys (a server process, a stream played in real time) starts last and
runs on while the other workers are idle. Here the workers order their collection with
`long_files_first` (files holding a test marked `slow` first, then as xdist would: most tests
first), and `LongFilesFirst` hands the files out in that order, still each to one worker (a
module's fixtures are built once).
"""

from __future__ import annotations

from collections import OrderedDict

import pytest
from xdist.scheduler import LoadFileScheduling
from xdist.workermanage import WorkerController


def long_files_first(items: list[pytest.Item]) -> None:
    """Reorder `items` file by file: files with a `slow` test first, then by number of tests.

    Tests keep their order inside a file; every worker computes the same order.
    """
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def key(tests: list[pytest.Item]) -> tuple[bool, int]:
        slow = any(test.get_closest_marker("slow") is not None for test in tests)
        return (not slow, -len(tests))

    items[:] = [item for tests in sorted(files.values(), key=key) for item in tests]


class LongFilesFirst(LoadFileScheduling):
    """`--dist loadfile`, with the files queued in collection order (see `long_files_first`)."""

    _ordered = False

    def _assign_work_unit(self, node: WorkerController) -> None:
        if not self._ordered:
            # The first call comes once `schedule` has queued every file (by number of tests).
            first: dict[str, int] = {}
            for index, nodeid in enumerate(self.collection or ()):
                first.setdefault(self._split_scope(nodeid), index)
            self.workqueue = OrderedDict(
                sorted(self.workqueue.items(), key=lambda unit: first[unit[0]])
            )
            self._ordered = True
        super()._assign_work_unit(node)
