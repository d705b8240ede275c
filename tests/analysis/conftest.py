"""Two real scans of the demo preset with different configs, shared by the analysis tests
(diff, report, sensitivity). Generated once per xdist worker: every test here is in the
``analysis_demo`` group, so one worker does the work (~1 min on 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.catalog import load_sources, read_sources_yaml
from pipeline.export import write_result
from pipeline.sample import generate_sample
from pipeline.scan import run_scan
from pipeline.scan_command import _vacancy_date
from pipeline.scoring import DEFAULT_CONFIG_PATH, parse_config

#: What the second run changes: the first criterion of the plots gains this much weight (the
#: others give it up in proportion), and the offices' minimum floor area goes up.
WEIGHT_SHIFT = 0.2
OFFICE_MIN_FLOOR = 1500


def other_config_text() -> str:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    criteria = data["types"]["tijdelijke_locatie"]["criteria"]
    w0 = criteria[0]["weight"]
    rest = 1.0 - w0
    criteria[0]["weight"] = w0 + WEIGHT_SHIFT
    for c in criteria[1:]:
        c["weight"] = c["weight"] * (rest - WEIGHT_SHIFT) / rest
    rules = data["types"]["kantoortransformatie"]["exclusions"]
    rule = next(r for r in rules if r["code"] == "kantoor_te_klein")
    rule["value"] = OFFICE_MIN_FLOOR
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@dataclass
class DemoRuns:
    sources: Path
    old: Path  # the shipped config
    new: Path  # other_config_text()
    shifted_criterion: str


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> DemoRuns:
    folder = tmp_path_factory.mktemp("analysis_demo")
    sources_path = generate_sample(folder / "demo", preset="demo", seed=42)
    sources = read_sources_yaml(sources_path)
    layers, report = load_sources(sources)
    reference = _vacancy_date(report)
    out = {}
    for name, text in (
        ("old", DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")),
        ("new", other_config_text()),
    ):
        config = parse_config(text, source=name)
        result = run_scan(layers, noise_path=sources.noise, config=config, reference_date=reference)
        out[name] = folder / f"{name}.gpkg"
        write_result(result, out[name], report=report, config_text=config.text)
    shifted = yaml.safe_load(other_config_text())["types"]["tijdelijke_locatie"]["criteria"][0]
    return DemoRuns(sources_path, out["old"], out["new"], shifted["id"])
