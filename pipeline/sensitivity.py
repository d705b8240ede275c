"""``kansenkaart sensitivity``: how robust is each site's tier to the weights?

The weights are the analysts' judgement, so a policy maker should see which sites keep their
tier when the weights move. Each draw multiplies every criterion weight of a type by a factor
drawn uniformly from ``[1 − spread, 1 + spread]`` (seeded) and renormalises them to sum 1; the
score is recomputed from the stored sub-scores exactly as the scan does it (weighted sum or
weighted geometric mean, minus the penalty points, rounded to 0.1, tier caps, tier thresholds;
docs/contracts.md §E.6). ``stabiliteit`` = the share of draws in which a site keeps the tier it
has with the unperturbed weights. Vectorised: one ``(sites × criteria) @ (criteria × draws)``
product per type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.scoring.aggregate import TIERS, aggregate, cap_scores


def perturbed_weights(
    weights: Sequence[float], *, draws: int, spread: float, seed: int
) -> np.ndarray:
    """``(draws, k)`` weights: each ``w_i × U(1 − spread, 1 + spread)``, rows summing to 1.

    Row 0 is never perturbed: callers get the base weights from :func:`base_weights`.
    """
    w = np.asarray(weights, dtype="float64")
    rng = np.random.default_rng(seed)
    factors = rng.uniform(1.0 - spread, 1.0 + spread, size=(draws, len(w)))
    out = w[None, :] * factors
    return np.asarray(out / out.sum(axis=1, keepdims=True))


def scores_for_weights(
    subscores: np.ndarray,
    weights: np.ndarray,
    *,
    method: str,
    penalty: np.ndarray | None = None,
    max_tier: np.ndarray | None = None,
    thresholds: Mapping[str, float],
) -> np.ndarray:
    """Scores ``(n, draws)`` for each row of ``weights`` ``(draws, k)`` (contracts §E.6).

    The scan's own functions on a weight matrix: :func:`pipeline.scoring.aggregate.aggregate`
    (``100 × Σ w s`` or ``100 × Π s^w``, minus ``penalty``, clipped to 0–100, rounded half up
    to 0.1), then :func:`~pipeline.scoring.aggregate.cap_scores` (below the tier above
    ``max_tier``; ``""`` = no cap). A missing sub-score counts as 0.
    """
    s = np.nan_to_num(np.asarray(subscores, dtype="float64"), nan=0.0)
    w = np.atleast_2d(np.asarray(weights, dtype="float64"))
    pen = None if penalty is None else np.asarray(penalty, dtype="float64")[:, None]
    scores = aggregate(s, w.T, method=method, penalty=pen)  # type: ignore[arg-type]
    if max_tier is not None and len(max_tier):
        scores = cap_scores(scores, np.asarray(max_tier), thresholds)
    return np.asarray(scores)


def tiers_of(scores: np.ndarray, thresholds: Mapping[str, float]) -> np.ndarray:
    """Tier index 0 (A) … 4 (E) of every score (A ≥ thresholds["A"], …, else E)."""
    bounds = np.array([thresholds[t] for t in TIERS[:-1]], dtype="float64")  # descending
    # the number of bounds a score does NOT reach = its tier index
    return np.asarray((scores[..., None] < bounds).sum(axis=-1))


@dataclass(frozen=True)
class Stability:
    """Per site: the base tier (recomputed), the share of draws keeping it, tier frequencies."""

    base_tier: np.ndarray  # str A–E
    share_same: np.ndarray  # float 0–1
    tier_share: np.ndarray  # (n, 5): share of draws per tier A–E
    draws: int
    spread: float
    seed: int


def tier_stability(
    subscores: np.ndarray,
    weights: Sequence[float],
    *,
    method: str,
    thresholds: Mapping[str, float],
    penalty: np.ndarray | None = None,
    max_tier: np.ndarray | None = None,
    draws: int = 100,
    spread: float = 0.2,
    seed: int = 42,
) -> Stability:
    """How often each site keeps its tier under ``draws`` random weight perturbations."""

    def tiers_for(w: np.ndarray) -> np.ndarray:
        scores = scores_for_weights(
            subscores, w, method=method, penalty=penalty, max_tier=max_tier, thresholds=thresholds
        )
        return tiers_of(scores, thresholds)

    base = tiers_for(np.asarray([weights], dtype="float64"))[:, 0]
    tiers = tiers_for(perturbed_weights(weights, draws=draws, spread=spread, seed=seed))
    share = (tiers == base[:, None]).mean(axis=1) if draws else np.ones(len(base))
    freq = np.stack([(tiers == i).mean(axis=1) for i in range(len(TIERS))], axis=1)
    return Stability(
        base_tier=np.asarray(TIERS, dtype=object)[base],
        share_same=share,
        tier_share=freq,
        draws=draws,
        spread=spread,
        seed=seed,
    )


# ------------------------------------------------------------------------------- on a result
STABILITY_COLUMNS = ("stabiliteit", "stabiliteit_trekkingen", "stabiliteit_marge")


@dataclass
class LayerStability:
    layer: str
    site_ids: np.ndarray
    fids: np.ndarray
    gemeentecode: np.ndarray
    stored_tier: np.ndarray
    stability: Stability


def _type_block(config: Mapping[str, object], opportunity_type: str) -> dict:
    types = config.get("types") if isinstance(config, Mapping) else None
    block = types.get(opportunity_type) if isinstance(types, Mapping) else None
    return dict(block) if isinstance(block, Mapping) else {}


def result_stability(
    path: object,
    *,
    draws: int = 100,
    spread: float = 0.2,
    seed: int = 42,
    gemeenten: Sequence[str] | None = None,
) -> list[LayerStability]:
    """Tier stability of every scored site of a result GeoPackage (read-only)."""
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyogrio

    from pipeline.errors import InputError, Problem
    from pipeline.results import SCORED_LAYERS, read_result

    p = Path(str(path))
    meta = read_result(p, layers=(), geometry=False).metadata
    import yaml

    try:
        config = yaml.safe_load(meta.get("config_yaml") or "") or {}
    except yaml.YAMLError:
        config = {}
    global_tiers = config.get("tiers") or meta.get("tiers") or {"A": 80, "B": 65, "C": 50, "D": 35}
    present = {str(n) for n, _ in pyogrio.list_layers(p)}
    out = []
    for layer, otype in SCORED_LAYERS.items():
        if layer not in present:
            continue
        block = _type_block(config, otype)
        criteria = [c for c in block.get("criteria") or [] if isinstance(c, Mapping)]
        if not criteria:
            raise InputError(
                Problem(
                    f"run_metadata.config_yaml has no criteria for {otype}",
                    "run the sensitivity on a result written by `kansenkaart scan`",
                    file=str(p),
                )
            )
        ids = [str(c["id"]) for c in criteria]
        weights = [float(c["weight"]) for c in criteria]
        fields = [str(f) for f in pyogrio.read_info(p, layer=layer)["fields"]]
        missing = [f"c_{i}_score" for i in ids if f"c_{i}_score" not in fields]
        if missing:
            raise InputError(
                Problem(
                    f"layer {layer} lacks the sub-score columns {missing}",
                    "re-run the scan with this software version",
                    file=str(p),
                    layer=layer,
                )
            )
        pens = [f for f in fields if f.startswith("p_") and f.endswith("_points")]
        cols = ["site_id", "gemeentecode", "tier", *[f"c_{i}_score" for i in ids], *pens]
        meta_l, table = pyogrio.read_arrow(
            p, layer=layer, columns=[*cols, "explanation"], read_geometry=False, return_fids=True
        )
        fid_column = meta_l.get("fid_column") or "fid"
        if gemeenten:
            table = table.filter(
                pc.is_in(table["gemeentecode"], value_set=pa.array(list(gemeenten)))
            )
        sub = (
            np.column_stack(
                [
                    table[f"c_{i}_score"].to_numpy(zero_copy_only=False).astype("float64")
                    for i in ids
                ]
            )
            if len(table)
            else np.zeros((0, len(ids)))
        )
        penalty = (
            np.nansum(
                np.column_stack(
                    [table[c].to_numpy(zero_copy_only=False).astype("float64") for c in pens]
                ),
                axis=1,
            )
            if pens and len(table)
            else None
        )
        caps = pc.extract_regex(
            pc.fill_null(table["explanation"], ""),
            r'"tier_cap": \{"code": "[^"]*", "max_tier": "(?P<t>[A-E])"',
        )
        max_tier = np.asarray(
            pc.fill_null(pc.struct_field(caps, "t"), "").to_numpy(zero_copy_only=False),
            dtype=object,
        )
        thresholds = {**global_tiers, **(block.get("tiers") or {})}
        stab = tier_stability(
            sub,
            weights,
            method=str(block.get("aggregation") or "weighted_sum"),
            thresholds={k: float(v) for k, v in thresholds.items()},
            penalty=penalty,
            max_tier=max_tier,
            draws=draws,
            spread=spread,
            seed=seed,
        )
        out.append(
            LayerStability(
                layer=layer,
                site_ids=table["site_id"].to_numpy(zero_copy_only=False),
                fids=table[fid_column].to_numpy(zero_copy_only=False).astype("int64"),
                gemeentecode=table["gemeentecode"].to_numpy(zero_copy_only=False),
                stored_tier=table["tier"].to_numpy(zero_copy_only=False),
                stability=stab,
            )
        )
    return out


def _gpkg_functions(con: object) -> None:
    """The GeoPackage SQL functions the rtree triggers name (``ST_IsEmpty``, ``ST_MinX`` …).

    SQLite compiles a table's triggers on every UPDATE, so they must exist even though an
    update of attributes (same fid, same geometry) never calls them.
    """
    import shapely

    def empty(blob: bytes | None) -> int | None:
        if blob is None:
            return None
        return int(bool(blob[3] & 0x10))  # GeoPackage binary header: the empty-geometry flag

    def bound(i: int):  # type: ignore[no-untyped-def]
        def f(blob: bytes | None) -> float | None:
            if blob is None or blob[3] & 0x10:
                return None
            envelope = (0, 4, 6, 6, 8)[(blob[3] >> 1) & 0x07]
            geom = shapely.from_wkb(blob[8 + 8 * envelope :])
            return float(shapely.bounds(geom)[i])

        return f

    for name, fn in (
        ("ST_IsEmpty", empty),
        ("ST_MinX", bound(0)),
        ("ST_MinY", bound(1)),
        ("ST_MaxX", bound(2)),
        ("ST_MaxY", bound(3)),
    ):
        con.create_function(name, 1, fn, deterministic=True)  # type: ignore[attr-defined]


def write_stability(path: object, layers: Sequence[LayerStability]) -> None:
    """Store ``stabiliteit`` (0–1), ``stabiliteit_trekkingen`` and ``stabiliteit_marge`` per site
    in the result's scored layers, and the run in ``run_metadata.sensitivity``: one SQLite
    transaction (all or nothing; the api reloads the changed file)."""
    import datetime as dt
    import json
    import sqlite3

    con = sqlite3.connect(str(path), isolation_level=None)
    _gpkg_functions(con)
    try:
        con.execute("BEGIN IMMEDIATE")
        for ls in layers:
            have = {r[1] for r in con.execute(f'PRAGMA table_info("{ls.layer}")')}
            for col, kind in zip(STABILITY_COLUMNS, ("REAL", "INTEGER", "REAL"), strict=True):
                if col not in have:
                    con.execute(f'ALTER TABLE "{ls.layer}" ADD COLUMN "{col}" {kind}')
            st = ls.stability
            con.executemany(
                f'UPDATE "{ls.layer}" SET stabiliteit = ?, stabiliteit_trekkingen = ?, '
                "stabiliteit_marge = ? WHERE fid = ?",
                zip(
                    np.round(st.share_same, 4).tolist(),
                    [st.draws] * len(st.share_same),
                    [st.spread] * len(st.share_same),
                    ls.fids.tolist(),
                    strict=True,
                ),
            )
        info = {
            "draws": layers[0].stability.draws if layers else 0,
            "spread": layers[0].stability.spread if layers else 0,
            "seed": layers[0].stability.seed if layers else 0,
            "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "sites": int(sum(len(ls.site_ids) for ls in layers)),
        }
        value = json.dumps(info, sort_keys=True)
        if con.execute("SELECT 1 FROM run_metadata WHERE key = 'sensitivity'").fetchone():
            con.execute("UPDATE run_metadata SET value = ? WHERE key = 'sensitivity'", (value,))
        else:
            con.execute("INSERT INTO run_metadata (key, value) VALUES ('sensitivity', ?)", (value,))
        con.execute("COMMIT")
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
