"""Site readiness of a plot for relocatable homes (docs/contracts.md §E.3)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.scoring.config import SiteReadiness


def site_readiness(
    built_up_fraction: pd.Series,
    zoning: pd.Series,
    dist_bus_m: pd.Series,
    dist_rail_m: pd.Series,
    *,
    params: SiteReadiness | None = None,
) -> pd.Series:
    """How ready a plot is for relocatable homes (0–1; 1 = bare and accessible).

    ``site_readiness = w_bare × bare + w_accessible × accessible + w_buildable × buildable``,
    rounded to 4 decimals, with the config's ``features.site_readiness`` (defaults 0.6, 0.2,
    0.2): ``bare = 1 − min(1, built_up / bare_full_at)`` (0.10), ``accessible`` = 1 when a bus
    stop is within ``accessible_bus_m`` (1,000 m) or rail/metro/tram within
    ``accessible_rail_m`` (2,000 m), else 0, and ``buildable`` = 0 for the ``unbuildable``
    zoning groups (water, natuur, bos), ``unknown_buildable`` (0.5) for ``onbekend``, else 1.
    """
    p = params if params is not None else SiteReadiness()
    bare = 1.0 - np.clip(built_up_fraction.to_numpy(float) / p.bare_full_at, 0.0, 1.0)
    access = (
        (dist_bus_m.fillna(np.inf) <= p.accessible_bus_m)
        | (dist_rail_m.fillna(np.inf) <= p.accessible_rail_m)
    ).to_numpy(float)
    z = zoning.astype(str)
    buildable = np.where(
        z.isin(p.unbuildable), 0.0, np.where(z == "onbekend", p.unknown_buildable, 1.0)
    )
    w = p.weights
    v = w.bare * bare + w.accessible * access + w.buildable * buildable
    return pd.Series(np.round(v, 4), index=built_up_fraction.index, name="site_readiness")
