"""Penalties, tier caps, aandachtspunten, capacity ranges, the rent check per year and the
framing, on tiny tables whose answers can be checked by hand (docs/contracts.md §E.6)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.scoring import parse_config, score_table
from pipeline.scoring.aggregate import aggregate, cap_scores, capacity_columns
from pipeline.scoring.config import DEFAULT_CONFIG_PATH, Capacity, TypeConfig

from .conftest import make_table


def _one_criterion_type(**extra) -> TypeConfig:
    """A type with one criterion on site_readiness (sub-score = the value) plus ``extra``."""
    block = {
        "label": "Test",
        "capacity": {"column": "area_m2", "units_per_ha": 40},
        "criteria": [
            {
                "id": "gereed",
                "label": "Gereed",
                "weight": 1.0,
                "column": "site_readiness",
                "transfer": {"type": "increasing", "zero_at": 0, "full_at": 1},
            }
        ],
        **extra,
    }
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["types"] = {"tijdelijke_locatie": block}
    data.pop("scenarios", None)  # the shipped scenarios name criteria this one-criterion type lacks
    return parse_config(yaml.safe_dump(data, allow_unicode=True)).types["tijdelijke_locatie"]


NOISE_PENALTY = {
    "id": "geluid",
    "label": "Geluid",
    "points": 15,
    "column": "noise_db",
    "unit": "dB",
    # no penalty at or below 53 dB, the full 15 points at 70 dB
    "transfer": {"type": "increasing", "zero_at": 53, "full_at": 70},
    "reason": "Geluid {raw}: {points} punten aftrek.",
    "reason_zero": "Geluid {raw}: onder de standaardwaarde, geen aftrek.",
}


def test_a_penalty_only_subtracts_and_is_explained() -> None:
    tc = _one_criterion_type(penalties=[NOISE_PENALTY])
    table = make_table(
        "tijdelijke_locatie",
        4,
        ids=["quiet", "loud", "limit", "unknown"],
        site_readiness=[0.8, 0.8, 0.8, 0.8],
        noise_db=[40.0, 61.5, 75.0, np.nan],
    )
    cand, _ = score_table(table, tc, type_name="tijdelijke_locatie")
    # 80 points; 61.5 dB is half-way 53 → 70: 7.5 points off; 75 dB: all 15; unknown: none
    assert cand["score"].to_dict() == {"quiet": 80.0, "loud": 72.5, "limit": 65.0, "unknown": 80.0}
    assert cand.loc["loud", "p_geluid_points"] == 7.5
    assert cand.loc["loud", "p_geluid_raw"] == 61.5
    # being quiet earns nothing: the quiet site scores what the criterion gives, no more
    assert cand.loc["quiet", "score"] == 100 * 0.8
    exp = json.loads(cand.loc["loud", "explanation"])
    assert exp["penalties"] == [
        {
            "id": "geluid",
            "label": "Geluid",
            "points": 15,
            "raw": 61.5,
            "raw_text": "62 dB",
            "penalty": 7.5,
            "reason": "Geluid 62 dB: 7,5 punten aftrek.",
        }
    ]
    assert "onder de standaardwaarde, geen aftrek" in cand.loc["quiet", "reasons"]


def test_penalty_and_clipping_at_zero() -> None:
    np.testing.assert_array_equal(
        aggregate(
            np.array([[0.1], [0.5]]), [1.0], method="weighted_sum", penalty=np.array([15.0, 7.5])
        ),
        [0.0, 42.5],
    )


def test_a_tier_cap_caps_score_and_tier_and_says_why() -> None:
    cap = {
        "code": "openbaar_groen",
        "column": "zoning_hoofdgroep",
        "op": "in",
        "value": ["groen"],
        "max_tier": "B",
        "reason": "Openbaar groen ({raw}) kan niet alleen op eigendom klasse A halen.",
    }
    tc = _one_criterion_type(tier_caps=[cap])
    table = make_table(
        "tijdelijke_locatie",
        3,
        ids=["park", "plot", "park_b"],
        site_readiness=[0.95, 0.9, 0.7],
        zoning_hoofdgroep=["groen", "gemengd", "groen"],
    )
    cand, _ = score_table(table, tc, type_name="tijdelijke_locatie")
    assert cand.loc["park", "score"] == 79.9  # just below A (80)
    assert cand.loc["park", "tier"] == "B"
    assert cand.loc["plot", "tier"] == "A"
    assert cand.loc["plot", "rank"] == 1 and cand.loc["park", "rank"] == 2  # rank follows score
    assert cand.loc["park_b", "score"] == 70.0  # already below the cap: unchanged
    exp = json.loads(cand.loc["park", "explanation"])
    assert exp["tier_cap"] == {
        "code": "openbaar_groen",
        "max_tier": "B",
        "reason": "Openbaar groen (groen) kan niet alleen op eigendom klasse A halen.",
    }
    assert json.loads(cand.loc["plot", "explanation"])["tier_cap"] is None
    np.testing.assert_array_equal(
        cap_scores(
            np.array([95.0, 95.0, 95.0]),
            np.array(["", "C", "E"], dtype=object),
            {"A": 80, "B": 65, "C": 50, "D": 35},
        ),
        [95.0, 64.9, 34.9],
    )


def test_aandachtspunten_are_listed_with_their_source_and_never_weigh() -> None:
    rules = [
        {
            "code": "bodem",
            "column": "zone_bodem_frac",
            "op": ">",
            "value": 0,
            "unit": "procent",
            "reason": "Voor {raw} in een gebied met bodemverontreiniging.",
            "source": "Bodemloket (zone bodem)",
        },
        {
            "code": "nge",
            "column": "zone_nge_frac",
            "op": ">",
            "value": 0,
            "reason": "Mogelijk niet-gesprongen explosieven.",
            "source": "NGE-kaart gemeente",
        },
    ]
    tc = _one_criterion_type(attention=rules)
    table = make_table(
        "tijdelijke_locatie",
        3,
        ids=["both", "none", "nge"],
        site_readiness=[0.5, 0.5, 0.5],
        zone_bodem_frac=[0.25, 0.0, 0.0],
        zone_nge_frac=[1.0, 0.0, 0.4],
    )
    cand, _ = score_table(table, tc, type_name="tijdelijke_locatie")
    assert (cand["score"] == 50.0).all()  # an aandachtspunt never changes the score
    assert json.loads(cand.loc["both", "aandachtspunten"]) == [
        {
            "code": "bodem",
            "text": "Voor 25 % in een gebied met bodemverontreiniging.",
            "source": "Bodemloket (zone bodem)",
        },
        {
            "code": "nge",
            "text": "Mogelijk niet-gesprongen explosieven.",
            "source": "NGE-kaart gemeente",
        },
    ]
    assert cand.loc["both", "aandachtspunt_codes"] == "bodem,nge"
    assert cand.loc["nge", "aandachtspunt_codes"] == "nge"
    assert json.loads(cand.loc["none", "aandachtspunten"]) == []
    assert cand.loc["none", "aandachtspunt_codes"] == ""
    exp = json.loads(cand.loc["nge", "explanation"])
    assert [a["code"] for a in exp["aandachtspunten"]] == ["nge"]


def test_capacity_range_cap_and_whole_building() -> None:
    table = pd.DataFrame({"net": [10_000.0, 50_000.0, 1_500.0], "floor": [1000.0, 2000.0, 40.0]})
    plots = Capacity(column="net", units_per_ha=40, range={"low": 30, "high": 60}, max_units=100)
    got = capacity_columns(table, plots)
    assert got["capacity_units"].tolist() == [40, 100, 6]  # 5 ha × 40 = 200, capped at 100
    assert got["capacity_low"].tolist() == [30, 100, 4]
    assert got["capacity_high"].tolist() == [60, 100, 9]
    office = Capacity(
        column="net",
        m2_per_unit=40,
        efficiency=0.7,
        range={"low": 50, "high": 35},
        whole_building_column="floor",
    )
    got = capacity_columns(table.assign(net=[500.0, 0.0, 40.0]), office)
    assert got["capacity_units"].tolist() == [8, 0, 0]  # 500 × 0.7 / 40 = 8.75
    assert got["capacity_low"].tolist() == [7, 0, 0]  # / 50
    assert got["capacity_high"].tolist() == [10, 0, 0]  # / 35
    assert got["capacity_whole_building"].tolist() == [17, 35, 0]  # 1000 × 0.7 / 40


def _default_data() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def _error(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(data, allow_unicode=True), source="mijn.yaml")
    return str(info.value)


def test_capacity_range_must_contain_the_central_density() -> None:
    data = _default_data()
    data["types"]["tijdelijke_locatie"]["capacity"]["range"] = {"low": 50, "high": 60}
    assert "must contain units_per_ha" in _error(data)


def test_rent_check_per_year_and_a_missing_year_warns() -> None:
    data = _default_data()
    data["rent_check"] = {
        "limits": [
            {"year": 2024, "kwaliteitskortingsgrens_eur": 454.47, "source": "Belastingdienst 2024"},
            {"year": 2025, "kwaliteitskortingsgrens_eur": 477.20, "source": "Belastingdienst 2025"},
        ]
    }
    rc = parse_config(yaml.safe_dump(data, allow_unicode=True)).rent_check
    note, warning = rc.note_for(2025)
    assert "2025: € 477,20" in note and warning is None
    note, warning = rc.note_for(2027)
    assert "2025: € 477,20" in note
    assert warning is not None and "2027" in warning and "rent_check.limits" in warning
    note, warning = rc.note_for(2019)
    assert "2024" in note and warning is not None
    twice = copy.deepcopy(data)
    twice["rent_check"]["limits"].append(dict(twice["rent_check"]["limits"][0]))
    assert "lists a year twice" in _error(twice)


def test_the_framing_must_say_exploration_and_confidential() -> None:
    data = _default_data()
    data["framing"] = {"disclaimer": "Openbare kaart."}
    message = _error(data)
    assert "verkenning" in message and "vertrouwelijk" in message


def test_duplicate_attention_codes_and_penalty_ids_are_errors() -> None:
    data = _default_data()
    tl = data["types"]["tijdelijke_locatie"]
    rule = {
        "code": "x",
        "column": "zone_nge_frac",
        "op": ">",
        "value": 0,
        "reason": "r",
        "source": "s",
    }
    tl["attention"] = [rule, dict(rule)]
    assert "duplicate attention code 'x'" in _error(data)
    data = _default_data()
    tl = data["types"]["tijdelijke_locatie"]
    tl["penalties"] = [dict(NOISE_PENALTY, id=tl["criteria"][0]["id"])]
    assert "also a criterion id" in _error(data)


def test_unknown_feature_parameter_keys_get_a_did_you_mean() -> None:
    data = _default_data()
    data["features"] = {"merging": {"max_parcel": 5}}
    assert "did you mean 'max_parcels'" in _error(data)


def test_site_readiness_weights_come_from_the_config() -> None:
    from pipeline.scoring.config import SiteReadiness
    from pipeline.scoring.readiness import site_readiness

    idx = pd.Index(["bare_far", "half_built"])
    args = (
        pd.Series([0.0, 0.05], index=idx),
        pd.Series(["agrarisch", "onbekend"], index=idx),
        pd.Series([1500.0, 900.0], index=idx),
        pd.Series([np.nan, np.nan], index=idx),
    )
    # defaults: 0.6 bare + 0.2 accessible + 0.2 buildable
    assert site_readiness(*args).tolist() == pytest.approx([0.8, 0.3 + 0.2 + 0.1])
    custom = SiteReadiness(
        weights={"bare": 0.5, "accessible": 0.5, "buildable": 0.0}, accessible_bus_m=2000
    )
    assert site_readiness(*args, params=custom).tolist() == pytest.approx([1.0, 0.75])


def test_studies_among_the_aandachtspunten_are_counted_and_cost_points() -> None:
    """``study: true`` aandachtspunten are counted in ``n_onderzoeken``; the penalty on that
    count is visible in the explanation; an aandachtspunt without ``study`` costs nothing."""
    attention = [
        {
            "code": "bodem",
            "column": "zone_bodem_frac",
            "op": ">",
            "value": 0,
            "reason": "Bodem.",
            "source": "Bodemloket",
            "study": True,
        },
        {
            "code": "nge",
            "column": "zone_nge_frac",
            "op": ">",
            "value": 0,
            "reason": "NGE.",
            "source": "NGE-kaart",
            "study": True,
        },
        {
            "code": "groen",
            "column": "zoning_hoofdgroep",
            "op": "==",
            "value": "groen",
            "reason": "Groen.",
            "source": "IMRO",
        },
    ]
    penalty = {
        "id": "onderzoeken",
        "label": "Onderzoeken",
        "points": 20,
        "column": "n_onderzoeken",
        "unit": "aantal",
        "transfer": {"type": "increasing", "zero_at": 0, "full_at": 5},
        "reason": "{raw} onderzoek(en): {points} punten aftrek.",
    }
    tc = _one_criterion_type(attention=attention, penalties=[penalty])
    table = make_table(
        "tijdelijke_locatie",
        4,
        ids=["none", "one", "two", "green"],
        site_readiness=[0.8, 0.8, 0.8, 0.8],
        zone_bodem_frac=[0.0, 0.3, 0.3, 0.0],
        zone_nge_frac=[0.0, 0.0, 1.0, 0.0],
        zoning_hoofdgroep=["gemengd", "gemengd", "gemengd", "groen"],
        n_onderzoeken=[9, 9, 9, 9],  # whatever the table says, scoring counts the studies itself
    )
    cand, _ = score_table(table, tc, type_name="tijdelijke_locatie")
    # 80 points; 4 per study (20 points at 5 studies)
    assert cand["score"].to_dict() == {"none": 80.0, "one": 76.0, "two": 72.0, "green": 80.0}
    assert cand["p_onderzoeken_raw"].to_dict() == {"none": 0, "one": 1, "two": 2, "green": 0}
    assert cand.loc["green", "aandachtspunt_codes"] == "groen"  # listed, but no study
    assert "2 onderzoek(en): 8,0 punten aftrek." in cand.loc["two", "reasons"]
    exp = json.loads(cand.loc["two", "explanation"])
    assert exp["penalties"][0]["penalty"] == 8.0
    assert [a["code"] for a in exp["aandachtspunten"]] == ["bodem", "nge"]
