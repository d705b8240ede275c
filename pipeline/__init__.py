"""Kansenkaart Flexwonen pipeline: ingest → features → score → export."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kansenkaart-flexwonen")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
