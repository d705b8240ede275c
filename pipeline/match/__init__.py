"""The regional match (issue 14): batches of relocatable homes along chains of sites on offer.

>>> from pipeline.match import plan_match, load_match_config, Registries, offers_frame, batches_frame
>>> plan = plan_match(Registries(offers_frame(rows_a), batches_frame(rows_b)), load_match_config())  # doctest: +SKIP

Pure (numpy, pandas and OR-Tools; no file access), so the api may use it. The model, the
objective and its weights: docs/contracts.md §G.
"""

from pipeline.match.config import (
    DEFAULT_CONFIG_PATH,
    MatchConfig,
    load_match_config,
    parse_match_config,
)
from pipeline.match.plan import REASONS, Chain, MatchPlan, Parts, Stop, Unplaced, plan_match
from pipeline.match.registries import (
    BATCH_COLUMNS,
    OFFER_COLUMNS,
    Registries,
    batches_frame,
    offers_frame,
)

__all__ = [
    "BATCH_COLUMNS",
    "DEFAULT_CONFIG_PATH",
    "OFFER_COLUMNS",
    "REASONS",
    "Chain",
    "MatchConfig",
    "MatchPlan",
    "Parts",
    "Registries",
    "Stop",
    "Unplaced",
    "batches_frame",
    "load_match_config",
    "offers_frame",
    "parse_match_config",
    "plan_match",
]
