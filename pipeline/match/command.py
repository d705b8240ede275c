"""``kansenkaart match`` and ``kansenkaart registers sample``: read, plan or generate, print."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console


def run_match_command(
    *,
    registers: Path | None,
    aanbod: Path | None,
    partijen: Path | None,
    config_path: Path | None,
    gemeenten: Sequence[str] | None,
    json_out: Path | None,
    console: Console,
) -> None:
    """Read the registries, plan, print the plan (and write its JSON)."""
    from pipeline.catalog.registers import read_registers
    from pipeline.match import load_match_config, plan_match
    from pipeline.match.report import plan_json, print_plan

    if registers is None and (aanbod is None or partijen is None):
        raise UsageError("give --registers FOLDER, or both --aanbod FILE and --partijen FILE")
    codes = [g.strip().upper() for g in gemeenten] if gemeenten else None
    cfg = load_match_config(config_path)
    regs, _meta = read_registers(aanbod=aanbod, partijen=partijen, folder=registers)
    with console.status(
        f"planning {len(regs.batches)} partijen over {len(regs.offers)} locaties …"
    ):
        plan = plan_match(regs, cfg)
    print_plan(plan, console, gemeenten=codes)
    if json_out is not None:
        data = plan_json(plan, regs, gemeenten=codes)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_out.with_name(f".{json_out.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(json_out)
        console.print(f"plan: {json_out}")


def run_registers_sample_command(
    *,
    result: Path,
    out: Path,
    seed: int,
    n_offers: int | None,
    n_batches: int | None,
    console: Console,
) -> None:
    """Write plausible registries for a synthetic province from its scan result."""
    import datetime as dt

    from pipeline.catalog.registers import read_result_sites, write_registers
    from pipeline.sample.registries import sample_registers

    sites, ref, synthetic = read_result_sites(result)
    if not synthetic:
        raise UsageError(
            f"{result} is not from a synthetic sample (run_metadata.synthetic is false): sample "
            "registries belong with sample data; enter real sites and batches in the registries"
        )
    if len(sites) == 0:
        raise UsageError(f"{result} has no temporary sites to offer")
    ref = ref or dt.date.today()
    offers, batches = sample_registers(
        sites, reference_date=ref, seed=seed, n_offers=n_offers, n_batches=n_batches
    )
    meta = {
        "synthetic": True,
        "description": f"synthetisch: registers voor de match uit {result.name} (seed {seed}); geen echte gegevens",
        "reference_date": ref.isoformat(),
        "result": str(result),
        "seed": seed,
    }
    folder = write_registers(out, offers, batches, meta)
    console.print(
        f"{len(offers)} aangeboden locaties and {len(batches)} partijen ({int(batches['aantal'].sum())} woningen) "
        f"in {folder} (reference date {ref})"
    )
