"""The key figures of the business case (``kengetallen.yaml``) and the knobs a call may override.

``load_key_figures()`` reads and validates the YAML (every knob with its Dutch label, range and
source); :func:`resolve_knobs` turns a caller's overrides into one validated :class:`Knobs`
(typed fields, one per knob), collecting every problem into one :class:`KnobError` that names
the knob and says how to fix it. Formulas: docs/contracts.md §F.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline import _yaml
from pipeline.errors import ConfigError, KansenkaartError

KEY_FIGURES_PATH = Path(__file__).with_name("kengetallen.yaml")

OPPORTUNITY_TYPES = ("tijdelijke_locatie", "kantoortransformatie", "plinttransformatie")
#: Owner classes for which the grondabonnement is suggested (public land).
PUBLIC_OWNERS = ("provincie", "gemeente", "rijk")
SCENARIOS = ("restwaarde", "verplaatsing_1", "verplaatsing_2")


class KnobError(KansenkaartError):
    """Knob overrides that do not validate (the api answers 422 with this message)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class Knobs(BaseModel):
    """The resolved knobs of one business case (every field set; docs/contracts.md §F)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity: Literal["laag", "midden", "hoog"]
    homes: int | None
    unit_type: str
    unit_cost_eur: float
    preparation_eur_home: float
    connections_eur_home: float
    land_option: Literal["koop", "huur", "grondabonnement"]
    land_price_eur_m2: float
    land_resale_share: float
    land_rent_eur_m2_year: float
    grondabonnement_basis: Literal["woning", "m2"]
    grondabonnement_eur_year: float
    subsidy_eur_home: float
    start_year: int
    rent_eur_month: float
    rent_increase: float
    vacancy_loss: float
    management_eur_home_year: float
    maintenance_eur_home_year: float
    taxes_eur_home_year: float
    cost_increase: float
    first_term_years: int | None
    scenario: Literal["restwaarde", "verplaatsing_1", "verplaatsing_2"]
    relocation_eur_home: float
    relocation_vacancy_months: float
    second_term_years: int
    third_term_years: int
    site_restoration_eur_home: float
    economic_life_years: int
    sale_value_factor: float
    guarantee: bool
    guarantee_fee_eur_home: float
    guarantee_cover: float
    discount_rate: float

    @property
    def opex_eur_home_year(self) -> float:
        """Management + maintenance + taxes per home per year (start year's prices)."""
        return (
            self.management_eur_home_year
            + self.maintenance_eur_home_year
            + self.taxes_eur_home_year
        )

    def replace(self, **changes: Any) -> Knobs:
        return self.model_copy(update=changes)


KNOB_NAMES = tuple(Knobs.model_fields)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KnobSpec(_Strict):
    """One knob: its Dutch label, type, default, range and the source of the default."""

    label: str
    group: Literal["woningen", "locatie", "exploitatie", "vervolg", "financiering"]
    type: Literal["number", "integer", "choice", "boolean"]
    default: float | int | str | bool | None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str = ""
    choices: dict[str, str] | None = None
    source: str
    assumption: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> KnobSpec:
        if self.type == "choice":
            if not self.choices:
                raise ValueError("a choice knob needs 'choices'")
            if self.default not in self.choices:
                raise ValueError(f"default {self.default!r} is not one of {list(self.choices)}")
        elif self.type in ("number", "integer"):
            if self.min is None or self.max is None or not self.min <= self.max:
                raise ValueError("a number knob needs min <= max")
            if self.default is not None and not (
                isinstance(self.default, int | float) and self.min <= self.default <= self.max
            ):
                raise ValueError(f"default {self.default!r} is outside {self.min}–{self.max}")
        elif self.type == "boolean" and not isinstance(self.default, bool):
            raise ValueError("a boolean knob needs default true or false")
        return self


class RentLimits(_Strict):
    kwaliteitskortingsgrens: float = Field(gt=0)
    maximale_huurgrens: float = Field(gt=0)
    source: str


class UnitType(_Strict):
    label: str
    unit_cost_eur: float = Field(gt=0)
    gbo_m2: float = Field(gt=0)
    source: str
    assumption: bool = False


class TypeProfile(_Strict):
    label: str
    area_columns: list[str]
    defaults: dict[str, float | int | str | bool] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class KeyFigures(_Strict):
    """The whole ``kengetallen.yaml``."""

    version: Literal[1]
    permit_term_years: int = Field(ge=1, le=30)
    huurtoeslag: dict[int, RentLimits] = Field(min_length=1)
    unit_types: dict[str, UnitType] = Field(min_length=1)
    knobs: dict[str, KnobSpec]
    types: dict[str, TypeProfile]

    @model_validator(mode="after")
    def _knobs_complete(self) -> KeyFigures:
        missing = [k for k in KNOB_NAMES if k not in self.knobs]
        unknown = [k for k in self.knobs if k not in KNOB_NAMES]
        if missing or unknown:
            raise ValueError(
                f"knobs must be exactly the fields of Knobs: missing {missing}, unknown {unknown}"
            )
        spec = self.knobs["unit_type"]
        if set(spec.choices or {}) != set(self.unit_types):
            raise ValueError("knobs.unit_type.choices must name exactly the unit_types")
        for name, profile in self.types.items():
            if name not in OPPORTUNITY_TYPES:
                raise ValueError(f"unknown opportunity type '{name}' in types")
            for key in profile.defaults:
                if key not in self.knobs:
                    raise ValueError(f"types.{name}.defaults: unknown knob '{key}'")
        return self

    def rent_limits(self, year: int) -> tuple[int, RentLimits]:
        """The huurtoeslag limits of ``year``: that year, else the latest earlier, else the earliest."""
        years = sorted(self.huurtoeslag)
        earlier = [y for y in years if y <= year]
        chosen = earlier[-1] if earlier else years[0]
        return chosen, self.huurtoeslag[chosen]

    def defaults_for(self, opportunity_type: str) -> dict[str, Any]:
        """The knob defaults of a type (type profile over the knob defaults; unresolved = None)."""
        values: dict[str, Any] = {k: spec.default for k, spec in self.knobs.items()}
        profile = self.types.get(opportunity_type)
        if profile is not None:
            values.update(profile.defaults)
        return values


def parse_key_figures(text: str, *, source: str = "<kengetallen>") -> KeyFigures:
    """Validate YAML text into :class:`KeyFigures`; :class:`ConfigError` naming every problem."""
    try:
        data = _yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"key figures {source}: not valid YAML ({exc})") from None
    try:
        return KeyFigures.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  - {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError(
            f"key figures {source} are not valid ({len(lines)} problem(s)):\n"
            + "\n".join(lines)
            + "\n    fix: compare with pipeline/businesscase/kengetallen.yaml"
        ) from None


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> KeyFigures:
    return parse_key_figures(Path(path).read_text(encoding="utf-8"), source=path)


def load_key_figures(path: Path | None = None) -> KeyFigures:
    """The key figures (default: the shipped ``kengetallen.yaml``), cached per file version."""
    p = Path(path) if path is not None else KEY_FIGURES_PATH
    try:
        mtime = p.stat().st_mtime
    except FileNotFoundError:
        raise ConfigError(
            f"key figures {p} do not exist\n    fix: pass an existing YAML or leave it out"
        ) from None
    return _load_cached(str(p), mtime)


def _coerce(name: str, spec: KnobSpec, value: Any) -> tuple[Any, str | None]:
    """One override as the knob's type; (value, problem)."""
    if spec.type == "choice":
        text = str(value).strip()
        assert spec.choices is not None
        if text not in spec.choices:
            close = difflib.get_close_matches(text, list(spec.choices), n=1)
            hint = f" (bedoelt u '{close[0]}'?)" if close else ""
            return None, f"{name}: '{text}' is geen keuze{hint}; kies uit {', '.join(spec.choices)}"
        return text, None
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in ("1", "true", "ja", "yes", "on"):
            return True, None
        if text in ("0", "false", "nee", "no", "off"):
            return False, None
        return None, f"{name}: '{value}' is geen ja/nee; gebruik true of false"
    try:
        number = (
            float(str(value).replace(",", ".")) if not isinstance(value, int | float) else value
        )
    except ValueError:
        return None, f"{name}: '{value}' is geen getal"
    if number != number:  # NaN
        return None, f"{name}: geen getal"
    if spec.type == "integer":
        if float(number) != int(number):
            return None, f"{name}: {value} is geen geheel getal"
        number = int(number)
    assert spec.min is not None and spec.max is not None
    if not spec.min <= number <= spec.max:
        return None, f"{name}: {value} ligt buiten {spec.min:g}–{spec.max:g}"
    return number, None


def resolve_knobs(
    key_figures: KeyFigures,
    overrides: Mapping[str, Any] | None = None,
    *,
    opportunity_type: str = "tijdelijke_locatie",
    today: dt.date | None = None,
) -> Knobs:
    """Defaults of the type with the caller's overrides, validated, every default resolved.

    Order (later wins): the knob's ``default``; the type profile's ``defaults``; the caller's
    overrides. Then the defaults that depend on other knobs: ``start_year`` (today's year),
    ``unit_cost_eur`` (the unit type's cost) and ``rent_eur_month`` (the start year's
    kwaliteitskortingsgrens). ``homes`` and ``first_term_years`` stay ``None`` (= from the
    site) unless overridden.

    Raises
    ------
    KnobError
        Unknown knobs, values of the wrong type or outside the knob's range (all listed).
    """
    values = key_figures.defaults_for(opportunity_type)
    problems: list[str] = []
    for name, raw in (overrides or {}).items():
        spec = key_figures.knobs.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(key_figures.knobs), n=1)
            hint = f" (bedoelt u '{close[0]}'?)" if close else ""
            problems.append(f"onbekende draaiknop '{name}'{hint}")
            continue
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue  # empty = the default
        value, problem = _coerce(name, spec, raw)
        if problem:
            problems.append(problem)
        else:
            values[name] = value
    if problems:
        raise KnobError(problems)
    if values["start_year"] is None:
        values["start_year"] = (today or dt.date.today()).year
    if values["unit_cost_eur"] is None:
        values["unit_cost_eur"] = key_figures.unit_types[values["unit_type"]].unit_cost_eur
    if values["rent_eur_month"] is None:
        _, limits = key_figures.rent_limits(int(values["start_year"]))
        values["rent_eur_month"] = limits.kwaliteitskortingsgrens
    return Knobs.model_validate(values)
