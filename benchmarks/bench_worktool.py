"""Benchmark: the working tool's api answers (issue 12) on a province-size result, per store.

Times, through the app in this process (``fastapi.testclient``; no network), for a logged-in
analist (every municipality):

- ``/api/search``: postcode + house number, street + number, kadastrale aanduiding, site id
  (p50/p95 over ``--n`` distinct queries of each kind, drawn from the result's ``zoekindex``);
- ``/api/orientation`` at zoom 15 (a 2 × 1.3 km box around random addresses) and zoom 12;
- ``/api/sites.csv`` of the largest municipality and ``/api/sites.json`` of the whole province;
- ``/api/sites/{layer}/{id}.pdf``, the site sheet with its map (p50/p95 over ``--n`` sites).

The GeoPackage store always; the PostGIS store too with ``--postgis URL`` (the result is
published there first; the publish time is printed, not part of the figures). The result must
hold the index layers (a scan of this version writes them); ``--add-index SOURCES`` adds them to
a copy of an older result from the sources it was scanned from.

    .venv/bin/python benchmarks/bench_worktool.py --result RESULT.gpkg [--postgis URL] [--n 50]

Goals (the page waits on these): search p95 ≤ 150 ms, orientation p95 ≤ 300 ms, a sheet ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"
PASSWORD = "Benchmark-wachtwoord-2026!"


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _timed(client: Any, urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        t = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:200]}")
    return out


def add_index(result: Path, sources: Path, workdir: Path) -> Path:
    """A copy of ``result`` with the index layers built from ``sources``."""
    import pyogrio

    from pipeline import catalog
    from pipeline.export import add_search_indexes
    from pipeline.search_index import build_index_layers

    copy = workdir / "result-with-index.gpkg"
    shutil.copy(result, copy)
    layers, _ = catalog.load_sources(catalog.read_sources_yaml(sources))
    built = build_index_layers(
        layers["parcels"], layers["units"], layers["municipalities"], layers.get("zoning")
    )
    for name, gdf in built.items():
        pyogrio.write_dataframe(gdf, copy, layer=name, driver="GPKG")
    add_search_indexes(copy)
    return copy


def queries(result: Path, n: int, seed: int = 7) -> dict[str, list[str]]:
    import numpy as np
    import pyogrio
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    idx = pyogrio.read_dataframe(
        result,
        layer="zoekindex",
        columns=[
            "soort",
            "straat",
            "huisnummer",
            "postcode",
            "akr_code",
            "sectie",
            "perceelnummer",
        ],
    )
    adres = idx[(idx["soort"] == "adres") & idx["postcode"].notna()]
    perceel = idx[idx["soort"] == "perceel"]
    a = adres.iloc[rng.choice(len(adres), size=min(n, len(adres)), replace=False)]
    p = perceel.iloc[rng.choice(len(perceel), size=min(n, len(perceel)), replace=False)]
    sites = []
    for layer in ("tijdelijke_locaties", "kantoren", "plinten"):
        ids = pyogrio.read_dataframe(result, layer=layer, columns=["site_id"], read_geometry=False)
        pick = rng.choice(len(ids), size=min(n // 3 + 1, len(ids)), replace=False)
        sites += [(layer, str(s)) for s in ids["site_id"].iloc[pick]]
    to_wgs = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
    boxes = []
    for g in a.geometry:
        w, s = to_wgs.transform(g.x - 1000, g.y - 650)
        e, nn = to_wgs.transform(g.x + 1000, g.y + 650)
        boxes.append(f"{w:.6f},{s:.6f},{e:.6f},{nn:.6f}")
    return {
        "search postcode": [
            f"/api/search?q={pc[:4]}%20{pc[4:]}%20{int(nr)}"
            for pc, nr in zip(a["postcode"], a["huisnummer"], strict=True)
        ],
        "search street": [
            f"/api/search?q={st.replace(' ', '%20')}%20{int(nr)}"
            for st, nr in zip(a["straat"], a["huisnummer"], strict=True)
            if isinstance(st, str)
        ],
        "search perceel": [
            f"/api/search?q={k}%20{s}%20{nr}"
            for k, s, nr in zip(p["akr_code"], p["sectie"], p["perceelnummer"], strict=True)
        ],
        "search site id": [f"/api/search?q={sid}" for _, sid in sites],
        "orientation z15": [f"/api/orientation?bbox={b}&zoom=15" for b in boxes],
        "orientation z12": [f"/api/orientation?bbox={b}&zoom=12" for b in boxes[: max(5, n // 5)]],
        "site sheet (PDF)": [f"/api/sites/{layer}/{sid}.pdf" for layer, sid in sites[:n]],
    }


def largest(result: Path) -> str:
    import pyogrio

    df = pyogrio.read_dataframe(
        result, layer="tijdelijke_locaties", columns=["gemeentecode"], read_geometry=False
    )
    return str(df["gemeentecode"].value_counts().idxmax())


def run(
    label: str, result_setting: str, database: Path, work: dict[str, list[str]], code: str
) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings

    settings = Settings(
        result=result_setting,
        database=str(database),
        secret_key=SECRET,
        static_dir=database.parent / "none",
    )
    app = create_app(settings)
    app.state.users.upsert_user("analist@bench.nl", PASSWORD, role="analist", gemeenten=[])
    with TestClient(app, base_url="http://localhost") as c:
        r = c.post("/api/auth/login", json={"email": "analist@bench.nl", "password": PASSWORD})
        r.raise_for_status()
        print(f"\n== {label}")
        for urls in work.values():  # loads the store and its per-version caches (not timed)
            c.get(urls[0])
        for name, urls in work.items():
            times = _timed(c, urls)
            print(
                f"{name:20s} n={len(times):4d}  p50 {statistics.median(times):8.1f} ms  "
                f"p95 {_pct(times, 0.95):8.1f} ms  max {max(times):8.1f} ms"
            )
        for url in (f"/api/sites.csv?gemeente={code}", "/api/sites.json"):
            times = _timed(c, [url, url])
            print(f"{url:38s} first {times[0]:8.1f} ms  again {times[1]:8.1f} ms")
    app.state.users.close()
    app.state.data.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--add-index", type=Path, metavar="SOURCES")
    parser.add_argument("--postgis", metavar="URL")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-worktool-") as tmp:
        workdir = Path(tmp)
        result = args.result
        if args.add_index:
            t = time.perf_counter()
            result = add_index(result, args.add_index, workdir)
            print(
                f"index layers added in {time.perf_counter() - t:.1f} s (not part of the figures)"
            )
        work = queries(result, args.n)
        code = largest(result)
        run("GeoPackage store", str(result), workdir / "gpkg.sqlite", work, code)
        if args.postgis:
            from api.publish import publish_result

            t = time.perf_counter()
            publish_result(result, args.postgis)
            print(
                f"\npublished to PostGIS in {time.perf_counter() - t:.1f} s (not part of the figures)"
            )
            run("PostGIS store", args.postgis, workdir / "pg.sqlite", work, code)
    with open("/proc/loadavg") as fh:
        print("\nload average:", fh.read().strip())


if __name__ == "__main__":
    main()
