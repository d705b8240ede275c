"""Explainable scoring of the three opportunity types (DESIGN.md §4).

>>> from pipeline.scoring import load_config, score_table
>>> config = load_config(None)                      # the shipped default.yaml
>>> candidates, excluded = score_table(parcels_features, config.types["tijdelijke_locatie"],
...                                    type_name="tijdelijke_locatie")  # doctest: +SKIP
"""

from pipeline.scoring.aggregate import summarise_gemeenten
from pipeline.scoring.config import (
    DEFAULT_CONFIG_PATH,
    ScanConfig,
    TypeConfig,
    load_config,
    parse_config,
)
from pipeline.scoring.exclusions import evaluate_exclusions, group_reasons
from pipeline.scoring.score import SITE_PREFIX, score_table

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "SITE_PREFIX",
    "ScanConfig",
    "TypeConfig",
    "evaluate_exclusions",
    "group_reasons",
    "load_config",
    "parse_config",
    "score_table",
    "summarise_gemeenten",
]
