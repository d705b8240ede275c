"""Site readiness of a plot for relocatable homes (docs/contracts.md §E.3)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def site_readiness(
    built_up_fraction: pd.Series, zoning: pd.Series, dist_bus_m: pd.Series, dist_rail_m: pd.Series
) -> pd.Series:
    """How ready a plot is for relocatable homes (0–1; 1 = bare and accessible).

    ``site_readiness = 0.6 × (1 − min(1, built_up / 0.10)) + 0.2 × accessible + 0.2 × buildable``
    where ``accessible`` = a bus stop within 1 km or rail/metro/tram within 2 km (a served,
    reachable place) and ``buildable`` = 1 unless the zoning is water, natuur or bos (0) or
    unknown (0.5).
    """
    bare = 1.0 - np.clip(built_up_fraction.to_numpy(float) / 0.10, 0.0, 1.0)
    access = ((dist_bus_m.fillna(np.inf) <= 1000) | (dist_rail_m.fillna(np.inf) <= 2000)).to_numpy(
        float
    )
    z = zoning.astype(str)
    buildable = np.where(
        z.isin(["water", "natuur", "bos"]), 0.0, np.where(z == "onbekend", 0.5, 1.0)
    )
    v = 0.6 * bare + 0.2 * access + 0.2 * buildable
    return pd.Series(np.round(v, 4), index=built_up_fraction.index, name="site_readiness")
