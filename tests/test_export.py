"""The result GeoPackage: every layer and documented column, run metadata, QGIS styles, atomic write."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from scoring.conftest import make_table
from shapely.geometry import box

import pipeline.export as export
from pipeline.catalog import InputInfo, LoadReport
from pipeline.export import LAYER_COLUMNS, LAYER_ORDER, METADATA_KEYS, write_result
from pipeline.scan import ScanResult
from pipeline.scoring import load_config, score_table
from pipeline.scoring.config import TIER_NAMES, TYPE_NAMES
from pipeline.styles import (
    OVERVIEW_COLORS,
    OVERVIEW_FILL_OPACITY,
    TIER_COLORS,
    capacity_classes,
    rgb,
)

CONFIG = load_config(None)
GEMEENTEN_COLUMNS = (
    "gemeentecode",
    "gemeentenaam",
    *(f"n_{t}" for t in TYPE_NAMES),
    *(f"n_{t}_{tier}" for t in TYPE_NAMES for tier in (*TIER_NAMES, "E")),
    *(f"capacity_{t}" for t in TYPE_NAMES),
    *(f"capacity_{t}_{tier}" for t in TYPE_NAMES for tier in (*TIER_NAMES, "E")),
    "capacity_ab",
)


def build_result(*, with_plinten: bool = True) -> ScanResult:
    """A small scan result made with the real scoring, in two municipalities."""
    tl = make_table(
        "tijdelijke_locatie",
        4,
        ids=["NL.IMKAD.1", "NL.IMKAD.2", "NL.IMKAD.3", "NL.IMKAD.4"],
        gemeentecode=["GM0599", "GM0599", "GM0518", "GM0518"],
        area_m2=[6000.0, 2000.0, 800.0, 3000.0],
        net_area_m2=[6000.0, 2000.0, 800.0, 3000.0],
        owner_class=["provincie", "overig", "gemeente", "onbekend"],
        parcel_ids=["NL.IMKAD.1", "NL.IMKAD.2", "NL.IMKAD.3", "NL.IMKAD.4"],
    )
    kt = make_table(
        "kantoortransformatie",
        2,
        ids=["0599100000000001", "0518100000000002"],
        gemeentecode=["GM0599", "GM0518"],
        office_share=[1.0, 0.2],
    )
    pl = make_table(
        "plinttransformatie",
        2,
        ids=["0599010000000001", "0599010000000002"],
        pand_id=["0599100000000009", "0599100000000009"],
        straatnaam=["Zijstraat", "Zijstraat"],
        is_vacant=[True, False],
    )
    candidates, excluded = {}, {}
    for type_name, table in zip(TYPE_NAMES, (tl, kt, pl), strict=True):
        if type_name == "plinttransformatie" and not with_plinten:
            table = table.iloc[:0]
        cand, excl = score_table(table, CONFIG.types[type_name], type_name=type_name)
        candidates[type_name] = cand.reset_index()
        excluded[type_name] = excl
    parcels_x = excluded["tijdelijke_locatie"].reset_index()
    buildings_x = excluded["kantoortransformatie"].reset_index()
    buildings_x = buildings_x.rename(
        columns={"reason_codes": "kantoor_reason_codes", "reasons": "kantoor_reasons"}
    )
    buildings_x["plint_reason_codes"] = ""
    buildings_x["plint_reasons"] = ""
    gemeenten = gpd.GeoDataFrame(
        {"gemeentecode": ["GM0599", "GM0518"], "gemeentenaam": ["Rotterdam", "'s-Gravenhage"]},
        geometry=[box(0, -10, 100, 100), box(100, -10, 200, 100)],
        crs="EPSG:28992",
    )
    return ScanResult(
        candidates=candidates,
        excluded_parcels=parcels_x,
        excluded_buildings=buildings_x,
        gemeenten=gemeenten,
        counts={"parcels_rows": 4},
        gemeente_codes=["GM0518", "GM0599"],
        tiers=CONFIG.tiers.as_dict(),
        started_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        finished_at=dt.datetime(2026, 1, 2, 3, 5, 0, tzinfo=dt.UTC),
    )


REPORT = LoadReport(
    counts={"parcels": 4, "buildings": 2},
    repaired={"parcels": 1},
    inputs=[InputInfo("parcels", "raw/kadastralekaart.gpkg", "brk", 1234, "ab" * 32, "2025-01-01")],
    synthetic=True,
    warnings=["een waarschuwing"],
)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "out" / "kansenkaart.gpkg"
    return write_result(build_result(), out, report=REPORT, config_text=CONFIG.text)


def test_every_layer_and_documented_column(written: Path) -> None:
    layers = dict(pyogrio.list_layers(written).tolist())
    assert set(layers) == {*LAYER_ORDER, "run_metadata", "layer_styles"}
    assert layers["plinten"] == "Point"
    assert (
        layers["tijdelijke_locaties"] == layers["kantoren"] == layers["gemeenten"] == "MultiPolygon"
    )
    site_ids: list[str] = []
    for name in LAYER_ORDER:
        gdf = gpd.read_file(written, layer=name)
        assert gdf.crs.to_epsg() == 28992, name
        expected = GEMEENTEN_COLUMNS if name == "gemeenten" else LAYER_COLUMNS[name]
        missing = [c for c in expected if c not in gdf.columns]
        assert not missing, (name, missing)
        if "site_id" in gdf.columns:
            site_ids += gdf["site_id"].tolist()
    assert len(site_ids) == len(set(site_ids))


def test_scored_layer_content(written: Path) -> None:
    tl = gpd.read_file(written, layer="tijdelijke_locaties")
    # NL.IMKAD.3 (800 m²) is excluded as te_klein; the rest are candidates
    assert sorted(tl["site_id"]) == ["TL-NL.IMKAD.1", "TL-NL.IMKAD.2", "TL-NL.IMKAD.4"]
    assert tl["rank"].dtype.kind == "i" and tl["capacity_units"].dtype.kind == "i"
    row = tl.set_index("site_id").loc["TL-NL.IMKAD.1"]
    assert row["gemeentenaam"] == "Rotterdam"
    assert row["capacity_units"] == 24 and row["rank"] == 1
    assert row["label"] == "Perceel NL.IMKAD.1, 6.000 m²"
    exp = json.loads(row["explanation"])
    assert [c["id"] for c in exp["criteria"]] == [
        c.id for c in CONFIG.types["tijdelijke_locatie"].criteria
    ]
    for c in CONFIG.types["tijdelijke_locatie"].criteria:
        assert f"c_{c.id}_raw" in tl.columns and f"c_{c.id}_score" in tl.columns
    assert row["c_eigendom_raw"] == "provincie" and row["c_eigendom_score"] == 1.0
    assert row["reasons"].count("\n") == len(exp["criteria"]) + len(exp["penalties"]) - 1
    excl = gpd.read_file(written, layer="uitgesloten_percelen").set_index("parcel_id")
    assert (
        excl.loc["NL.IMKAD.3", "reason_codes"] == "te_klein,netto_te_klein"
    )  # 800 m² gross and net
    assert "800 m²" in excl.loc["NL.IMKAD.3", "reasons"]
    panden = gpd.read_file(written, layer="uitgesloten_panden").set_index("pand_id")
    assert panden.loc["0518100000000002", "kantoor_reason_codes"] == "geen_kantoor"
    gem = gpd.read_file(written, layer="gemeenten").set_index("gemeentecode")
    assert gem.loc["GM0599", "n_tijdelijke_locatie"] == 2
    assert gem.loc["GM0599", "capacity_ab"] == (
        tl.loc[
            (tl["gemeentecode"] == "GM0599") & tl["tier"].isin(["A", "B"]), "capacity_units"
        ].sum()
        + gem.loc[
            "GM0599", ["capacity_kantoortransformatie_A", "capacity_kantoortransformatie_B"]
        ].sum()
        + gem.loc[
            "GM0599", ["capacity_plinttransformatie_A", "capacity_plinttransformatie_B"]
        ].sum()
    )


def test_run_metadata(written: Path) -> None:
    meta = pyogrio.read_dataframe(written, layer="run_metadata")
    values = {k: json.loads(v) for k, v in zip(meta["key"], meta["value"], strict=True)}
    assert set(METADATA_KEYS) <= set(values)
    assert values["started_at"] == "2026-01-02T03:04:05Z"
    assert values["finished_at"] == "2026-01-02T03:05:00Z"
    assert values["config_yaml"] == CONFIG.text
    assert values["config_sha256"] == hashlib.sha256(CONFIG.text.encode()).hexdigest()
    assert values["inputs"] == [
        {
            "source": "parcels",
            "path": "raw/kadastralekaart.gpkg",
            "format": "brk",
            "size_bytes": 1234,
            "sha256": "ab" * 32,
            "date": "2025-01-01",
        }
    ]
    assert values["repaired_geometries"] == {"parcels": 1}
    assert values["gemeenten"] == ["GM0518", "GM0599"]
    assert values["synthetic"] is True
    assert values["tiers"] == {"A": 80.0, "B": 65.0, "C": 50.0, "D": 35.0}
    assert values["feature_counts"]["input"] == {"parcels": 4, "buildings": 2}
    assert values["feature_counts"]["output"]["tijdelijke_locaties"] == 3
    assert values["run_id"]


def test_qgis_layer_styles(written: Path) -> None:
    with sqlite3.connect(written) as con:
        cols = [r[1] for r in con.execute("PRAGMA table_info(layer_styles)")]
        rows = con.execute(
            "SELECT f_table_name, f_geometry_column, styleName, styleQML, useAsDefault FROM layer_styles"
        ).fetchall()
        contents = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
        rtrees = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'"
            )
        }
    assert cols == [
        "id",
        "f_table_catalog",
        "f_table_schema",
        "f_table_name",
        "f_geometry_column",
        "styleName",
        "styleQML",
        "styleSLD",
        "useAsDefault",
        "description",
        "owner",
        "ui",
        "update_time",
    ]
    assert contents["layer_styles"] == "attributes" and contents["run_metadata"] == "attributes"
    assert rtrees == set(LAYER_ORDER)  # spatial index on every spatial layer
    styles = {r[0]: r for r in rows}
    assert set(styles) == {"tijdelijke_locaties", "kantoren", "plinten", "gemeenten"}
    for name in ("tijdelijke_locaties", "kantoren", "plinten"):
        _, geom_col, _, qml, default = styles[name]
        assert geom_col == "geom" and default == 1
        root = ET.fromstring(qml)
        renderer = root.find("renderer-v2")
        assert renderer is not None
        assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "tier"
        assert [c.get("value") for c in renderer.iter("category")] == list("ABCDE")
        symbols = renderer.find("symbols")
        assert symbols is not None and len(symbols) == 5
        kind = "marker" if name == "plinten" else "fill"
        assert {s.get("type") for s in symbols} == {kind}
        # the palette's tier colours, in tier order (the web map's and the api's styles' too)
        assert [_qml_fill(s) for s in symbols] == [
            f"{','.join(str(c) for c in rgb(col))},255" for col in TIER_COLORS.values()
        ]
    gem = ET.fromstring(styles["gemeenten"][3]).find("renderer-v2")
    assert gem is not None
    assert gem.get("type") == "graduatedSymbol" and gem.get("attr") == "capacity_ab"
    # classes fitted to the data: one per distinct value here (two municipalities), none empty
    capacity = sorted(gpd.read_file(written, layer="gemeenten")["capacity_ab"].astype(float))
    ranges = [(float(r.get("lower")), float(r.get("upper"))) for r in gem.iter("range")]
    assert len(set(capacity)) == 2
    assert ranges == [(capacity[0], capacity[0]), (capacity[0], capacity[1])]
    # translucent fills with an outline, so tier-A sites under or above the overview stay visible
    gem_symbols = gem.find("symbols")
    assert gem_symbols is not None
    alphas = {int(_qml_fill(s).split(",")[3]) for s in gem_symbols}
    assert alphas == {round(OVERVIEW_FILL_OPACITY * 255)} and max(alphas) < 128


def _qml_fill(symbol: ET.Element) -> str:
    """The fill colour ("r,g,b,a") of a QML symbol's first layer."""
    return next(o.get("value") for o in symbol.iter("Option") if o.get("name") == "color") or ""


def test_overview_classes_are_fitted_to_the_data() -> None:
    three = capacity_classes([40, 0, 12])
    assert [(c.lower, c.upper) for c in three] == [(0, 0), (0, 12), (12, 40)]
    assert [c.label for c in three] == ["0 woningen", "1 – 12 woningen", "13 – 40 woningen"]
    assert [c.color for c in three] == [OVERVIEW_COLORS[0], OVERVIEW_COLORS[2], OVERVIEW_COLORS[4]]
    one = capacity_classes([7])  # an export of one municipality
    assert [(c.lower, c.upper, c.label) for c in one] == [(7, 7, "7 woningen")]
    # "1 woning / 2 woningen": a class of exactly one home is singular
    assert [c.label for c in capacity_classes([0, 1, 2])] == [
        "0 woningen",
        "1 woning",
        "2 woningen",
    ]
    # ten distinct values (and a missing one, which counts as 0): five classes of two values
    ten = capacity_classes([*range(0, 1000, 100), None, 900])
    assert [(c.lower, c.upper) for c in ten] == [
        (0, 100),
        (100, 300),
        (300, 500),
        (500, 700),
        (700, 900),
    ]
    assert ten[-1].label == "701 – 900 woningen" and ten[0].label == "0 – 100 woningen"
    assert capacity_classes([]) == []
    big = capacity_classes([1234, 5678])
    assert big[-1].label == "1.235 – 5.678 woningen"


def test_empty_layers_are_written_with_their_columns(tmp_path: Path) -> None:
    out = write_result(
        build_result(with_plinten=False),
        tmp_path / "k.gpkg",
        report=REPORT,
        config_text=CONFIG.text,
    )
    plinten = gpd.read_file(out, layer="plinten")
    assert len(plinten) == 0
    assert set(LAYER_COLUMNS["plinten"]) <= set(plinten.columns)


def test_same_result_gives_identical_layers(tmp_path: Path) -> None:
    a = write_result(build_result(), tmp_path / "a.gpkg", report=REPORT, config_text=CONFIG.text)
    b = write_result(build_result(), tmp_path / "b.gpkg", report=REPORT, config_text=CONFIG.text)
    for name in LAYER_ORDER:
        pd.testing.assert_frame_equal(gpd.read_file(a, layer=name), gpd.read_file(b, layer=name))


def test_interrupted_write_leaves_previous_result_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "kansenkaart.gpkg"
    write_result(build_result(), out, report=REPORT, config_text=CONFIG.text)
    before = out.read_bytes()
    real_write = export.write_layer_table
    written_layers: list[str] = []

    def failing_write(table, path, name, *args, **kwargs):
        if name == "plinten":
            raise RuntimeError("disk full while writing plinten")
        written_layers.append(name)
        return real_write(table, path, name, *args, **kwargs)

    monkeypatch.setattr(export, "write_layer_table", failing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        write_result(build_result(), out, report=REPORT, config_text=CONFIG.text)
    assert written_layers == ["tijdelijke_locaties", "kantoren"]  # it failed mid-write
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kansenkaart.gpkg"]


def test_keyboard_interrupt_also_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = export.write_layer_table

    def interrupted(table, path, name, *args, **kwargs):
        real_write(table, path, name, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "write_layer_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_result(build_result(), tmp_path / "k.gpkg", report=REPORT, config_text=CONFIG.text)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_layer_fails_before_anything_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "k.gpkg"
    out.write_bytes(b"previous")
    result = build_result()
    result.candidates["kantoortransformatie"] = result.candidates["kantoortransformatie"].drop(
        columns=["office_floor_m2"]
    )
    with pytest.raises(ValueError, match="office_floor_m2"):
        write_result(result, out, report=REPORT, config_text=CONFIG.text)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["k.gpkg"]


@pytest.mark.parametrize("batch_rows", [export.IPC_BATCH_ROWS, 2])
def test_background_writer_gives_the_same_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int
) -> None:
    """Layers written by the background process (handed over whole, or in slices of two
    rows) equal those written in-process."""
    monkeypatch.setattr(export, "IPC_BATCH_ROWS", batch_rows)
    a = write_result(
        build_result(),
        tmp_path / "a.gpkg",
        report=REPORT,
        config_text=CONFIG.text,
        background=False,
    )
    b = write_result(
        build_result(), tmp_path / "b.gpkg", report=REPORT, config_text=CONFIG.text, background=True
    )
    for name in LAYER_ORDER:
        left, right = gpd.read_file(a, layer=name), gpd.read_file(b, layer=name)
        pd.testing.assert_frame_equal(left, right)
        assert set(right.geom_type) <= {"MultiPolygon", "Point"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gpkg", "b.gpkg"]
    # the api's search indexes, made with their layer by either writer
    wanted = {(index, table, cols) for index, (table, cols) in export.SEARCH_INDEXES.items()}
    assert search_indexes(a) == search_indexes(b) == wanted


def _index_inputs() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Units (the first without a toevoeging, the second with one) and parcels."""
    import shapely

    units = gpd.GeoDataFrame(
        {
            "vbo_id": ["v1", "v2", "v3"],
            "pand_id": ["p1", "p1", None],
            "gemeentecode": ["GM0599"] * 3,
            "straatnaam": ["Zijstraat", "Zijstraat", "Hoofdweg"],
            "huisnummer": [12, 12, 3],
            "huisletter": [None, "A", None],
            "toevoeging": [None, "2", None],
            "postcode": ["3011AB", "3011AB", None],
            "woonplaats": ["Rotterdam", "Rotterdam", None],
        },
        geometry=shapely.points([(0, 0), (10, 0), (20, 0)]),
        crs="EPSG:28992",
    )
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": ["900", "901"],
            "gemeentecode": ["GM0599"] * 2,
            "akr_code": ["rtd01", "RTD01"],
            "sectie": ["n", "N"],
            "perceelnummer": ["05440", "1"],
        },
        geometry=[box(0, 0, 10, 10), box(10, 0, 20, 10)],
        crs="EPSG:28992",
    )
    return units, parcels


@pytest.mark.parametrize("background", [True, False])
def test_a_layer_handed_over_in_parts_is_written_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, background: bool
) -> None:
    """The search index handed to the writer one input row at a time (the first part's
    ``toevoeging`` all missing, the second's text; addresses, then parcels with other columns
    filled) is the layer written whole, row for row, with its row count in the metadata."""
    from pipeline.search_index import search_index, search_index_parts

    monkeypatch.setattr(export, "IPC_BATCH_ROWS", 1)
    units, parcels = _index_inputs()
    parts = list(search_index_parts(parcels, units, rows=1))
    assert [len(p) for p in parts] == [1, 1, 1, 1, 1]
    assert parts[0]["toevoeging"].isna().all() and parts[1]["toevoeging"].notna().all()
    whole = build_result()
    whole.index_layers["zoekindex"] = search_index(parcels, units)
    a = write_result(
        whole, tmp_path / "a.gpkg", report=REPORT, config_text=CONFIG.text, background=False
    )
    with export.ResultWriter(tmp_path / "b.gpkg", background=background) as writer:
        writer.add("zoekindex", iter(parts))
        b = writer.finish(build_result(), report=REPORT, config_text=CONFIG.text)
    left, right = gpd.read_file(a, layer="zoekindex"), gpd.read_file(b, layer="zoekindex")
    assert len(right) == 5 and right["toevoeging"].isna().tolist()[:2] == [True, False]
    assert right["toevoeging"].iloc[1] == "a 2"
    pd.testing.assert_frame_equal(left, right)
    counts = pd.read_sql(
        "SELECT value FROM run_metadata WHERE key = 'feature_counts'", sqlite3.connect(b)
    )
    assert json.loads(counts["value"].iloc[0])["output"]["zoekindex"] == 5


def _reading(pid: int, suffix: str) -> bool | None:
    """Has process ``pid`` a file ending in ``suffix`` open? (``None``: no ``/proc`` here.)"""
    fds = Path(f"/proc/{pid}/fd")
    if not fds.is_dir():
        return None
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            if os.readlink(fd).endswith(suffix):
                return True
    return False


def test_the_writer_process_writes_a_layer_while_it_is_still_made(tmp_path: Path) -> None:
    """The writer process gets a layer as soon as its first part is in the file and reads
    the parts as they come: it has the stream open before the second part is made, waits for
    the rest (``waited``), and the layer is whole."""
    import time

    from pipeline.search_index import search_index_parts

    units, parcels = _index_inputs()
    seen: list[bool | None] = []

    def slow_parts():
        parts = search_index_parts(parcels, units, rows=1)
        yield next(parts)
        # the first part is in the stream file and the writer has its command: it opens the
        # file (however slowly its process started) while the rest is not made yet
        pid = writer._bg.proc.pid
        deadline = time.monotonic() + 60
        while not (opened := _reading(pid, "-zoekindex.arrows")) and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append(opened)
        for part in parts:
            time.sleep(0.3)
            yield part

    with export.ResultWriter(tmp_path / "k.gpkg", background=True) as writer:
        writer.add("zoekindex", slow_parts())
        out = writer.finish(build_result(), report=REPORT, config_text=CONFIG.text)
    assert len(gpd.read_file(out, layer="zoekindex")) == 5
    if seen != [None]:  # where /proc tells
        assert seen == [True]
    # it waited for a part at least once in the 1.2 s of pauses (however long it took to
    # make the GeoPackage and write the first part)
    assert writer.waited["zoekindex"] > 0


def test_a_layer_that_fails_while_it_is_written_stops_the_writer(tmp_path: Path) -> None:
    """The parts fail after the writer process began the layer: the scan gets the parts'
    error, the writer process stops instead of waiting for the rest, nothing is left."""
    from pipeline.search_index import search_index_parts

    units, parcels = _index_inputs()
    out = tmp_path / "k.gpkg"
    out.write_bytes(b"previous")

    def failing_parts():
        parts = search_index_parts(parcels, units, rows=1)
        yield next(parts)
        yield next(parts)
        raise ValueError("parcel 901 has no geometry")

    # (without the writer's stop, finish would wait for it for ever)
    with (
        pytest.raises(ValueError, match="parcel 901"),
        export.ResultWriter(out, background=True) as writer,
    ):
        writer.add("zoekindex", failing_parts())
        writer.finish(build_result(), report=REPORT, config_text=CONFIG.text)
    assert writer._bg is None  # the writer process was waited for: it ended
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["k.gpkg"]


def test_search_index_parts_are_empty_without_rows() -> None:
    from pipeline.search_index import INDEX_COLUMNS, search_index_parts

    units, parcels = _index_inputs()
    parts = list(search_index_parts(parcels.iloc[:0], units.iloc[:0]))
    assert len(parts) == 1 and not len(parts[0])
    assert list(parts[0].columns) == [*INDEX_COLUMNS, "geometry"]


def search_indexes(path: Path) -> set[tuple[str, str, tuple[str, ...]]]:
    """The named SQLite indexes of a GeoPackage: (name, table, columns)."""
    con = sqlite3.connect(path)
    try:
        names = con.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND name NOT LIKE 'gpkg%' AND name NOT LIKE 'rtree%'"
        ).fetchall()
        return {
            (name, table, tuple(r[2] for r in con.execute(f'PRAGMA index_info("{name}")')))
            for name, table in names
        }
    finally:
        con.close()


def test_finish_does_not_add_again_a_layer_the_helper_thread_has_not_taken(
    tmp_path: Path,
) -> None:
    """A layer handed to ``add`` and still waiting behind a slow one is written as handed
    over, not replaced by the result's summary frame of it (the scan keeps a few columns)."""
    import threading

    result = build_result()
    full = result.layers["plinten"]
    release = threading.Event()

    def slow_layer() -> gpd.GeoDataFrame:
        release.wait(5)
        return result.layers["kantoren"]

    with export.ResultWriter(tmp_path / "k.gpkg", background=True) as writer:
        writer.add("kantoren", slow_layer)
        writer.add("plinten", full)
        summary = ["site_id", "gemeentecode", "score", "tier", "capacity_units"]
        result.candidates["plinttransformatie"] = full[summary]
        threading.Timer(0.3, release.set).start()
        out = writer.finish(result, report=REPORT, config_text=CONFIG.text)
    assert len(gpd.read_file(out, layer="plinten")) == len(full)


def test_layer_batches_share_one_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """A text column empty in the first slice and filled later is text in every slice."""
    import pyarrow as pa

    monkeypatch.setattr(export, "IPC_BATCH_ROWS", 2)
    gdf = gpd.GeoDataFrame(
        {"parcel_id": ["a", "b", "c"], "reasons": [None, None, "te klein"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)],
        crs="EPSG:28992",
    )
    batches = list(export.layer_batches(gdf, "MultiPolygon"))
    assert [len(b) for b in batches] == [2, 1]
    assert batches[0].schema == batches[1].schema
    assert pa.types.is_string(batches[0].schema.field("reasons").type) or pa.types.is_large_string(
        batches[0].schema.field("reasons").type
    )
    whole = export.layer_table(gdf, "MultiPolygon")
    assert pa.concat_tables(batches).cast(whole.schema).equals(whole)


def test_categorical_texts_written_as_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reasons kept as categories (each distinct text once, as the scan hands over the
    excluded parcels) go to GDAL as the same plain texts, slice by slice."""
    import pyarrow as pa

    monkeypatch.setattr(export, "IPC_BATCH_ROWS", 2)
    geoms = [box(k, 0, k + 1, 1) for k in range(4)]
    categories = pd.Index(["te klein", "bebouwd"], dtype=object)
    coded = gpd.GeoDataFrame(
        {"reasons": pd.Categorical.from_codes([0, -1, 1, 0], categories=categories)},
        geometry=geoms,
        crs="EPSG:28992",
    )
    expected = pa.array(["te klein", None, "bebouwd", "te klein"], type=pa.string())
    for tables in (
        list(export.layer_batches(coded, "MultiPolygon")),
        [export.layer_table(coded, "MultiPolygon")],
    ):
        table = pa.concat_tables(tables)
        assert table.schema.field("reasons").type == pa.string()
        assert table.column("reasons").combine_chunks().equals(expected)


def test_background_writer_failure_leaves_previous_result(tmp_path: Path) -> None:
    """A failing background writer raises, and the temporary file and IPC files go away."""
    out = tmp_path / "kansenkaart.gpkg"
    write_result(build_result(), out, report=REPORT, config_text=CONFIG.text)
    before = out.read_bytes()
    with export.ResultWriter(out, background=True) as writer:
        writer.add("tijdelijke_locaties", build_result().layers["tijdelijke_locaties"])
        writer._wait_sent()
        assert writer._bg is not None
        folder = writer._bg.folder
        writer._bg.proc.kill()  # the writer dies (out of memory, killed, …)
        with pytest.raises(RuntimeError, match="writing the GeoPackage failed"):
            writer.finish(build_result(), report=REPORT, config_text=CONFIG.text)
    assert out.read_bytes() == before
    assert not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kansenkaart.gpkg"]
