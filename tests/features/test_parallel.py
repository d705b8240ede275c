"""Running feature work on two threads: results in order, nothing kept after hand-over."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from pipeline.features._parallel import concurrently, in_background, in_order


class _Result:
    """Stands for a large result (a layer of millions of rows)."""


@pytest.mark.parametrize("threads", ["1", "2"])
def test_background_result_is_not_kept_after_hand_over(
    monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    monkeypatch.setenv("KANSENKAART_THREADS", threads)
    job = in_background(_Result)
    result = job()
    assert isinstance(result, _Result)
    ref = weakref.ref(result)
    del result
    gc.collect()
    assert ref() is None  # the job itself no longer holds it
    assert job is not None


def test_concurrently_returns_results_in_order() -> None:
    assert concurrently(lambda: 1, lambda: 2, lambda: 3) == [1, 2, 3]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_in_order_yields_in_the_order_of_the_items(
    monkeypatch: pytest.MonkeyPatch, threads: str
) -> None:
    monkeypatch.setenv("KANSENKAART_THREADS", threads)
    names: set[str] = set()

    def task(k: int) -> int:
        time.sleep(0.02 * (5 - k))  # the first items finish last
        names.add(threading.current_thread().name)
        return k * k

    assert list(in_order(task, range(6))) == [0, 1, 4, 9, 16, 25]
    assert len(names) == int(threads)  # two at a time with two threads


def test_in_order_raises_when_the_failed_item_comes() -> None:
    def task(k: int) -> int:
        if k == 2:
            raise ValueError("item 2")
        return k

    got = []
    with pytest.raises(ValueError, match="item 2"):
        for v in in_order(task, range(4)):
            got.append(v)
    assert got == [0, 1]
