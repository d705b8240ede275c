"""The catalog: where each input is (``sources.yaml``), and the only code that opens files.

By concern:

- :mod:`~pipeline.catalog.registry` — every kind of source (sources.yaml key → format →
  canonical layers); adding a source is one entry there.
- :mod:`~pipeline.catalog.sources_file` — ``sources.yaml``: :func:`read_sources_yaml` →
  :class:`Sources`.
- :mod:`~pipeline.catalog.files` — the low-level readers (pyogrio with Arrow, rasterio, CSV),
  never writing next to an input.
- :mod:`~pipeline.catalog.formats` and :mod:`~pipeline.catalog.lvbag` — one reader per
  published format, handing the raw table to the pure normalisers in :mod:`pipeline.sources`.
- :mod:`~pipeline.catalog.load` — :func:`load_sources`: every source, validated, with
  municipalities assigned (:mod:`pipeline.features.municipality`, the one rule).
- :mod:`~pipeline.catalog.crosscheck` — the checks across sources.
- :mod:`~pipeline.catalog.report` — :class:`LoadReport` and :class:`InputInfo`.
- :mod:`~pipeline.catalog.check` — ``kansenkaart check``.

The names below are the public entry points (docs/contracts.md §B).
"""

from pipeline.catalog.check import run_check_command
from pipeline.catalog.files import ReadContext, list_layers, no_sidecar_files
from pipeline.catalog.load import Loaded, load_source, load_sources
from pipeline.catalog.registry import (
    FORMATS,
    LOAD_ORDER,
    OPTIONAL_SOURCES,
    REQUIRED_SOURCES,
    SOURCE_FORMATS,
    SOURCE_KINDS,
    SourceKind,
)
from pipeline.catalog.report import InputInfo, LoadReport
from pipeline.catalog.sources_file import Sources, SourceSpec, read_sources_yaml
from pipeline.features.municipality import MunicipalityIndex, assign_gemeentecode

__all__ = [
    "FORMATS",
    "LOAD_ORDER",
    "OPTIONAL_SOURCES",
    "REQUIRED_SOURCES",
    "SOURCE_FORMATS",
    "SOURCE_KINDS",
    "InputInfo",
    "LoadReport",
    "Loaded",
    "MunicipalityIndex",
    "ReadContext",
    "SourceKind",
    "SourceSpec",
    "Sources",
    "assign_gemeentecode",
    "list_layers",
    "load_source",
    "load_sources",
    "no_sidecar_files",
    "read_sources_yaml",
    "run_check_command",
]
