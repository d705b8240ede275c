"""What the scan model finds on a preset: selective, right, and true to its own rules (issue 9).

Run: ``.venv/bin/python benchmarks/model_report.py --preset demo`` (or ``--preset province``,
under ``flock /work/coord/bench.lock`` on a shared machine). It generates the preset into
``--data`` once (reused afterwards, never written to again: ``--data`` may be a read-only
shared preset; ``--regenerate`` forces a new one), scans it in this process with the shipped configuration (as ``kansenkaart scan`` does) and writes the result
GeoPackage to ``--result``, and prints:

1. per municipality: the homes of tier A+B sites against its dwelling stock (goal: at most a
   few per cent), with the planted sites apart, and the candidate land (the summed area of the
   ``tijdelijke_locaties``) against the municipality's area;
2. the candidates per tier per layer, and their homes (tier E must occur somewhere);
3. a check that no tier A or B site breaks a rule: every exclusion rule of the config is
   evaluated again on the A/B candidates' feature columns (none may fire), every A/B site a
   tier cap hits is within its cap, and the planted cases of ``planted.json`` have the outcome
   the manifest expects (read back from the GeoPackage).

Figures are printed, never asserted (benchmarks are not tests); the exit code is 1 when a
rule check fails, so a script can notice.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
LAYERS = {
    "tijdelijke_locaties": "tijdelijke_locatie",
    "kantoren": "kantoortransformatie",
    "plinten": "plinttransformatie",
}
TIERS = ("A", "B", "C", "D", "E")


def _ensure_sample(preset: str, data: Path, regenerate: bool) -> Path:
    sources = data / "sources.yaml"
    if sources.exists() and not regenerate:
        return sources
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "sample", "--preset", preset, "--out", str(data)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"generated {preset} into {data} in {time.perf_counter() - t0:.0f} s")
    return sources


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def scan(
    sources: Path, result: Path, *, gemeenten: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Scan in this process and write the GeoPackage; the candidates with every column."""
    from pipeline.catalog import load_sources, read_sources_yaml
    from pipeline.export import write_result
    from pipeline.scan import _vacancy_date, run_scan
    from pipeline.scoring import load_config

    t0 = time.perf_counter()
    config = load_config(None)
    src = read_sources_yaml(sources)
    layers, report = load_sources(src, gemeenten=gemeenten)
    res = run_scan(
        layers,
        noise_path=src.noise,
        rasters=src.rasters,
        config=config,
        gemeenten=gemeenten,
        reference_date=_vacancy_date(report),
        keep_features=False,
    )
    del layers
    write_result(res, result, report=report, config_text=config.text)
    print(
        f"scanned {sources.parent.name} in {time.perf_counter() - t0:.0f} s (load average "
        f"{_loadavg()}); warnings: {res.warnings}"
    )
    return dict(res.candidates)


def _read(result: Path, layer: str) -> gpd.GeoDataFrame:
    return gpd.read_file(result, layer=layer)


def _planted_ids(planted: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"parcels": set(), "buildings": set(), "units": set()}
    for item in planted.get("items", []):
        out[item["layer"]].add(str(item["id"]))
    return out


def _is_planted(layer: str, frame: pd.DataFrame, ids: dict[str, set[str]]) -> np.ndarray:
    if layer == "tijdelijke_locaties":
        parts = frame["parcel_ids"].astype(str).str.split(",")
        return parts.map(lambda p: bool(ids["parcels"] & set(p))).to_numpy(bool)
    if layer == "kantoren":
        return frame["pand_id"].astype(str).isin(ids["buildings"]).to_numpy()
    return frame["vbo_id"].astype(str).isin(ids["units"]).to_numpy()


def per_municipality(result: Path, planted: dict) -> pd.DataFrame:
    gem = _read(result, "gemeenten")
    ids = _planted_ids(planted)
    rows = {code: {"ab_planted": 0} for code in gem["gemeentecode"]}
    for layer in LAYERS:
        cand = _read(result, layer)
        ab = cand["tier"].isin(["A", "B"]).to_numpy()
        planted_rows = _is_planted(layer, cand, ids)
        sums = cand[ab & planted_rows].groupby("gemeentecode")["capacity_units"].sum()
        for code, v in sums.items():
            rows[code]["ab_planted"] += int(v)
    out = gem[["gemeentecode", "gemeentenaam", "dwelling_stock", "capacity_ab"]].copy()
    out["ab_planted"] = out["gemeentecode"].map(lambda c: rows[c]["ab_planted"])
    out["ab_other"] = out["capacity_ab"] - out["ab_planted"]
    stock = out["dwelling_stock"].where(out["dwelling_stock"] > 0)
    out["ab_share_%"] = 100 * out["capacity_ab"] / stock
    out["ab_other_share_%"] = 100 * out["ab_other"] / stock
    out["candidate_land_%"] = 100 * gem["candidate_area_m2"] / gem["area_m2"]
    return out


def tier_counts(result: Path) -> pd.DataFrame:
    rows = []
    for layer in LAYERS:
        cand = _read(result, layer)
        counts = cand["tier"].value_counts()
        homes = cand.groupby("tier")["capacity_units"].sum()
        rows.append(
            {"layer": layer, **{t: int(counts.get(t, 0)) for t in TIERS}, "total": len(cand)}
        )
        rows.append(
            {
                "layer": "  homes",
                **{t: int(homes.get(t, 0)) for t in TIERS},
                "total": int(homes.sum()),
            }
        )
    return pd.DataFrame(rows)


def rule_check(result: Path, planted: dict, candidates: dict[str, pd.DataFrame]) -> list[str]:
    """Problems: an A/B site that breaks an exclusion rule or its tier cap; a planted case with
    another outcome than its manifest says."""
    from pipeline.scoring import load_config
    from pipeline.scoring.exclusions import rule_mask

    config = load_config(None)
    problems: list[str] = []
    for layer, type_name in LAYERS.items():
        cand = candidates[type_name]
        tc = config.types[type_name]
        ab = cand[cand["tier"].isin(["A", "B"])]
        for rule in tc.exclusions:
            hit = rule_mask(ab, rule)
            if hit.any():
                problems.append(f"{layer}: {int(hit.sum())} A/B site(s) break {rule.code}")
        for cap in tc.tier_caps:
            hit = rule_mask(ab, cap)
            over = hit & (ab["tier"].to_numpy(dtype=object) < cap.max_tier)
            if over.any():
                problems.append(f"{layer}: {int(over.sum())} site(s) above their cap {cap.code}")
        print(
            f"  {layer}: {len(ab)} A/B sites checked against all {len(tc.exclusions)} exclusion "
            f"rules and {len(tc.tier_caps)} tier cap(s)"
        )
    tl = _read(result, "tijdelijke_locaties")
    kt = _read(result, "kantoren")
    pl = _read(result, "plinten")
    ep = _read(result, "uitgesloten_percelen").set_index("parcel_id")
    eb = _read(result, "uitgesloten_panden").set_index("pand_id")
    for item in planted.get("items", []):
        oid = str(item["id"])
        if item["layer"] == "parcels":
            hit = tl[tl["parcel_ids"].astype(str).str.split(",").map(lambda p, o=oid: o in p)]
            reasons = ep["reason_codes"].get(oid, "")
        elif item["layer"] == "buildings":
            hit = kt[kt["pand_id"].astype(str) == oid]
            reasons = eb["kantoor_reason_codes"].get(oid, "")
        else:
            hit = pl[pl["vbo_id"].astype(str) == oid]
            reasons = ""
        what = f"planted {item['kind']} {oid} ({item['gemeentecode']})"
        if item["expected"] in ("top_tier", "candidate"):
            if len(hit) != 1:
                problems.append(f"{what}: not a candidate ({reasons})")
                continue
            row = hit.iloc[0]
            if item["expected"] == "top_tier" and row["tier"] not in ("A", "B"):
                problems.append(f"{what}: tier {row['tier']}, expected A or B")
            for col, value in (item.get("expect_values") or {}).items():
                if col in row and row[col] != value:
                    problems.append(f"{what}: {col} = {row[col]!r}, expected {value!r}")
        else:
            if len(hit):
                problems.append(f"{what}: a candidate, expected excluded ({item['reason_code']})")
            elif item["layer"] != "units" and item["reason_code"] not in str(reasons).split(","):
                problems.append(f"{what}: reasons {reasons!r} lack {item['reason_code']}")
    return problems


#: Weesp's units in the small vacancy register of the README and tests/test_real_town_weesp.py.
WEESP_REGISTER = (
    ("0457010000000368", "2019-06-01"),  # 73 m² shop, Binnenveer
    ("0457010000001497", "2017-01-01"),  # the one 500 m² office unit of pand 0457100000056588
)


def _weesp_sources(real: Path, root: Path, register: tuple[tuple[str, str], ...]) -> Path:
    """The README's Weesp sources.yaml (real BAG, CBS, NS stations) with ``register`` as vacancy."""
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    lines = ["verblijfsobject_id;leegstand_sinds;bron"]
    lines += [f"{vbo};{since};eigen waarneming" for vbo, since in register]
    (root / "leegstand.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    gpd.GeoDataFrame(
        {"eigenaar_klasse": [], "eigenaar_naam": []}, geometry=[], crs="EPSG:28992"
    ).to_file(root / "eigendom.gpkg", layer="eigendom")
    doc = {
        "sources": {
            "municipalities": {
                "path": str(real / "cbs_gemeenten_2022/gemeenten_2022_gegeneraliseerd.geojson"),
                "format": "cbs",
            },
            "parcels": {
                "path": str(real / "brk_kadastralekaart_samples/v5/kadastralekaart_perceel.gml"),
                "format": "brk",
            },
            "buildings": {
                "path": str(real / "bag_weesp_0457/BAGGEM0457L-15102021.zip"),
                "format": "bag",
                "date": "2021-10-15",
            },
            "zoning": {"path": str(real / "imro_bestemmingsplannen_zh"), "format": "imro"},
            "vacancy": {"path": "leegstand.csv", "format": "vacancy-csv", "date": "2021-10-15"},
            "ownership": {"path": "eigendom.gpkg", "format": "ownership"},
            "transit_stops": {
                "path": str(real / "ns_treinstations_spoor/treinstations_rws_2015.geojson"),
                "format": "stops",
                "kind": "trein",
            },
        }
    }
    (root / "sources.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return root / "sources.yaml"


def weesp_offices(real: Path, work: Path) -> pd.DataFrame:
    """Weesp's offices (real BAG extract of 2021-10-15) without and with a vacancy register.

    One row per run: the office buildings by the model's definition (at least half office
    floor, at least 500 m² of it), how many are candidates, their tiers and homes, and how
    many each office exclusion rule removes. The issue's baseline: with no vacancy data at
    all, the old model made all 88 offices candidates and 6 reached tier B.
    """
    rows = []
    for name, register in (("geen leegstandsregister", ()), ("register README", WEESP_REGISTER)):
        root = work / name.replace(" ", "_")
        result = root / "weesp.gpkg"
        scan(_weesp_sources(real, root, register), result, gemeenten=["GM0457"])
        kt = _read(result, "kantoren")
        eb = _read(result, "uitgesloten_panden")
        codes = eb["kantoor_reason_codes"].fillna("").astype(str).str.split(",")
        not_office = codes.map(lambda c: bool({"geen_kantoor", "kantoor_te_klein"} & set(c)))
        offices = eb[~not_office]
        row: dict[str, object] = {
            "run": name,
            "vacant units": len(register),
            "office buildings": len(kt) + len(offices),
            "candidates": len(kt),
            **{f"tier {t}": int((kt["tier"] == t).sum()) for t in TIERS},
            "homes": int(kt["capacity_units"].sum()),
            "whole buildings": int(kt["capacity_whole_building"].sum()),
        }
        for code, n in codes[~not_office].explode().value_counts().items():
            if code:
                row[f"excl {code}"] = int(n)
        rows.append(row)
    return pd.DataFrame(rows).fillna(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=["tiny", "demo", "province"], default="demo")
    parser.add_argument(
        "--data", type=Path, help="the sample folder (default benchmarks/out/<preset>)"
    )
    parser.add_argument("--result", type=Path, help="the result GeoPackage (default <data>.gpkg)")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--real",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "real",  # ../shared/data/real of a checkout
        help="the real datasets (for Weesp's offices; skipped when absent)",
    )
    args = parser.parse_args(argv)
    data = args.data or OUT / args.preset
    result = args.result or data.with_suffix(".gpkg")
    sources = _ensure_sample(args.preset, data, args.regenerate)
    candidates = scan(sources, result)
    planted = json.loads((data / "planted.json").read_text(encoding="utf-8"))
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.max_rows", 200)
    print(f"\n== {args.preset}: {result}")
    print("\n-- per municipality: A+B homes against the dwelling stock; candidate land")
    table = per_municipality(result, planted)
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    total_stock = table["dwelling_stock"].sum()
    print(
        f"   all: A+B {table['capacity_ab'].sum():,} homes = "
        f"{100 * table['capacity_ab'].sum() / max(total_stock, 1):.2f} % of {total_stock:,} dwellings "
        f"({table['ab_planted'].sum():,} of them on planted sites); median candidate land "
        f"{table['candidate_land_%'].median():.2f} % of a municipality's area"
    )
    for col, what in (
        ("ab_share_%", "A+B share of the dwelling stock"),
        ("ab_other_share_%", "A+B share without the planted sites"),
        ("candidate_land_%", "candidate land share of the area"),
    ):
        v = table[col].dropna()
        print(
            f"   {len(table)} municipalities, {what}: min {v.min():.2f} %, "
            f"median {v.median():.2f} %, max {v.max():.2f} %"
        )
    print("\n-- candidates per tier per layer (and their homes)")
    print(tier_counts(result).to_string(index=False))
    print("\n-- rule check: no A/B site breaks a rule; planted cases as the manifest says")
    problems = rule_check(result, planted, candidates)
    for p in problems:
        print("  PROBLEM:", p)
    print(f"  {len(problems)} problem(s); {len(planted.get('items', []))} planted cases checked")
    if (args.real / "bag_weesp_0457").is_dir():
        print("\n-- Weesp (real BAG 2021-10-15): offices without and with a vacancy register")
        print(weesp_offices(args.real.resolve(), OUT / "weesp").T.to_string(header=False))
    else:
        print(f"\n-- Weesp skipped: {args.real} holds no bag_weesp_0457")
    print(f"\nload average: {Path('/proc/loadavg').read_text().strip()}  (pid {os.getpid()})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
