"""The scan config: the shipped default loads; every kind of mistake names its key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.scoring import DEFAULT_CONFIG_PATH, load_config, parse_config
from pipeline.scoring.config import KNOWN_COLUMNS, TYPE_NAMES


def default_data() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))


def error_for(data: dict | str) -> str:
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="mijn.yaml")
    message = str(info.value)
    assert "mijn.yaml" in message
    assert "fix:" in message
    return message


def test_default_config_loads_with_design_defaults() -> None:
    config = load_config(None)
    assert set(config.types) == set(TYPE_NAMES)
    assert config.text == DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    tl = config.types["tijdelijke_locatie"]
    weights = {c.id: c.weight for c in tl.criteria}
    assert weights == {
        "eigendom": 0.25,
        "ov": 0.25,
        "voorzieningen": 0.20,
        "school": 0.05,
        "beschikbaarheid": 0.10,
        "capaciteit": 0.05,
        "gereedheid": 0.05,
        "bestemming": 0.05,
    }
    assert [e.code for e in tl.exclusions] == [
        "bebouwd",
        "te_klein",
        "in_gebruik",
        "natura2000",
        "nnn",
        "externe_veiligheid",
        "hoogspanning",
        "wonen_gerealiseerd",
        "ongeschikte_bestemming",
        "buiten_bsd",
        "verdringing",
        "termijn_te_kort",
        "ov_te_ver",
        "winkel_te_ver",
        "huisarts_te_ver",
        "geluid",
        "netto_te_klein",
        "te_smal",
    ]
    # noise is a penalty (never a bonus for quiet), public green is capped, soft constraints
    # are aandachtspunten with a source
    assert [p.id for p in tl.penalties] == ["geluid", "buiten_bsd", "onderzoeken"]
    # the soft constraints that ask for a study or procedure are counted by the penalty
    assert {a.code for a in tl.attention if a.study} == {
        "geluid_hogere_waarde",
        "ev_aandachtsgebied",
        "bodem",
        "nge",
        "archeologie",
        "waterkering",
        "netcongestie",
        "milieuzonering",
        "stikstof",
    }
    assert [c.code for c in tl.tier_caps] == ["openbaar_groen"]
    assert all(a.source for a in tl.attention)
    assert {"bodem", "nge", "stikstof", "ev_aandachtsgebied"} <= {a.code for a in tl.attention}
    assert {lim.year: lim.kwaliteitskortingsgrens_eur for lim in config.rent_check.limits} == {
        2023: 452.20,
        2024: 454.47,
        2025: 477.20,
    }
    assert set(config.noise) == {"weg", "spoor", "industrie", "luchtvaart", "cumulatief"}
    assert tl.tiers is not None and tl.tiers.as_dict() == {"A": 80, "B": 65, "C": 50, "D": 35}
    assert "477,20" in tl.rent_note  # the latest year; the scan picks its reference year
    for name, tc in config.types.items():
        assert abs(sum(c.weight for c in tc.criteria) - 1) < 1e-9, name
        for _key, col in tc.columns_used():
            assert col in KNOWN_COLUMNS[name]


def test_analyst_config_from_a_file(tmp_path: Path) -> None:
    data = default_data()
    data["tiers"] = {"A": 90, "B": 70, "C": 50, "D": 30}
    path = tmp_path / "analist.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    assert config.path == path
    assert config.types["plinttransformatie"].tiers.A == 90  # type: ignore[union-attr]


def test_unknown_feature_column_names_key_and_suggests() -> None:
    data = default_data()
    data["types"]["tijdelijke_locatie"]["criteria"][4]["column"] = "noise_dB"
    message = error_for(data)
    assert "types.tijdelijke_locatie.criteria[4].column" in message
    assert "unknown feature column 'noise_dB'" in message
    assert "did you mean 'noise_db'" in message


def test_unknown_column_inside_a_part() -> None:
    data = default_data()
    data["types"]["tijdelijke_locatie"]["criteria"][2]["parts"][1]["column"] = "dist_bsu_m"
    message = error_for(data)
    assert "types.tijdelijke_locatie.criteria[2].parts[1].column" in message
    assert "dist_bus_m" in message


def test_unknown_transfer_type() -> None:
    data = default_data()
    data["types"]["kantoortransformatie"]["criteria"][5]["transfer"]["type"] = "decreasng"
    message = error_for(data)
    assert "types.kantoortransformatie.criteria[5].transfer.type" in message
    assert "unknown transfer type 'decreasng'" in message
    assert "did you mean 'decreasing'" in message
    assert "increasing, decreasing, ideal_range" in message


def test_weights_must_sum_to_one() -> None:
    data = default_data()
    data["types"]["plinttransformatie"]["criteria"][0]["weight"] = 0.3
    message = error_for(data)
    assert "types.plinttransformatie.criteria[*].weight" in message
    assert "sum to 1.05" in message
    assert "add up to exactly 1" in message


def test_weights_within_tolerance_are_accepted() -> None:
    data = default_data()
    crit = data["types"]["plinttransformatie"]["criteria"]
    crit[0]["weight"] = 0.25 + 5e-7
    parse_config(yaml.safe_dump(data, allow_unicode=True))


def test_tier_thresholds_must_descend() -> None:
    data = default_data()
    data["tiers"] = {"A": 80, "B": 85, "C": 50, "D": 35}
    message = error_for(data)
    assert "tiers:" in message
    assert "must descend" in message
    assert "highest lower bound" in message


def test_duplicate_criterion_ids() -> None:
    data = default_data()
    data["types"]["tijdelijke_locatie"]["criteria"][1]["id"] = "eigendom"
    message = error_for(data)
    assert "types.tijdelijke_locatie.criteria[1].id" in message
    assert "duplicate criterion id 'eigendom'" in message


def test_duplicate_exclusion_codes() -> None:
    data = default_data()
    data["types"]["kantoortransformatie"]["exclusions"][1]["code"] = "geen_kantoor"
    message = error_for(data)
    assert "types.kantoortransformatie.exclusions[1].code" in message


def test_unknown_key_is_a_typo_with_a_suggestion() -> None:
    data = default_data()
    crit = data["types"]["tijdelijke_locatie"]["criteria"][0]
    crit["wieght"] = crit.pop("weight")
    message = error_for(data)
    assert "types.tijdelijke_locatie.criteria[0]" in message
    assert "unknown key 'wieght'" in message
    assert "did you mean 'weight'" in message


def test_unknown_opportunity_type() -> None:
    data = default_data()
    data["types"]["kantoren"] = data["types"].pop("kantoortransformatie")
    message = error_for(data)
    assert "types.kantoren" in message
    assert "unknown opportunity type 'kantoren'" in message
    assert "kantoortransformatie" in message


def test_transfer_bounds_in_the_wrong_order() -> None:
    data = default_data()
    data["types"]["tijdelijke_locatie"]["criteria"][4]["transfer"] = {
        "type": "decreasing",
        "full_at": 70,
        "zero_at": 53,
    }
    message = error_for(data)
    assert "types.tijdelijke_locatie.criteria[4].transfer" in message
    assert "swap the two values" in message


def test_unknown_placeholder_in_a_reason() -> None:
    data = default_data()
    data["types"]["tijdelijke_locatie"]["criteria"][4]["reason"] = "Geluid {ruw}."
    message = error_for(data)
    assert "criteria[4]" in message and ".reason" in message
    assert "{ruw}" in message and "did you mean 'raw'" in message


def test_weight_that_is_not_a_number() -> None:
    data = default_data()
    data["types"]["tijdelijke_locatie"]["criteria"][0]["weight"] = "twintig"
    message = error_for(data)
    assert "types.tijdelijke_locatie.criteria[0].weight" in message
    assert "write a number" in message


def test_missing_required_key() -> None:
    data = default_data()
    del data["types"]["kantoortransformatie"]["capacity"]
    message = error_for(data)
    assert "types.kantoortransformatie.capacity" in message
    assert "add this key" in message


def test_several_problems_are_listed_together() -> None:
    data = default_data()
    data["types"]["tijdelijke_locatie"]["criteria"][0]["weight"] = "x"
    data["types"]["plinttransformatie"]["criteria"][0]["column"] = "nope"
    del data["types"]["kantoortransformatie"]["capacity"]
    message = error_for(data)
    assert "problem(s)" in message
    assert "criteria[0].weight" in message and "kantoortransformatie.capacity" in message


def test_bad_yaml_names_line_and_column() -> None:
    message = error_for("tiers: {A: 80\nrent_check: [\n")
    assert "line" in message and "column" in message
    assert "not valid YAML" in message


def test_yaml_that_is_not_a_mapping() -> None:
    message = error_for("- a\n- b\n")
    assert "expected a mapping" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
