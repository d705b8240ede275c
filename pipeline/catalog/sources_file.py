"""``sources.yaml``: where each input is, validated (:func:`read_sources_yaml` → :class:`Sources`)."""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pyproj import CRS as ProjCRS

from pipeline import _yaml
from pipeline.catalog.registry import (
    FORMATS,
    OPTIONAL_SOURCES,
    REQUIRED_SOURCES,
    SOURCE_FORMATS,
    SOURCE_KINDS,
)
from pipeline.errors import InputError, Problem

ENTRY_KEYS = ("path", "format", "layer", "crs", "date", "optional", "kind")
TOP_KEYS = ("sources", "synthetic")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    format: str
    layer: str | None = None
    crs: str | None = None
    date: dt.date | str | None = None
    optional: bool = False
    kind: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """One validated entry of sources.yaml; ``path`` is absolute."""

    key: str
    path: Path
    format: str
    layer: str | None = None
    crs: str | None = None
    date: str | None = None
    optional: bool = False
    kind: str | None = None
    raw_path: str = ""


@dataclass(frozen=True)
class Sources:
    """Where each input is: the validated ``sources.yaml``."""

    yaml_path: Path
    entries: dict[str, SourceSpec]
    synthetic: bool = False

    @property
    def base_dir(self) -> Path:
        return self.yaml_path.parent

    @property
    def noise(self) -> Path | None:
        """The noise raster, or ``None`` when there is none (or its optional file is missing)."""
        spec = self.entries.get("noise")
        if spec is None or not spec.path.exists():
            return None
        return spec.path

    @property
    def rasters(self) -> dict[str, Path]:
        """The per-source noise rasters present (``noise_road`` … ``noise_aircraft`` -> path)."""
        from pipeline.schemas import NOISE_SOURCES

        return {
            key: spec.path
            for key, spec in self.entries.items()
            if key in NOISE_SOURCES and spec.path.exists()
        }

    def __getitem__(self, key: str) -> SourceSpec:
        return self.entries[key]

    def only(self, *keys: str) -> Sources:
        """The same sources limited to ``keys``, e.g. ``load_sources(sources.only("municipalities"))``
        to list the municipalities without reading the whole province."""
        return replace(self, entries={k: v for k, v in self.entries.items() if k in keys})


def did_you_mean(word: str, options: tuple[str, ...] | list[str]) -> str:
    """`` — did you mean 'x'?`` for the closest of ``options``, or an empty string."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" — did you mean '{close[0]}'?" if close else ""


def _parse(path: Path) -> dict[str, Any]:
    """The YAML document, or an :class:`InputError` when it is missing or not a sources file."""
    file = str(path)
    if not path.is_file():
        raise InputError(
            Problem(
                "sources.yaml not found",
                fix="pass --sources with the path of your sources.yaml (see "
                "data/raw/sources.example.yaml), or generate one with `kansenkaart sample` or "
                "`kansenkaart fetch`",
                file=file,
            )
        )
    try:
        doc = _yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(
            Problem(
                f"not valid YAML: {exc}".replace("\n", " "),
                fix="fix the YAML syntax (indentation, colons)",
                file=file,
            )
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict):
        raise InputError(
            Problem(
                "expected a mapping with a 'sources:' section",
                fix="see data/raw/sources.example.yaml",
                file=file,
            )
        )
    return doc


def _entry(key: str, value: Any, yaml_path: Path, problems: list[Problem]) -> SourceSpec | None:
    """One validated entry; its problems are appended to ``problems``."""
    file = str(yaml_path)

    def problem(message: str, fix: str) -> None:
        problems.append(Problem(message, fix=fix, file=file, source=key))

    if key not in SOURCE_KINDS:
        problem(
            f"unknown source '{key}'{did_you_mean(key, tuple(SOURCE_KINDS))}",
            f"sources are: {', '.join(SOURCE_KINDS)}",
        )
        return None
    kind = SOURCE_KINDS[key]
    if not isinstance(value, dict):
        problem(
            "expected a mapping like {path: …, format: …}",
            f"write e.g. `{key}: {{path: file.gpkg, format: {kind.format}}}`",
        )
        return None
    bad_keys = [str(k) for k in value if k not in ENTRY_KEYS]
    for k in bad_keys:
        problem(
            f"unknown option '{k}'{did_you_mean(k, ENTRY_KEYS)}",
            f"options are: {', '.join(ENTRY_KEYS)}",
        )
    if bad_keys:
        return None
    try:
        entry = _Entry.model_validate(value)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            problem(f"option '{loc}': {err['msg']}", "see data/raw/sources.example.yaml")
        return None
    fmt = entry.format.strip().lower()
    if fmt in kind.format_aliases:
        fmt = kind.format
    if fmt != kind.format:
        known = fmt in FORMATS
        problem(
            f"format '{fmt}' cannot be used for '{key}'"
            if known
            else f"unknown format '{entry.format}'{did_you_mean(fmt, FORMATS)}",
            f"the format of '{key}' is '{kind.format}'",
        )
        return None
    if entry.optional and not kind.optional:
        problem(
            f"'{key}' cannot be optional",
            f"only {' and '.join(OPTIONAL_SOURCES)} may be `optional: true`",
        )
    if entry.kind is not None and not kind.takes_kind:
        with_kind = [k for k, v in SOURCE_KINDS.items() if v.takes_kind]
        problem(
            f"option 'kind' only applies to {' and '.join(with_kind)}",
            "remove `kind:` from this source",
        )
    if entry.crs is not None:
        try:
            ProjCRS.from_user_input(entry.crs)
        except Exception:
            problem(f"unknown CRS '{entry.crs}'", "write an EPSG code such as `crs: EPSG:28992`")
    return SourceSpec(
        key=key,
        path=(yaml_path.parent / entry.path).resolve(),
        format=fmt,
        layer=entry.layer,
        crs=entry.crs,
        date=str(entry.date) if entry.date is not None else None,
        optional=entry.optional,
        kind=entry.kind.strip().lower() if entry.kind else None,
        raw_path=entry.path,
    )


def read_sources_yaml(path: str | Path) -> Sources:
    """Read and validate ``sources.yaml``.

    Parameters
    ----------
    path
        The YAML file. Relative paths inside it are relative to the file's folder.

    Returns
    -------
    Sources

    Raises
    ------
    InputError
        With every problem: a missing or unreadable file, unknown keys or formats (with a
        "did you mean" suggestion), missing required sources, wrong value types.
    """
    path = Path(path)
    file = str(path)
    doc = _parse(path)
    problems: list[Problem] = [
        Problem(
            f"unknown top-level key '{key}'{did_you_mean(str(key), TOP_KEYS)}",
            fix=f"allowed: {', '.join(TOP_KEYS)}",
            file=file,
        )
        for key in doc
        if key not in TOP_KEYS
    ]
    entries: dict[str, SourceSpec] = {}
    for key, value in doc["sources"].items():
        spec = _entry(str(key), value, path, problems)
        if spec is not None:
            entries[spec.key] = spec
    listed = {str(k) for k in doc["sources"]}
    problems += [
        Problem(
            f"required source '{key}' is missing",
            fix=f"add `{key}: {{path: …, format: {SOURCE_FORMATS[key]}}}` under `sources:`",
            file=file,
            source=key,
        )
        for key in REQUIRED_SOURCES
        if key not in listed
    ]
    if problems:
        raise InputError(problems, title=f"{len(problems)} problem(s) in {file}")
    return Sources(yaml_path=path.resolve(), entries=entries, synthetic=bool(doc.get("synthetic")))
