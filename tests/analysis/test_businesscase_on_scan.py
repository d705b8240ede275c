"""The business case reads the revised model's columns of a real demo scan (contracts §F.1):
homes from ``capacity_low``/``capacity_units``/``capacity_high``, the first term from the
availability window ``beschikbaar_jaren`` (a plot with a housing plan starting in a few years
gets that many years, not the permit term), the land area from ``net_area_m2``."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest

from pipeline.businesscase import business_case_table, load_key_figures, site_business_case

from .conftest import DemoRuns

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("analysis_demo")]


@pytest.fixture(scope="module")
def plots(demo_runs: DemoRuns):
    return pyogrio.read_dataframe(demo_runs.old, layer="tijdelijke_locaties", read_geometry=False)


def test_the_scan_writes_the_columns_the_business_case_reads(plots) -> None:
    for column in ("capacity_units", "capacity_low", "capacity_high", "beschikbaar_jaren"):
        assert column in plots.columns, column
        assert plots[column].notna().all(), column
    assert (plots["capacity_low"] <= plots["capacity_units"]).all()
    assert (plots["capacity_units"] <= plots["capacity_high"]).all()
    permit = load_key_figures().permit_term_years
    assert (plots["beschikbaar_jaren"] <= permit).all()
    # the demo has plots whose window a housing plan shortens: the case below depends on them
    assert (plots["beschikbaar_jaren"] < permit).any()


def test_first_term_is_the_scans_window_and_homes_its_capacity(plots) -> None:
    table = business_case_table(plots, opportunity_type="tijdelijke_locatie")
    window = plots["beschikbaar_jaren"].to_numpy(dtype="float64")
    np.testing.assert_array_equal(table["eerste_termijn_jaar"], np.maximum(1, window))
    np.testing.assert_array_equal(table["woningen"], plots["capacity_units"].to_numpy())
    for choice, column in (("laag", "capacity_low"), ("hoog", "capacity_high")):
        other = business_case_table(
            plots, opportunity_type="tijdelijke_locatie", overrides={"capacity": choice}
        )
        np.testing.assert_array_equal(other["woningen"], plots[column].to_numpy())
    # a shorter window earns less rent on the same investment per home: NPV per home is lower
    per_home = table["ncw_eur"] / table["woningen"].where(table["woningen"] > 0)
    short = plots["beschikbaar_jaren"] < 10
    full = plots["beschikbaar_jaren"] >= 15
    if short.any() and full.any():
        assert per_home[short].median() < per_home[full].median()


def test_a_plot_with_a_plan_says_so_in_the_panel(plots) -> None:
    permit = load_key_figures().permit_term_years
    row = plots[plots["beschikbaar_jaren"] < permit].iloc[0]
    answer = site_business_case(row.to_dict(), opportunity_type="tijdelijke_locatie")
    assert answer["inputs"]["window_source"] == "beschikbaar_jaren"
    assert answer["inputs"]["window_years"] == int(row["beschikbaar_jaren"])
    years = int(row["beschikbaar_jaren"])
    assert answer["result"]["first_term_years"] == max(1, years)
    assert answer["notes"][0].startswith(f"Beschikbaarheid uit de scan: {years} jaar")
