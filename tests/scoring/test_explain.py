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
        net_area_m2=12000.0,
        noise_excess=0.5,
    )
    cand, _ = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    reasons = cand.iloc[0]["reasons"].split("\n")
    assert len(reasons) == 11  # one line per criterion (8) and one per penalty (3)
    assert reasons[0] == (
        "Eigenaar: provincie (deelscore 100); grond van overheid of corporatie is sneller beschikbaar."
    )
    assert reasons[1] == (
        "Op 350 m van een trein-, metro- of tramhalte (volledig punt tot 800 m). "
        "Op 1.000 m van een bushalte (volledig punt tot 400 m, geen punt vanaf 1.000 m)."
    )
    assert reasons[3] == (
        "Dichtstbijzijnde school op 300 m (volledig punt tot 1.000 m, geen punt vanaf 3.000 m)."
    )
    assert reasons[4] == (
        "Beschikbaar voor circa 15,0 jaar (geen punt bij de minimumtermijn van 5,0 jaar, "
        "volledig punt vanaf 10,0 jaar)."
    )
    assert reasons[5] == (
        "Ruimte voor circa 48 woningen op het netto oppervlak (geen punt bij 6 woningen, "
        "volledig punt vanaf 24 woningen)."
    )
    assert reasons[9] == "Binnen het bestaand stads- en dorpsgebied: geen aftrek."
    # nitrogen-sensitive nature within 3 km (the table's 300 m): one study, 4 points
    assert reasons[10] == (
        "1 aandachtspunt(en) vragen een onderzoek of procedure vóór de vergunning: "
        "4,0 punten aftrek (4 per onderzoek, hooguit 20)."
    )
    assert reasons[8] == (
        "Geluid boven de standaardwaarde (50 % van de ruimte tot de grenswaarde): "
        "7,5 punten aftrek."
    )


def test_missing_data_gets_neutral_score_and_says_so(config) -> None:
    table = make_table("tijdelijke_locatie", 1, noise_excess=np.nan, zoning_hoofdgroep="onbekend")
    cand, _ = score_table(table, config.types["tijdelijke_locatie"], type_name="tijdelijke_locatie")
    row = cand.iloc[0]
    assert row["p_geluid_points"] == 0.0 and np.isnan(row["p_geluid_raw"])
    assert row["c_bestemming_score"] == 0.5
    assert "Geen geluidsgegevens beschikbaar; geen aftrek." in row["reasons"]
    assert "Geen bestemmingsplan gevonden; neutrale deelscore 50." in row["reasons"]
    crit = {c["id"]: c for c in json.loads(row["explanation"])["criteria"]}
    assert crit["bestemming"]["missing"] is True and crit["bestemming"]["raw"] == "onbekend"
    pen = json.loads(row["explanation"])["penalties"][0]
    assert pen["raw"] is None and pen["raw_text"] == "onbekend" and pen["penalty"] == 0


def test_a_missing_part_is_left_out_of_the_combination(config) -> None:
    # building: mean of bouwjaar and storeys; bouwjaar unknown -> only storeys count
    table = make_table("kantoortransformatie", 1, bouwjaar=np.nan, bouwlagen=12)
    cand, _ = score_table(
        table, config.types["kantoortransformatie"], type_name="kantoortransformatie"
    )
    # 12 storeys: ideal 2–10, zero at 20 -> (20-12)/10 = 0.8
    assert cand.iloc[0]["c_gebouw_score"] == pytest.approx(0.8)
    assert "Bouwjaar onbekend." in cand.iloc[0]["reasons"]


def test_an_energy_label_worse_than_c_pushes_towards_transformation(config) -> None:
    table = make_table("kantoortransformatie", 3, energielabel=["A", "C", "F"])
    cand, _ = score_table(
        table, config.types["kantoortransformatie"], type_name="kantoortransformatie"
    )
    sub = cand["c_energielabel_score"].to_dict()
    assert sub == {"id000": 0.3, "id001": 0.5, "id002": 1.0}


def test_explanation_json_structure(config) -> None:
    table = make_table(
        "plinttransformatie",
        1,
        winkelligging="aanloopstraat",
        own_entrance="gedeeld_pand",
        oppervlakte_m2=185.0,
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
    assert crit["eigen_ingang"]["subscore"] == 0.5
    assert crit["ligging"]["subscore"] == 1.0
    assert len(crit["voorzieningen"]["parts"]) == 3  # shops: school, GP, bus/tram/metro
    assert exp["capacity"] == {
        "units": 3,
        "low": 2,
        "high": 4,
        "text": "Circa 3 woningen (bandbreedte 2–4)",
    }  # 185/50, 185/70, 185/40 capped at 4
    assert [p["id"] for p in exp["penalties"]] == ["geluid", "onderzoeken"]
    assert exp["penalties"][1]["penalty"] == 0.0  # no study among the aandachtspunten
    assert exp["aandachtspunten"] == []
    assert exp["tier_cap"] is None
    assert any("kwaliteitskortingsgrens" in n for n in exp["notes"])
    assert exp["disclaimer"].startswith("Verkenning, geen besluit. Vertrouwelijk")
    assert exp["notes"][-1] == exp["disclaimer"]
    assert row["reasons"].split("\n") == [
        *(c["reason"] for c in exp["criteria"]),
        *(p["reason"] for p in exp["penalties"]),
    ]


def test_an_unknown_street_makes_the_street_criteria_missing_never_ja(config) -> None:
    table = make_table(
        "plinttransformatie",
        1,
        winkelligging="onbekend",
        street_shop_units=np.nan,
        street_shop_vacancy=np.nan,
    )
    cand, _ = score_table(table, config.types["plinttransformatie"], type_name="plinttransformatie")
    row = cand.iloc[0]
    crit = {c["id"]: c for c in json.loads(row["explanation"])["criteria"]}
    for cid in ("ligging", "straatleegstand"):
        assert crit[cid]["missing"] is True
        assert crit[cid]["subscore"] == 0.5
        assert "straat van deze winkel is onbekend" in crit[cid]["reason"]
        assert "ja" not in crit[cid]["raw_text"].split()
    assert row["aandachtspunt_codes"] == "straat_onbekend"


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
