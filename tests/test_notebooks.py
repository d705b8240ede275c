"""The analyst notebooks run top to bottom on a tiny synthetic sample."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_writes_its_report(path: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KK_NOTEBOOK_PRESET", "tiny")
    monkeypatch.setenv("KK_NOTEBOOK_DATA", str(tmp_path / "sample"))
    monkeypatch.setenv("KK_NOTEBOOK_REPORTS", str(tmp_path / "reports"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute(env=dict(os.environ))
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors
    reports = list((tmp_path / "reports").glob("rapport_GM09*.html"))
    assert len(reports) == 1
    html = reports[0].read_text(encoding="utf-8")
    assert "VERTROUWELIJK" in html and "Synthetische data" in html
    assert "Verkenning, geen besluit" in html  # the framing of everything that leaves
    assert "Top 20 tijdelijke locaties" in html
