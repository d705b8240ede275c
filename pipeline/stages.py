"""Stages of a scan: progress reporting, timing and memory per stage."""

from __future__ import annotations

import ctypes
import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress

#: The stages of a scan, in order, with the label the progress bar shows.
STAGES = (
    ("prepare", "preparing layers"),
    ("search_index", "search index and orientation"),
    ("parcels", "parcels: built-up, owner, merging"),
    ("parcel_features", "parcels: features"),
    ("buildings", "buildings and shop units: features"),
    ("score", "scoring"),
    ("summary", "exclusion reasons and summary"),
)

#: Stages after which freed memory is given back to the operating system: they free millions
#: of geometries and tables of every parcel (0.1–0.4 s each on the province).
RELEASE_AFTER = frozenset({"prepare", "parcels", "parcel_features"})


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (``None`` on other C libraries)."""
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Give memory that was freed back to the operating system.

    The scan frees millions of small geometries and large arrays between its stages; glibc's
    allocator and Arrow's pool keep such memory for reuse, so without this the process keeps
    the high-water mark of every stage resident (benchmarks/README.md, the scan's memory).
    """
    import pyarrow as pa

    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    pa.default_memory_pool().release_unused()


def rss_gb() -> float:
    """This process's resident memory now (GB; Linux ``/proc``, else 0)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**3
    except (OSError, ValueError, IndexError):
        return 0.0


class Stages:
    """Reports stages to a rich ``Progress`` (when given), times them and notes the memory.

    A stage may be entered several times (scoring runs per table); its times add up, and the
    progress bar advances once per stage.
    """

    def __init__(self, progress: Progress | None, timings: dict[str, float]) -> None:
        self.progress = progress
        self.timings = timings
        #: Resident memory (GB) at the end of each stage, the largest if entered repeatedly.
        self.memory: dict[str, float] = {}
        self.task = progress.add_task("scan", total=len(STAGES)) if progress is not None else None

    @contextmanager
    def stage(self, key: str) -> Iterator[None]:
        label = dict(STAGES)[key]
        first = key not in self.timings
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, description=f"scan: {label}")
        t0 = time.perf_counter()
        yield
        if key in RELEASE_AFTER:
            release_free_memory()
        self.timings[key] = round(self.timings.get(key, 0.0) + time.perf_counter() - t0, 3)
        self.memory[key] = round(max(self.memory.get(key, 0.0), rss_gb()), 2)
        if self.progress is not None and self.task is not None and first:
            self.progress.advance(self.task)


@contextmanager
def no_stage() -> Iterator[None]:
    """A stand-in for ``Stages.stage`` when nothing is timed."""
    yield
