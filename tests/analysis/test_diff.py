"""``kansenkaart diff`` on two demo runs with different configs (tests/analysis/conftest.py)."""

from __future__ import annotations

import re

import numpy as np
import pyogrio
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.diff import diff_results
from pipeline.results import read_result

from .conftest import OFFICE_MIN_FLOOR, DemoRuns

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("analysis_demo")]


@pytest.fixture(scope="module")
def diff(demo_runs: DemoRuns):
    old = read_result(demo_runs.old, excluded=True)
    new = read_result(demo_runs.new, excluded=True)
    return old, new, diff_results(old, new)


def test_tier_changes_are_caused_by_the_shifted_weight(diff, demo_runs: DemoRuns) -> None:
    old, new, d = diff
    changed = d[(d["laag"] == "tijdelijke_locaties") & d["wijziging"].isin(["hoger", "lager"])]
    assert len(changed) > 0, "the weight shift must move some plots across a tier boundary"
    crit = demo_runs.shifted_criterion
    # Every cause is recomputed here from the two files: contribution 100 × weight × sub-score.
    a = old.layers["tijdelijke_locaties"].set_index("site_id")
    b = new.layers["tijdelijke_locaties"].set_index("site_id")
    w_old = old.weights("tijdelijke_locatie")
    w_new = new.weights("tijdelijke_locatie")
    assert w_new[crit] == pytest.approx(w_old[crit] + 0.2)
    for _, row in changed.iterrows():
        sid = row["site_id"]
        assert row["klasse_oud"] == a.loc[sid, "tier"] and row["klasse_nieuw"] == b.loc[sid, "tier"]
        assert (row["wijziging"] == "hoger") == (row["klasse_nieuw"] < row["klasse_oud"])
        deltas = {
            cid: 100
            * (
                w_new[cid] * b.loc[sid, f"c_{cid}_score"]
                - w_old[cid] * a.loc[sid, f"c_{cid}_score"]
            )
            for cid in w_old
        }
        expected = [
            c
            for c, v in sorted(deltas.items(), key=lambda kv: (-round(abs(kv[1]), 9), kv[0]))
            if abs(v) >= 0.05
        ]
        codes = row["oorzaak_codes"].split(",")
        assert codes[: len(expected)] == expected[: len(codes)]
        top = expected[0]
        sign = "+" if deltas[top] > 0 else "−"
        assert re.search(re.escape(sign) + r"\d+,\d punten", row["oorzaken"])
        # the causes add up to the score change (up to rounding of the stored scores)
        assert sum(deltas.values()) == pytest.approx(
            b.loc[sid, "score"] - a.loc[sid, "score"], abs=0.2
        )
    assert any("gewicht" in t for t in changed["oorzaken"])


def test_offices_below_the_new_minimum_disappear_with_the_exclusion_code(diff) -> None:
    old, _new, d = diff
    gone = d[(d["laag"] == "kantoren") & (d["wijziging"] == "verdwenen")]
    offices = old.layers["kantoren"]
    small = offices[offices["office_floor_m2"] < OFFICE_MIN_FLOOR]
    assert len(small) > 0
    assert set(gone["site_id"]) == set(small["site_id"])
    assert gone["oorzaak_codes"].str.contains("kantoor_te_klein").all()
    assert gone["oorzaken"].str.startswith("Verdwenen: in de nieuwe run uitgesloten").all()
    assert d[(d["laag"] == "kantoren") & (d["wijziging"] == "nieuw")].empty


def test_the_reverse_diff_swaps_appeared_and_disappeared(diff) -> None:
    old, new, d = diff
    back = diff_results(new, old)
    for layer in ("tijdelijke_locaties", "kantoren", "plinten"):
        fw = d[d["laag"] == layer]
        bw = back[back["laag"] == layer]
        assert set(fw.loc[fw["wijziging"] == "nieuw", "site_id"]) == set(
            bw.loc[bw["wijziging"] == "verdwenen", "site_id"]
        )
        assert set(fw.loc[fw["wijziging"] == "hoger", "site_id"]) == set(
            bw.loc[bw["wijziging"] == "lager", "site_id"]
        )
    same = diff_results(old, old)
    assert same.empty


def test_cli_prints_a_table_and_writes_the_geopackage_layer(
    demo_runs: DemoRuns, diff, tmp_path
) -> None:
    _, _, d = diff
    out = tmp_path / "verschil.gpkg"
    result = CliRunner().invoke(
        app, ["diff", str(demo_runs.old), str(demo_runs.new), "--out", str(out), "--limit", "5"]
    )
    assert result.exit_code == 0, result.output
    assert "Verschillen old.gpkg → new.gpkg" in result.output
    assert "klasse lager" in result.output or "klasse hoger" in result.output
    layers = dict(pyogrio.list_layers(out))
    assert "verschillen" in layers
    written = pyogrio.read_dataframe(out, layer="verschillen")
    assert len(written) == len(d)
    assert written.crs.to_epsg() == 28992
    assert set(written.columns) >= {
        "site_id",
        "wijziging",
        "klasse_oud",
        "klasse_nieuw",
        "oorzaken",
    }
    assert np.all(written.geometry.notna())
    assert not list(tmp_path.glob(".*tmp*"))  # written, then renamed
    # the file can leave the service: its layer says what it is and the framing
    import sqlite3

    with sqlite3.connect(out) as con:
        (description,) = con.execute(
            "SELECT description FROM gpkg_contents WHERE table_name = 'verschillen'"
        ).fetchone()
    assert description.startswith("Kansenkaart flexwonen: verschillen tussen twee scanruns")
    assert "Verkenning, geen besluit" in description and "Vertrouwelijk" in description


def test_cli_refuses_what_is_not_a_result(tmp_path, demo_runs: DemoRuns) -> None:
    bogus = tmp_path / "geen.gpkg"
    bogus.write_text("geen geopackage")
    result = CliRunner().invoke(app, ["diff", str(bogus), str(demo_runs.new)])
    assert result.exit_code == 2
    assert "geen.gpkg" in result.output and "fix:" in result.output
    missing = CliRunner().invoke(app, ["diff", str(tmp_path / "weg.gpkg"), str(demo_runs.new)])
    assert missing.exit_code == 2 and "does not exist" in missing.output
