"""Presets of the synthetic province: how big, where, how fine the noise raster is."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.schemas import ZUID_HOLLAND_BOUNDS_RD


@dataclass(frozen=True)
class Preset:
    """Size and layout knobs of one synthetic province.

    Attributes
    ----------
    name
        Preset name (``tiny``, ``demo``, ``province``).
    bounds
        Extent in RD New (x_min, y_min, x_max, y_max), multiples of 100 m, inside
        Zuid-Holland's extent.
    seeds
        Municipality seeds on a jittered ``(columns, rows)`` grid; seeds in the sea are dropped.
    coast
        Cut off the North Sea west of a coastline like Zuid-Holland's.
    urban_radius
        Median urban radius (m) of a town and the spread (sigma of its logarithm).
    big_towns
        How many towns get 1.8 times their radius (the big cities).
    rivers
        Number of rivers crossing the region west to east.
    hv_lines
        Number of high-voltage lines crossing the region.
    noise_cell
        Cell size (m) of the noise raster.
    """

    name: str
    bounds: tuple[float, float, float, float]
    seeds: tuple[int, int]
    coast: bool
    urban_radius: tuple[float, float]
    big_towns: int
    rivers: int
    hv_lines: int
    noise_cell: float


PRESETS: dict[str, Preset] = {
    # For tests: two small towns, a few thousand parcels, well under a second.
    "tiny": Preset(
        name="tiny",
        bounds=(92_000.0, 440_000.0, 100_000.0, 445_000.0),
        seeds=(2, 1),
        coast=False,
        urban_radius=(650.0, 0.05),
        big_towns=0,
        rivers=0,
        hv_lines=1,
        noise_cell=20.0,
    ),
    # The demo: three municipalities, tens of thousands of parcels, a few seconds.
    "demo": Preset(
        name="demo",
        bounds=(86_000.0, 440_000.0, 104_000.0, 452_000.0),
        seeds=(3, 1),
        coast=False,
        urban_radius=(1_350.0, 0.15),
        big_towns=0,
        rivers=1,
        hv_lines=1,
        noise_cell=10.0,
    ),
    # Zuid-Holland's size: ~50 municipalities, ~1.2 M parcels, ~1.1 M buildings, ~1.6 M units.
    "province": Preset(
        name="province",
        bounds=ZUID_HOLLAND_BOUNDS_RD,
        seeds=(8, 8),
        coast=True,
        urban_radius=(1_460.0, 0.35),
        big_towns=3,
        rivers=2,
        hv_lines=3,
        noise_cell=25.0,
    ),
}
