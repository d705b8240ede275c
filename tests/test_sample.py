"""The synthetic province: formats, counts, vacancy, determinism, planted sites, folder rules."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
import yaml
from typer.testing import CliRunner

from pipeline.errors import UsageError
from pipeline.sample import generate_sample
from pipeline.sample.model import MODEL_KINDS
from pipeline.sample.names import MUNICIPALITY_CODES, MUNICIPALITY_NAMES

# one worker builds the module's samples once (make test runs with --dist loadgroup)
pytestmark = pytest.mark.xdist_group("sample")

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
REAL = SHARED / "data" / "real"
CURRENT_UNIT = (
    "Verblijfsobject in gebruik",
    "Verblijfsobject in gebruik (niet ingemeten)",
    "Verbouwing verblijfsobject",
    "Verblijfsobject buiten gebruik",
)
NOT_EXISTING_PAND = ("Pand gesloopt", "Bouwvergunning verleend", "Niet gerealiseerd pand")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "sample"
    generate_sample(out, preset="tiny", seed=7)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "sample"
    generate_sample(out, preset="demo", seed=42)
    return out


def _read(folder: Path, file: str, layer: str | None = None) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(folder / file, layer=layer, use_arrow=True)


def _units(folder: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    pand = _read(folder, "bag.gpkg", "pand")
    vbo = _read(folder, "bag.gpkg", "verblijfsobject")
    return pand, vbo


def _vacancy(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "leegstand.csv", sep=";", comment="#", dtype=str)


def _current_units(pand: gpd.GeoDataFrame, vbo: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gone = set(pand.identificatie[pand.status.isin(NOT_EXISTING_PAND)])
    return vbo[vbo.status.isin(CURRENT_UNIT) & ~vbo.pand_identificatie.isin(gone)]


def _years(vac: pd.DataFrame, ids: pd.Series) -> pd.Series:
    since = pd.to_datetime(vac.set_index("verblijfsobject_id").leegstand_sinds)
    return (pd.Timestamp("2025-01-01") - since.reindex(ids)).dt.days / 365.25


# --- formats ---------------------------------------------------------------------------------


def test_every_file_is_in_its_format_and_says_synthetic(tiny: Path) -> None:
    sources = yaml.safe_load((tiny / "sources.yaml").read_text())
    assert sources["synthetic"] is True
    assert set(sources["sources"]) == {
        "municipalities", "parcels", "buildings", "zoning", "vacancy", "ownership",
        "transit_stops", "noise", "exclusion_zones", "housing_plans", "bsd",
        "noise_road", "noise_rail", "noise_industry",
    }  # fmt: skip
    for key, spec in sources["sources"].items():
        assert (tiny / spec["path"]).exists(), key

    # GeoPackages: the layer named in the contract, a description and a metadata row
    for file, layer, columns in (
        ("kadastralekaart.gpkg", "perceel", ["identificatie", "AKRKadastraleGemeenteCodeWaarde", "sectie",
                                             "perceelnummer", "kadastraleGrootteWaarde", "soortGrootteWaarde",
                                             "beginGeldigheid"]),
        ("bag.gpkg", "pand", ["identificatie", "bouwjaar", "status", "gebruiksdoel", "oppervlakte_min",
                              "oppervlakte_max", "aantal_verblijfsobjecten", "bouwlagen"]),
        ("bag.gpkg", "verblijfsobject", ["identificatie", "pand_identificatie", "gebruiksdoel", "oppervlakte",
                                         "status", "openbare_ruimte_naam", "huisnummer", "postcode",
                                         "woonplaats_naam", "bouwjaar"]),
        ("eigendom.gpkg", "eigendom", ["eigenaar_klasse", "eigenaar_naam"]),
        ("ov_haltes.gpkg", "haltes", ["stop_id", "naam", "kind"]),
        ("uitsluitingen.gpkg", "zones", ["kind", "naam"]),
        ("woningbouwplannen.gpkg", "woningbouwplannen", ["plan_id", "plannaam", "woningen", "startjaar", "status"]),
        ("bsd.gpkg", "bsd", ["naam"]),
    ):  # fmt: skip
        gdf = _read(tiny, file, layer)
        assert list(gdf.columns[:-1]) == columns, (file, layer)
        assert gdf.crs.to_epsg() == 28992
        assert len(gdf) > 0 and gdf.geometry.notna().all() and gdf.is_valid.all(), (file, layer)
        with sqlite3.connect(tiny / file) as db:
            (desc,) = db.execute(
                "SELECT description FROM gpkg_contents WHERE table_name = ?", (layer,)
            ).fetchone()
            meta = " ".join(r[0] for r in db.execute("SELECT metadata FROM gpkg_metadata"))
        assert "SYNTHETIC" in desc and "synthetic" in meta

    assert not list(tiny.glob("*.aux.xml")), "reading must not write sidecar files"
    gem = json.loads((tiny / "gemeenten.geojson").read_text())
    assert "SYNTHETIC" in gem["description"] and gem["name"] == "gemeenten_synthetisch"
    cbs = _read(tiny, "gemeenten.geojson")
    assert cbs.crs.to_epsg() == 4326
    assert list(cbs.columns[:-1]) == ["statcode", "jrstatcode", "statnaam", "rubriek"]

    csv_lines = (tiny / "leegstand.csv").read_text(encoding="utf-8").splitlines()
    assert (
        csv_lines[0].startswith("# synthetic")
        and csv_lines[1] == "verblijfsobject_id;leegstand_sinds;bron"
    )

    with rasterio.open(tiny / "geluid_lden.tif") as src:
        assert src.dtypes[0] == "float32" and src.crs.to_epsg() == 28992 and src.nodata == -9999
        assert src.res == (20.0, 20.0) and src.compression.name == "deflate"
        assert "SYNTHETIC" in src.tags()["DESCRIPTION"]


def test_zoning_gml_reads_like_the_real_imro_files(tiny: Path) -> None:
    plans = sorted((tiny / "bestemmingsplannen").glob("*.gml"))
    cbs = _read(tiny, "gemeenten.geojson").to_crs(28992)
    assert [p.name for p in plans] == sorted(
        f"NL.IMRO.{c[2:]}.BPsynthetisch-VA01.gml" for c in cbs.statcode
    )
    total = 0.0
    for plan in plans:
        text = plan.read_text(encoding="utf-8")
        assert "<!-- SYNTHETIC" in text
        zon = pyogrio.read_dataframe(plan, layer="Enkelbestemming", WRITE_GFS="NO")
        assert {"bestemmingshoofdgroep", "naam", "lokaalID"} <= set(zon.columns)
        assert zon.crs.to_epsg() == 28992 and zon.geom_type.eq("Polygon").all()
        assert set(zon.bestemmingshoofdgroep) >= {
            "wonen",
            "centrum",
            "kantoor",
            "bedrijventerrein",
            "agrarisch",
        }
        gebied = pyogrio.read_dataframe(plan, layer="Bestemmingsplangebied", WRITE_GFS="NO")
        assert len(gebied) == 1 and "Synthetisch" in gebied.naam[0]
        # the plan's Enkelbestemmingen tessellate the municipality: no gaps, no overlaps
        code = plan.name.split(".")[2]
        muni = cbs[cbs.statcode == f"GM{code}"].geometry.iloc[0]
        assert zon.area.sum() == pytest.approx(gebied.area[0], rel=1e-9)
        assert (
            shapely.union_all(zon.geometry.values).symmetric_difference(gebied.geometry[0]).area
            < 1.0
        )
        assert (
            gebied.geometry[0].symmetric_difference(muni).area < 1e-5 * muni.area
        )  # via EPSG:4326
        total += zon.area.sum()
    assert not list((tiny / "bestemmingsplannen").glob("*.gfs")), (
        "reading must not write .gfs files"
    )
    assert total == pytest.approx(cbs.area.sum(), rel=1e-5)


def test_parcels_tessellate_and_buildings_and_units_nest(tiny: Path) -> None:
    parcels = _read(tiny, "kadastralekaart.gpkg", "perceel")
    cbs = _read(tiny, "gemeenten.geojson").to_crs(28992)
    assert parcels.area.sum() == pytest.approx(cbs.area.sum(), rel=1e-4)
    geoms = parcels.geometry.values
    tree = shapely.STRtree(geoms)
    # neighbours share their edges up to floating-point seams, as real cadastral parcels do
    # (a corner on a neighbour's edge, an edge rotated with the street grid): no pair of
    # parcels overlaps by more than a square millimetre
    i, j = tree.query(geoms, predicate="intersects")
    i, j = i[i < j], j[i < j]
    assert len(i) > len(parcels), "neighbours touch"
    assert shapely.area(shapely.intersection(geoms[i], geoms[j])).max() < 1e-6, "parcels overlap"
    assert np.allclose(parcels.kadastraleGrootteWaarde, parcels.area, atol=0.5)
    pand, vbo = _units(tiny)
    # every pand lies inside one parcel (up to those seams), every unit inside its pand
    bi, pj = tree.query(pand.geometry.values, predicate="intersects")
    inside = shapely.area(shapely.intersection(pand.geometry.values[bi], geoms[pj]))
    best = pd.Series(inside).groupby(bi).max().to_numpy()
    assert len(best) == len(pand)
    assert (best >= pand.area.to_numpy() - 1e-6).all()
    joined = vbo.merge(
        pand[["identificatie", "geometry"]], left_on="pand_identificatie", right_on="identificatie"
    )
    assert len(joined) == len(vbo)
    assert shapely.within(joined.geometry_x.values, joined.geometry_y.values).all()
    # ids: 16 digits with the municipality code and the BAG object type
    assert pand.identificatie.str.fullmatch(r"09\d\d10\d{10}").all()
    assert vbo.identificatie.str.fullmatch(r"09\d\d01\d{10}").all()
    assert parcels.identificatie.str.fullmatch(r"NL\.IMKAD\.KadastraalObject\.\d{14}").all()
    assert (
        vbo.identificatie.is_unique
        and pand.identificatie.is_unique
        and parcels.identificatie.is_unique
    )


def test_bag_has_mixed_use_centres_and_non_current_objects(demo: Path) -> None:
    pand, vbo = _units(demo)
    # shops in ground floors with homes above: winkelfunctie units in panden with woonfunctie units
    shop_panden = set(vbo.pand_identificatie[vbo.gebruiksdoel.str.contains("winkelfunctie")])
    home_panden = set(vbo.pand_identificatie[vbo.gebruiksdoel.str.contains("woonfunctie")])
    assert len(shop_panden & home_panden) > 200
    assert vbo.gebruiksdoel.str.contains(",").any(), "multi-valued gebruiksdoel"
    mixed = pand[pand.identificatie.isin(shop_panden & home_panden)]
    assert mixed.gebruiksdoel.str.contains("winkelfunctie").all() and (mixed.bouwlagen >= 3).all()
    assert {"Pand gesloopt", "Bouwvergunning verleend"} <= set(pand.status)
    assert {"Verblijfsobject ingetrokken", "Verblijfsobject gevormd"} <= set(vbo.status)
    # units of a non-existing pand are never current
    gone = pand.identificatie[pand.status.isin(NOT_EXISTING_PAND)]
    assert not vbo[vbo.pand_identificatie.isin(gone)].status.isin(CURRENT_UNIT).any()
    stops = _read(demo, "ov_haltes.gpkg", "haltes")
    assert stops.kind.value_counts()["trein"] == 3 and stops.kind.value_counts()["bus"] > 30
    zones = _read(demo, "uitsluitingen.gpkg", "zones")
    assert {"natura2000", "nnn", "externe_veiligheid", "hoogspanning", "kernwinkelgebied"} <= set(
        zones.kind
    )
    own = _read(demo, "eigendom.gpkg", "eigendom")
    assert {"provincie", "gemeente", "rijk", "corporatie"} == set(own.eigenaar_klasse)


# --- sizes and rates ---------------------------------------------------------------------------


def test_demo_counts_are_in_range(demo: Path) -> None:
    manifest = json.loads((demo / "planted.json").read_text())
    counts = manifest["counts"]
    assert counts["municipalities"] == 3
    assert 20_000 <= counts["parcels"] <= 60_000
    assert 15_000 <= counts["buildings"] <= 50_000
    assert 25_000 <= counts["units"] <= 80_000
    assert counts["parcels"] == len(_read(demo, "kadastralekaart.gpkg", "perceel"))


def test_vacancy_rates_and_durations(demo: Path) -> None:
    pand, vbo = _units(demo)
    cur = _current_units(pand, vbo)
    vac = _vacancy(demo)
    assert vac.verblijfsobject_id.isin(cur.identificatie).all(), "vacancy only for current units"
    is_vac = cur.identificatie.isin(vac.verblijfsobject_id)
    office = cur.gebruiksdoel.str.contains("kantoorfunctie")
    shop = cur.gebruiksdoel.str.contains("winkelfunctie") & ~office
    assert is_vac[office].mean() == pytest.approx(0.13, abs=0.01)
    assert is_vac[shop].mean() == pytest.approx(0.08, abs=0.01)
    years = _years(vac, vac.verblijfsobject_id)
    for lo, hi in ((0, 1), (1, 3), (3, 100)):
        assert ((years >= lo) & (years < hi)).mean() > 0.1, (lo, hi)


# --- municipalities ----------------------------------------------------------------------------


def test_codes_and_names_are_fictional_and_inside_zuid_holland(tiny: Path) -> None:
    from pipeline.schemas import ZUID_HOLLAND_BOUNDS_RD

    cbs = _read(tiny, "gemeenten.geojson")
    assert cbs.statcode.str.fullmatch(r"GM09\d\d").all()
    assert not cbs.statcode.isin(["GM0998", "GM0999"]).any()
    assert set(cbs.statcode) <= set(MUNICIPALITY_CODES) and set(cbs.statnaam) <= set(
        MUNICIPALITY_NAMES
    )
    x0, y0, x1, y1 = cbs.to_crs(28992).total_bounds
    zx0, zy0, zx1, zy1 = ZUID_HOLLAND_BOUNDS_RD
    assert zx0 <= x0 and zy0 <= y0 and x1 <= zx1 and y1 <= zy1


@pytest.mark.real
def test_no_code_or_name_is_a_real_municipality() -> None:
    f2022 = REAL / "cbs_gemeenten_2022" / "gemeenten_2022_gegeneraliseerd.geojson"
    f2024 = REAL / "cbs_gebiedsindelingen_2024" / "Gemeenten2024.geojson"
    if not f2022.exists():
        pytest.skip(f"real CBS data absent ({f2022})")
    real22 = pyogrio.read_dataframe(f2022, read_geometry=False)
    codes = set(real22.statcode)
    names = {n.lower() for n in real22.statnaam}
    if f2024.exists():
        real24 = pyogrio.read_dataframe(f2024, read_geometry=False)
        codes |= set(real24.gemeente_key)
        names |= {n.lower() for n in real24.Gemeente}
    assert not codes & set(MUNICIPALITY_CODES)
    assert not names & {n.lower() for n in MUNICIPALITY_NAMES}


# --- determinism -------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_files(tiny: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_sample(again, preset="tiny", seed=7)
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    # byte-identical, GeoPackages included (their timestamps are fixed)
    for rel in files:
        assert _digest(tiny / rel) == _digest(again / rel), rel
    for file, layer in (("kadastralekaart.gpkg", "perceel"), ("bag.gpkg", "verblijfsobject")):
        a, b = _read(tiny, file, layer), _read(again, file, layer)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    other = tmp_path / "other"
    generate_sample(other, preset="tiny", seed=8)
    assert _digest(tiny / "leegstand.csv") != _digest(other / "leegstand.csv")


# --- planted sites -----------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["tiny", "demo"])
def test_planted_sites_are_what_the_manifest_says(
    preset: str, request: pytest.FixtureRequest
) -> None:
    tiny: Path = request.getfixturevalue(preset)
    manifest = json.loads((tiny / "planted.json").read_text())
    cbs = _read(tiny, "gemeenten.geojson")
    items = pd.DataFrame(manifest["items"])
    # five planted sites in every municipality (the model's own cases: see the test below)
    items = items[~items["kind"].isin(MODEL_KINDS)]
    assert items.groupby("gemeentecode").size().to_dict() == dict.fromkeys(cbs.statcode, 5)
    assert set(items["kind"]) == {
        "tijdelijke_locatie",
        "kantoortransformatie",
        "plinttransformatie",
        "natura2000",
        "externe_veiligheid",
    }
    parcels = _read(tiny, "kadastralekaart.gpkg", "perceel").set_index("identificatie")
    pand, vbo = _units(tiny)
    pand_i = pand.set_index("identificatie")
    current_pand = pand[~pand.status.isin(NOT_EXISTING_PAND)]
    vac = _vacancy(tiny)
    own = _read(tiny, "eigendom.gpkg", "eigendom")
    stops = _read(tiny, "ov_haltes.gpkg", "haltes")
    trein = shapely.union_all(stops[stops.kind == "trein"].geometry.values)
    zones = _read(tiny, "uitsluitingen.gpkg", "zones")

    def zone(kind: str):
        return shapely.union_all(zones[zones.kind == kind].geometry.values)

    shops = vbo[vbo.gebruiksdoel.str.contains("winkelfunctie")]
    with rasterio.open(tiny / "geluid_lden.tif") as src:
        noise = src.read(1)
        transform = src.transform

    def noise_at(geom) -> float:
        row, col = rasterio.transform.rowcol(transform, geom.centroid.x, geom.centroid.y)
        return float(noise[row, col])

    for it in items.to_dict("records"):
        _kind, expected = it["kind"], it["expected"]
        if it["layer"] == "parcels":
            assert it["source_id"] == "NL.IMKAD.KadastraalObject." + it["id"]
            geom = parcels.geometry[it["source_id"]]
            assert not current_pand.intersects(geom.buffer(-0.5)).any(), "planted plots are unbuilt"
            if expected == "top_tier":
                assert geom.area >= 3_000
                overlap = own.intersection(geom).area
                assert own.eigenaar_klasse[
                    overlap.idxmax()
                ] == "provincie" and overlap.max() == pytest.approx(geom.area)
                assert geom.distance(trein) <= 500
                assert noise_at(geom) < 53
                assert shops.distance(geom).min() <= 500
                for bad in ("natura2000", "nnn", "externe_veiligheid", "hoogspanning"):
                    assert not geom.intersects(zone(bad)), bad
            else:
                assert it["reason_code"] == "natura2000" and geom.within(zone("natura2000"))
                assert geom.area >= 1_500
        elif it["layer"] == "buildings":
            geom = pand_i.geometry[it["id"]]
            units = vbo[vbo.pand_identificatie == it["id"]]
            assert sorted(units.identificatie) == sorted(it["vbo_ids"])
            assert (units.gebruiksdoel == "kantoorfunctie").all()
            if expected == "top_tier":
                assert units.identificatie.isin(vac.verblijfsobject_id).all()
                assert (_years(vac, units.identificatie) > 3).all()
                assert (
                    1970 <= pand_i.bouwjaar[it["id"]] <= 1990
                    and 4 <= pand_i.bouwlagen[it["id"]] <= 6
                )
                assert units.oppervlakte.sum() >= 2_000
                assert geom.distance(trein) <= 800 and noise_at(geom) <= 50
                assert not geom.intersects(zone("externe_veiligheid"))
            else:
                assert it["reason_code"] == "externe_veiligheid" and geom.within(
                    zone("externe_veiligheid")
                )
        else:
            unit = vbo.set_index("identificatie").loc[it["id"]]
            assert unit.gebruiksdoel == "winkelfunctie" and 60 <= unit.oppervlakte <= 100
            assert _years(vac, pd.Series([it["id"]])).iloc[0] > 3
            same_pand = vbo[vbo.pand_identificatie == unit.pand_identificatie]
            assert same_pand.gebruiksdoel.str.contains("woonfunctie").sum() >= 1, "homes above"
            assert not unit.geometry.within(zone("kernwinkelgebied"))
            muni_shops = shops[shops.woonplaats_naam == unit.woonplaats_naam]
            street = muni_shops[muni_shops.openbare_ruimte_naam == unit.openbare_ruimte_naam]
            assert (
                len(street) < 10 and street.identificatie.isin(vac.verblijfsobject_id).mean() > 0.15
            )
            assert noise_at(unit.geometry) <= 55


def test_noise_follows_railways_and_roads(tiny: Path) -> None:
    stops = _read(tiny, "ov_haltes.gpkg", "haltes")
    with rasterio.open(tiny / "geluid_lden.tif") as src:
        noise = src.read(1)
        at_station = [
            v[0] for v in src.sample([(g.x, g.y) for g in stops[stops.kind == "trein"].geometry])
        ]
    assert min(at_station) > 65
    assert np.percentile(noise, 10) == pytest.approx(45, abs=1.0)
    assert noise.max() <= 80


# --- the output folder -----------------------------------------------------------------------------


def test_refuses_a_folder_that_is_not_a_sample(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("do not delete")
    with pytest.raises(UsageError, match="not empty and is not a previous sample"):
        generate_sample(precious, preset="tiny", seed=1)
    assert [p.name for p in precious.iterdir()] == ["thesis.txt"]
    (precious / "sources.yaml").write_text("synthetic: false\n")
    with pytest.raises(UsageError):
        generate_sample(precious, preset="tiny", seed=1)


def test_replaces_a_previous_sample_and_leaves_no_temp_folders(tmp_path: Path) -> None:
    out = tmp_path / "s"
    generate_sample(out, preset="tiny", seed=1)
    (out / "stale.txt").write_text("from an older run")
    generate_sample(out, preset="tiny", seed=2)
    assert not (out / "stale.txt").exists()
    assert json.loads((out / "planted.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def test_an_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.sample import formats

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(formats, "write_noise", boom)
    with pytest.raises(KeyboardInterrupt):
        generate_sample(tmp_path / "s", preset="tiny", seed=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "huge", "seed": 1}, "unknown preset 'huge'"),
        ({"preset": "tiny", "seed": -1}, "--seed must be 0 or more"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        generate_sample(tmp_path / "s", **kwargs)
    assert not (tmp_path / "s").exists()


def test_never_writes_under_shared(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="shared"):
        generate_sample(Path("/work/shared/data/sample-test"), preset="tiny", seed=1)
    assert not Path("/work/shared/data/sample-test").exists()


def test_cli_sample_prints_a_summary_and_rejects_a_bad_folder(tmp_path: Path) -> None:
    from pipeline.cli import app

    runner = CliRunner()
    res = runner.invoke(
        app, ["sample", "--preset", "tiny", "--out", str(tmp_path / "s"), "--seed", "3"]
    )
    assert res.exit_code == 0, res.output
    assert "parcels" in res.output and (tmp_path / "s" / "sources.yaml").exists()
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("x")
    res = runner.invoke(app, ["sample", "--preset", "tiny", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "Traceback" not in res.output


# --- through the readers -------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_loads_through_the_readers_and_check_passes(demo: Path) -> None:
    from pipeline.catalog import load_sources, read_sources_yaml
    from pipeline.cli import app

    layers, report = load_sources(read_sources_yaml(demo / "sources.yaml"))
    assert report.synthetic is True
    manifest = json.loads((demo / "planted.json").read_text())
    assert len(layers["municipalities"]) == 3
    assert len(layers["parcels"]) == manifest["counts"]["parcels"]
    pand, _vbo = _units(demo)
    assert len(layers["buildings"]) == (~pand.status.isin(NOT_EXISTING_PAND)).sum()
    assert layers["parcels"].gemeentecode.notna().all()
    assert set(layers["zoning"].hoofdgroep) >= {"wonen", "kantoor", "centrum", "bedrijventerrein"}
    ids = {it["layer"]: set() for it in manifest["items"]}
    for it in manifest["items"]:
        ids[it["layer"]].add(it["id"])
    assert ids["parcels"] <= set(layers["parcels"].parcel_id)
    assert ids["buildings"] <= set(layers["buildings"].pand_id)
    assert ids["units"] <= set(layers["units"].vbo_id)
    res = CliRunner().invoke(app, ["check", "--sources", str(demo / "sources.yaml")])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(("preset", "seeds"), [("tiny", range(25)), ("demo", range(8))])
def test_every_seed_plants_every_site_quietly(preset: str, seeds: range) -> None:
    from pipeline.sample.layout import build_layout
    from pipeline.sample.presets import PRESETS
    from pipeline.sample.world import build_world

    for seed in seeds:
        layout = build_layout(build_world(PRESETS[preset], seed))
        assert layout.noise is not None
        for role, cells in layout.planted.items():
            assert (cells >= 0).all(), (seed, role)
            # whole blocks: nothing of a planted plot is cut off by a road or a district edge
            # (the office in a safety zone may stand on a plot cut by a road)
            assert role == "ev" or layout.inside[cells].all(), (seed, role)
            if role in ("tl", "kt"):
                assert (layout.noise[cells] <= 52).all(), (seed, role)


def test_the_model_sources_and_planted_cases(demo: Path) -> None:
    """The demo has the sources of the revised model and plants each of its cases."""
    sources = yaml.safe_load((demo / "sources.yaml").read_text(encoding="utf-8"))["sources"]
    assert sources["housing_plans"]["format"] == "plancapaciteit"
    assert sources["bsd"]["format"] == "bsd"
    for key in ("noise_road", "noise_rail", "noise_industry"):
        assert (demo / sources[key]["path"]).exists(), key
    plans = _read(demo, "woningbouwplannen.gpkg", "woningbouwplannen")
    assert {"plan_id", "plannaam", "woningen", "startjaar", "status"} <= set(plans.columns)
    assert set(plans["status"]) == {"hard", "zacht"} and plans["plan_id"].is_unique
    assert plans["startjaar"].between(2026, 2040).all()
    bsd = _read(demo, "bsd.gpkg", "bsd")
    cbs = _read(demo, "gemeenten.geojson").to_crs("EPSG:28992")
    assert len(bsd) == len(cbs) and (bsd.area < cbs.area.sum()).all()
    zones = _read(demo, "uitsluitingen.gpkg", "zones")
    assert {"ev_aandachtsgebied", "bodem", "nge", "archeologie", "milieuzonering",
            "netcongestie", "stikstofgevoelig"} <= set(zones["kind"])  # fmt: skip
    manifest = json.loads((demo / "planted.json").read_text())
    model = [i for i in manifest["items"] if i["kind"] in MODEL_KINDS]
    assert {i["kind"] for i in model} == set(MODEL_KINDS)  # every case planted at least once
    parcels = _read(demo, "kadastralekaart.gpkg", "perceel").set_index("identificatie")
    vac = _vacancy(demo)
    _pand, vbo = _units(demo)
    for it in model:
        if it["kind"] in ("tot_ontwikkeling", "verdringing"):
            geom = parcels.geometry[it["source_id"]]
            over = plans[plans.intersects(geom)]
            share = over.intersection(geom).area.max() / geom.area
            start = over.loc[over.intersection(geom).area.idxmax(), "startjaar"]
            assert share > 0.99
            assert start == (2033 if it["kind"] == "tot_ontwikkeling" else 2026)
        elif it["kind"] == "buiten_bsd":
            geom = parcels.geometry[it["source_id"]]
            assert bsd.distance(geom).min() > 1_000 and geom.area >= 5_000
        elif it["kind"] in ("deels_leeg_kantoor", "vol_kantoor"):
            units = vbo[vbo.pand_identificatie == it["id"]]
            vacant = units.identificatie.isin(vac.verblijfsobject_id)
            share = units.oppervlakte[vacant].sum() / units.oppervlakte.sum()
            if it["kind"] == "vol_kantoor":
                assert share == 0
            else:
                assert 0.6 <= share <= 0.75
        elif it["kind"] == "grote_plint":
            unit = vbo.set_index("identificatie").loc[it["id"]]
            assert unit.gebruiksdoel == "winkelfunctie" and unit.oppervlakte >= 600
            assert it["id"] in set(vac.verblijfsobject_id)
        elif it["kind"] == "hoogspanning_strook":
            geom = parcels.geometry[it["source_id"]]
            hv = zones[zones["kind"] == "hoogspanning"].union_all()
            assert 0.1 <= geom.intersection(hv).area / geom.area <= 0.4
