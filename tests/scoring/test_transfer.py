"""Transfer functions: exact values at and between the breakpoints, and missing values."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.scoring.config import Boolean, Categorical, Decreasing, IdealRange, Increasing, Steps
from pipeline.scoring.transfer import (
    apply_transfer,
    boolean,
    categorical,
    decreasing,
    ideal_range,
    increasing,
    steps,
)


def test_increasing_is_zero_below_full_above_and_linear_between() -> None:
    out = increasing([-5, 0, 5, 12.5, 25, 40, np.nan], zero_at=0, full_at=25)
    np.testing.assert_allclose(out[:6], [0, 0, 0.2, 0.5, 1, 1])
    assert np.isnan(out[6])


def test_decreasing_is_full_below_zero_above_and_linear_between() -> None:
    # noise: full at <= 53 dB, nothing at >= 70 dB
    out = decreasing([40, 53, 61.5, 70, 80, None], full_at=53, zero_at=70)
    np.testing.assert_allclose(out[:5], [1, 1, 0.5, 0, 0])
    assert np.isnan(out[5])


def test_ideal_range_has_ramps_on_both_sides() -> None:
    out = ideal_range(
        [20, 33, 36.5, 40, 80, 120, 185, 250, 400, np.nan],
        zero_below=33,
        low=40,
        high=120,
        zero_above=250,
    )
    np.testing.assert_allclose(out[:9], [0, 0, 0.5, 1, 1, 1, 0.5, 0, 0])
    assert np.isnan(out[9])


def test_ideal_range_with_zero_width_ramp_is_a_step() -> None:
    out = ideal_range([1.9, 2, 10, 10.1], zero_below=2, low=2, high=10, zero_above=10)
    np.testing.assert_allclose(out, [0, 1, 1, 0])


def test_steps_take_the_last_step_reached() -> None:
    # kantoor vacancy: < 1 year 0, 1–3 years 0.6, >= 3 years 1
    out = steps([0, 0.99, 1, 2.5, 3, 10, np.nan], froms=[1, 3], scores=[0.6, 1.0], below=0.0)
    np.testing.assert_allclose(out[:6], [0, 0, 0.6, 0.6, 1, 1])
    assert np.isnan(out[6])


def test_categorical_maps_defaults_and_missing_values() -> None:
    out = categorical(
        ["provincie", "overig", "zzz", "onbekend", None],
        scores={"provincie": 1.0, "overig": 0.2},
        default=0.3,
        missing_values=["onbekend"],
    )
    np.testing.assert_allclose(out[:3], [1.0, 0.2, 0.3])
    assert np.isnan(out[3]) and np.isnan(out[4])


def test_boolean_maps_true_false_and_null() -> None:
    out = boolean([True, False, None], if_true=1.0, if_false=0.25)
    np.testing.assert_allclose(out[:2], [1.0, 0.25])
    assert np.isnan(out[2])


@pytest.mark.parametrize(
    ("model", "values", "expected"),
    [
        (Increasing(type="increasing", zero_at=0, full_at=10), [5], [0.5]),
        (Decreasing(type="decreasing", full_at=400, zero_at=1200), [800], [0.5]),
        (IdealRange(type="ideal_range", zero_below=1, low=2, high=10, zero_above=20), [15], [0.5]),
        (Steps.model_validate({"type": "steps", "steps": [{"from": 1, "score": 0.6}]}), [2], [0.6]),
        (Categorical(type="categorical", scores={"a": 0.7}), ["a"], [0.7]),
        (Boolean(type="boolean"), [True], [1.0]),
    ],
)
def test_apply_transfer_dispatches_on_the_config_model(model, values, expected) -> None:
    np.testing.assert_allclose(apply_transfer(values, model), expected)
