"""Running feature work on two threads: results in order, nothing kept after hand-over."""

from __future__ import annotations

import gc
import weakref

import pytest

from pipeline.features._parallel import concurrently, in_background


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


def test_concurrently_raises_a_task_error() -> None:
    def fail() -> int:
        raise ValueError("plan 3 is not GML")

    with pytest.raises(ValueError, match="plan 3"):
        concurrently(lambda: 1, fail, lambda: 3)
