"""The analysis commands on result GeoPackages: ``diff``, ``report`` and ``sensitivity``.

Each reads through :mod:`pipeline.results`, calls one pure function and prints a rich summary;
outputs are written atomically (temp file, then rename).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.errors import UsageError


def run_diff_command(
    old: Path,
    new: Path,
    *,
    out: Path | None,
    gemeenten: list[str] | None,
    limit: int,
    console: Console,
) -> Path:
    """``kansenkaart diff OLD NEW``: a table on the terminal and a GeoPackage layer ``verschillen``."""
    from pipeline.diff import CHANGE_LABELS, diff_results, summarise
    from pipeline.results import read_result, write_layer_atomically

    if Path(old).resolve() == Path(new).resolve():
        raise UsageError(f"OLD and NEW are the same file ({old})\n    fix: pass two different runs")
    columns = None  # every column but the explanation: c_*/p_* are needed for the causes
    a = read_result(old, columns=columns, excluded=True, gemeenten=gemeenten)
    b = read_result(new, columns=columns, excluded=True, gemeenten=gemeenten)
    diff = diff_results(a, b, gemeenten=gemeenten)
    target = Path(out) if out is not None else Path(new).with_name(f"{Path(new).stem}_diff.gpkg")
    # a diff leaves the service like a result: its layer says "verkenning, geen besluit" and
    # "vertrouwelijk" (the newer run's framing)
    from pipeline.export import DEFAULT_DISCLAIMER

    disclaimer = str(b.metadata.get("disclaimer") or DEFAULT_DISCLAIMER)
    write_layer_atomically(diff, target, layer="verschillen", disclaimer=disclaimer)

    counts = summarise(diff)
    head = Table(title=f"Verschillen {Path(old).name} → {Path(new).name}")
    head.add_column("laag")
    for label in CHANGE_LABELS.values():
        head.add_column(label, justify="right")
    for _, row in counts.iterrows():
        head.add_row(str(row["laag"]), *(f"{int(row[k]):,}" for k in CHANGE_LABELS))
    console.print(head)

    table = Table(title=f"De eerste {min(limit, len(diff))} van {len(diff):,} wijzigingen")
    for col in ("laag", "locatie", "gemeente", "wijziging", "klasse", "score", "oorzaak"):
        table.add_column(col, overflow="fold")
    for _, row in diff.head(limit).iterrows():
        tier = f"{row['klasse_oud'] or '—'} → {row['klasse_nieuw'] or '—'}"
        score = " → ".join(
            "—" if v != v else f"{v:.1f}" for v in (row["score_oud"], row["score_nieuw"])
        )
        table.add_row(
            str(row["laag"]),
            str(row["site_id"]),
            str(row["gemeentecode"]),
            CHANGE_LABELS[str(row["wijziging"])],
            tier,
            score,
            str(row["oorzaken"]),
        )
    console.print(table)
    console.print(f"GeoPackage: {target} (laag 'verschillen', {len(diff):,} objecten)")
    return target


def run_report_command(
    result_path: Path,
    *,
    gemeente: str,
    out: Path | None,
    pdf: bool,
    top: int,
    console: Console,
) -> list[Path]:
    """``kansenkaart report --gemeente GMxxxx``: one self-contained HTML file and its PDF."""
    from pipeline.report import build_report, render_pdf
    from pipeline.results import read_result, write_text_atomically

    code = gemeente.strip().upper()
    if not code.startswith("GM") or not code[2:].isdigit():
        raise UsageError(
            f"--gemeente {gemeente!r} is not a municipality code\n    fix: write it as GM0599"
        )
    result = read_result(result_path, gemeenten=None)
    text = build_report(result, gemeente=code, top_n=top)
    html_path = Path(out) if out is not None else result_path.with_name(f"rapport_{code}.html")
    written = [write_text_atomically(text, html_path)]
    if pdf:
        written.append(write_text_atomically(render_pdf(text), html_path.with_suffix(".pdf")))
    for path in written:
        console.print(f"written: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return written


def run_sensitivity_command(
    result_path: Path,
    *,
    draws: int,
    spread: float,
    seed: int,
    gemeenten: list[str] | None,
    write: bool,
    console: Console,
) -> float:
    """``kansenkaart sensitivity``: per site how often it keeps its tier; stored in the result."""
    import time

    import numpy as np

    from pipeline.sensitivity import result_stability, write_stability

    if draws < 1 or not 0 < spread < 1:
        raise UsageError(
            f"--draws {draws} / --spread {spread}: need at least one draw and 0 < spread < 1\n"
            "    fix: e.g. --draws 100 --spread 0.2 (each weight × 0.8–1.2)"
        )
    t0 = time.perf_counter()
    layers = result_stability(
        result_path, draws=draws, spread=spread, seed=seed, gemeenten=gemeenten
    )
    t_compute = time.perf_counter() - t0
    if write:
        write_stability(result_path, layers)
    wall = time.perf_counter() - t0

    table = Table(
        title=f"Robuustheid van de klasse: {draws} trekkingen, gewichten ×{1 - spread:.2f}–{1 + spread:.2f}, seed {seed}"
    )
    for col in (
        "laag",
        "locaties",
        "gemiddeld",
        "≥ 90 % zelfde klasse",
        "< 60 %",
        "A/B die wankelen",
    ):
        table.add_column(col, justify="right" if col != "laag" else "left")
    shaky_rows = []
    for ls in layers:
        share = ls.stability.share_same
        top = np.isin(ls.stability.base_tier, ["A", "B"])
        shaky = top & (share < 0.6)
        table.add_row(
            ls.layer,
            f"{len(share):,}",
            f"{share.mean():.0%}" if len(share) else "—",
            f"{(share >= 0.9).mean():.0%}" if len(share) else "—",
            f"{(share < 0.6).mean():.0%}" if len(share) else "—",
            f"{int(shaky.sum()):,}",
        )
        for i in np.flatnonzero(shaky)[np.argsort(share[shaky], kind="stable")][:5]:
            shaky_rows.append(
                (ls.layer, str(ls.site_ids[i]), str(ls.stability.base_tier[i]), share[i])
            )
    console.print(table)
    if shaky_rows:
        detail = Table(title="Wankelende A/B-locaties (laagste stabiliteit eerst)")
        for col in ("laag", "locatie", "klasse", "zelfde klasse"):
            detail.add_column(col)
        for layer, sid, tier, share_i in shaky_rows:
            detail.add_row(layer, sid, tier, f"{share_i:.0%}")
        console.print(detail)
    console.print(
        f"{sum(len(ls.site_ids) for ls in layers):,} locaties in {wall:.1f} s "
        f"(berekening {t_compute:.1f} s)"
        + (f"; opgeslagen in {result_path} (kolom 'stabiliteit')" if write else "; niet opgeslagen")
    )
    return wall
