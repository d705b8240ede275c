"""Dutch texts the api writes (site sheets, lists): one plural rule for homes."""

from __future__ import annotations


def homes(n: int | float | None) -> str:
    """``1 woning``, ``2 woningen``, ``0 woningen`` (thousands with a dot, as in Dutch)."""
    if n is None:
        return "onbekend aantal woningen"
    k = round(float(n))
    return f"{k:,} {'woning' if k == 1 else 'woningen'}".replace(",", ".")
