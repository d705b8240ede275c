"""Every kind of source the scan reads, in one table: its sources.yaml key, format and layers.

Adding a source is one :class:`SourceKind` in :data:`SOURCE_KINDS` (plus, for a new format,
one reader registered in :data:`pipeline.catalog.formats.FORMAT_READERS`, and the canonical
layer in :data:`pipeline.schemas.LAYERS`). Everything else — the validation of sources.yaml,
the reading order, the extent read under ``--gemeente``, what an empty file means — is read
from this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: The extent a source is read in when the scan is limited to some municipalities:
#: ``selection`` = the selected municipalities' bounding box (the objects that are scanned),
#: ``context`` = that box grown by :data:`CONTEXT_MARGIN_M` (what lies around them),
#: ``all`` = the whole file (the municipalities themselves, small tables).
Extent = Literal["selection", "context", "all"]

#: Extra margin (m) around the selected municipalities for context layers (stops, zones, …).
CONTEXT_MARGIN_M = 5_000.0


@dataclass(frozen=True)
class SourceKind:
    """One entry of sources.yaml.

    ``layers`` maps the names the format's reader gives its tables (``"main"`` for a format
    with one table) to the canonical layers of :data:`pipeline.schemas.LAYERS` they fill;
    empty for a raster (only its metadata is read). ``empty`` says what a file without
    features is: ``"problem"`` (the scan cannot run without them) or ``"warning"``.
    ``empty_fix`` replaces the general fix for an empty file. ``priority`` orders the thread pool: large sources first, so the two threads finish
    together (lower first).
    """

    key: str
    format: str
    layers: dict[str, str] = field(default_factory=dict)
    optional: bool = False
    takes_kind: bool = False
    empty: Literal["problem", "warning"] = "problem"
    empty_fix: str = ""
    extent: Extent = "context"
    priority: int = 9
    #: Other format names accepted for this key (read as :attr:`format`).
    format_aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.layers and self.format != "raster":
            object.__setattr__(self, "layers", {"main": self.key})


#: Every source, in reading order: municipalities first (the ``--gemeente`` filter and the
#: gemeentecode need them), the BAG before vacancy (the cross-check needs its units).
SOURCE_KINDS: dict[str, SourceKind] = {
    k.key: k
    for k in (
        SourceKind("municipalities", "cbs", extent="all"),
        SourceKind("parcels", "brk", extent="selection", priority=1),
        SourceKind(
            "buildings",
            "bag",
            layers={"buildings": "buildings", "units": "units"},
            extent="selection",
            priority=0,
        ),
        SourceKind("zoning", "imro", priority=2),
        SourceKind("vacancy", "vacancy-csv", empty="warning"),
        SourceKind("ownership", "ownership", empty="warning", priority=3),
        SourceKind("transit_stops", "stops", takes_kind=True),
        SourceKind("noise", "raster", optional=True),
        SourceKind(
            "exclusion_zones",
            "zones",
            optional=True,
            takes_kind=True,
            empty_fix="without zones no site is excluded for lying in Natura 2000, NNN, an "
            "external-safety or a high-voltage zone: point `path:` (and `layer:`) at the file "
            "that holds the zones, or remove `exclusion_zones` from sources.yaml to scan without "
            "them",
        ),
        SourceKind(
            "housing_plans",
            "plancapaciteit",
            optional=True,
            empty="warning",
            empty_fix="without housing plans every site counts as 'no plan known' (available for "
            "the full permit term): point `path:` at the plan-capacity file, or remove "
            "`housing_plans` from sources.yaml",
        ),
        SourceKind(
            "bsd",
            "bsd",
            optional=True,
            empty="warning",
            format_aliases=("zones",),
            empty_fix="without the BSD the rule on the built-up area is skipped: point `path:` "
            "at the province's bestaand stads- en dorpsgebied, or remove `bsd` from sources.yaml",
        ),
        SourceKind("noise_road", "raster", optional=True),
        SourceKind("noise_rail", "raster", optional=True),
        SourceKind("noise_industry", "raster", optional=True),
        SourceKind("noise_aircraft", "raster", optional=True),
    )
}

#: Each sources.yaml key and the one format it is read in.
SOURCE_FORMATS: dict[str, str] = {k: v.format for k, v in SOURCE_KINDS.items()}
FORMATS = tuple(sorted(set(SOURCE_FORMATS.values())))
#: Sources that may be left out of sources.yaml (or marked ``optional: true``).
OPTIONAL_SOURCES = tuple(k for k, v in SOURCE_KINDS.items() if v.optional)
REQUIRED_SOURCES = tuple(k for k, v in SOURCE_KINDS.items() if not v.optional)
#: Reading order (= the order of :data:`SOURCE_KINDS`).
LOAD_ORDER = tuple(SOURCE_KINDS)
