"""Independent feature computations on two threads (GEOS, numpy and pyarrow release the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def threads() -> int:
    """Threads for independent feature groups: ``KANSENKAART_THREADS`` or 2 (1 = serial)."""
    value = os.environ.get("KANSENKAART_THREADS", "").strip()
    if value.isdigit() and int(value) >= 1:
        return min(int(value), 2)
    return min(2, os.cpu_count() or 1)


def concurrently(*tasks: Callable[[], Any]) -> list[Any]:
    """Run independent tasks on two threads and return their results in order.

    The feature functions spend most of their time in shapely (GEOS), numpy and pyarrow,
    which release the GIL, so two threads use both cores. Tasks must not prepare
    (``shapely.prepare``) geometries another task uses: each overlays the objects with its
    own context layer (which it may prepare), and none prepares the objects themselves.
    """
    if len(tasks) < 2 or threads() < 2:
        return [t() for t in tasks]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="kansenkaart-scan") as pool:
        futures = [pool.submit(t) for t in tasks]
        return [f.result() for f in futures]


def in_background(task: Callable[[], T]) -> Callable[[], T]:
    """Start ``task`` on a thread of its own; the returned function, called once, waits for
    its result (and raises its exception) and hands it over without keeping a reference
    (large results are freed as soon as the caller lets them go). Serial (the task runs at
    the call) with one thread."""
    if threads() < 2:
        done = [task()]
        return done.pop
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kansenkaart-bg")
    pending = [pool.submit(task)]
    pool.shutdown(wait=False)
    return lambda: pending.pop().result()
