"""The business case per site (issue 13): exploitation of temporary homes with knobs.

>>> from pipeline.businesscase import load_key_figures, resolve_knobs, business_case
>>> knobs = resolve_knobs(load_key_figures(), {"rent_eur_month": 500})
>>> case = business_case([40], [15], [10_000], knobs=knobs)   # one site: 40 homes, 15 years
>>> round(float(case.npv[0])) != 0
True

Pure and vectorised (numpy arrays in and out); the key figures and their sources are in
``kengetallen.yaml``; formulas in docs/contracts.md §F. Imports nothing that reads files
except the key-figures YAML, so the api may use it.
"""

from pipeline.businesscase.config import (
    KEY_FIGURES_PATH,
    PUBLIC_OWNERS,
    SCENARIOS,
    KeyFigures,
    KnobError,
    Knobs,
    load_key_figures,
    parse_key_figures,
    resolve_knobs,
)
from pipeline.businesscase.model import COMPONENTS, BusinessCase, business_case, irr, npv
from pipeline.businesscase.sites import (
    business_case_table,
    business_cases,
    rent_check,
    site_business_case,
    site_inputs,
)

__all__ = [
    "COMPONENTS",
    "KEY_FIGURES_PATH",
    "PUBLIC_OWNERS",
    "SCENARIOS",
    "BusinessCase",
    "KeyFigures",
    "KnobError",
    "Knobs",
    "business_case",
    "business_case_table",
    "business_cases",
    "irr",
    "load_key_figures",
    "npv",
    "parse_key_figures",
    "rent_check",
    "resolve_knobs",
    "site_business_case",
    "site_inputs",
]
