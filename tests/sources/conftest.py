"""A minimal, valid set of inputs in the generator formats of docs/contracts.md §A.

``inputs`` writes every source into ``tmp_path / "raw"`` (tiny, hand-checkable) and returns an
:class:`Inputs` whose ``write_yaml`` writes a sources.yaml, optionally with some entries changed,
so a bad-input test breaks exactly one thing.

Expected counts of the valid set: municipalities 2, parcels 4, buildings 2, units 3, zoning 2,
vacancy 2, ownership 2, transit_stops 2, exclusion_zones 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml
from shapely.geometry import Point, box

RD = "EPSG:28992"
REAL_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"

MUNICIPALITIES = {
    "GM0901": box(80_000, 440_000, 82_000, 442_000),
    "GM0902": box(82_000, 440_000, 84_000, 442_000),
}
PARCELS = {
    "5260000000001": box(80_100, 440_100, 80_200, 440_150),  # 5,000 m², GM0901
    "5260000000002": box(80_300, 440_100, 80_340, 440_140),  # 1,600 m², GM0901
    "5260000000003": box(82_100, 440_100, 82_160, 440_160),  # 3,600 m², GM0902
    "5260000000004": box(82_500, 441_000, 82_700, 441_100),  # 20,000 m², GM0902
}
PANDEN = [
    ("0901100000000001", box(80_110, 440_110, 80_130, 440_120), 1975, "Pand in gebruik"),
    ("0902100000000002", box(82_110, 440_110, 82_140, 440_140), 9999, "Pand in gebruik"),
    ("0902100000000003", box(82_150, 440_150, 82_155, 440_155), 1930, "Pand gesloopt"),
]
VBOS = [
    (
        "0901010000000001",
        "0901100000000001",
        "woonfunctie,winkelfunctie",
        80,
        "Verblijfsobject in gebruik",
        Point(80_115, 440_115),
    ),
    (
        "0901010000000002",
        "0901100000000001",
        "woonfunctie",
        60,
        "Verblijfsobject in gebruik",
        Point(80_125, 440_115),
    ),
    (
        "0902010000000003",
        "0902100000000002",
        "kantoorfunctie",
        900,
        "Verblijfsobject in gebruik",
        Point(82_120, 440_120),
    ),
    (
        "0902010000000004",
        "0902100000000002",
        "kantoorfunctie",
        50,
        "Verblijfsobject ingetrokken",
        Point(82_130, 440_130),
    ),
]

IMRO_GML = """<?xml version="1.0" encoding="UTF-8"?>
<!-- synthetic test plan -->
<FeatureCollectionIMRO xmlns="http://www.geonovum.nl/imro/2012/1.1"
    xmlns:gml="http://www.opengis.net/gml/3.2" gml:id="c1">
  <featureMember>
    <Bestemmingsplangebied gml:id="NL.IMRO.0901.TEST-0001">
      <identificatie><NEN3610ID><namespace>NL.IMRO</namespace><lokaalID>0901.TEST</lokaalID><versie>0001</versie></NEN3610ID></identificatie>
      <typePlan>bestemmingsplan</typePlan>
      <naam>Testplan (synthetisch)</naam>
      <geometrie>{plan}</geometrie>
    </Bestemmingsplangebied>
  </featureMember>
  <featureMember>
    <Enkelbestemming gml:id="NL.IMRO.EB1">
      <identificatie><NEN3610ID><namespace>NL.IMRO</namespace><lokaalID>EB1</lokaalID></NEN3610ID></identificatie>
      <typePlanobject>enkelbestemming</typePlanobject>
      <naam>Wonen</naam>
      <bestemmingshoofdgroep>wonen</bestemmingshoofdgroep>
      <geometrie>{eb1}</geometrie>
    </Enkelbestemming>
  </featureMember>
  <featureMember>
    <Enkelbestemming gml:id="NL.IMRO.EB2">
      <identificatie><NEN3610ID><namespace>NL.IMRO</namespace><lokaalID>EB2</lokaalID></NEN3610ID></identificatie>
      <typePlanobject>enkelbestemming</typePlanobject>
      <naam>Groen</naam>
      <bestemmingshoofdgroep>{group2}</bestemmingshoofdgroep>
      <geometrie>{eb2}</geometrie>
    </Enkelbestemming>
  </featureMember>
</FeatureCollectionIMRO>
"""


def gml_polygon(geom: Any, gid: str) -> str:
    coords = " ".join(f"{x} {y}" for x, y in geom.exterior.coords)
    return (
        f'<gml:Polygon gml:id="{gid}" srsName="urn:ogc:def:crs:EPSG::28992"><gml:exterior>'
        f"<gml:LinearRing><gml:posList>{coords}</gml:posList></gml:LinearRing></gml:exterior>"
        "</gml:Polygon>"
    )


def write_imro(path: Path, *, group2: str = "groen") -> None:
    path.write_text(
        IMRO_GML.format(
            plan=gml_polygon(box(80_000, 440_000, 81_000, 441_000), "g0"),
            eb1=gml_polygon(box(80_000, 440_000, 80_500, 441_000), "g1"),
            eb2=gml_polygon(box(80_500, 440_000, 81_000, 441_000), "g2"),
            group2=group2,
        ),
        encoding="utf-8",
    )


def municipalities_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "statcode": list(MUNICIPALITIES),
            "statnaam": ["Testdam", "Proefwijk"],
            "jrstatcode": ["2024GM0901", "2024GM0902"],
            "rubriek": ["gemeente", "gemeente"],
        },
        geometry=list(MUNICIPALITIES.values()),
        crs=RD,
    ).to_crs("EPSG:4326")


def parcels_gdf() -> gpd.GeoDataFrame:
    n = len(PARCELS)
    return gpd.GeoDataFrame(
        {
            "identificatie": [f"NL.IMKAD.KadastraalObject.{k}" for k in PARCELS],
            "AKRKadastraleGemeenteCodeWaarde": ["TST01"] * n,
            "sectie": ["A"] * n,
            "perceelnummer": [str(i + 1) for i in range(n)],
            "kadastraleGrootteWaarde": [g.area for g in PARCELS.values()],
            "soortGrootteWaarde": ["Vastgesteld"] * n,
            "beginGeldigheid": ["2020-01-01"] * n,
        },
        geometry=list(PARCELS.values()),
        crs=RD,
    )


def pand_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "identificatie": [p[0] for p in PANDEN],
            "bouwjaar": [p[2] for p in PANDEN],
            "status": [p[3] for p in PANDEN],
            "gebruiksdoel": ["woonfunctie,winkelfunctie", "kantoorfunctie", "woonfunctie"],
            "oppervlakte_min": [60, 900, 50],
            "oppervlakte_max": [80, 900, 50],
            "aantal_verblijfsobjecten": [2, 2, 0],
            "bouwlagen": [3, 5, 1],
        },
        geometry=[p[1] for p in PANDEN],
        crs=RD,
    )


def vbo_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "identificatie": [v[0] for v in VBOS],
            "pand_identificatie": [v[1] for v in VBOS],
            "gebruiksdoel": [v[2] for v in VBOS],
            "oppervlakte": [v[3] for v in VBOS],
            "status": [v[4] for v in VBOS],
            "openbare_ruimte_naam": ["Kerkstraat", "Kerkstraat", "Stationsplein", "Stationsplein"],
            "huisnummer": [1, 3, 10, 12],
            "postcode": ["9901AA", "9901AA", "9902BB", "9902BB"],
            "woonplaats_naam": ["Testdam", "Testdam", "Proefwijk", "Proefwijk"],
            "bouwjaar": [1975, 1975, 9999, 9999],
        },
        geometry=[v[5] for v in VBOS],
        crs=RD,
    )


def write_noise(path: Path, *, crs: str | None = RD) -> None:
    import rasterio
    from rasterio.transform import from_origin

    data = np.linspace(45, 72, 100, dtype="float32").reshape(10, 10)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=10,
        height=10,
        count=1,
        dtype="float32",
        crs=crs,
        transform=from_origin(80_000, 440_100, 10, 10),
        nodata=-9999.0,
    ) as ds:
        ds.write(data, 1)


@dataclass
class Inputs:
    """The written test inputs; ``write_yaml`` writes a sources.yaml (optionally changed)."""

    dir: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    def path(self, key: str) -> Path:
        return self.dir / self.entries[key]["path"]

    def write_yaml(
        self, changes: dict[str, dict[str, Any] | None] | None = None, *, synthetic: bool = True
    ) -> Path:
        entries = {k: dict(v) for k, v in self.entries.items()}
        for key, value in (changes or {}).items():
            if value is None:
                entries.pop(key, None)
            else:
                entries[key] = {**entries.get(key, {}), **value}
        doc: dict[str, Any] = {"sources": entries}
        if synthetic:
            doc = {"synthetic": True, **doc}
        out = self.dir / "sources.yaml"
        out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return out


def write_inputs(root: Path) -> Inputs:
    """Write the minimal valid set into ``root`` (created)."""
    root.mkdir(parents=True, exist_ok=True)
    municipalities_gdf().to_file(root / "gemeenten.geojson", driver="GeoJSON")
    parcels_gdf().to_file(root / "kadastralekaart.gpkg", layer="perceel")
    pand_gdf().to_file(root / "bag.gpkg", layer="pand")
    vbo_gdf().to_file(root / "bag.gpkg", layer="verblijfsobject")
    (root / "bestemmingsplannen").mkdir(exist_ok=True)
    write_imro(root / "bestemmingsplannen" / "NL.IMRO.0901.TEST-0001.gml")
    (root / "leegstand.csv").write_text(
        "# synthetic vacancy for tests\n"
        "verblijfsobject_id;leegstand_sinds;bron\n"
        "0901010000000001;2021-03-01;gemeente\n"
        "0902010000000003;2019-01-15;makelaar\n",
        encoding="utf-8",
    )
    gpd.GeoDataFrame(
        {
            "eigenaar_klasse": ["gemeente", "provincie"],
            "eigenaar_naam": ["Testdam", "Zuid-Holland"],
        },
        geometry=[box(80_090, 440_090, 80_210, 440_160), box(82_490, 440_990, 82_710, 441_110)],
        crs=RD,
    ).to_file(root / "eigendom.gpkg", layer="eigendom")
    gpd.GeoDataFrame(
        {
            "stop_id": ["s1", "s2"],
            "naam": ["Testdam Centraal", "Kerkstraat"],
            "kind": ["trein", "bus"],
        },
        geometry=[Point(80_500, 440_500), Point(80_150, 440_200)],
        crs=RD,
    ).to_file(root / "ov_haltes.gpkg", layer="haltes")
    write_noise(root / "geluid_lden.tif")
    gpd.GeoDataFrame(
        {"kind": ["natura2000", "kernwinkelgebied"], "naam": ["Duinen", "Centrum"]},
        geometry=[box(83_000, 441_000, 84_000, 442_000), box(80_100, 440_100, 80_140, 440_130)],
        crs=RD,
    ).to_file(root / "uitsluitingen.gpkg", layer="zones")
    entries = {
        "municipalities": {"path": "gemeenten.geojson", "format": "cbs"},
        "parcels": {"path": "kadastralekaart.gpkg", "format": "brk"},
        "buildings": {"path": "bag.gpkg", "format": "bag"},
        "zoning": {"path": "bestemmingsplannen/", "format": "imro"},
        "vacancy": {"path": "leegstand.csv", "format": "vacancy-csv"},
        "ownership": {"path": "eigendom.gpkg", "format": "ownership"},
        "transit_stops": {"path": "ov_haltes.gpkg", "format": "stops"},
        "noise": {"path": "geluid_lden.tif", "format": "raster"},
        "exclusion_zones": {"path": "uitsluitingen.gpkg", "format": "zones"},
    }
    return Inputs(root, entries)


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    """A minimal valid input set in the generator formats (see the module docstring)."""
    return write_inputs(tmp_path / "raw")


@pytest.fixture
def real_data() -> Path:
    """The real Dutch datasets in ../shared/data/real (tests skip when absent)."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data not available at {REAL_DATA}")
    return REAL_DATA.resolve()


def frame_of(
    rows: list[dict[str, Any]], geoms: list[Any] | None = None, crs: str = RD
) -> pd.DataFrame:
    """A tiny (Geo)DataFrame with a 1-based index, as the catalog hands it to readers."""
    df = pd.DataFrame(rows)
    df.index = pd.RangeIndex(1, len(df) + 1)
    if geoms is None:
        return df
    return gpd.GeoDataFrame(df, geometry=geoms, crs=crs, index=df.index)


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Input digests are cached under $XDG_CACHE_HOME: keep the tests' cache to themselves."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
