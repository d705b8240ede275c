"""``kansenkaart sensitivity``: hand-checkable draws, and a demo run's stability stored in place."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyogrio
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.sensitivity import perturbed_weights, result_stability, tier_stability

from .conftest import DemoRuns

THRESHOLDS = {"A": 80.0, "B": 65.0, "C": 50.0, "D": 35.0}


def test_perturbed_weights_are_seeded_within_the_spread_and_sum_to_one() -> None:
    w = perturbed_weights([0.5, 0.3, 0.2], draws=200, spread=0.2, seed=7)
    assert w.shape == (200, 3)
    assert np.allclose(w.sum(axis=1), 1.0)
    # before renormalising each factor is in [0.8, 1.2], so a weight moves at most 1.2/0.8
    ratio = w / np.array([0.5, 0.3, 0.2])
    assert ratio.max() <= 1.2 / 0.8 + 1e-12 and ratio.min() >= 0.8 / 1.2 - 1e-12
    assert np.array_equal(w, perturbed_weights([0.5, 0.3, 0.2], draws=200, spread=0.2, seed=7))
    assert not np.array_equal(w, perturbed_weights([0.5, 0.3, 0.2], draws=200, spread=0.2, seed=8))


def test_stability_by_hand() -> None:
    # Two criteria weighted 0.5/0.5. Site 1 scores (1, 1): 100 with any weights -> always A.
    # Site 2 scores (1, 0): 100 × w1, i.e. 50.0 (tier C) with the base weights; it stays C
    # exactly when w1 ≥ 0.4995 (rounded to 50.0), else it drops to D.
    # Site 3 scores (1, 0.9) but a tier cap "at most B": 95 -> capped at 79.9 -> always B.
    sub = np.array([[1.0, 1.0], [1.0, 0.0], [1.0, 0.9]])
    caps = np.array(["", "", "B"], dtype=object)
    st = tier_stability(
        sub,
        [0.5, 0.5],
        method="weighted_sum",
        thresholds=THRESHOLDS,
        max_tier=caps,
        draws=400,
        spread=0.2,
        seed=3,
    )
    assert st.base_tier.tolist() == ["A", "C", "B"]
    w = perturbed_weights([0.5, 0.5], draws=400, spread=0.2, seed=3)
    expected = np.mean(np.floor(100 * w[:, 0] * 10 + 0.5 + 1e-9) / 10 >= 50.0)
    assert 0.3 < expected < 0.7
    assert st.share_same.tolist() == pytest.approx([1.0, expected, 1.0])
    assert st.tier_share[1].tolist() == pytest.approx([0, 0, expected, 1 - expected, 0])
    # penalties subtract before rounding: 100 − 25 = 75 -> B, whatever the weights
    pen = tier_stability(
        sub[:1],
        [0.5, 0.5],
        method="weighted_sum",
        thresholds=THRESHOLDS,
        penalty=np.array([25.0]),
        draws=50,
        spread=0.2,
        seed=1,
    )
    assert pen.base_tier.tolist() == ["B"] and pen.share_same.tolist() == [1.0]


@pytest.mark.slow
@pytest.mark.xdist_group("analysis_demo")
def test_demo_result_stability_stored_in_place(demo_runs: DemoRuns, tmp_path) -> None:
    result = tmp_path / "run.gpkg"
    shutil.copy(demo_runs.old, result)
    layers = result_stability(result, draws=30, spread=0.2, seed=5)
    for ls in layers:
        # the unperturbed weights give back the tiers the scan wrote (sub-scores are stored to
        # 4 decimals and penalty points to 0.1, so a score on a threshold could in principle flip)
        assert np.mean(ls.stability.base_tier == ls.stored_tier) >= 0.999, ls.layer
    cli = CliRunner().invoke(
        app, ["sensitivity", "--result", str(result), "--draws", "30", "--seed", "5"]
    )
    assert cli.exit_code == 0, cli.output
    assert "Robuustheid van de klasse" in cli.output
    for ls in layers:
        df = pyogrio.read_dataframe(
            result,
            layer=ls.layer,
            columns=["site_id", "stabiliteit", "stabiliteit_trekkingen"],
            read_geometry=False,
        ).set_index("site_id")
        got = df.loc[[str(s) for s in ls.site_ids], "stabiliteit"].to_numpy()
        assert got == pytest.approx(np.round(ls.stability.share_same, 4))
        assert (df["stabiliteit_trekkingen"] == 30).all()
        assert df["stabiliteit"].between(0, 1).all()
    meta = pyogrio.read_dataframe(result, layer="run_metadata", read_geometry=False)
    info = json.loads(meta.set_index("key").loc["sensitivity", "value"])
    assert info["draws"] == 30 and info["seed"] == 5 and info["spread"] == 0.2
    # the file is still a valid result: the other commands read it
    again = CliRunner().invoke(
        app, ["sensitivity", "--result", str(result), "--draws", "30", "--seed", "5", "--dry-run"]
    )
    assert again.exit_code == 0 and "niet opgeslagen" in again.output


def test_bad_arguments_are_exit_2(tmp_path) -> None:
    r = CliRunner().invoke(
        app, ["sensitivity", "--result", str(tmp_path / "x.gpkg"), "--spread", "1.5"]
    )
    assert r.exit_code == 2
    r = CliRunner().invoke(app, ["sensitivity", "--result", str(tmp_path / "x.gpkg")])
    assert r.exit_code == 2 and "does not exist" in r.output
