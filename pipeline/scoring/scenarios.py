"""Named scenarios: presets of weights and rules in the scan config (``scenarios:``).

``kansenkaart scan --scenario NAME`` scans with the config as the scenario changes it: the
listed criterion weights replace the type's, the other criteria of the type share the rest in
proportion to their weights (so the weights still sum to 1); the listed exclusion rules get a
new ``value``; the listed tier thresholds replace the global ones. The result is validated like
any config; its text (stored in ``run_metadata.config_yaml``) starts with the scenario's name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.scoring.config import ScanConfig, Scenario


def scenario_problems(config: ScanConfig, scenario: Scenario) -> list[tuple[str, str, str]]:
    """(key, message, fix) for every reference of ``scenario`` that ``config`` lacks."""
    out = []
    for type_name, weights in scenario.weights.items():
        tc = config.types.get(type_name)
        if tc is None:
            out.append(
                (
                    f"weights.{type_name}",
                    f"unknown type '{type_name}'",
                    f"use one of {', '.join(config.types)}",
                )
            )
            continue
        ids = [c.id for c in tc.criteria]
        for cid, w in weights.items():
            if cid not in ids:
                out.append(
                    (
                        f"weights.{type_name}.{cid}",
                        f"unknown criterion '{cid}'",
                        f"use one of {', '.join(ids)}",
                    )
                )
            elif not 0 < w < 1:
                out.append(
                    (
                        f"weights.{type_name}.{cid}",
                        f"weight {w} is not between 0 and 1",
                        "write a share, e.g. 0.3",
                    )
                )
        given = sum(weights.values())
        rest = [c.weight for c in tc.criteria if c.id not in weights]
        if given > 1 + 1e-9 or (rest and given >= 1 - 1e-9) or (not rest and abs(given - 1) > 1e-6):
            out.append(
                (
                    f"weights.{type_name}",
                    f"the listed weights sum to {given:g}",
                    "leave room for the other criteria (sum below 1), or list all of them summing to 1",
                )
            )
    for type_name, rules in scenario.rules.items():
        tc = config.types.get(type_name)
        if tc is None:
            out.append(
                (
                    f"rules.{type_name}",
                    f"unknown type '{type_name}'",
                    f"use one of {', '.join(config.types)}",
                )
            )
            continue
        codes = [e.code for e in tc.exclusions]
        for code in rules:
            if code not in codes:
                out.append(
                    (
                        f"rules.{type_name}.{code}",
                        f"unknown exclusion code '{code}'",
                        f"use one of {', '.join(codes)}",
                    )
                )
    for tier in scenario.tiers:
        if tier not in ("A", "B", "C", "D"):
            out.append((f"tiers.{tier}", f"unknown tier '{tier}'", "use A, B, C or D"))
    return out


def apply_scenario(config: ScanConfig, name: str) -> ScanConfig:
    """The config as scenario ``name`` changes it (validated; :class:`ConfigError` otherwise)."""
    from pipeline.scoring.config import parse_config

    if name not in config.scenarios:
        known = ", ".join(config.scenarios) or "none"
        raise ConfigError(
            f"unknown scenario '{name}' (the config has: {known})\n"
            "    fix: pass one of these with --scenario, or add it under 'scenarios:' in the config"
        )
    scenario = config.scenarios[name]
    data: dict[str, Any] = yaml.safe_load(config.text)
    data.pop("scenarios", None)
    for type_name, weights in scenario.weights.items():
        criteria = data["types"][type_name]["criteria"]
        rest = sum(c["weight"] for c in criteria if c["id"] not in weights)
        left = 1.0 - sum(weights.values())
        for c in criteria:
            c["weight"] = weights[c["id"]] if c["id"] in weights else c["weight"] * left / rest
    for type_name, rules in scenario.rules.items():
        for rule in data["types"][type_name]["exclusions"]:
            if rule["code"] in rules:
                rule["value"] = rules[rule["code"]]
    if scenario.tiers:
        data["tiers"] = {**(data.get("tiers") or {}), **scenario.tiers}
    text = f"# scenario: {name} — {scenario.label}\n" + yaml.safe_dump(
        data, allow_unicode=True, sort_keys=False
    )
    applied = parse_config(text, source=f"{config.path or 'config'} + scenario {name}")
    applied._path = config.path
    return applied
