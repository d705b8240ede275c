"""Dutch sentences, raw values, sub-scores and the explanation JSON of every candidate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pipeline.scoring import parse_config, score_table
from pipeline.scoring.config import format_nl, format_value
from pipeline.scoring.text import (
    dutch_numbers,
    format_scores,
    format_values,
    json_numbers,
    json_strings,
)

from .conftest import make_table


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "text"),
    [
        (1500, "m2", None, "1.500 m²"),
        (350.4, "m", None, "350 m"),
        (0.6, "getal", None, "0,6"),
        (0.153, "procent", None, "15 %"),
        (1975, "bouwjaar", None, "1975"),
        (2.25, "jaar", None, "2,3 jaar"),
        (1234567.891, "", 2, "1.234.567,89"),
        (454.47, "euro", None, "454,47"),
        (True, "", None, "ja"),
        ("provincie", "", None, "provincie"),
    ],
)
def test_dutch_number_formatting(value, unit, decimals, text) -> None:
    assert format_value(value, unit, decimals) == text


def test_format_nl_has_no_negative_zero() -> None:
    assert format_nl(-0.01, 1) == "0,0"


def test_vectorised_formatting_matches_scalar_and_marks_missing() -> None:
    out = format_values(pd.Series([1500.0, np.nan, 1500.2, 25.0]), "m2")
    assert out.to_pylist() == ["1.500 m²", "onbekend", "1.500 m²", "25 m²"]
    assert format_scores(np.array([0.6, 1.0, 0.854, 0.0])).to_pylist() == ["0,6", "1", "0,85", "0"]
    assert format_values(pd.Series([True, False])).to_pylist() == ["ja", "nee"]


def test_reason_sentences_of_a_candidate(config) -> None:
    table = make_table(
        "tijdelijke_locatie",
        1,
        owner_class="provincie",
        dist_rail_m=350.0,
        dist_bus_m=1000.0,
        area_m2=12000.0,
        noise_db=61.5,
    )
    cand, _ = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    reasons = cand.iloc[0]["reasons"].split("\n")
    assert len(reasons) == 7  # one line per criterion
    assert (
        reasons[0]
        == "Eigenaar: provincie (deelscore 1); grond in publieke hand is sneller beschikbaar."
    )
    assert (
        reasons[1]
        == "Ruimte voor circa 48 woningen bij 40 woningen per hectare (volledig punt vanaf 25 woningen)."
    )
    assert reasons[2] == (
        "Op 350 m van een trein-, metro- of tramhalte (volledig punt tot 800 m). "
        "Op 1.000 m van een bushalte (volledig punt tot 400 m, geen punt vanaf 1.200 m)."
    )
    assert (
        reasons[4]
        == "Geluidsbelasting 62 dB Lden (volledig punt tot 53 dB, geen punt vanaf 70 dB)."
    )


def test_missing_data_gets_neutral_score_and_says_so(config) -> None:
    table = make_table("tijdelijke_locatie", 1, noise_db=np.nan, zoning_hoofdgroep="onbekend")
    cand, _ = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    row = cand.iloc[0]
    assert row["c_omgeving_score"] == 0.5 and np.isnan(row["c_omgeving_raw"])
    assert row["c_bestemming_score"] == 0.5
    assert "Geen geluidsgegevens beschikbaar; neutrale deelscore 0,5." in row["reasons"]
    assert "Geen bestemmingsplan gevonden; neutrale deelscore 0,5." in row["reasons"]
    crit = {c["id"]: c for c in json.loads(row["explanation"])["criteria"]}
    assert crit["omgeving"]["missing"] is True and crit["omgeving"]["raw"] is None
    assert crit["omgeving"]["raw_text"] == "onbekend"


def test_a_missing_part_is_left_out_of_the_combination(config) -> None:
    # energy: mean of label and age; label unknown -> only age counts (1995: (1995-1930)/70)
    table = make_table("kantoortransformatie", 1, energielabel="onbekend", bouwjaar=1995)
    cand, _ = score_table(
        table, config.types["kantoortransformatie"], type_name="kantoortransformatie"
    )
    assert cand.iloc[0]["c_energie_score"] == pytest.approx(round(65 / 70, 4))
    assert "Energielabel onbekend." in cand.iloc[0]["reasons"]


def test_explanation_json_structure(config) -> None:
    table = make_table(
        "plinttransformatie", 1, secondary_street=True, own_entrance=False, oppervlakte_m2=185.0
    )
    cand, _ = score_table(table, config.types["plinttransformatie"], type_name="plinttransformatie")
    row = cand.iloc[0]
    exp = json.loads(row["explanation"])
    assert exp["aggregation"] == "weighted_sum"
    assert exp["score"] == row["score"] and exp["tier"] == row["tier"]
    ids = [c["id"] for c in exp["criteria"]]
    assert ids == [c.id for c in config.types["plinttransformatie"].criteria]
    for c in exp["criteria"]:
        assert {"id", "label", "weight", "raw", "raw_text", "subscore", "reason"} <= set(c)
        assert c["subscore"] == pytest.approx(row[f"c_{c['id']}_score"], abs=1e-3)
    crit = {c["id"]: c for c in exp["criteria"]}
    assert crit["omvang"]["raw"] == 185 and crit["omvang"]["subscore"] == 0.5
    assert crit["omvang"]["raw_text"] == "185 m²"
    assert crit["eigen_ingang"]["subscore"] == 0
    assert crit["aanloopstraat"]["reason"].startswith("Ligt in een aanloopstraat")
    assert len(crit["voorzieningen"]["parts"]) == 3
    assert any("454,47" in n for n in exp["notes"])
    assert row["reasons"].split("\n") == [c["reason"] for c in exp["criteria"]]


def test_merged_site_is_said_in_the_notes(config) -> None:
    table = make_table("tijdelijke_locatie", 2, merged=[True, False], n_parcels=[3, 1])
    cand, _ = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    notes = {
        i: json.loads(e)["notes"] for i, e in zip(cand.index, cand["explanation"], strict=True)
    }
    assert (
        "Samengevoegd uit 3 aangrenzende percelen van dezelfde eigenaar tot één locatie."
        in notes["id000"]
    )
    assert not any("Samengevoegd" in n for n in notes["id001"])


def test_special_characters_survive_the_json(config) -> None:
    text = config.text.replace("label: Eigendom\n", 'label: "Eigendom \\"quote\\" \\\\ back"\n', 1)
    cfg = parse_config(text)
    table = make_table("tijdelijke_locatie", 1, owner_class='a "b"\nc')
    cand, _ = score_table(table, cfg.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    exp = json.loads(cand.iloc[0]["explanation"])
    assert exp["criteria"][0]["label"] == 'Eigendom "quote" \\ back'
    assert exp["criteria"][0]["raw"] == 'a "b"\nc'


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-1e12, 1e12, allow_nan=False), st.integers(-(10**9), 10**12).map(float)
        ),
        min_size=1,
        max_size=20,
    ),
    decimals=st.integers(0, 3),
    grouping=st.booleans(),
)
def test_vectorised_dutch_numbers_equal_the_scalar_formatter(values, decimals, grouping) -> None:
    # Float rounding: beyond ~1e13 units of the last decimal a float64 cannot tell the
    # half-way point (e.g. 562949953422.3094 with 3 decimals), so the claim stops there.
    assume(max(abs(v) for v in values) * 10**decimals < 1e13)
    out = dutch_numbers(np.array(values), decimals, grouping=grouping)
    assert out.to_pylist() == [format_nl(v, decimals, grouping=grouping) for v in values]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(), st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]))
        ),
        max_size=10,
    )
)
def test_json_strings_decode_back(texts) -> None:
    encoded = json_strings(np.array(texts, dtype=object))
    decoded = [json.loads(e) for e in encoded.to_pylist()]
    control = set(map(chr, range(32))) - {"\n", "\r", "\t"}
    expected = [
        None if t is None else "".join(" " if ch in control else ch for ch in t) for t in texts
    ]
    assert decoded == expected


def test_json_numbers() -> None:
    assert json_numbers(np.array([20.0, 0.1, np.nan, -0.00001, 1400.55555])).to_pylist() == [
        "20",
        "0.1",
        "null",
        "0",
        "1400.5556",
    ]
    assert json_numbers(pd.Series(["a", None], dtype=object)).to_pylist() == ['"a"', "null"]
