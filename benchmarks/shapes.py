"""Shapes of real BRK parcels and BAG footprints, against the synthetic presets.

Run: ``.venv/bin/python benchmarks/shapes.py [--sources DIR/sources.yaml] [--preset demo]``.
It reads the real files in ``../shared/data/real`` (read in place; skipped when absent): the
BRK Kadastrale kaart samples (perceel polygons of v3, v4 and v5), the full LVBAG pand extract
of Doesburg and the municipal BAG extract of Weesp (nested zips read through ``/vsizip``), and
the parcels and buildings of a synthetic sample (``--sources``, or the ``--preset`` generated
into a temporary folder), and prints per source:

* distinct vertices per polygon (coordinates minus one closing point per ring), percentiles;
* area (m²), percentiles;
* the share of axis-aligned rectangles, of polygons with holes, of multi-part polygons;
* the share of polygons sharing at least 1 m of edge with a neighbour (within 1 mm);
* the orientation of the minimum rotated rectangle (mod 90°), as shares per 15° bin.

The figures in ``benchmarks/README.md`` (section "Shapes") come from this script.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent.parent / "shared" / "data" / "real"
if not REAL.exists():
    REAL = Path("/work/shared/data/real")
PCT = (10, 25, 50, 75, 90, 99)
#: BAG statuses of panden that do not (or no longer) stand.
GONE = ("Pand gesloopt", "Niet gerealiseerd pand", "Bouwvergunning verleend", "Bouw gestart")


def vertices(geoms: np.ndarray) -> np.ndarray:
    """Distinct vertices per polygon: coordinates minus one closing point per ring."""
    parts, idx = shapely.get_parts(geoms, return_index=True)
    rings = shapely.get_num_interior_rings(parts) + 1
    per_part = shapely.get_num_coordinates(parts) - rings
    return np.bincount(idx, weights=per_part, minlength=len(geoms)).astype(np.int64)


def describe(name: str, geoms: np.ndarray) -> dict[str, object]:
    """The shape figures of one set of polygons."""
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)]
    geoms = shapely.force_2d(geoms)
    area = shapely.area(geoms)
    b = shapely.bounds(geoms)
    box = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    first = shapely.get_geometry(geoms, 0)
    mrr = shapely.minimum_rotated_rectangle(geoms)
    c = shapely.get_coordinates(shapely.get_exterior_ring(mrr), return_index=True)
    first_pt = np.searchsorted(c[1], np.arange(len(geoms)))
    ok = (first_pt + 1 < len(c[0])) & (shapely.get_type_id(mrr) == 3)
    v = c[0][np.minimum(first_pt + 1, len(c[0]) - 1)] - c[0][first_pt]
    angle = np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 90.0
    hist = np.histogram(angle[ok], bins=6, range=(0, 90))[0] / max(ok.sum(), 1)
    # neighbours sharing at least 1 m of edge, within 1 mm
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="dwithin", distance=1e-3)
    keep = i < j
    i, j = i[keep], j[keep]
    shared = shapely.length(
        shapely.intersection(
            shapely.buffer(shapely.boundary(geoms[i]), 1e-3, cap_style="flat"),
            shapely.boundary(geoms[j]),
        )
    )
    has = np.zeros(len(geoms), dtype=bool)
    has[i[shared >= 1.0]] = True
    has[j[shared >= 1.0]] = True
    return {
        "name": name,
        "n": len(geoms),
        "vertices": np.percentile(vertices(geoms), PCT),
        "area": np.percentile(area, PCT),
        "axis_rect": float(
            np.mean((shapely.get_type_id(geoms) == 3) & (np.abs(area - box) <= 1e-9 * box))
        ),
        "holes": float(np.mean(shapely.get_num_interior_rings(first) > 0)),
        "multi": float(np.mean(shapely.get_num_geometries(geoms) > 1)),
        "neighbour": float(has.mean()),
        "orientation": hist,
    }


def real_sources() -> list[tuple[str, np.ndarray]]:
    """The real polygon sets found in ../shared/data/real."""
    out = []
    brk = REAL / "brk_kadastralekaart_samples" / "perceel_polygonen_derived.gpkg"
    if brk.exists():
        parts = [
            pyogrio.read_dataframe(brk, layer=layer).geometry.to_numpy()
            for layer in ("perceel_v3", "perceel_v4", "perceel_v5")
        ]
        out.append(("BRK percelen (v3+v4+v5 samples)", np.concatenate(parts)))
    doesburg = REAL / "bag_doesburg_0221" / "doesburg_pand_actueel_20200915.gpkg"
    if doesburg.exists():
        out.append(("BAG panden Doesburg", pyogrio.read_dataframe(doesburg).geometry.to_numpy()))
    weesp = REAL / "bag_weesp_0457" / "BAGGEM0457L-15102021.zip"
    if weesp.exists():
        inner = f"/vsizip/{{/vsizip/{{/vsizip/{weesp}/0457GEM15102021.zip}}/0457PND15102021.zip}}"
        frames = []
        for k in range(1, 10):
            path = f"{inner}/0457PND15102021-{k:06d}.xml"
            try:
                frames.append(pyogrio.read_dataframe(path))
            except pyogrio.errors.DataSourceError:
                break
        if frames:
            import pandas as pd

            df = pd.concat(frames, ignore_index=True)
            cur = df[df["eindGeldigheid"].isna() & ~df["status"].isin(GONE)]
            out.append(("BAG panden Weesp (current)", cur.geometry.to_numpy()))
    return out


def synthetic_sources(sources: Path) -> list[tuple[str, np.ndarray]]:
    folder = sources.parent
    parcels = pyogrio.read_dataframe(folder / "kadastralekaart.gpkg", layer="perceel")
    panden = pyogrio.read_dataframe(folder / "bag.gpkg", layer="pand")
    return [
        (f"synthetic parcels ({folder.name})", parcels.geometry.to_numpy()),
        (f"synthetic panden ({folder.name})", panden.geometry.to_numpy()),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, help="sources.yaml of a generated sample")
    parser.add_argument("--preset", default="demo", help="preset to generate without --sources")
    args = parser.parse_args(argv)
    sets = real_sources()
    with tempfile.TemporaryDirectory() as tmp:
        sources = args.sources
        if sources is None:
            from pipeline.sample import generate_sample

            sources = generate_sample(Path(tmp) / "sample", preset=args.preset, seed=42)
        sets += synthetic_sources(sources)
        rows = [describe(name, geoms) for name, geoms in sets]
    pct = "/".join(f"p{p}" for p in PCT)
    print(
        f"| source | n | vertices {pct} | area m² {pct} | axis-aligned rectangles | holes | multi-part | shares ≥ 1 m of edge | orientation (share per 15°, 0–90°) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        v = "/".join(f"{x:g}" for x in np.round(r["vertices"], 0))  # type: ignore[arg-type]
        a = "/".join(f"{x:,.0f}" for x in r["area"])  # type: ignore[union-attr]
        o = " ".join(f"{x:.2f}" for x in r["orientation"])  # type: ignore[union-attr]
        print(
            f"| {r['name']} | {r['n']:,} | {v} | {a} | {r['axis_rect']:.1%} | {r['holes']:.2%} "
            f"| {r['multi']:.2%} | {r['neighbour']:.0%} | {o} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
