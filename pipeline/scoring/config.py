"""The scan configuration: one YAML, validated by pydantic models with clear errors.

A config has global ``tiers``, a ``rent_check`` constant and one block per opportunity type
(``tijdelijke_locatie``, ``kantoortransformatie``, ``plinttransformatie``) with hard
``exclusions``, weighted ``criteria`` (each made of one or more ``parts``: a feature column and
a transfer function), an ``aggregation`` and a ``capacity`` rule. The default ships as
``pipeline/scoring/default.yaml``; an analyst passes their own with ``kansenkaart scan --config``.

Every validation problem becomes one :class:`pipeline.errors.ConfigError` that names the YAML
key (``types.tijdelijke_locatie.criteria[2].weight``) and says how to fix it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import math
import string
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from pipeline import _yaml
from pipeline.errors import ConfigError
from pipeline.schemas import COMMON_FEATURE_COLUMNS, NOISE_COLUMNS, TABLE_FEATURE_COLUMNS

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.yaml")

TYPE_NAMES = ("tijdelijke_locatie", "kantoortransformatie", "plinttransformatie")
TRANSFER_TYPES = ("increasing", "decreasing", "ideal_range", "steps", "categorical", "boolean")
TIER_NAMES = ("A", "B", "C", "D")  # E is everything below D

#: Columns scoring adds from the type's capacity rule before the rules are evaluated.
CAPACITY_COLUMNS = ("capacity_units", "capacity_low", "capacity_high", "capacity_whole_building")
#: Column scoring adds from the type's aandachtspunten: how many of those marked ``study: true``
#: (a study or procedure before a permit) the row has (contracts §E.6); penalties may use it.
STUDY_COLUMN = "n_onderzoeken"
#: The feature columns of docs/contracts.md §E that a config may refer to, per type.
KNOWN_COLUMNS: dict[str, tuple[str, ...]] = {
    type_name: (
        *COMMON_FEATURE_COLUMNS,
        *TABLE_FEATURE_COLUMNS[table],
        *(c for c in CAPACITY_COLUMNS if c not in TABLE_FEATURE_COLUMNS[table]),
        STUDY_COLUMN,
    )
    for type_name, table in (
        ("tijdelijke_locatie", "parcels"),
        ("kantoortransformatie", "buildings"),
        ("plinttransformatie", "units"),
    )
}

#: How a raw value is written in a Dutch sentence: (scale, decimals, suffix, thousands grouping).
UNITS: dict[str, tuple[float, int, str, bool]] = {
    "": (1.0, 1, "", True),
    "getal": (1.0, 1, "", True),
    "aantal": (1.0, 0, "", True),
    "m": (1.0, 0, " m", True),
    "km": (0.001, 1, " km", True),
    "m2": (1.0, 0, " m²", True),
    "ha": (0.0001, 1, " ha", True),
    "dB": (1.0, 0, " dB", True),
    "jaar": (1.0, 1, " jaar", True),
    "bouwjaar": (1.0, 0, "", False),
    "bouwlagen": (1.0, 0, " bouwlagen", True),
    "woningen": (1.0, 0, " woningen", True),
    "procent": (100.0, 0, " %", True),  # the data holds a fraction 0–1
    "euro": (1.0, 2, "", True),
}

_ID = r"^[a-z][a-z0-9_]*$"
_ROW_FIELDS = {"raw", "score", "label"}


class ConfigProblem(ValueError):
    """A validation problem with its fix; ``key`` is appended to the pydantic location."""

    def __init__(self, message: str, fix: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.key = key


def _did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Model(BaseModel):
    """Base: unknown keys are an error with a did-you-mean hint."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ConfigProblem(
                f"expected a mapping (key: value pairs), got {type(data).__name__} {data!r}",
                "write this entry as an indented block of 'key: value' lines",
            )
        allowed = []
        for name, f in cls.model_fields.items():
            allowed.append(f.alias or name)
        for key in data:
            if key not in allowed:
                raise ConfigProblem(
                    f"unknown key '{key}'{_did_you_mean(key, allowed)}",
                    f"remove it or correct the spelling; allowed keys here: {', '.join(allowed)}",
                )
        return data


def _check_score(v: float, what: str) -> float:
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ConfigProblem(
            f"{what} is {v}, outside 0–1", "sub-scores are fractions: use a value from 0 to 1"
        )
    return v


# --------------------------------------------------------------------------- transfers


class Increasing(_Model):
    """0 at or below ``zero_at``, 1 at or above ``full_at``, linear in between."""

    type: Literal["increasing"]
    zero_at: float
    full_at: float
    direction: ClassVar[int] = 1

    @model_validator(mode="after")
    def _order(self) -> Increasing:
        if not self.zero_at < self.full_at:
            raise ConfigProblem(
                f"increasing transfer needs zero_at < full_at, got zero_at={self.zero_at}, full_at={self.full_at}",
                "swap the two values, or use type: decreasing when lower is better",
            )
        return self


class Decreasing(_Model):
    """1 at or below ``full_at``, 0 at or above ``zero_at``, linear in between."""

    type: Literal["decreasing"]
    full_at: float
    zero_at: float
    direction: ClassVar[int] = -1

    @model_validator(mode="after")
    def _order(self) -> Decreasing:
        if not self.full_at < self.zero_at:
            raise ConfigProblem(
                f"decreasing transfer needs full_at < zero_at, got full_at={self.full_at}, zero_at={self.zero_at}",
                "swap the two values, or use type: increasing when higher is better",
            )
        return self


class IdealRange(_Model):
    """1 inside [``low``, ``high``], linear ramps to 0 at ``zero_below`` and ``zero_above``."""

    type: Literal["ideal_range"]
    zero_below: float
    low: float
    high: float
    zero_above: float
    direction: ClassVar[int] = 0

    @model_validator(mode="after")
    def _order(self) -> IdealRange:
        if not (self.zero_below <= self.low <= self.high <= self.zero_above):
            raise ConfigProblem(
                "ideal_range needs zero_below <= low <= high <= zero_above, got "
                f"{self.zero_below}, {self.low}, {self.high}, {self.zero_above}",
                "order the four values from small to large",
            )
        return self


class Step(_Model):
    from_: float = Field(alias="from")
    score: float

    @field_validator("score")
    @classmethod
    def _score(cls, v: float) -> float:
        return _check_score(v, "score")


class Steps(_Model):
    """Piecewise constant: the score of the last step whose ``from`` is <= the value, else ``below``."""

    type: Literal["steps"]
    steps: list[Step] = Field(min_length=1)
    below: float = 0.0

    @field_validator("below")
    @classmethod
    def _below(cls, v: float) -> float:
        return _check_score(v, "below")

    @model_validator(mode="after")
    def _order(self) -> Steps:
        froms = [s.from_ for s in self.steps]
        if froms != sorted(froms) or len(set(froms)) != len(froms):
            raise ConfigProblem(
                f"steps must have strictly ascending 'from' values, got {froms}",
                "list the steps from the smallest 'from' to the largest, each value once",
            )
        return self

    @property
    def direction(self) -> int:  # type: ignore[override]
        scores = [self.below, *(s.score for s in self.steps)]
        if scores == sorted(scores):
            return 1
        if scores == sorted(scores, reverse=True):
            return -1
        return 0


class Categorical(_Model):
    """A score per category; ``missing_values`` count as missing data, others get ``default``."""

    type: Literal["categorical"]
    scores: dict[str, float] = Field(min_length=1)
    default: float = 0.0
    missing_values: list[str] = Field(default_factory=list)
    direction: ClassVar[int] = 0

    @field_validator("scores")
    @classmethod
    def _scores(cls, v: dict[str, float]) -> dict[str, float]:
        for k, s in v.items():
            _check_score(s, f"the score of '{k}'")
        return v

    @field_validator("default")
    @classmethod
    def _default(cls, v: float) -> float:
        return _check_score(v, "default")


class Boolean(_Model):
    """``if_true`` when the column is true, ``if_false`` otherwise."""

    type: Literal["boolean"]
    if_true: float = 1.0
    if_false: float = 0.0

    @field_validator("if_true", "if_false")
    @classmethod
    def _scores(cls, v: float) -> float:
        return _check_score(v, "score")

    @property
    def direction(self) -> int:  # type: ignore[override]
        return 1 if self.if_true >= self.if_false else -1


Transfer = Annotated[
    Increasing | Decreasing | IdealRange | Steps | Categorical | Boolean,
    Field(discriminator="type"),
]


def transfer_params(transfer: Any) -> dict[str, float]:
    """The numeric parameters of a transfer that a reason template may use."""
    return {
        k: v
        for k, v in transfer.model_dump(by_alias=False).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "default"
    }


def _template_fields(template: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigProblem(
            f"reason template {template!r} is malformed ({exc})",
            "write placeholders as {raw}, {score}, {full_at}; double a literal brace: {{ }}",
        ) from None


def _check_template(template: str, allowed: set[str], what: str) -> None:
    for f in _template_fields(template):
        if f not in allowed:
            raise ConfigProblem(
                f"{what} uses an unknown placeholder {{{f}}}{_did_you_mean(f, sorted(allowed))}",
                f"use only {', '.join('{' + a + '}' for a in sorted(allowed))}",
            )


# --------------------------------------------------------------------------- criteria


class Part(_Model):
    """One feature column and its transfer function, with the Dutch sentences about it."""

    column: str
    transfer: Transfer
    label: str = ""
    unit: str = ""
    decimals: int | None = None
    reason: str = "{label}: {raw}."
    reason_full: str | None = None
    reason_zero: str | None = None
    reason_missing: str | None = None

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str) -> str:
        if v not in UNITS:
            raise ConfigProblem(
                f"unknown unit '{v}'{_did_you_mean(v, list(UNITS))}",
                f"use one of {', '.join(repr(u) for u in UNITS)}",
            )
        return v

    @model_validator(mode="after")
    def _templates(self) -> Part:
        allowed = _ROW_FIELDS | set(transfer_params(self.transfer))
        for name in ("reason", "reason_full", "reason_zero", "reason_missing"):
            t = getattr(self, name)
            if t is not None:
                try:
                    _check_template(t, allowed, name)
                except ConfigProblem as exc:
                    exc.key = name
                    raise
        return self


class Criterion(_Model):
    """A weighted criterion: one part, or several parts combined with max/mean/min.

    Missing raw values (NaN, or a categorical ``missing_values`` entry) are left out of the
    combination; when every part is missing the criterion gets ``missing_score`` (default: the
    type's ``missing_score``, 0.5 = neutral) and a sentence saying the data is missing.
    """

    id: str = Field(pattern=_ID)
    label: str
    weight: float = Field(gt=0, le=1)
    parts: list[Part] = Field(min_length=1)
    combine: Literal["max", "mean", "min"] = "mean"
    missing_score: float | None = None

    _SINGLE_KEYS: ClassVar[tuple[str, ...]] = (
        "column",
        "transfer",
        "unit",
        "decimals",
        "reason",
        "reason_full",
        "reason_zero",
        "reason_missing",
    )

    @model_validator(mode="before")
    @classmethod
    def _single_part(cls, data: Any) -> Any:
        """``column:`` + ``transfer:`` directly on the criterion is shorthand for one part."""
        if isinstance(data, dict) and any(k in data for k in cls._SINGLE_KEYS):
            if "parts" in data:
                raise ConfigProblem(
                    "a criterion has either 'column'/'transfer' or 'parts', not both",
                    "move column, transfer and reason into one entry of 'parts', or drop 'parts'",
                )
            data = dict(data)
            part = {k: data.pop(k) for k in cls._SINGLE_KEYS if k in data}
            part.setdefault("label", data.get("label", ""))
            data["parts"] = [part]
        return data

    @field_validator("missing_score")
    @classmethod
    def _missing(cls, v: float | None) -> float | None:
        return None if v is None else _check_score(v, "missing_score")

    @property
    def direction(self) -> int:
        """+1 when raising any input never lowers the score, -1 for the reverse, 0 otherwise."""
        dirs = {p.transfer.direction for p in self.parts}
        return dirs.pop() if len(dirs) == 1 else 0


Op = Literal[">", ">=", "<", "<=", "==", "!=", "in", "not_in", "is_true", "is_false"]


class Exclusion(_Model):
    """A hard exclusion: ``column op value`` excludes the object with ``code`` and ``reason``.

    A missing raw value (NaN) never triggers the rule unless ``when_missing: exclude``.
    """

    code: str = Field(pattern=_ID)
    column: str
    op: Op
    value: float | str | list[str] | None = None
    unit: str = ""
    decimals: int | None = None
    reason: str
    when_missing: Literal["keep", "exclude"] = "keep"

    _unit = field_validator("unit")(Part._unit.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _value(self) -> Exclusion:
        if self.op in ("is_true", "is_false"):
            if self.value is not None:
                raise ConfigProblem(f"op '{self.op}' takes no value", "remove 'value'", key="value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list):
                raise ConfigProblem(
                    f"op '{self.op}' needs a list of values", "write value: [a, b]", key="value"
                )
        elif self.op in (">", ">=", "<", "<="):
            if not isinstance(self.value, int | float) or isinstance(self.value, bool):
                raise ConfigProblem(
                    f"op '{self.op}' needs a number, got {self.value!r}",
                    "write a number, e.g. value: 0.1",
                    key="value",
                )
        elif self.value is None:
            raise ConfigProblem(f"op '{self.op}' needs a value", "add value: …", key="value")
        try:
            _check_template(self.reason, {"raw", "value"}, "reason")
        except ConfigProblem as exc:
            exc.key = "reason"
            raise
        return self


class Capacity(_Model):
    """Homes: ``max(min_units, floor(column × efficiency / m2_per_unit))`` (NaN area → 0).

    ``units_per_ha`` may be given instead of ``m2_per_unit`` (m2_per_unit = 10 000 / units_per_ha).
    """

    column: str
    m2_per_unit: float | None = Field(default=None, gt=0)
    units_per_ha: float | None = Field(default=None, gt=0)
    efficiency: float = Field(default=1.0, gt=0, le=1)
    min_units: int = Field(default=0, ge=0)
    max_units: int | None = Field(default=None, ge=1)
    range: CapacityRange | None = None
    whole_building_column: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Capacity:
        if (self.m2_per_unit is None) == (self.units_per_ha is None):
            raise ConfigProblem(
                "capacity needs exactly one of m2_per_unit and units_per_ha",
                "write e.g. units_per_ha: 40 (plots) or m2_per_unit: 40 (buildings)",
            )
        if self.max_units is not None and self.max_units < self.min_units:
            raise ConfigProblem(
                f"capacity max_units {self.max_units} is below min_units {self.min_units}",
                "make max_units at least min_units",
                key="max_units",
            )
        if self.range is not None:
            central = self.units_per_ha if self.units_per_ha is not None else self.m2_per_unit
            low, high = self.range.low, self.range.high
            if self.units_per_ha is not None and not (low <= central <= high):  # type: ignore[operator]
                raise ConfigProblem(
                    f"capacity range {low}–{high} homes per hectare must contain units_per_ha {central}",
                    "write range: {low: fewer homes per ha, high: more homes per ha}",
                    key="range",
                )
            if self.m2_per_unit is not None and not (low >= central >= high):  # type: ignore[operator]
                raise ConfigProblem(
                    f"capacity range {low}–{high} m² per home must contain m2_per_unit {central} "
                    "(low = more m² per home)",
                    "write range: {low: more m² per home, high: fewer m² per home}",
                    key="range",
                )
        return self

    def area_per_unit_at(self, estimate: str) -> float:
        """m² per home of the ``central``, ``low`` or ``high`` estimate."""
        if estimate == "central" or self.range is None:
            return self.area_per_unit
        value = self.range.low if estimate == "low" else self.range.high
        return 10_000.0 / value if self.units_per_ha is not None else value

    @property
    def area_per_unit(self) -> float:
        if self.m2_per_unit is not None:
            return self.m2_per_unit
        assert self.units_per_ha is not None
        return 10_000.0 / self.units_per_ha


class Penalty(_Model):
    """Points subtracted from the score: ``points × t(column)`` with ``t`` a transfer (0 = none).

    A penalty never rewards: its transfer gives 0 where nothing is wrong (e.g. noise at or
    below the standard value) and 1 at the full penalty. A missing value subtracts nothing.
    """

    id: str = Field(pattern=_ID)
    label: str
    points: float = Field(gt=0, le=100)
    column: str
    transfer: Transfer
    unit: str = ""
    decimals: int | None = None
    reason: str = "{label}: {raw}; {points} punten aftrek."
    reason_zero: str | None = None
    reason_missing: str | None = None

    _unit = field_validator("unit")(Part._unit.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _templates(self) -> Penalty:
        allowed = _ROW_FIELDS | {"points"} | set(transfer_params(self.transfer))
        for name in ("reason", "reason_zero", "reason_missing"):
            text = getattr(self, name)
            if text is not None:
                try:
                    _check_template(text, allowed, name)
                except ConfigProblem as exc:
                    exc.key = name
                    raise
        return self


class Attention(Exclusion):
    """An aandachtspunt: ``column op value`` adds a Dutch text and its ``source`` to the row.

    It never changes the score by itself; ``reason`` may use ``{raw}`` and ``{value}`` like an
    exclusion. ``study: true`` marks an aandachtspunt that asks for a study or a procedure before
    a permit (soil survey, AERIUS, a *hogere waarde*, …): scoring counts those per row in the
    column ``n_onderzoeken``, which a penalty may use (a visible penalty, never a silent weight).
    """

    source: str = Field(min_length=1)
    study: bool = False


class TierCap(Exclusion):
    """A tier cap: a row that ``column op value`` hits gets at most ``max_tier``.

    Its score is capped just below the next better tier's threshold (e.g. 79.9 for B when A
    starts at 80), so score, tier and rank stay consistent; ``reason`` says why.
    """

    max_tier: Literal["B", "C", "D", "E"]


class CapacityRange(_Model):
    """The low and high estimate, in the unit of the capacity's central density."""

    low: float = Field(gt=0)
    high: float = Field(gt=0)


class Tiers(_Model):
    """Lower bounds of tiers A–D on the 0–100 score; E is everything below D."""

    A: float = 80.0
    B: float = 65.0
    C: float = 50.0
    D: float = 35.0

    @model_validator(mode="after")
    def _descending(self) -> Tiers:
        vals = [getattr(self, t) for t in TIER_NAMES]
        for t, v in zip(TIER_NAMES, vals, strict=True):
            if not 0 <= v <= 100:
                raise ConfigProblem(
                    f"tier {t} threshold {v} is outside 0–100", "use a score from 0 to 100", key=t
                )
        if not all(a > b for a, b in itertools.pairwise(vals)):
            raise ConfigProblem(
                f"tier thresholds must descend A > B > C > D, got {dict(zip(TIER_NAMES, vals, strict=True))}",
                "give A the highest lower bound and D the lowest, each different",
            )
        return self

    def as_dict(self) -> dict[str, float]:
        return {t: getattr(self, t) for t in TIER_NAMES}


class RentLimit(_Model):
    """The huurtoeslag *kwaliteitskortingsgrens* of one year, with where the value comes from."""

    year: int = Field(ge=2000, le=2100)
    kwaliteitskortingsgrens_eur: float = Field(gt=0)
    source: str = Field(min_length=1)


class RentCheck(_Model):
    """The target rent segment, quoted in every explanation's notes.

    ``limits`` holds the limit per year; the scan uses the year of its reference date, or the
    latest earlier year (else the earliest) with a warning. The older form with one
    ``kwaliteitskortingsgrens_eur`` and ``year`` is read as a table of one year.
    """

    limits: list[RentLimit] = Field(min_length=1)
    note: str = (
        "Doelgroep: huur onder de kwaliteitskortingsgrens van de huurtoeslag "
        "({year}: € {kwaliteitskortingsgrens_eur} per maand)."
    )

    @model_validator(mode="before")
    @classmethod
    def _single_year(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kwaliteitskortingsgrens_eur" in data:
            if "limits" in data:
                raise ConfigProblem(
                    "rent_check has both 'limits' and 'kwaliteitskortingsgrens_eur'",
                    "list every year under 'limits' and remove the single value",
                )
            data = dict(data)
            one = {
                "year": data.pop("year", None),
                "kwaliteitskortingsgrens_eur": data.pop("kwaliteitskortingsgrens_eur"),
                "source": data.pop("source", "scan config"),
            }
            data["limits"] = [one]
        return data

    @model_validator(mode="after")
    def _tpl(self) -> RentCheck:
        years = [lim.year for lim in self.limits]
        if len(set(years)) != len(years):
            raise ConfigProblem(
                f"rent_check.limits lists a year twice ({sorted(years)})",
                "give every year one entry",
                key="limits",
            )
        try:
            _check_template(self.note, {"year", "kwaliteitskortingsgrens_eur"}, "note")
        except ConfigProblem as exc:
            exc.key = "note"
            raise
        return self

    def limit_for(self, year: int) -> tuple[RentLimit, str | None]:
        """The limit of ``year`` (else the latest earlier year, else the earliest) and a warning
        when the year itself is missing."""
        by_year = sorted(self.limits, key=lambda lim: lim.year)
        exact = [lim for lim in by_year if lim.year == year]
        if exact:
            return exact[0], None
        earlier = [lim for lim in by_year if lim.year < year]
        chosen = earlier[-1] if earlier else by_year[0]
        return chosen, (
            f"the scan config has no huurtoeslag limit (rent_check.limits) for {year}, the year "
            f"of the reference date: the {chosen.year} value (€ {chosen.kwaliteitskortingsgrens_eur:.2f}) "
            "is used; add the year with its source to the config"
        )

    def note_for(self, year: int) -> tuple[str, str | None]:
        """The Dutch note for ``year`` and the warning of :meth:`limit_for`."""
        lim, warning = self.limit_for(year)
        note = self.note.format(
            year=lim.year, kwaliteitskortingsgrens_eur=format_nl(lim.kwaliteitskortingsgrens_eur, 2)
        )
        return note, warning


class Framing(_Model):
    """What every output that can leave the service says about itself."""

    disclaimer: str = Field(
        default=(
            "Verkenning, geen besluit. Vertrouwelijk: alleen voor de betrokken overheden en "
            "corporaties; niet verspreiden."
        ),
        min_length=1,
    )

    @model_validator(mode="after")
    def _words(self) -> Framing:
        text = self.disclaimer.lower()
        missing = [w for w in ("verkenning", "geen besluit", "vertrouwelijk") if w not in text]
        if missing:
            raise ConfigProblem(
                f"framing.disclaimer must say {', '.join(repr(w) for w in missing)}",
                "keep the words 'verkenning', 'geen besluit' and 'vertrouwelijk' in the text",
                key="disclaimer",
            )
        return self


class TypeConfig(_Model):
    """The scoring of one opportunity type."""

    label: str
    aggregation: Literal["weighted_sum", "weighted_geometric_mean"] = "weighted_sum"
    missing_score: float = 0.5
    tiers: Tiers | None = None
    capacity: Capacity
    exclusions: list[Exclusion] = Field(default_factory=list)
    criteria: list[Criterion] = Field(min_length=1)
    penalties: list[Penalty] = Field(default_factory=list)
    tier_caps: list[TierCap] = Field(default_factory=list)
    attention: list[Attention] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    #: Filled from the top level by :class:`ScanConfig` (the type's tiers win).
    rent_note: str = ""
    disclaimer: str = ""

    @field_validator("missing_score")
    @classmethod
    def _missing(cls, v: float) -> float:
        return _check_score(v, "missing_score")

    @model_validator(mode="after")
    def _consistent(self) -> TypeConfig:
        total = sum(c.weight for c in self.criteria)
        if abs(total - 1.0) > 1e-6:
            listing = ", ".join(f"{c.id}={c.weight:g}" for c in self.criteria)
            raise ConfigProblem(
                f"criterion weights sum to {total:.6g}, not 1 ({listing})",
                "adjust the weights so that they add up to exactly 1",
                key="criteria[*].weight",
            )
        seen: dict[str, int] = {}
        for i, c in enumerate(self.criteria):
            if c.id in seen:
                raise ConfigProblem(
                    f"duplicate criterion id '{c.id}' (also criteria[{seen[c.id]}])",
                    "give every criterion its own id",
                    key=f"criteria[{i}].id",
                )
            seen[c.id] = i
        for what, rules in (
            ("exclusion", self.exclusions),
            ("tier_cap", self.tier_caps),
            ("attention", self.attention),
        ):
            codes: dict[str, int] = {}
            key = {"exclusion": "exclusions", "tier_cap": "tier_caps", "attention": "attention"}
            for i, e in enumerate(rules):
                if e.code in codes:
                    raise ConfigProblem(
                        f"duplicate {what} code '{e.code}' (also {key[what]}[{codes[e.code]}])",
                        f"give every {what} rule its own code",
                        key=f"{key[what]}[{i}].code",
                    )
                codes[e.code] = i
        ids = [c.id for c in self.criteria]
        for i, pen in enumerate(self.penalties):
            if pen.id in ids:
                raise ConfigProblem(
                    f"penalty id '{pen.id}' is also a criterion id",
                    "give the penalty its own id",
                    key=f"penalties[{i}].id",
                )
            ids.append(pen.id)
        return self

    def columns_used(self) -> list[tuple[str, str]]:
        """(YAML key, column) of every column the type refers to."""
        out = [("capacity.column", self.capacity.column)]
        if self.capacity.whole_building_column is not None:
            out.append(("capacity.whole_building_column", self.capacity.whole_building_column))
        out += [(f"exclusions[{i}].column", e.column) for i, e in enumerate(self.exclusions)]
        out += [(f"tier_caps[{i}].column", e.column) for i, e in enumerate(self.tier_caps)]
        out += [(f"attention[{i}].column", e.column) for i, e in enumerate(self.attention)]
        out += [(f"penalties[{i}].column", e.column) for i, e in enumerate(self.penalties)]
        for i, c in enumerate(self.criteria):
            for j, p in enumerate(c.parts):
                key = (
                    f"criteria[{i}].column"
                    if len(c.parts) == 1
                    else f"criteria[{i}].parts[{j}].column"
                )
                out.append((key, p.column))
        return out


def _share(v: float, what: str) -> float:
    if not 0.0 <= v <= 1.0:
        raise ConfigProblem(
            f"{what} is {v}, outside 0–1", "write a share as a fraction from 0 to 1"
        )
    return v


class Merging(_Model):
    """Merging small adjacent parcels of one owner into one site (contracts §E.3).

    The size and built-up thresholds are those of the type's ``te_klein`` and ``bebouwd`` rules.
    """

    max_parcels: int = Field(default=10, ge=2)
    min_compactness: float = Field(default=0.6, ge=0, le=1)
    min_shared_edge_m: float = Field(default=1.0, ge=0)


class ReadinessWeights(_Model):
    bare: float = Field(default=0.6, ge=0, le=1)
    accessible: float = Field(default=0.2, ge=0, le=1)
    buildable: float = Field(default=0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _sum(self) -> ReadinessWeights:
        total = self.bare + self.accessible + self.buildable
        if abs(total - 1.0) > 1e-6:
            raise ConfigProblem(
                f"site readiness weights sum to {total:g}, not 1",
                "adjust bare, accessible and buildable so that they add up to 1",
            )
        return self


class SiteReadiness(_Model):
    """``site_readiness = w_bare × bare + w_accessible × accessible + w_buildable × buildable``."""

    weights: ReadinessWeights = Field(default_factory=ReadinessWeights)
    bare_full_at: float = Field(default=0.10, gt=0, le=1)
    accessible_bus_m: float = Field(default=1000.0, gt=0)
    accessible_rail_m: float = Field(default=2000.0, gt=0)
    unbuildable: list[str] = Field(default_factory=lambda: ["water", "natuur", "bos"])
    unknown_buildable: float = Field(default=0.5, ge=0, le=1)


class Availability(_Model):
    """The availability window of a site from the permanent housing plans (contracts §E.3)."""

    permit_term_years: int = Field(default=15, ge=1, le=50)
    plan_min_share: float = Field(default=0.10, gt=0, le=1)


class NetArea(_Model):
    """Net area: the site minus the hard zones that cross it, eroded by the setback."""

    subtract_zones: list[str] = Field(
        default_factory=lambda: ["natura2000", "nnn", "externe_veiligheid", "hoogspanning"]
    )
    setback_m: float = Field(default=5.0, ge=0)
    min_width_m: float = Field(default=20.0, ge=0)

    @field_validator("subtract_zones")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        from pipeline.schemas import ZONE_KINDS

        for kind in v:
            if kind not in ZONE_KINDS:
                raise ConfigProblem(
                    f"unknown zone kind '{kind}'{_did_you_mean(kind, ZONE_KINDS)}",
                    f"use zone kinds of schemas.ZONE_KINDS: {', '.join(ZONE_KINDS)}",
                )
        return v


class BsdParams(_Model):
    """A site is inside the BSD when at least ``min_share`` of its area lies in it."""

    min_share: float = Field(default=0.5, gt=0, le=1)


class Shops(_Model):
    """Rules on shop streets and ground floors (contracts §E.5)."""

    aanloopstraat_min_shops: int = Field(default=5, ge=2)
    aanloopstraat_min_vacancy: float = Field(default=0.15, ge=0, le=1)
    ground_floor_slack: float = Field(default=1.1, ge=1)


class FeatureParams(_Model):
    """The numbers the feature tables are computed with (contracts §E.2–E.5)."""

    owner_min_share: float = Field(default=0.5, ge=0, le=1)
    zoning_min_share: float = Field(default=0.0, ge=0, le=1)
    kernwinkelgebied_min_share: float = Field(default=0.5, gt=0, le=1)
    amenities_exclude_vacant: bool = True
    merging: Merging = Field(default_factory=Merging)
    site_readiness: SiteReadiness = Field(default_factory=SiteReadiness)
    availability: Availability = Field(default_factory=Availability)
    net_area: NetArea = Field(default_factory=NetArea)
    bsd: BsdParams = Field(default_factory=BsdParams)
    shops: Shops = Field(default_factory=Shops)


class NoiseSource(_Model):
    """One noise source: its column, standard value and limit value for new homes (dB)."""

    column: str
    label: str = Field(min_length=1)
    standard_db: float
    limit_db: float
    source: str = Field(min_length=1)

    @field_validator("column")
    @classmethod
    def _column(cls, v: str) -> str:
        if v not in NOISE_COLUMNS:
            raise ConfigProblem(
                f"unknown noise column '{v}'{_did_you_mean(v, NOISE_COLUMNS)}",
                f"use one of {', '.join(NOISE_COLUMNS)}",
            )
        return v

    @model_validator(mode="after")
    def _order(self) -> NoiseSource:
        if not self.standard_db < self.limit_db:
            raise ConfigProblem(
                f"noise standard_db {self.standard_db} must be below limit_db {self.limit_db}",
                "the standard value (voorkeursgrenswaarde) is the lower one",
            )
        return self


class Scenario(_Model):
    """A named preset of weights and rules (``kansenkaart scan --scenario NAME``).

    ``weights``: per type, criterion id → new weight; the other criteria of the type share what
    is left in proportion to their weights. ``rules``: per type, exclusion code → new ``value``.
    ``tiers``: new tier thresholds. Applied by :func:`pipeline.scoring.scenarios.apply_scenario`.
    """

    label: str
    description: str = ""
    source: str = ""
    weights: dict[str, dict[str, float]] = Field(default_factory=dict)
    rules: dict[str, dict[str, float | str | list[str]]] = Field(default_factory=dict)
    tiers: dict[str, float] = Field(default_factory=dict)


class ScanConfig(_Model):
    """The whole scan configuration (see ``default.yaml`` for a documented example)."""

    version: Literal[1] = 1
    #: The date vacancy durations are measured against when the scan is given none.
    reference_date: dt.date | None = None
    tiers: Tiers = Field(default_factory=Tiers)
    rent_check: RentCheck
    framing: Framing = Field(default_factory=Framing)
    features: FeatureParams = Field(default_factory=FeatureParams)
    noise: dict[str, NoiseSource] = Field(default_factory=dict)
    types: dict[str, TypeConfig] = Field(min_length=1)
    #: Named presets of weights and rules (issue 13); checked against the types below.
    scenarios: dict[str, Scenario] = Field(default_factory=dict)
    _text: str = PrivateAttr(default="")
    _path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_scenarios(self) -> ScanConfig:
        from pipeline.scoring.scenarios import scenario_problems

        for name, scenario in self.scenarios.items():
            for key, message, fix in scenario_problems(self, scenario):
                raise ConfigProblem(message, fix, key=f"scenarios.{name}.{key}")
        return self

    @field_validator("types", mode="before")
    @classmethod
    def _type_names(cls, v: Any) -> Any:
        if isinstance(v, dict):
            for k in v:
                if k not in TYPE_NAMES:
                    raise ConfigProblem(
                        f"unknown opportunity type '{k}'{_did_you_mean(k, TYPE_NAMES)}",
                        f"use one of {', '.join(TYPE_NAMES)}",
                        key=str(k),
                    )
        return v

    @model_validator(mode="after")
    def _resolve(self) -> ScanConfig:
        latest = max(lim.year for lim in self.rent_check.limits)
        note, _ = self.rent_check.note_for(latest)
        for name, tc in self.types.items():
            known = KNOWN_COLUMNS[name]
            for key, col in tc.columns_used():
                if col not in known:
                    raise ConfigProblem(
                        f"unknown feature column '{col}' for {name}{_did_you_mean(col, known)}",
                        "use a column of the feature table (docs/contracts.md §E): "
                        + ", ".join(sorted(known)),
                        key=f"types.{name}.{key}",
                    )
            tc.rent_note = note
            tc.disclaimer = self.framing.disclaimer
            if tc.tiers is None:
                tc.tiers = self.tiers
        return self

    @property
    def text(self) -> str:
        """The YAML text this config was read from (for ``run_metadata.config_yaml``)."""
        return self._text

    @property
    def path(self) -> Path | None:
        return self._path


# --------------------------------------------------------------------------- formatting


_NL_TRANS = str.maketrans(",.", ".,")


def format_nl(value: float | Decimal, decimals: int = 0, *, grouping: bool = True) -> str:
    """A number the Dutch way: ``1.500``, ``0,6``, ``454,47``.

    >>> format_nl(1500), format_nl(0.6, 1), format_nl(1975, grouping=False)
    ('1.500', '0,6', '1975')
    """
    if math.isfinite(value):
        # half away from zero (2,25 -> 2,3), not Python's half-to-even
        value = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP)
    text = f"{value:,.{decimals}f}" if grouping else f"{value:.{decimals}f}"
    text = text.translate(_NL_TRANS)
    if text.startswith("-") and set(text[1:]) <= set("0.,"):
        text = text[1:]  # no "-0"
    return text


def format_value(value: Any, unit: str = "", decimals: int | None = None) -> str:
    """One raw value with its unit, the Dutch way (``1.500 m²``, ``12 %``, ``ja``)."""
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, str):
        return value
    scale, dec, suffix, grouping = UNITS[unit]
    if decimals is not None:
        dec = decimals
    return format_nl(float(value) * scale, dec, grouping=grouping) + suffix


# --------------------------------------------------------------------------- loading


def _format_loc(loc: tuple[Any, ...]) -> str:
    """('types', 'x', 'criteria', 2, 'weight') -> 'types.x.criteria[2].weight'."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-"):
            continue
        elif part in TRANSFER_TYPES and i > 0 and loc[i - 1] == "transfer":
            continue  # pydantic's discriminator tag
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


_FIXES = {
    "missing": "add this key",
    "float_parsing": "write a number, e.g. 0.15 (a dot as decimal separator)",
    "float_type": "write a number, e.g. 0.15",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "string_type": "write text (quote it if it looks like a number)",
    "list_type": "write a list (- item lines or [a, b])",
    "dict_type": "write a mapping of 'key: value' lines",
    "bool_type": "write true or false",
    "string_pattern_mismatch": "use lower-case letters, digits and _ only, starting with a letter",
    "greater_than": "use a larger value",
    "less_than_equal": "use a smaller value",
    "greater_than_equal": "use a larger value",
    "too_short": "add at least one entry",
}


def _shorthand_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop ``parts[0]`` from a location when the YAML wrote the criterion without ``parts``."""
    node = data
    for i, part in enumerate(loc):
        if part == "parts" and isinstance(node, dict) and "parts" not in node:
            return loc[:i] + loc[i + 2 :]
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return loc
    return loc


def _problem_lines(exc: ValidationError, data: Any = None) -> list[str]:
    lines: list[str] = []
    for err in exc.errors():
        loc = _shorthand_loc(tuple(err["loc"]), data)
        ctx = err.get("ctx") or {}
        inner = ctx.get("error")
        etype = err["type"]
        if isinstance(inner, ConfigProblem):
            key = _format_loc(loc)
            if inner.key:
                key = (
                    inner.key
                    if inner.key.startswith("types.")
                    else (f"{key}.{inner.key}" if key != "(top level)" else inner.key)
                )
            message, fix = inner.message, inner.fix
        elif etype == "union_tag_invalid":
            key = _format_loc(loc) + ".type"
            message = f"unknown transfer type '{ctx.get('tag')}'{_did_you_mean(str(ctx.get('tag')), TRANSFER_TYPES)}"
            fix = f"use one of {', '.join(TRANSFER_TYPES)}"
        elif etype == "union_tag_not_found":
            key = _format_loc(loc)
            message = "the transfer has no 'type'"
            fix = f"add type: one of {', '.join(TRANSFER_TYPES)}"
        elif etype == "literal_error":
            key = _format_loc(loc)
            message = f"{err['msg']}, got {err.get('input')!r}"
            fix = "use one of the listed values"
        else:
            key = _format_loc(loc)
            message = err["msg"]
            if "input" in err and etype != "missing":
                message += f" (got {err['input']!r})"
            fix = _FIXES.get(etype, "see pipeline/scoring/default.yaml for a valid example")
        lines.append(f"  - {key}: {message}\n      fix: {fix}")
    return lines


def parse_config(text: str, *, source: str = "<config>") -> ScanConfig:
    """Validate YAML text into a :class:`ScanConfig`; :class:`ConfigError` on any problem."""
    try:
        data = _yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"scan config {source}{where}: not valid YAML ({problem})\n"
            "    fix: check the indentation (spaces, not tabs) and quote text containing ':' or '#'"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"scan config {source}: expected a mapping with 'tiers', 'rent_check' and 'types' at the "
            f"top level, got {type(data).__name__}\n"
            "    fix: start from pipeline/scoring/default.yaml"
        )
    try:
        config = ScanConfig.model_validate(data)
    except ValidationError as exc:
        lines = _problem_lines(exc, data)
        raise ConfigError(
            f"scan config {source} is not valid ({len(lines)} problem(s)):\n" + "\n".join(lines)
        ) from None
    config._text = text
    return config


def load_config(path: Path | None = None) -> ScanConfig:
    """Read and validate a scan config YAML; ``None`` loads the shipped default.

    Parameters
    ----------
    path
        An analyst's YAML, or ``None`` for ``pipeline/scoring/default.yaml``.

    Returns
    -------
    ScanConfig
        The validated config; ``config.text`` holds the YAML text, ``config.types`` one
        :class:`TypeConfig` per opportunity type.

    Raises
    ------
    ConfigError
        When the file is missing, is not YAML, or does not validate (every problem listed,
        each with its YAML key and a fix).
    """
    p = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"scan config {p} does not exist\n"
            "    fix: pass an existing YAML with --config, or leave --config out for the default"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"scan config {p} cannot be read ({exc})\n    fix: save it as UTF-8 text"
        ) from None
    config = parse_config(text, source=str(p))
    config._path = p
    return config
