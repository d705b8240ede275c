"""Every default exclusion: its reason code and its Dutch sentence; all reasons of a row kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.scoring import score_table
from pipeline.scoring.config import Exclusion
from pipeline.scoring.exclusions import evaluate_exclusions, group_reasons

from .conftest import make_table

CASES = [
    # (type, column overrides, code, sentence)
    (
        "tijdelijke_locatie",
        {"built_up_fraction": 0.25},
        "bebouwd",
        "Het perceel is voor 25 % bebouwd; een tijdelijke locatie moet vrijwel onbebouwd zijn (hooguit 10 %).",
    ),
    (
        "tijdelijke_locatie",
        {"area_m2": 1200.0},
        "te_klein",
        "Het perceel is 1.200 m² groot; voor een tijdelijke woonlocatie is minstens 1.500 m² nodig.",
    ),
    (
        "tijdelijke_locatie",
        {"zone_natura2000_frac": 1.0},
        "natura2000",
        "Het perceel ligt voor 100 % in een Natura 2000-gebied.",
    ),
    (
        "tijdelijke_locatie",
        {"zone_nnn_frac": 0.5},
        "nnn",
        "Het perceel ligt voor 50 % in het Natuurnetwerk Nederland (NNN).",
    ),
    (
        "tijdelijke_locatie",
        {"zone_externe_veiligheid_frac": 0.2},
        "externe_veiligheid",
        "Het perceel ligt voor 20 % in een zone voor externe veiligheid.",
    ),
    (
        "tijdelijke_locatie",
        {"zone_hoogspanning_frac": 0.05},
        "hoogspanning",
        "Het perceel ligt voor 5 % in een hoogspanningszone.",
    ),
    (
        "tijdelijke_locatie",
        {"noise_db": 72.4},
        "geluid",
        "De geluidsbelasting is 72 dB Lden, boven de grens van 70 dB.",
    ),
    (
        "tijdelijke_locatie",
        {"zoning_wonen_realised": True},
        "wonen_gerealiseerd",
        "Het perceel heeft een woonbestemming die al is gerealiseerd (bebouwd).",
    ),
    (
        "tijdelijke_locatie",
        {"zoning_hoofdgroep": "water"},
        "ongeschikte_bestemming",
        "Het perceel heeft de bestemming water: water, verkeer, natuur en bos zijn geen bouwlocatie.",
    ),
    (
        "kantoortransformatie",
        {"office_share": 0.3},
        "geen_kantoor",
        "Het pand is voor 30 % kantoor; minstens 50 % van het vloeroppervlak moet kantoor zijn.",
    ),
    (
        "kantoortransformatie",
        {"office_floor_m2": 450.0},
        "kantoor_te_klein",
        "Het pand heeft 450 m² kantoorvloer; voor transformatie is minstens 500 m² nodig.",
    ),
    (
        "kantoortransformatie",
        {"zone_externe_veiligheid_frac": 1.0},
        "externe_veiligheid",
        "Het pand ligt voor 100 % in een zone voor externe veiligheid.",
    ),
    (
        "plinttransformatie",
        {"in_kernwinkelgebied": True},
        "kernwinkelgebied",
        "De winkel ligt in het kernwinkelgebied, waar winkels behouden blijven.",
    ),
    (
        "plinttransformatie",
        {"oppervlakte_m2": 25.0},
        "unit_te_klein",
        "De winkelruimte is 25 m²; een woning vraagt minstens 33 m².",
    ),
    (
        "plinttransformatie",
        {"is_ground_floor_shop": False},
        "geen_plint",
        "Dit is geen winkel op de begane grond (plint).",
    ),
    ("plinttransformatie", {"is_vacant": False}, "niet_leeg", "De winkelruimte staat niet leeg."),
]


@pytest.mark.parametrize(
    ("type_name", "overrides", "code", "sentence"),
    CASES,
    ids=[c[2] + "-" + c[0][:4] for c in CASES],
)
def test_each_default_exclusion_gives_its_code_and_dutch_sentence(
    config, type_name, overrides, code, sentence
) -> None:
    table = make_table(
        type_name, 2, **{k: [v, make_table(type_name)[k].iloc[0]] for k, v in overrides.items()}
    )
    cand, excl = score_table(table, config.types[type_name], type_name=type_name)
    assert list(excl.index) == ["id000"]
    assert excl.loc["id000", "reason_codes"] == code
    assert excl.loc["id000", "reasons"] == sentence
    assert list(cand.index) == ["id001"]  # the untouched row stays a candidate


def test_just_below_a_threshold_is_not_excluded(config) -> None:
    table = make_table(
        "tijdelijke_locatie",
        3,
        area_m2=[1499.9, 1500.0, 1500.1],
        built_up_fraction=[0.1, 0.1, 0.1001],
    )
    _, excl = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    assert excl["reason_codes"].to_dict() == {"id000": "te_klein", "id002": "bebouwd"}


def test_all_reasons_of_a_row_are_kept_in_config_order(config) -> None:
    table = make_table(
        "tijdelijke_locatie",
        1,
        built_up_fraction=0.5,
        area_m2=800.0,
        zone_natura2000_frac=1.0,
        noise_db=75.0,
    )
    _, excl = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    assert excl.loc["id000", "reason_codes"] == "bebouwd,te_klein,natura2000,geluid"
    sentences = excl.loc["id000", "reasons"].split("\n")
    assert len(sentences) == 4
    assert sentences[1].startswith("Het perceel is 800 m² groot")


def test_missing_value_keeps_the_row_unless_configured() -> None:
    table = pd.DataFrame({"noise_db": [np.nan, 75.0, 50.0]}, index=["a", "b", "c"])
    keep = Exclusion(
        code="geluid", column="noise_db", op=">", value=70, unit="dB", reason="{raw} > {value}"
    )
    drop = keep.model_copy(update={"when_missing": "exclude"})
    assert evaluate_exclusions(table, [keep])["excluded"].tolist() == [False, True, False]
    res = evaluate_exclusions(table, [drop])
    assert res["excluded"].tolist() == [True, True, False]
    assert res.loc["a", "reasons"] == "onbekend > 70 dB"


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        (">=", 2, [False, True, True]),
        ("<=", 2, [True, True, False]),
        ("==", 2, [False, True, False]),
        ("!=", 2, [True, False, True]),
    ],
)
def test_comparison_operators(op, value, expected) -> None:
    table = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    rule = Exclusion(code="x", column="x", op=op, value=value, reason="x")
    assert evaluate_exclusions(table, [rule])["excluded"].tolist() == expected


def test_in_and_not_in_on_text() -> None:
    table = pd.DataFrame({"zoning_hoofdgroep": ["water", "wonen", None]})
    rule_in = Exclusion(
        code="w",
        column="zoning_hoofdgroep",
        op="in",
        value=["water", "natuur"],
        reason="{raw} in {value}",
    )
    rule_out = Exclusion(
        code="w", column="zoning_hoofdgroep", op="not_in", value=["wonen"], reason="r"
    )
    res = evaluate_exclusions(table, [rule_in])
    assert res["excluded"].tolist() == [True, False, False]
    assert res.loc[0, "reasons"] == "water in water, natuur"
    assert evaluate_exclusions(table, [rule_out])["excluded"].tolist() == [True, False, False]


def test_group_reasons_merges_units_per_building_without_duplicates() -> None:
    excluded = pd.DataFrame(
        {
            "pand_id": ["P1", "P1", "P2"],
            "reason_codes": ["niet_leeg", "niet_leeg,unit_te_klein", "geen_plint"],
            "reasons": ["A.", "A.\nB.", "C."],
        },
        index=["v3", "v1", "v2"],
    )
    out = group_reasons(excluded, by="pand_id")
    assert out.loc["P1", "reason_codes"] == "niet_leeg,unit_te_klein"
    assert out.loc["P1", "reasons"] == "A.\nB."
    assert out.loc["P2", "reason_codes"] == "geen_plint"
    # row order does not matter
    pd.testing.assert_frame_equal(out, group_reasons(excluded.iloc[::-1], by="pand_id"))
