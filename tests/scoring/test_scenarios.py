"""Named scenarios in the scan config and ``kansenkaart scan --scenario``."""

from __future__ import annotations

import io
import json

import pyogrio
import pytest
import yaml
from rich.console import Console

from pipeline.errors import ConfigError
from pipeline.scoring import DEFAULT_CONFIG_PATH, load_config, parse_config
from pipeline.scoring.scenarios import apply_scenario


def test_shipped_scenarios_apply_and_keep_weights_summing_to_one() -> None:
    config = load_config(None)
    assert config.scenarios, "the default config ships named presets"
    for name, scenario in config.scenarios.items():
        assert scenario.label and scenario.source, name
        applied = apply_scenario(config, name)
        assert applied.text.startswith(f"# scenario: {name}")
        for tc in applied.types.values():
            assert sum(c.weight for c in tc.criteria) == pytest.approx(1.0)


def test_listed_weights_replace_and_the_rest_share_what_is_left() -> None:
    config = load_config(None)
    base = {c.id: c.weight for c in config.types["tijdelijke_locatie"].criteria}
    applied = apply_scenario(config, "publieke_grond")
    new = {c.id: c.weight for c in applied.types["tijdelijke_locatie"].criteria}
    assert new["eigendom"] == 0.40
    rest = 1 - base["eigendom"]
    for cid, w in base.items():
        if cid != "eigendom":  # e.g. 0.25 × 0.60 / 0.75 = 0.20
            assert new[cid] == pytest.approx(w * 0.60 / rest)
    tiers = apply_scenario(config, "strenge_klassen")
    assert tiers.tiers.A == 85 and tiers.types["kantoortransformatie"].tiers.B == 70
    rules = apply_scenario(config, "grote_locaties")
    rule = next(e for e in rules.types["tijdelijke_locatie"].exclusions if e.code == "te_klein")
    assert rule.value == 3000


def _with(scenarios: dict) -> str:
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    data["scenarios"] = scenarios
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@pytest.mark.parametrize(
    ("scenario", "needle"),
    [
        (
            {"label": "x", "weights": {"tijdelijke_locatie": {"eigendomm": 0.3}}},
            "scenarios.x.weights.tijdelijke_locatie.eigendomm",
        ),
        (
            {"label": "x", "weights": {"tijdelijke_locatie": {"eigendom": 0.6, "ov": 0.5}}},
            "sum to 1.1",
        ),
        (
            {"label": "x", "rules": {"kantoortransformatie": {"te_groot": 5}}},
            "unknown exclusion code 'te_groot'",
        ),
        ({"label": "x", "tiers": {"F": 10}}, "unknown tier 'F'"),
    ],
)
def test_a_bad_scenario_is_a_config_error_naming_the_key(scenario: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_with({"x": scenario}), source="mine.yaml")
    assert needle in str(err.value) and "fix:" in str(err.value)


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        apply_scenario(load_config(None), "bestaat_niet")
    assert "publieke_grond" in str(err.value)


@pytest.mark.slow
def test_scan_with_a_scenario_records_it(tmp_path) -> None:
    from pipeline.sample import generate_sample
    from pipeline.scan_command import run_scan_command

    sources = generate_sample(tmp_path / "raw", preset="tiny", seed=42)
    out = tmp_path / "scenario.gpkg"
    run_scan_command(
        sources,
        gemeenten=None,
        config_path=None,
        out=out,
        console=Console(file=io.StringIO()),
        scenario="strenge_klassen",
    )
    meta = pyogrio.read_dataframe(out, layer="run_metadata", read_geometry=False)
    values = {k: json.loads(v) for k, v in zip(meta["key"], meta["value"], strict=True)}
    assert values["config_yaml"].startswith("# scenario: strenge_klassen")
    assert values["tiers"]["A"] == 85
    sites = pyogrio.read_dataframe(out, layer="tijdelijke_locaties", read_geometry=False)
    assert (sites.loc[sites["tier"] == "A", "score"] >= 85).all()
    assert (sites.loc[sites["tier"] == "B", "score"] < 85).all()
