"""What was loaded (:class:`LoadReport`) and each input's identity (:class:`InputInfo`)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.sources import raster


@dataclass
class InputInfo:
    """One input file as it was read (for the run metadata).

    ``sha256`` is computed on first use (:meth:`digest`, ``as_dict``), so ``kansenkaart check``
    and one-municipality runs do not hash gigabytes they never need to; digests are cached in
    ``$XDG_CACHE_HOME/kansenkaart/sha256.json`` keyed by path, size and modification time.
    """

    source: str
    path: str
    format: str
    size_bytes: int
    sha256: str = ""
    date: str | None = None
    layer: str | None = None

    def digest(self) -> str:
        """The file's (or folder's) sha256, computed once."""
        if not self.sha256:
            self.sha256 = _cached_sha256(Path(self.path))
        return self.sha256

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "path": self.path,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "sha256": self.digest(),
            "date": self.date,
        }


@dataclass
class LoadReport:
    """What was loaded: feature counts and repaired geometries per layer, inputs, warnings."""

    counts: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    inputs: list[InputInfo] = field(default_factory=list)
    synthetic: bool = False
    warnings: list[str] = field(default_factory=list)
    #: layer name -> the sources.yaml key it came from
    layer_sources: dict[str, str] = field(default_factory=dict)
    #: raster inputs (``noise``) -> their metadata (pixels are never loaded here)
    rasters: dict[str, raster.RasterInfo] = field(default_factory=dict)
    #: ``fetch_manifest.json`` next to sources.yaml (written by ``kansenkaart fetch``), if any
    fetch: dict[str, Any] | None = None


def _files_of(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in _files_of(path))


def _sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, sorted)."""
    digest = hashlib.sha256()
    for p in _files_of(path):
        if path.is_dir():
            digest.update(str(p.relative_to(path)).encode())
        with p.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kansenkaart" / "sha256.json"


def _cached_sha256(path: Path) -> str:
    """:func:`_sha256`, remembered across runs by path, size and mtime (never in the input)."""
    stamp = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in _files_of(path)]
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return str(cache[key])
    value = _sha256(path)
    cache[key] = value
    try:  # best effort: a read-only home only costs the next run a re-hash
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache), encoding="utf-8")
        tmp.replace(cache_path)
    except OSError:
        pass
    return value
