"""Hypothesis properties of the scoring: bounded, monotone, order-independent, deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.schemas import HOOFDGROEPEN, OWNER_CLASSES
from pipeline.scoring import load_config, score_table
from pipeline.scoring.config import KNOWN_COLUMNS, STUDY_COLUMN, TYPE_NAMES

from .conftest import make_table

CONFIG = load_config(None)
SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])

maybe_nan = st.one_of(st.just(float("nan")), st.floats(0, 1))


def column_strategy(col: str) -> st.SearchStrategy:
    if col == "gemeentecode":
        return st.sampled_from(["GM0599", "GM0518", "GM0363"])
    if col == "owner_class":
        return st.sampled_from([*OWNER_CLASSES, "onbekend"])
    if col == "zoning_hoofdgroep":
        return st.sampled_from([*HOOFDGROEPEN, "onbekend"])
    if col == "energielabel":
        return st.sampled_from(["A", "B", "C", "D", "G", "onbekend"])
    if col in ("geluid_boven_grenswaarde", "geluid_boven_standaardwaarde"):
        return st.sampled_from(["", "", "wegverkeer 66 dB (grenswaarde 63 dB)"])
    if col in ("plan_id", "plan_naam"):
        return st.sampled_from([None, "P1"])
    if col == "plan_status":
        return st.sampled_from([None, "hard", "zacht"])
    if col == "beschikbaarheid":
        return st.sampled_from(["geen_plan", "tot_ontwikkeling"])
    if col == "winkelligging":
        return st.sampled_from(["aanloopstraat", "verspreid", "winkelstraat", "onbekend"])
    if col == "own_entrance":
        return st.sampled_from(["eigen_pand", "gedeeld_pand", "onbekend"])
    if col == "in_bsd":
        return st.sampled_from([0.0, 1.0, float("nan")])
    if col.startswith(("is_", "in_", "zoning_wonen", "merged", "fits_")):
        return st.booleans()
    if col.startswith("dist_"):
        return st.floats(0, 10_000)
    if col.startswith("noise_") and col.endswith("_db"):
        return st.one_of(st.just(float("nan")), st.floats(30, 85))
    if col == "noise_excess":
        return st.one_of(st.just(float("nan")), st.floats(0, 1))
    if col in ("plan_startjaar", "beschikbaar_tot"):
        return st.one_of(st.just(float("nan")), st.integers(2025, 2045).map(float))
    if col in ("plan_jaren_tot_start", "beschikbaar_jaren"):
        return st.floats(0, 15)
    if col.endswith(("_frac", "_share", "_fraction", "readiness", "_500m", "vacancy")):
        return st.floats(0, 1)
    if col == "bouwjaar":
        return st.integers(1850, 2025)
    if col.startswith(("n_", "bouwlagen", "street_shop_units", "capacity")):
        return st.integers(0, 40)
    if col.endswith(("_m2",)):
        return st.floats(0, 50_000)
    if col == "vacant_years":
        return st.floats(0, 15)
    return st.floats(0, 100)


@st.composite
def feature_tables(
    draw: st.DrawFn, type_name: str, min_rows: int = 1, max_rows: int = 6
) -> pd.DataFrame:
    n = draw(st.integers(min_rows, max_rows))
    cols = {
        c: draw(st.lists(column_strategy(c), min_size=n, max_size=n))
        for c in KNOWN_COLUMNS[type_name]
    }
    return make_table(type_name, n, **cols)


def no_exclusions(type_name: str):
    return CONFIG.types[type_name].model_copy(update={"exclusions": []})


def monotone_columns(type_name: str) -> dict[str, int]:
    """Columns whose every use is a transfer of one direction (+1 higher is better, -1 lower)."""
    dirs: dict[str, set[int]] = {}
    for c in CONFIG.types[type_name].criteria:
        for p in c.parts:
            dirs.setdefault(p.column, set()).add(p.transfer.direction)
    numeric = {"increasing", "decreasing", "steps"}
    for c in CONFIG.types[type_name].criteria:
        for p in c.parts:
            if p.transfer.type not in numeric:
                dirs.setdefault(p.column, set()).add(0)
    for pen in CONFIG.types[type_name].penalties:  # a penalty: more of it is worse
        dirs.setdefault(pen.column, set()).add(-pen.transfer.direction)
    out = {col: d.pop() for col, d in dirs.items() if len(d) == 1 and 0 not in d}
    out.pop("capacity_units", None)  # recomputed from the capacity rule's column
    out.pop(STUDY_COLUMN, None)  # recomputed from the aandachtspunten
    cap = CONFIG.types[type_name].capacity.column
    if cap not in dirs:  # the capacity rule is increasing in its column
        out[cap] = 1
    return out


@pytest.mark.slow
@pytest.mark.parametrize("type_name", TYPE_NAMES)
@SETTINGS
@given(data=st.data())
def test_scores_stay_within_0_and_100(type_name: str, data: st.DataObject) -> None:
    table = data.draw(feature_tables(type_name))
    cand, excl = score_table(table, CONFIG.types[type_name], type_name=type_name)
    assert len(cand) + len(excl) == len(table)
    assert ((cand["score"] >= 0) & (cand["score"] <= 100)).all()
    assert cand["tier"].isin(list("ABCDE")).all()
    for col in cand.columns:
        if col.startswith("c_") and col.endswith("_score"):
            assert ((cand[col] >= 0) & (cand[col] <= 1)).all(), col
    # geometric mean on the same data is bounded too
    geo = CONFIG.types[type_name].model_copy(update={"aggregation": "weighted_geometric_mean"})
    cand_g, _ = score_table(table, geo, type_name=type_name)
    assert ((cand_g["score"] >= 0) & (cand_g["score"] <= 100)).all()
    # geometric mean <= arithmetic mean, row by row (the two rank orders may differ)
    assert (cand_g["score"] <= cand["score"].reindex(cand_g.index) + 0.1).all()


@pytest.mark.slow
@pytest.mark.parametrize("type_name", TYPE_NAMES)
@SETTINGS
@given(data=st.data())
def test_improving_an_input_never_lowers_the_score(type_name: str, data: st.DataObject) -> None:
    """Each row gets one input improved (raised if higher is better, lowered if lower is)."""
    columns = monotone_columns(type_name)
    assert len(columns) >= 4  # the property is not vacuous
    table = data.draw(feature_tables(type_name))
    better = table.copy()
    for i in range(len(table)):
        col = data.draw(st.sampled_from(sorted(columns)))
        base = table[col].iloc[i]
        if pd.isna(base):
            base = 50.0
            table.iloc[i, table.columns.get_loc(col)] = base
        step = data.draw(st.floats(0, 5_000))
        better.iloc[i, better.columns.get_loc(col)] = base + columns[col] * step
    tc = no_exclusions(type_name)
    before = score_table(table, tc, type_name=type_name)[0]["score"]
    after = score_table(better, tc, type_name=type_name)[0]["score"].reindex(before.index)
    assert (after >= before).all(), pd.concat([before, after], axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("type_name", TYPE_NAMES)
@SETTINGS
@given(data=st.data())
def test_results_do_not_depend_on_row_order(type_name: str, data: st.DataObject) -> None:
    table = data.draw(feature_tables(type_name, min_rows=2, max_rows=8))
    perm = data.draw(st.permutations(list(range(len(table)))))
    tc = CONFIG.types[type_name]
    cand_a, excl_a = score_table(table, tc, type_name=type_name)
    cand_b, excl_b = score_table(table.iloc[perm], tc, type_name=type_name)
    pd.testing.assert_frame_equal(cand_a, cand_b)
    pd.testing.assert_frame_equal(excl_a, excl_b)


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_identical_input_gives_identical_output(type_name: str) -> None:
    rng = np.random.default_rng(7)
    n = 50
    cols = {}
    for c in KNOWN_COLUMNS[type_name]:
        if c.startswith("dist_"):
            cols[c] = rng.uniform(0, 5000, n)
        elif c in ("noise_db",):
            cols[c] = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(40, 75, n))
    table = make_table(type_name, n, gemeentecode=rng.choice(["GM1", "GM2"], n), **cols)
    a = score_table(table, CONFIG.types[type_name], type_name=type_name)
    b = score_table(table.copy(), CONFIG.types[type_name], type_name=type_name)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert a[0]["explanation"].tolist() == b[0]["explanation"].tolist()


#: What "farther from transit, shops or the GP" changes: every distance to them.
FARTHER = (
    "dist_trein_m",
    "dist_metro_m",
    "dist_tram_m",
    "dist_bus_m",
    "dist_rail_m",
    "dist_station_m",
    "dist_hov_m",
    "dist_ov_m",
    "dist_winkel_m",
    "dist_gezondheidszorg_m",
)


@pytest.mark.slow
@pytest.mark.parametrize("type_name", TYPE_NAMES)
@SETTINGS
@given(data=st.data())
def test_moving_farther_from_transit_shops_or_the_gp_never_raises_a_score(
    type_name: str, data: st.DataObject
) -> None:
    """No criterion rewards remoteness: a site moved farther away (every distance to transit,
    shops and the GP grown, fewer shops around) scores at most what it scored, and a site
    the knock-outs drop counts as scoring nothing. With the shipped exclusions."""
    table = data.draw(feature_tables(type_name))
    farther = table.copy()
    for col in FARTHER:
        grow = data.draw(st.lists(st.floats(0, 3_000), min_size=len(table), max_size=len(table)))
        farther[col] = table[col].to_numpy(float) + np.asarray(grow)
    fewer = data.draw(st.lists(st.integers(0, 5), min_size=len(table), max_size=len(table)))
    farther["n_winkel_500m"] = np.maximum(0, table["n_winkel_500m"].to_numpy() - np.asarray(fewer))
    tc = CONFIG.types[type_name]
    before = score_table(table, tc, type_name=type_name)[0]["score"]
    after = score_table(farther, tc, type_name=type_name)[0]["score"]
    after = after.reindex(table.index).fillna(-1.0)  # excluded now: scores nothing
    before = before.reindex(table.index).fillna(-1.0)
    assert (after <= before).all(), pd.concat([before, after], axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("type_name", TYPE_NAMES)
@SETTINGS
@given(data=st.data())
def test_quiet_is_no_bonus(type_name: str, data: st.DataObject) -> None:
    """Noise at or below every standard value scores the same however quiet it is."""
    table = data.draw(feature_tables(type_name))
    a = table.assign(noise_excess=0.0, geluid_boven_grenswaarde="", geluid_boven_standaardwaarde="")
    quieter = a.copy()
    for col in ("noise_db", "noise_road_db", "noise_rail_db"):
        quieter[col] = 30.0
    tc = CONFIG.types[type_name]
    sa = score_table(a, tc, type_name=type_name)[0]["score"]
    sq = score_table(quieter, tc, type_name=type_name)[0]["score"].reindex(sa.index)
    pd.testing.assert_series_equal(sa, sq)
