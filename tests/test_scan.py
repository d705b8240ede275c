"""The scan on a tiny hand-made world: feature tables, merging, scoring, exclusions, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from pipeline.features.common import TABLE_COLUMNS
from pipeline.features.merging import merge_small_parcels
from pipeline.scan import ScanResult, build_feature_tables, run_scan
from pipeline.schemas import ZONE_KINDS
from pipeline.scoring.readiness import site_readiness

X0, Y0 = 80_000.0, 440_000.0
CRS = "EPSG:28992"
REF = "2025-01-01"
CONTRACTS = Path(__file__).resolve().parents[1] / "docs" / "contracts.md"


def b(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def p(x, y):
    return Point(X0 + x, Y0 + y)


def gdf(cols, geoms):
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=CRS)


def tiny_layers() -> dict[str, pd.DataFrame]:
    """Two municipalities; every object is there for one outcome (see the comments)."""
    mun = gdf(
        {"gemeentecode": ["GM0001", "GM0002"], "gemeentenaam": ["Alfa", "Beta"]},
        [b(0, 0, 1000, 1000), b(1000, 0, 2000, 1000)],
    )
    parcels = gdf(
        {
            "parcel_id": ["P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09"],
            "gemeentecode": ["GM0001"] * 6 + ["GM0002"] * 3,
        },
        [
            # P01 bare provincial plot near the station, crossed by a 10 m high-voltage strip
            # (y 40–50): an opportunity with net (90 × 30) + (90 × 40) = 6,300 m²
            b(0, 0, 100, 100),
            b(100, 0, 200, 100),  # P02 in Natura 2000
            # P03 + P04: 1,400 m² each, one owner -> a merged 80 × 35 m site of 2,800 m²
            b(200, 0, 240, 35),
            b(240, 0, 280, 35),
            b(300, 0, 400, 100),  # P05 half built up (B01)
            b(400, 0, 420, 20),  # P06 400 m²: too small, no neighbour of the same owner
            b(1000, 0, 1100, 100),  # P07 bare private plot; a housing plan starts there in 2033
            b(1200, 0, 1230, 30),  # P08 + P09 touch only at a corner: not merged
            b(1230, 30, 1260, 60),
        ],
    )
    parcels["area_m2"] = parcels.area
    buildings = gdf(
        {
            "pand_id": ["B01", "B02", "B03"],
            "bouwjaar": [1985, 1930, 1990],
            "status": ["Pand in gebruik"] * 3,
            "gemeentecode": ["GM0001", "GM0002", "GM0001"],
            "bouwlagen": [4, 3, 5],
        },
        [b(300, 0, 350, 100), b(1000, 200, 1020, 220), b(500, 500, 540, 540)],
    )
    units = gdf(
        {
            "vbo_id": ["U01", "U02", "U03", "U04", "U05", "U06"],
            "pand_id": ["B01", "B01", "B02", "B02", "B03", "B02"],
            "gebruiksdoel": [
                ["kantoorfunctie"],
                ["kantoorfunctie"],
                ["winkelfunctie"],
                ["woonfunctie"],
                ["kantoorfunctie"],
                ["winkelfunctie"],
            ],
            "oppervlakte_m2": [3000.0, 1000.0, 80.0, 70.0, 2000.0, 20.0],
            "status": ["Verblijfsobject in gebruik"] * 6,
            "gemeentecode": ["GM0001", "GM0001", "GM0002", "GM0002", "GM0001", "GM0002"],
            "straatnaam": [
                "Kantoorlaan",
                "Kantoorlaan",
                "Zijstraat",
                "Zijstraat",
                "Industrieweg",
                "Zijstraat",
            ],
        },
        [p(320, 50), p(330, 50), p(1010, 210), p(1012, 212), p(520, 520), p(1014, 214)],
    )
    zoning = gdf(
        {
            "zoning_id": ["Z1", "Z2"],
            "plan_id": ["NL.IMRO.1", "NL.IMRO.2"],
            "hoofdgroep": ["agrarisch", "gemengd"],
            "naam": ["A", "G"],
        },
        [b(0, 0, 1000, 1000), b(1000, 0, 2000, 1000)],
    )
    vacancy = pd.DataFrame(
        {
            "vbo_id": ["U01", "U03", "U05"],
            "vacant_since": pd.to_datetime(["2020-01-01", "2022-01-01", "2019-01-01"]),
            "source": ["test"] * 3,
        }
    )
    ownership = gdf(
        {
            "owner_class": ["provincie", "gemeente", "gemeente", "gemeente"],
            "owner_name": [
                "Provincie Zuid-Holland",
                "Gemeente Alfa",
                "Gemeente Alfa",
                "Gemeente Beta",
            ],
        },
        [b(0, 0, 100, 100), b(200, 0, 300, 35), b(400, 0, 420, 20), b(1200, 0, 1260, 60)],
    )
    stops = gdf(
        {"stop_id": ["S1", "S2"], "kind": ["trein", "bus"], "naam": ["Station", "Halte"]},
        [p(50, 150), p(1050, 250)],
    )
    zones = gdf(
        {
            "kind": ["natura2000", "externe_veiligheid", "kernwinkelgebied", "hoogspanning"],
            "naam": ["N", "E", "K", "H"],
        },
        [b(100, 0, 200, 100), b(480, 480, 600, 600), b(1500, 500, 1600, 600), b(-50, 40, 100, 50)],
    )
    # the built-up area: Alfa's town and Beta around P07; P08/P09 lie 100 m outside it
    bsd = gdf({"naam": ["Alfa", "Beta"]}, [b(0, 0, 800, 1000), b(1000, 0, 1100, 300)])
    plans = gdf(
        {
            "plan_id": ["H1"],
            "plan_name": ["Bètawijk"],
            "homes": [60],
            "start_year": [2033],
            "status": ["hard"],
        },
        [b(990, -10, 1110, 110)],
    )
    return {
        "municipalities": mun,
        "parcels": parcels,
        "buildings": buildings,
        "units": units,
        "zoning": zoning,
        "vacancy": vacancy,
        "ownership": ownership,
        "transit_stops": stops,
        "exclusion_zones": zones,
        "bsd": bsd,
        "housing_plans": plans,
    }


@pytest.fixture(scope="module")
def result() -> ScanResult:
    return run_scan(tiny_layers(), noise_path=None, reference_date=REF)


def _contract_columns(section: str) -> set[str]:
    """Backticked column names of contracts §E.2 (the table) and the §E.8 bullet of a table."""
    text = CONTRACTS.read_text(encoding="utf-8")
    part = text.split("## E. The model", 1)[1]
    common = part.split("### E.2", 1)[1].split("Noise sources and values", 1)[0]
    common_names = set(re.findall(r"^\| `([a-z_<>0-9]+)`", common, flags=re.M))
    for row in re.findall(r"^\| (`[^|]+`) \|", common, flags=re.M):
        common_names |= set(re.findall(r"`([a-z_<>0-9]+)`", row))
    e8 = part.split("### E.8", 1)[1]
    bullet = e8.split(f"- **{section}**", 1)[1].split("\n- **", 1)[0].split("\n\n", 1)[0]
    names = common_names | set(re.findall(r"`([a-z_<>0-9]+)`", bullet))
    names.discard("zone_<kind>_frac")
    names |= {f"zone_{k}_frac" for k in ZONE_KINDS}
    return names - {"zone_<kind>_frac", "kind", "stikstofgevoelig"}


@pytest.mark.parametrize("name", ["parcels", "buildings", "units"])
def test_feature_tables_have_the_contract_columns(name):
    tables = build_feature_tables(tiny_layers(), noise_path=None, reference_date=REF)
    table = tables[name]
    documented = _contract_columns(name)
    index_name = {"parcels": "parcel_id", "buildings": "pand_id", "units": "vbo_id"}[name]
    assert table.index.name == index_name
    have = set(table.columns) | {index_name, "site_id"}
    missing = documented - have
    assert not missing, f"{name} lacks {missing}"
    assert list(table.columns[:-1]) == list(TABLE_COLUMNS[name])
    assert table.crs == CRS


def test_parcel_features_by_hand(result):
    t = result.features["parcels"]
    assert t.loc["P01", "owner_class"] == "provincie"
    assert bool(t.loc["P01", "is_provincial"])
    assert t.loc["P01", "dist_trein_m"] == pytest.approx(100.0)  # from (50, 50) to (50, 150)
    # net area: the 10 m strip cut off, then 5 m setback all round: 90 × 30 + 90 × 40
    assert t.loc["P01", "net_area_m2"] == pytest.approx(6300.0)
    assert t.loc["P01", "hard_zone_frac"] == pytest.approx(0.1)
    assert bool(t.loc["P01", "fits_min_width"])  # 30 and 40 m wide: both hold a 20 m row
    assert t.loc["P01", "in_bsd"] == 1.0 and t.loc["P01", "dist_bsd_m"] == 0.0
    assert t.loc["P01", "beschikbaarheid"] == "geen_plan"
    assert np.isnan(t.loc["P01", "beschikbaar_tot"]) and t.loc["P01", "beschikbaar_jaren"] == 15
    # P07: the hard plan H1 starts in 2033, 8 years after the reference date
    p7 = t.loc["P07"]
    assert p7["beschikbaarheid"] == "tot_ontwikkeling" and p7["plan_id"] == "H1"
    assert p7["beschikbaar_tot"] == 2033 and p7["beschikbaar_jaren"] == 8
    assert p7["plan_naam"] == "Bètawijk" and p7["plan_status"] == "hard"
    assert p7["plan_woningen"] == 60 and p7["plan_jaren_tot_start"] == 8
    assert t.loc["P02", "zone_natura2000_frac"] == 1.0
    assert t.loc["P05", "built_up_fraction"] == pytest.approx(0.5)
    # bare (0.6), a station within 2 km (0.2), buildable zoning (0.2)
    assert t.loc["P01", "site_readiness"] == pytest.approx(1.0)
    # P05 is excluded (built up): columns no exclusion reads are not computed for it
    assert np.isnan(t.loc["P05", "dist_trein_m"])
    # excluded in the first round (built up): the overlays of later rounds are not computed
    assert np.isnan(t.loc["P05", "zone_natura2000_frac"])


def test_location_features_only_for_rows_that_pass_the_exclusions(result):
    full = build_feature_tables(tiny_layers(), noise_path=None, reference_date=REF)
    t = result.features["parcels"]
    for col in ("dist_trein_m", "n_winkel_500m", "mixed_use_500m", "site_readiness", "net_area_m2"):
        pd.testing.assert_series_equal(
            t.loc[["P01", "P03", "P07"], col], full["parcels"].loc[["P01", "P03", "P07"], col]
        )
    assert full["parcels"].loc["P05", "dist_trein_m"] == pytest.approx(np.hypot(300, 100))
    assert full["parcels"].loc["P05", "site_readiness"] == pytest.approx(0.4)
    b = result.features["buildings"]
    assert np.isnan(b.loc["B02", "dist_trein_m"])  # no office floor: excluded
    assert b.loc["B01", "dist_trein_m"] == pytest.approx(
        full["buildings"].loc["B01", "dist_trein_m"]
    )
    assert t.loc["P01", "zoning_hoofdgroep"] == "agrarisch"


def test_small_parcels_of_one_owner_merge_into_one_site(result):
    t = result.features["parcels"]
    assert "P04" not in t.index
    site = t.loc["P03"]
    assert site["merged"]
    assert site["parcel_ids"] == "P03,P04"
    assert site["n_parcels"] == 2
    assert site["area_m2"] == pytest.approx(2800.0)
    assert site["net_area_m2"] == pytest.approx(70 * 25)
    assert site["site_id"] == "TL-P03"
    # corner contact only: P08 and P09 stay apart (and too small)
    assert not t.loc["P08", "merged"] and not t.loc["P09", "merged"]
    assert not t.loc["P06", "merged"]
    cand = result.candidates["tijdelijke_locatie"].set_index("site_id")
    assert "TL-P03" in cand.index
    notes = cand.loc["TL-P03", "explanation"]
    assert "Samengevoegd" in notes


def test_merge_requires_the_same_owner():
    layers = tiny_layers()
    parcels = layers["parcels"].set_index("parcel_id")
    keys = pd.Series(["a", "a", "b", "c", "c", "c", "d", "e", "e"], index=parcels.index)
    built = pd.Series(0.0, index=parcels.index)
    sites = merge_small_parcels(parcels, owner_keys=keys, built_up=built)
    assert set(sites.index) == {"P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09"}
    keys[:] = "same"
    sites = merge_small_parcels(parcels, owner_keys=keys, built_up=built)
    assert sites.loc["P03", "parcel_ids"] == "P03,P04"


def test_an_open_site_owned_by_one_class_in_parts_is_of_that_class():
    """P07 (a bare 100 × 100 m candidate) in three municipal polygons of three owners, each
    a third: no owner holds half, but the class does (contracts §E.2: the areas of one class
    add up). The merged P03 + P04 keeps its owner's class."""
    layers = tiny_layers()
    own = layers["ownership"]
    thirds = gdf(
        {"owner_class": ["gemeente"] * 3, "owner_name": ["Beta", "Beta-Noord", "Beta-Zuid"]},
        [b(1000, 0, 1034, 100), b(1034, 0, 1067, 100), b(1067, 0, 1100, 100)],
    )
    layers["ownership"] = pd.concat([own, thirds], ignore_index=True)
    result = run_scan(layers, noise_path=None, reference_date=REF)
    cand = result.candidates["tijdelijke_locatie"].set_index("site_id")
    assert cand.loc["TL-P07", "owner_class"] == "gemeente"
    assert cand.loc["TL-P03", "owner_class"] == "gemeente"  # the merged site's owner


def test_building_and_unit_features_by_hand(result):
    bt = result.features["buildings"]
    assert bt.loc["B01", "office_share"] == 1.0
    assert bt.loc["B01", "vacant_share"] == pytest.approx(0.75)
    assert bt.loc["B01", "vacant_years"] == pytest.approx(1827 / 365.25)
    assert bt.loc["B01", "vacant_office_floor_m2"] == 3000.0  # U01 vacant, U02 in use
    assert bt.loc["B03", "zone_externe_veiligheid_frac"] == 1.0
    ut = result.features["units"]
    assert sorted(ut.index) == ["U03", "U06"]  # shop units only
    assert ut.loc["U03", "is_ground_floor_shop"]  # shop below a home
    assert ut.loc["U03", "own_entrance"] == "gedeeld_pand"  # B02 has three addresses
    assert ut.loc["U03", "street_shop_units"] == 2
    assert ut.loc["U03", "street_shop_vacancy"] == pytest.approx(0.5)
    assert ut.loc["U03", "winkelligging"] == "verspreid"  # 2 shops: fewer than 5
    assert ut.loc["U03", "vacant_years"] == pytest.approx(1096 / 365.25)


def test_candidates_and_exclusions_with_reason_codes(result):
    tl = result.candidates["tijdelijke_locatie"]
    assert set(tl["site_id"]) == {"TL-P01", "TL-P03", "TL-P07"}
    assert set(result.candidates["kantoortransformatie"]["site_id"]) == {"KT-B01"}
    assert set(result.candidates["plinttransformatie"]["site_id"]) == {"PL-U03"}
    ex = result.excluded_parcels.set_index("parcel_id")
    assert ex.loc["P02", "reason_codes"] == "natura2000"
    assert ex.loc["P05", "reason_codes"] == "bebouwd,in_gebruik"  # B01: 5,000 m² on it
    assert ex.loc["P06", "reason_codes"] == "te_klein"
    assert "Natura 2000" in ex.loc["P02", "reasons"]
    assert set(ex.index) == {"P02", "P05", "P06", "P08", "P09"}
    assert ex.loc["P02"].geometry.equals(tiny_layers()["parcels"].geometry.iloc[1])
    eb = result.excluded_buildings.set_index("pand_id")
    assert set(eb.index) == {"B02", "B03"}
    assert eb.loc["B03", "kantoor_reason_codes"] == "externe_veiligheid"
    assert eb.loc["B02", "plint_reason_codes"] == "unit_te_klein,niet_leeg"  # U06: 20 m², in use
    assert eb.loc["B02", "kantoor_reason_codes"].startswith("geen_kantoor")


def test_gemeenten_summary(result):
    g = result.gemeenten.set_index("gemeentecode")
    assert g.loc["GM0001", "n_tijdelijke_locatie"] == 2
    assert g.loc["GM0002", "n_plinttransformatie"] == 1
    # P01: 6,300 m² × 40/ha = 25; P03+P04: 1,750 m² -> 7
    assert g.loc["GM0001", "capacity_tijdelijke_locatie"] == 25 + 7
    assert g.loc["GM0002", "dwelling_stock"] == 1 and g.loc["GM0001", "dwelling_stock"] == 0
    assert g.loc["GM0001", "candidate_area_m2"] == pytest.approx(10_000 + 2_800)
    assert g.loc["GM0001", "area_m2"] == pytest.approx(1_000_000)
    assert result.gemeente_codes == ["GM0001", "GM0002"]
    assert result.reference_date == REF


def test_one_municipality_only():
    r = run_scan(tiny_layers(), noise_path=None, reference_date=REF, gemeenten=["gm0002"])
    assert r.gemeente_codes == ["GM0002"]
    assert set(r.gemeenten["gemeentecode"]) == {"GM0002"}
    assert set(r.candidates["tijdelijke_locatie"]["site_id"]) == {"TL-P07"}
    assert set(r.excluded_parcels["parcel_id"]) == {"P08", "P09"}
    assert set(r.excluded_buildings["pand_id"]) == {"B02"}


def _frames(r: ScanResult) -> dict[str, pd.DataFrame]:
    out = {}
    for name, layer in r.layers.items():
        df = pd.DataFrame(layer).copy()
        df["geometry"] = gpd.GeoSeries(layer.geometry).normalize().to_wkb()
        out[name] = df.reset_index(drop=True)
    for name, t in r.features.items():
        df = pd.DataFrame(t).copy()
        df["geometry"] = gpd.GeoSeries(t.geometry).normalize().to_wkb()
        out[f"features.{name}"] = df
    return out


def test_two_runs_give_identical_layers(result):
    again = run_scan(tiny_layers(), noise_path=None, reference_date=REF)
    a, b_ = _frames(result), _frames(again)
    assert a.keys() == b_.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b_[name], check_exact=True, obj=name)


@pytest.mark.parametrize("seed", [1, 2])
def test_results_do_not_depend_on_row_order(result, seed):
    rng = np.random.default_rng(seed)
    shuffled = {}
    for name, df in tiny_layers().items():
        shuffled[name] = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    other = run_scan(shuffled, noise_path=None, reference_date=REF)
    a, b_ = _frames(result), _frames(other)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b_[name], check_exact=True, obj=name)


def test_site_readiness_formula():
    idx = pd.Index(["bare", "built", "water", "unknown"])
    s = site_readiness(
        pd.Series([0.0, 0.2, 0.0, 0.05], index=idx),
        pd.Series(["wonen", "wonen", "water", "onbekend"], index=idx),
        pd.Series([100.0, np.nan, 5000.0, 5000.0], index=idx),
        pd.Series([np.nan, 1500.0, 5000.0, np.nan], index=idx),
    )
    assert s.tolist() == pytest.approx([1.0, 0.4, 0.6, 0.3 + 0.0 + 0.1])


def test_excluded_parcels_fast_path_equals_the_general_one():
    """The excluded parcels come from positions, not id lookups, also with merged sites."""
    from pipeline.scoring.excluded import excluded_parcels

    ids = [f"P{i:02d}" for i in range(8)]
    parcels = gdf(
        {"gemeentecode": ["GM0001"] * 4 + ["GM0002"] * 4},
        [b(100 * i, 0, 100 * i + 90, 90) for i in range(8)],
    )
    parcels.index = pd.Index(ids, name="parcel_id")
    # sites: P00 (+P01), P02, P03 (+P04, P07), P05, P06
    groups = {"P00": ["P00", "P01"], "P02": ["P02"], "P03": ["P03", "P04", "P07"]}
    groups |= {"P05": ["P05"], "P06": ["P06"]}
    sites = parcels.loc[list(groups)].assign(
        parcel_ids=[",".join(v) for v in groups.values()],
        n_parcels=[len(v) for v in groups.values()],
        merged=[len(v) > 1 for v in groups.values()],
    )
    excl_sites = ["P00", "P03", "P06"]  # candidates: P02 and P05 (positions 1 and 3)
    excluded = pd.DataFrame(
        {
            "n_parcels": sites.loc[excl_sites, "n_parcels"].to_numpy(),
            "reason_codes": ["code0", "code3", "code6"],
            "reasons": ["Reden 0.", "Reden 3.", "Reden 6."],
        },
        index=pd.Index(excl_sites, name="parcel_id"),
    )
    fast = excluded_parcels(excluded, parcels, sites, candidate_pos=np.array([1, 3]))
    slow = excluded_parcels(excluded, parcels, sites)
    assert fast["parcel_id"].tolist() == ["P00", "P01", "P03", "P04", "P06", "P07"]
    for col in ("parcel_id", "gemeentecode", "reason_codes", "reasons"):
        assert fast[col].astype(str).tolist() == slow[col].astype(str).tolist()
    assert fast.geometry.equals(slow.geometry)
    assert fast.loc[fast["parcel_id"] == "P07", "reasons"].item() == "Reden 3."
    assert fast.loc[fast["parcel_id"] == "P07", "gemeentecode"].item() == "GM0002"


def test_candidates_have_labels_while_excluded_sites_need_none(result):
    """The scan labels only the sites its exclusion rules keep (labels cost time at scale)."""
    cand = result.candidates["tijdelijke_locatie"]
    assert len(cand) and cand["label"].notna().all() and cand["site_id"].notna().all()
    assert cand.set_index("parcel_id").loc["P01", "label"].startswith("Perceel ")
    t = result.features["parcels"]
    excluded = t.index.difference(cand["parcel_id"])
    assert t.loc[excluded, "label"].isna().all()
    full = build_feature_tables(tiny_layers(), noise_path=None, reference_date=REF)["parcels"]
    assert full["label"].notna().all()  # the feature tables for analysts label every site


def test_shared_edge_lengths_of_rectangles_equal_the_boundary_overlay():
    """The bounds-only answer for touching rectangles equals intersecting their boundaries."""
    import shapely

    from pipeline.features.merging import shared_edge_lengths

    rng = np.random.default_rng(3)
    xs = np.cumsum(rng.integers(5, 40, 12)).astype(float)
    ys = np.cumsum(rng.integers(5, 40, 12)).astype(float)
    cells = [box(xs[c], ys[r], xs[c + 1], ys[r + 1]) for r in range(11) for c in range(11)]
    cells += [shapely.affinity.rotate(box(0, 0, 30, 30), 20), box(3, 3, 50, 7)]
    geoms = np.array(cells, dtype=object)
    tree = shapely.STRtree(geoms)
    a, bb = tree.query(geoms, predicate="intersects")
    keep = a < bb
    a, bb = a[keep], bb[keep]
    got = shared_edge_lengths(geoms, a, bb)
    want = shapely.length(
        shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[bb]))
    )
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    assert (got > 0).sum() > 100  # many real shared edges were tested


def test_excluded_parcels_by_candidate_positions():
    from pipeline.scoring.excluded import excluded_parcels

    ids = [f"P{i:02d}" for i in range(5)]
    parcels = gdf({"gemeentecode": ["GM0001"] * 5}, [b(10 * i, 0, 10 * i + 9, 9) for i in range(5)])
    parcels.index = pd.Index(ids, name="parcel_id")
    sites = parcels.assign(parcel_ids=ids, n_parcels=1, merged=False)
    excluded = pd.DataFrame(
        {"n_parcels": 1, "reason_codes": ["a", "b", "c"], "reasons": ["A.", "B.", "C."]},
        index=pd.Index(["P00", "P02", "P03"], name="parcel_id"),
    )
    out = excluded_parcels(excluded, parcels, sites, candidate_pos=np.array([1, 4]))
    assert out["parcel_id"].tolist() == ["P00", "P02", "P03"]
    assert out["reasons"].tolist() == ["A.", "B.", "C."]
    assert out.geometry.iloc[1].equals(parcels.geometry.iloc[2])


def test_early_excluded_parcels_equal_those_scoring_finds(monkeypatch):
    """Handing the excluded parcels over before scoring (and computing the other features for
    the kept sites only) gives the layers the full path gives."""
    import pipeline.features.parcels as parcels

    real = parcels.with_common
    kept_only = []

    def spy(objects, *args, **kwargs):
        table = real(objects, *args, **kwargs)
        kept_only.append(len(table) < len(objects))
        return table

    monkeypatch.setattr(parcels, "with_common", spy)
    early = run_scan(tiny_layers(), noise_path=None, reference_date=REF, keep_features=False)
    assert kept_only == [True]

    def without_hook(*args, **kwargs):
        kwargs.pop("on_first", None)
        return real(*args, **kwargs)

    monkeypatch.setattr(parcels, "with_common", without_hook)
    full = run_scan(tiny_layers(), noise_path=None, reference_date=REF, keep_features=False)
    # the early layer keeps its reasons as categories (each distinct text once): same texts
    texts = {"reason_codes": object, "reasons": object}
    assert isinstance(early.excluded_parcels["reasons"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(
        pd.DataFrame(early.excluded_parcels).astype(texts),
        pd.DataFrame(full.excluded_parcels).astype(texts),
    )
    a = early.candidates["tijdelijke_locatie"]
    b_ = full.candidates["tijdelijke_locatie"]
    # the same values; text columns computed for a subset and spread out to every row (the
    # full path) come back as pandas' ``str`` dtype, those computed for every row as object
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b_), check_dtype=False)
    assert len(early.excluded_parcels) and len(a)


def test_availability_bsd_and_crowd_out_by_hand():
    """Three extra plots in Beta: one just outside the BSD, one far outside, one crowded out."""
    layers = tiny_layers()
    extra = gdf(
        {"parcel_id": ["P10", "P11", "P12"], "gemeentecode": ["GM0002"] * 3},
        [
            b(1000, 400, 1100, 500),  # 100 m above the BSD (which ends at y = 300)
            b(1500, 1500, 1600, 1600),  # √(700² + 500²) = 860 m from Alfa's BSD
            b(1100, 0, 1190, 100),  # touches the BSD; a hard plan starts there next year
        ],
    )
    extra["area_m2"] = extra.area
    layers["parcels"] = pd.concat([layers["parcels"], extra], ignore_index=True)
    plan = gdf(
        {
            "plan_id": ["H2"],
            "plan_name": ["Oostrand"],
            "homes": [40],
            "start_year": [2026],
            "status": ["hard"],
        },
        [b(1100, 0, 1190, 100)],
    )
    layers["housing_plans"] = pd.concat([layers["housing_plans"], plan], ignore_index=True)
    r = run_scan(layers, noise_path=None, reference_date=REF)
    cand = r.candidates["tijdelijke_locatie"].set_index("site_id")
    ex = r.excluded_parcels.set_index("parcel_id")
    # just outside: a candidate with the provincial aandachtspunt
    assert cand.loc["TL-P10", "dist_bsd_m"] == pytest.approx(100.0)
    assert cand.loc["TL-P10", "in_bsd"] == 0.0
    assert "buiten_bsd_aansluitend" in cand.loc["TL-P10", "aandachtspunt_codes"].split(",")
    # far outside: excluded (and too far from transit as well)
    assert ex.loc["P11", "reason_codes"].split(",")[0] == "buiten_bsd"
    assert "860 m buiten het bestaand stads- en dorpsgebied" in ex.loc["P11", "reasons"]
    # a plan starting in 2026: crowded out, with the window rule too
    assert ex.loc["P12", "reason_codes"] == "verdringing,termijn_te_kort"
    # P07: temporary until development, said in the explanation
    exp = json.loads(cand.loc["TL-P07", "explanation"])
    assert exp["availability"]["case"] == "tot_ontwikkeling"
    assert exp["availability"]["until"] == 2033 and exp["availability"]["years"] == 8
    assert "Tijdelijk tot ontwikkeling" in exp["availability"]["text"]
    assert "2033" in exp["availability"]["text"]
    p1 = json.loads(cand.loc["TL-P01", "explanation"])
    assert p1["availability"]["case"] == "geen_plan"
    assert "volle termijn" in p1["availability"]["text"]
    assert cand.loc["TL-P01", "beschikbaar_jaren"] == 15
    assert "zone_afgetrokken" in cand.loc["TL-P01", "aandachtspunt_codes"].split(",")
    assert (cand.loc["TL-P01", "capacity_low"], cand.loc["TL-P01", "capacity_high"]) == (18, 37)


def test_release_free_memory_returns_freed_heap():
    """Freed blocks between live ones stay resident until the scan gives them back."""
    import sys

    from pipeline.stages import _malloc_trim, release_free_memory, rss_gb

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc_trim: Linux only")
    assert _malloc_trim() is not None
    blocks = [bytes(2000) + bytes([i % 256]) for i in range(150_000)]  # ~300 MB on the heap
    kept = blocks[::50]  # every 50th stays: the heap cannot shrink from its top
    del blocks
    before = rss_gb()
    release_free_memory()
    assert before - rss_gb() > 0.15
    assert len(kept) == 3_000
