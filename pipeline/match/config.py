"""The match's configuration (``default.yaml``): horizon, minimum stay, gaps, distance, splitting,
the objective's weights and the solver's budget. Rules: docs/contracts.md §G."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline import _yaml
from pipeline.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")


class Weights(BaseModel):
    """The objective's weights (euros)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idle_eur_per_home_year: float = Field(ge=0)
    transport_eur_per_home_km: float = Field(ge=0)
    relocation_factor: float = Field(ge=0)


class SolverSettings(BaseModel):
    """The solver's budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_limit_s: float = Field(gt=0, le=3600)
    workers: int = Field(ge=1, le=64)
    max_rounds: int = Field(ge=1, le=10_000)
    columns_per_round: int = Field(ge=1, le=50)
    random_seed: int = Field(ge=0)


class MatchConfig(BaseModel):
    """Every number of the match (see ``default.yaml`` for what each stands for)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon_years: int = Field(ge=1, le=50)
    reference_date: dt.date | None = None
    minimum_stay_months: int = Field(ge=1, le=600)
    max_gap_months: int = Field(ge=0, le=600)
    max_distance_km: float = Field(gt=0)
    road_factor: float = Field(ge=1.0, le=3.0)
    split_multiple: int = Field(ge=1, le=1000)
    weights: Weights
    solver: SolverSettings

    def with_overrides(self, **changes: Any) -> MatchConfig:
        """A copy with some top-level fields replaced (validated again)."""
        data = self.model_dump()
        data.update(changes)
        return parse_match_config(data, origin="overrides")


def _nearest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_match_config(data: Any, *, origin: str = "match config") -> MatchConfig:
    """Validate a parsed YAML mapping; every problem in one :class:`ConfigError`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return MatchConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            hint = ""
            if err["type"] == "extra_forbidden":
                parent: Any = MatchConfig
                for part in err["loc"][:-1]:
                    parent = parent.model_fields[str(part)].annotation
                options = list(getattr(parent, "model_fields", {}))
                hint = _nearest(str(err["loc"][-1]), options) + " — remove or rename the key"
            lines.append(f"  - {loc}: {err['msg']}{hint}")
        raise ConfigError(
            f"{origin}: {len(lines)} problem(s):\n"
            + "\n".join(lines)
            + f"\n    fix: compare with the shipped {DEFAULT_CONFIG_PATH.name}"
        ) from None


def load_match_config(path: Path | str | None = None) -> MatchConfig:
    """Read and validate a match config (``None``: the shipped ``default.yaml``)."""
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the match config ({exc.strerror})") from None
    try:
        data = _yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    return parse_match_config(data, origin=str(p))
