"""``kansenkaart diff OLD.gpkg NEW.gpkg``: what changed between two runs, and why.

Per scored layer, sites are matched on ``site_id`` within the municipalities both runs scanned.
A site **appeared** (``nieuw``), **disappeared** (``verdwenen``) or changed tier (``hoger`` /
``lager``); each row names the criteria that caused it:

- tier change: every criterion's contribution ``100 × weight × sub-score`` (weights from each
  run's config, ``c_<id>_score`` from its layer) and every penalty's points
  (``p_<id>_points``), old and new; the causes are the changes of at least 0.05 points, largest
  first, equal changes by id (with the weight and sub-score that moved). When the score did not move, the tier
  thresholds (``run_metadata.tiers``) or a tier cap did.
- appeared / disappeared: the exclusion reason codes the site had in the other run
  (``uitgesloten_percelen``/``uitgesloten_panden``), else "not in that run".

Pure over :class:`pipeline.results.ResultFile` data; the command reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.results import SCORED_LAYERS, ResultFile
from pipeline.scoring.config import format_nl

CHANGE_LABELS = {
    "nieuw": "nieuw",
    "verdwenen": "verdwenen",
    "hoger": "klasse hoger",
    "lager": "klasse lager",
}
#: A contribution that moved less than this (points of the 0–100 score) is no cause.
MIN_POINTS = 0.05
#: Causes written out per row (``oorzaak_codes`` lists them all).
MAX_CAUSES_SHOWN = 3
COLUMNS = [
    "laag",
    "site_id",
    "opportunity_type",
    "gemeentecode",
    "wijziging",
    "klasse_oud",
    "klasse_nieuw",
    "score_oud",
    "score_nieuw",
    "oorzaak_codes",
    "oorzaken",
]


def _labels(result: ResultFile, opportunity_type: str) -> dict[str, str]:
    block = (result.config.get("types") or {}).get(opportunity_type) or {}
    out: dict[str, str] = {}
    for key in ("criteria", "penalties"):
        for c in block.get(key) or []:
            if isinstance(c, dict) and "id" in c:
                out[str(c["id"])] = str(c.get("label") or c["id"])
    return out


def _excluded_codes(result: ResultFile, layer: str, frame: pd.DataFrame) -> pd.Series:
    """The exclusion codes ``result`` gave the sites of ``frame`` (``""`` when not excluded there)."""
    out = pd.Series("", index=frame.index, dtype=object)
    if layer == "tijdelijke_locaties":
        table = result.excluded.get("uitgesloten_percelen")
        if table is None or table.empty:
            return out
        keys = frame["site_id"].astype(str).str.removeprefix("TL-")
        codes = table.set_index(table["parcel_id"].astype(str))["reason_codes"]
    else:
        table = result.excluded.get("uitgesloten_panden")
        if table is None or table.empty or "pand_id" not in frame.columns:
            return out
        column = "kantoor_reason_codes" if layer == "kantoren" else "plint_reason_codes"
        if column not in table.columns:
            return out
        keys = frame["pand_id"].astype(str)
        codes = table.set_index(table["pand_id"].astype(str))[column]
    codes = codes[~codes.index.duplicated()]
    return keys.map(codes).fillna("").astype(str).set_axis(frame.index)


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    """A numeric column, all NaN when the run did not have it."""
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.Series(pd.to_numeric(frame[column], errors="coerce"), index=frame.index)


def _points(value: float) -> str:
    text = format_nl(abs(value), 1)
    return f"{'+' if value > 0 else '−'}{text}"


def _tier_causes(
    both: pd.DataFrame,
    old: ResultFile,
    new: ResultFile,
    opportunity_type: str,
) -> tuple[list[str], list[str]]:
    """Codes and Dutch sentences of the causes of each row's change (rows: tier changed)."""
    n = len(both)
    if n == 0:
        return [], []
    w_old, w_new = old.weights(opportunity_type), new.weights(opportunity_type)
    labels = {**_labels(old, opportunity_type), **_labels(new, opportunity_type)}
    # the columns are suffixed: c_<id>_score_old / c_<id>_score_new, p_<id>_points_old / _new
    crit = sorted(
        {
            c[2 : c.rindex("_score")]
            for c in both.columns
            if c.startswith("c_") and ("_score_old" in c or "_score_new" in c)
        }
    )
    pens = sorted(
        {
            c[2 : c.rindex("_points")]
            for c in both.columns
            if c.startswith("p_") and ("_points_old" in c or "_points_new" in c)
        }
    )
    names: list[str] = []
    deltas: list[np.ndarray] = []
    details: list[tuple[float, float, np.ndarray, np.ndarray] | None] = []
    for cid in crit:
        s_old = _num(both, f"c_{cid}_score_old")
        s_new = _num(both, f"c_{cid}_score_new")
        wo, wn = w_old.get(cid, 0.0), w_new.get(cid, 0.0)
        contrib_old = 100.0 * wo * s_old.fillna(0.0)
        contrib_new = 100.0 * wn * s_new.fillna(0.0)
        names.append(cid)
        deltas.append((contrib_new - contrib_old).to_numpy())
        details.append((wo, wn, s_old.to_numpy(), s_new.to_numpy()))
    for pid in pens:
        p_old = _num(both, f"p_{pid}_points_old").fillna(0.0)
        p_new = _num(both, f"p_{pid}_points_new").fillna(0.0)
        names.append(pid)
        deltas.append(-(p_new - p_old).to_numpy())  # more penalty = fewer points
        details.append(None)
    matrix = np.column_stack(deltas) if deltas else np.zeros((n, 0))
    # largest change first; ties (equal to 1e-9 points) by id: criteria alphabetically, then penalties
    order = np.argsort(-np.round(np.abs(matrix), 9), axis=1, kind="stable") if deltas else None
    thresholds_old = old.metadata.get("tiers") or {}
    thresholds_new = new.metadata.get("tiers") or {}
    score_old = both["score_old"].to_numpy(dtype="float64")
    score_new = both["score_new"].to_numpy(dtype="float64")
    codes_out: list[str] = []
    text_out: list[str] = []
    for i in range(n):
        codes: list[str] = []
        parts: list[str] = []
        if order is not None:
            for j in order[i]:
                d = matrix[i, j]
                if abs(d) < MIN_POINTS:
                    break
                cid = names[j]
                codes.append(cid)
                what = labels.get(cid, cid)
                info = details[j]
                if info is None:
                    parts.append(f"{what} {_points(d)} punten (strafpunten)")
                    continue
                wo, wn, so, sn = info
                moved = []
                if abs(wo - wn) > 1e-12:
                    moved.append(f"gewicht {format_nl(wo, 2)} → {format_nl(wn, 2)}")
                if not (np.isnan(so[i]) and np.isnan(sn[i])) and (
                    np.isnan(so[i]) or np.isnan(sn[i]) or abs(so[i] - sn[i]) > 1e-9
                ):
                    a = "—" if np.isnan(so[i]) else format_nl(so[i], 2)
                    b = "—" if np.isnan(sn[i]) else format_nl(sn[i], 2)
                    moved.append(f"deelscore {a} → {b}")
                parts.append(
                    f"{what} {_points(d)} punten" + (f" ({'; '.join(moved)})" if moved else "")
                )
        if abs(score_new[i] - score_old[i]) < 1e-9 or not parts:
            if thresholds_old != thresholds_new:
                codes.append("klassegrenzen")
                parts.append("de klassegrenzen zijn gewijzigd")
            else:
                codes.append("klasseplafond")
                parts.append("een klasseplafond (tier cap) of afronding")
        head = (
            f"Score {format_nl(score_old[i], 1)} → {format_nl(score_new[i], 1)}: "
            if abs(score_new[i] - score_old[i]) >= 1e-9
            else ""
        )
        codes_out.append(",".join(codes))
        more = (
            f"; en {len(parts) - MAX_CAUSES_SHOWN} kleinere"
            if len(parts) > MAX_CAUSES_SHOWN
            else ""
        )
        text_out.append(head + "; ".join(parts[:MAX_CAUSES_SHOWN]) + more + ".")
    return codes_out, text_out


def _presence_rows(frame: pd.DataFrame, excluded: pd.Series, *, appeared: bool) -> pd.DataFrame:
    """Rows for sites only in the new run (``appeared``) or only in the old one."""
    codes = excluded.to_numpy().astype(str)
    tiers = frame["tier"].astype(str).to_numpy()
    scores = frame["score"].to_numpy(dtype="float64")
    if appeared:
        known = "Nieuw: was in de oude run uitgesloten (" + codes + ")."
        unknown = "Nieuw: kwam in de oude run niet voor."
    else:
        known = "Verdwenen: in de nieuwe run uitgesloten (" + codes + ")."
        unknown = "Verdwenen: komt in de nieuwe run niet meer voor."
    return pd.DataFrame(
        {
            "site_id": frame["site_id"].astype(str).to_numpy(),
            "gemeentecode": frame["gemeentecode"].to_numpy(),
            "wijziging": "nieuw" if appeared else "verdwenen",
            "klasse_oud": None if appeared else tiers,
            "klasse_nieuw": tiers if appeared else None,
            "score_oud": np.nan if appeared else scores,
            "score_nieuw": scores if appeared else np.nan,
            "oorzaak_codes": codes,
            "oorzaken": np.where(codes != "", known, unknown),
            "geometry": frame.geometry.to_numpy(),
        }
    )


def diff_results(
    old: ResultFile, new: ResultFile, *, gemeenten: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """Sites that appeared, disappeared or changed tier between two runs, with their causes.

    Returns
    -------
    GeoDataFrame
        One row per change (EPSG:28992; the new geometry, the old one for a disappeared site):
        ``laag``, ``site_id``, ``opportunity_type``, ``gemeentecode``, ``wijziging``
        (``nieuw``/``verdwenen``/``hoger``/``lager``), ``klasse_oud``, ``klasse_nieuw``,
        ``score_oud``, ``score_nieuw``, ``oorzaak_codes`` (comma-separated criterion ids,
        penalty ids or exclusion codes) and ``oorzaken`` (Dutch). Sorted by layer,
        municipality, change and site id.
    """
    scanned_old = set(old.metadata.get("gemeenten") or [])
    scanned_new = set(new.metadata.get("gemeenten") or [])
    common = scanned_old & scanned_new if scanned_old and scanned_new else None
    if gemeenten:
        common = set(gemeenten) if common is None else common & set(gemeenten)
    frames = []
    crs = None
    for layer, otype in SCORED_LAYERS.items():
        a = old.layers.get(layer)
        b = new.layers.get(layer)
        a = a if a is not None else gpd.GeoDataFrame({"site_id": []}, geometry=[])
        b = b if b is not None else gpd.GeoDataFrame({"site_id": []}, geometry=[])
        crs = crs or a.crs or b.crs
        if common is not None:
            a = a[a["gemeentecode"].isin(common)] if "gemeentecode" in a else a
            b = b[b["gemeentecode"].isin(common)] if "gemeentecode" in b else b
        a = a.set_index(a["site_id"].astype(str), drop=False)
        b = b.set_index(b["site_id"].astype(str), drop=False)
        ids_old, ids_new = set(a.index), set(b.index)

        gone = a.loc[sorted(ids_old - ids_new)]
        came = b.loc[sorted(ids_new - ids_old)]
        kept = sorted(ids_old & ids_new)
        both = (
            a.loc[kept]
            .drop(columns="geometry", errors="ignore")
            .add_suffix("_old")
            .join(b.loc[kept].add_suffix("_new"))
        )
        changed = both[both["tier_old"].astype(str) != both["tier_new"].astype(str)]

        rows = []
        if len(came):
            rows.append(_presence_rows(came, _excluded_codes(old, layer, came), appeared=True))
        if len(gone):
            rows.append(_presence_rows(gone, _excluded_codes(new, layer, gone), appeared=False))
        if len(changed):
            codes, texts = _tier_causes(changed, old, new, otype)
            up = (
                changed["tier_new"].astype(str).to_numpy()
                < changed["tier_old"].astype(str).to_numpy()
            )
            rows.append(
                pd.DataFrame(
                    {
                        "site_id": changed["site_id_new"].astype(str).to_numpy(),
                        "gemeentecode": changed["gemeentecode_new"].to_numpy(),
                        "wijziging": np.where(up, "hoger", "lager"),
                        "klasse_oud": changed["tier_old"].astype(str).to_numpy(),
                        "klasse_nieuw": changed["tier_new"].astype(str).to_numpy(),
                        "score_oud": changed["score_old"].to_numpy(dtype="float64"),
                        "score_nieuw": changed["score_new"].to_numpy(dtype="float64"),
                        "oorzaak_codes": codes,
                        "oorzaken": texts,
                        "geometry": changed["geometry_new"].to_numpy(),
                    }
                )
            )
        if rows:
            part = pd.concat(rows, ignore_index=True)
            part.insert(0, "laag", layer)
            part.insert(2, "opportunity_type", otype)
            frames.append(part)
    if frames:
        out = pd.concat(frames, ignore_index=True)
    else:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
        out["geometry"] = None
    order = {"nieuw": 0, "verdwenen": 1, "hoger": 2, "lager": 3}
    out["_o"] = out["wijziging"].map(order)
    out = out.sort_values(["laag", "gemeentecode", "_o", "site_id"], kind="mergesort").drop(
        columns="_o"
    )
    return gpd.GeoDataFrame(
        out[[*COLUMNS, "geometry"]].reset_index(drop=True), geometry="geometry", crs=crs
    )


def summarise(diff: pd.DataFrame) -> pd.DataFrame:
    """Counts per layer and kind of change (for the terminal)."""
    if diff.empty:
        return pd.DataFrame(columns=["laag", *CHANGE_LABELS])
    table = pd.crosstab(diff["laag"], diff["wijziging"])
    for k in CHANGE_LABELS:
        if k not in table.columns:
            table[k] = 0
    return table[list(CHANGE_LABELS)].reset_index()
