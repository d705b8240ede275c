"""Integration: generate the demo preset, read it, scan it, write and reopen the GeoPackage.

The demo is generated, read and scanned once per module (about 20 s on 2 cores); the tests
then check the written file against docs/contracts.md §C, the planted sites of
``planted.json`` and determinism.
"""

from __future__ import annotations

import json
from pathlib import Path

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
    "owner_class",
    "label",
    "explanation",
    "reasons",
)
#: Documented columns per layer (contracts §C).
DOCUMENTED = {
    "tijdelijke_locaties": (*COMMON, "parcel_ids", "n_parcels", "area_m2", "merged"),
    "kantoren": (*COMMON, "pand_id", "bouwjaar", "office_floor_m2", "vacant_share", "vacant_years"),
    "plinten": (*COMMON, "vbo_id", "pand_id", "oppervlakte_m2", "straatnaam", "vacant_years"),
    "gemeenten": (
        "gemeentecode",
        "gemeentenaam",
        "capacity_ab",
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
        self.layers, self.report = load_sources(sources)
        self.config = load_config(None)
        self.reference_date = _vacancy_date(self.report)
        self.result: ScanResult = run_scan(
            self.layers,
            noise_path=self.noise,
            config=self.config,
            reference_date=self.reference_date,
        )
        self.out = folder / "kansenkaart.gpkg"
        write_result(self.result, self.out, report=self.report, config_text=self.config.text)


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


def test_planted_opportunities_are_top_tier_candidates(demo):
    tl = _read(demo, "tijdelijke_locaties")
    kt = _read(demo, "kantoren")
    pl = _read(demo, "plinten")
    items = [i for i in demo.planted["items"] if i["expected"] == "top_tier"]
    assert len(items) >= 3
    for item in items:
        oid = _canonical(item["id"])
        if item["layer"] == "parcels":
            hit = tl[tl["parcel_ids"].str.split(",").map(lambda ids, oid=oid: oid in ids)]
        elif item["layer"] == "buildings":
            hit = kt[kt["pand_id"] == oid]
        else:
            hit = pl[pl["vbo_id"] == oid]
        assert len(hit) == 1, f"planted {item['kind']} {oid} is not a candidate"
        assert hit["tier"].iloc[0] == "A", (
            item["description"],
            hit["score"].iloc[0],
            hit["reasons"].iloc[0],
        )
        assert hit["gemeentecode"].iloc[0] == item["gemeentecode"]


def test_planted_non_starters_are_excluded_with_their_reason(demo):
    ep = _read(demo, "uitgesloten_percelen").set_index("parcel_id")
    eb = _read(demo, "uitgesloten_panden").set_index("pand_id")
    tl = _read(demo, "tijdelijke_locaties")
    kt = _read(demo, "kantoren")
    items = [i for i in demo.planted["items"] if i["expected"] == "excluded"]
    assert {i["reason_code"] for i in items} >= {"natura2000", "externe_veiligheid"}
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
    again = run_scan(
        demo.layers, noise_path=demo.noise, config=demo.config, reference_date=demo.reference_date
    )
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
    other = run_scan(
        shuffled, noise_path=demo.noise, config=demo.config, reference_date=demo.reference_date
    )
    for name, first in demo.result.layers.items():
        second = other.layers[name]
        a = pd.DataFrame(first).assign(geometry=first.geometry.normalize().to_wkb())
        b = pd.DataFrame(second).assign(geometry=second.geometry.normalize().to_wkb())
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
