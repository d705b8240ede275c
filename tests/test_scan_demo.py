"""Integration: generate the demo preset, read it, scan it, write and reopen the GeoPackage.

The demo is generated, read and scanned once per module (about 20 s on 2 cores); the tests
then check the written file against docs/contracts.md §C, the planted sites of
``planted.json`` and determinism.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from pipeline.catalog import load_sources, read_sources_yaml
from pipeline.export import write_result
from pipeline.sample import generate_sample
from pipeline.scan import ScanResult, _vacancy_date, run_scan
from pipeline.scoring import load_config

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("scan_demo")]

COMMON = (
    "site_id",
    "opportunity_type",
    "gemeentecode",
    "gemeentenaam",
    "score",
    "tier",
    "rank",
    "capacity_units",
    "capacity_low",
    "capacity_high",
    "owner_class",
    "label",
    "aandachtspunten",
    "aandachtspunt_codes",
    "explanation",
    "reasons",
)
#: Documented columns per layer (contracts §C).
DOCUMENTED = {
    "tijdelijke_locaties": (
        *COMMON,
        "parcel_ids",
        "n_parcels",
        "area_m2",
        "net_area_m2",
        "merged",
        "beschikbaarheid",
        "beschikbaar_tot",
        "beschikbaar_jaren",
        "plan_id",
        "plan_naam",
        "plan_status",
        "plan_startjaar",
        "plan_woningen",
        "in_bsd",
        "dist_bsd_m",
    ),
    "kantoren": (
        *COMMON,
        "pand_id",
        "bouwjaar",
        "office_floor_m2",
        "vacant_office_floor_m2",
        "vacant_share",
        "vacant_years",
        "energielabel",
        "capacity_whole_building",
    ),
    "plinten": (
        *COMMON,
        "vbo_id",
        "pand_id",
        "oppervlakte_m2",
        "straatnaam",
        "vacant_years",
        "winkelligging",
    ),
    "gemeenten": (
        "gemeentecode",
        "gemeentenaam",
        "capacity_ab",
        "dwelling_stock",
        "capacity_ab_share",
        "candidate_area_m2",
        "area_m2",
        *(
            f"{what}_{t}{suffix}"
            for what in ("n", "capacity")
            for t in ("tijdelijke_locatie", "kantoortransformatie", "plinttransformatie")
            for suffix in ("", "_A", "_B", "_C", "_D", "_E")
        ),
    ),
    "uitgesloten_percelen": ("parcel_id", "gemeentecode", "reason_codes", "reasons"),
    "uitgesloten_panden": (
        "pand_id",
        "gemeentecode",
        "kantoor_reason_codes",
        "kantoor_reasons",
        "plint_reason_codes",
        "plint_reasons",
    ),
}
GEOMETRY = {
    "tijdelijke_locaties": "MultiPolygon",
    "kantoren": "MultiPolygon",
    "plinten": "Point",
    "gemeenten": "MultiPolygon",
    "uitgesloten_percelen": "MultiPolygon",
    "uitgesloten_panden": "MultiPolygon",
}


class Demo:
    def __init__(self, folder: Path) -> None:
        self.sources_path = generate_sample(folder / "demo", preset="demo", seed=42)
        self.planted = json.loads((self.sources_path.parent / "planted.json").read_text("utf-8"))
        sources = read_sources_yaml(self.sources_path)
        self.noise = sources.noise
        self.rasters = sources.rasters
        self.layers, self.report = load_sources(sources)
        self.config = load_config(None)
        self.reference_date = _vacancy_date(self.report)
        self.result: ScanResult = self.scan(self.layers)
        self.out = folder / "kansenkaart.gpkg"
        write_result(self.result, self.out, report=self.report, config_text=self.config.text)

    def scan(self, layers: dict, **options: Any) -> ScanResult:
        """``run_scan`` of ``layers`` with the demo's noise, rasters, config and date."""
        return run_scan(
            layers,
            noise_path=self.noise,
            rasters=self.rasters,
            config=self.config,
            reference_date=self.reference_date,
            **options,
        )


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    return Demo(tmp_path_factory.mktemp("scan_demo"))


def _read(demo: Demo, layer: str) -> gpd.GeoDataFrame:
    return gpd.read_file(demo.out, layer=layer)


def test_result_opens_with_every_documented_column(demo):
    layers = dict(pyogrio.list_layers(demo.out))
    for name, columns in DOCUMENTED.items():
        assert layers.get(name) == GEOMETRY[name], name
        gdf = _read(demo, name)
        missing = [c for c in columns if c not in gdf.columns]
        assert not missing, f"{name} lacks {missing}"
        assert gdf.crs.to_epsg() == 28992
    tl = _read(demo, "tijdelijke_locaties")
    assert len(tl) > 100
    assert tl["score"].between(0, 100).all()
    assert set(tl["tier"]) <= set("ABCDE")
    assert tl["site_id"].is_unique
    assert tl["explanation"].map(lambda t: "criteria" in json.loads(t)).all()
    assert "run_metadata" in layers and "layer_styles" in layers


def _canonical(object_id: str) -> str:
    """BRK ids lose their ``NL.IMKAD.KadastraalObject.`` prefix in the canonical layer."""
    return object_id.rsplit(".", 1)[-1]


def _candidate_rows(
    item: dict, tl: pd.DataFrame, kt: pd.DataFrame, pl: pd.DataFrame
) -> pd.DataFrame:
    """The result rows of a planted item (a parcel may be part of a merged site)."""
    oid = _canonical(item["id"])
    if item["layer"] == "parcels":
        return tl[tl["parcel_ids"].str.split(",").map(lambda ids: oid in ids)]
    if item["layer"] == "buildings":
        return kt[kt["pand_id"] == oid]
    return pl[pl["vbo_id"] == oid]


def test_planted_opportunities_are_top_tier_candidates(demo):
    tl = _read(demo, "tijdelijke_locaties")
    kt = _read(demo, "kantoren")
    pl = _read(demo, "plinten")
    items = [i for i in demo.planted["items"] if i["expected"] == "top_tier"]
    assert len(items) >= 3
    for item in items:
        hit = _candidate_rows(item, tl, kt, pl)
        assert len(hit) == 1, f"planted {item['kind']} {item['id']} is not a candidate"
        assert hit["tier"].iloc[0] == "A", (
            item["description"],
            hit["score"].iloc[0],
            hit["reasons"].iloc[0],
        )
        assert hit["gemeentecode"].iloc[0] == item["gemeentecode"]


def test_planted_model_cases_are_candidates_with_their_values(demo):
    """A site until development, a plot cut by a power line, a partly vacant office, a large
    ground floor: on the map, with the columns the manifest expects."""
    tl = _read(demo, "tijdelijke_locaties")
    kt = _read(demo, "kantoren")
    pl = _read(demo, "plinten")
    items = [i for i in demo.planted["items"] if i["expected"] == "candidate"]
    kinds = {i["kind"] for i in items}
    assert {"tot_ontwikkeling", "hoogspanning_strook", "deels_leeg_kantoor", "grote_plint"} <= kinds
    for item in items:
        hit = _candidate_rows(item, tl, kt, pl)
        assert len(hit) == 1, f"planted {item['kind']} {item['id']} is not a candidate"
        row = hit.iloc[0]
        for col, value in (item.get("expect_values") or {}).items():
            assert row[col] == value, (item["kind"], col, row[col])
        if item["kind"] == "tot_ontwikkeling":
            exp = json.loads(row["explanation"])
            assert exp["availability"]["case"] == "tot_ontwikkeling"
            assert str(item["expect_values"]["beschikbaar_tot"]) in exp["availability"]["text"]
            assert row["beschikbaar_jaren"] == 8
        if item["kind"] == "hoogspanning_strook":
            assert row["net_area_m2"] < row["area_m2"]
            assert "zone_afgetrokken" in row["aandachtspunt_codes"].split(",")
        if item["kind"] == "deels_leeg_kantoor":
            assert 0.6 <= row["vacant_share"] <= 0.75
            assert row["capacity_units"] < row["capacity_whole_building"]
            assert row["vacant_office_floor_m2"] < row["office_floor_m2"]


def test_the_demo_is_selective(demo):
    """A+B homes stay at a few per cent of the dwelling stock; candidate land is a small share."""
    g = _read(demo, "gemeenten")
    share = g["capacity_ab"].sum() / g["dwelling_stock"].sum()
    assert 0 < share <= 0.05, share
    land = g["candidate_area_m2"].sum() / g["area_m2"].sum()
    assert land <= 0.10, land
    tl = _read(demo, "tijdelijke_locaties")
    # every tier occurs: E = passes the knock-outs but is no realistic opportunity now (§E.6)
    assert set(tl["tier"]) == {"A", "B", "C", "D", "E"}
    e = tl[tl["tier"] == "E"]
    assert (e["score"] < 35).all()
    # an E site carries the obstacles that put it there, each a visible penalty line
    assert ((e["p_buiten_bsd_points"] + e["p_onderzoeken_points"] + e["p_geluid_points"]) > 0).all()


def test_no_top_tier_candidate_breaks_a_rule(demo):
    """Every exclusion rule and tier cap, evaluated again on the A/B candidates, never fires."""
    from pipeline.scoring.exclusions import rule_mask

    checked = 0
    for type_name, cand in demo.result.candidates.items():
        tc = demo.config.types[type_name]
        ab = cand[cand["tier"].isin(["A", "B"])]
        checked += len(ab)
        for rule in tc.exclusions:
            assert not rule_mask(ab, rule).any(), (type_name, rule.code)
        for cap in tc.tier_caps:
            hit = rule_mask(ab, cap)
            assert not (hit & (ab["tier"].to_numpy(dtype=object) < cap.max_tier)).any(), cap.code
    assert checked > 0


def test_planted_non_starters_are_excluded_with_their_reason(demo):
    ep = _read(demo, "uitgesloten_percelen").set_index("parcel_id")
    eb = _read(demo, "uitgesloten_panden").set_index("pand_id")
    tl = _read(demo, "tijdelijke_locaties")
    kt = _read(demo, "kantoren")
    items = [i for i in demo.planted["items"] if i["expected"] == "excluded"]
    assert {i["reason_code"] for i in items} >= {
        "natura2000",
        "externe_veiligheid",
        "verdringing",
        "buiten_bsd",
        "niet_leeg",
    }
    for item in items:
        oid = _canonical(item["id"])
        if item["layer"] == "parcels":
            assert not tl["parcel_ids"].str.split(",").map(lambda ids, oid=oid: oid in ids).any()
            assert item["reason_code"] in ep.loc[oid, "reason_codes"].split(",")
        else:
            assert oid not in set(kt["pand_id"])
            assert item["reason_code"] in eb.loc[oid, "kantoor_reason_codes"].split(",")


def test_every_scanned_parcel_is_candidate_or_excluded(demo):
    tl = _read(demo, "tijdelijke_locaties")
    ep = _read(demo, "uitgesloten_percelen")
    in_sites = {p for ids in tl["parcel_ids"] for p in ids.split(",")}
    excluded = set(ep["parcel_id"])
    assert not in_sites & excluded
    assert in_sites | excluded == set(demo.layers["parcels"]["parcel_id"].astype(str))


def test_two_runs_give_identical_layers(demo):
    again = demo.scan(demo.layers)
    for name, first in demo.result.layers.items():
        second = again.layers[name]
        a = pd.DataFrame(first).assign(geometry=first.geometry.to_wkb())
        b = pd.DataFrame(second).assign(geometry=second.geometry.to_wkb())
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


def test_results_do_not_depend_on_row_order(demo):
    import numpy as np

    rng = np.random.default_rng(7)
    shuffled = {
        name: df.iloc[rng.permutation(len(df))].reset_index(drop=True)
        if isinstance(df, pd.DataFrame)
        else df
        for name, df in demo.layers.items()
    }
    other = demo.scan(shuffled)
    for name, first in demo.result.layers.items():
        second = other.layers[name]
        a = pd.DataFrame(first).assign(geometry=first.geometry.normalize().to_wkb())
        b = pd.DataFrame(second).assign(geometry=second.geometry.normalize().to_wkb())
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)


def test_streamed_search_index_is_the_whole_one(demo, tmp_path, monkeypatch):
    """Handed to the writer as it is on the province (in parts of 500 input rows, made by the
    writer's thread), the demo's search index and orientation layers are written as the
    in-memory scan makes them, row for row."""
    import pipeline.scan as scan_module
    from pipeline.export import ResultWriter
    from pipeline.search_index import search_index_parts

    made = []

    def parts(*args):
        for part in search_index_parts(*args, rows=500):
            made.append(len(part))
            yield part

    monkeypatch.setattr(scan_module, "INDEX_PART_ROWS", 500)
    monkeypatch.setattr(scan_module, "search_index_parts", parts)
    out = tmp_path / "streamed.gpkg"
    with ResultWriter(out) as writer:
        result = demo.scan(demo.layers, keep_features=False, on_layer=writer.add)
        writer.finish(result, report=demo.report, config_text=demo.config.text)
    assert len(result.layers["zoekindex"]) == 0  # with the writer, not kept here
    n = len(demo.result.layers["zoekindex"])
    assert len(made) > 3 and sum(made) == n and max(made) <= 500
    for name in ("zoekindex", "orientatie_namen", "orientatie_water"):
        pd.testing.assert_frame_equal(_read(demo, name), gpd.read_file(out, layer=name), obj=name)
