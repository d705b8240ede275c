"""The analyst notebooks run top to bottom on the demo preset (one municipality each).

The demo sample is generated once for all notebooks (they run in one worker); each notebook then
reads only its municipality, so the whole takes well under a minute per notebook.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pipeline.sample import generate_sample

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks")]


@pytest.fixture(scope="session")
def demo_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notebook_demo") / "demo"
    generate_sample(folder, preset="demo", seed=42)
    return folder


def _run(path: Path, demo: Path, reports: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KK_NOTEBOOK_PRESET", "demo")
    monkeypatch.setenv("KK_NOTEBOOK_DATA", str(demo))
    monkeypatch.setenv("KK_NOTEBOOK_REPORTS", str(reports))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
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
    return json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])


def test_notebooks_import_from_pipeline_and_define_no_functions() -> None:
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "from pipeline" in code, path.name
        assert "\ndef " not in "\n" + code and "\nclass " not in "\n" + code, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_demo_preset(
    path: Path, demo_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = _run(path, demo_sample, tmp_path / "reports", monkeypatch)
    if path.stem.startswith("01"):
        reports = list((tmp_path / "reports").glob("rapport_GM*.html"))
        assert len(reports) == 1
        html = reports[0].read_text(encoding="utf-8")
        assert "VERTROUWELIJK" in html and "Synthetische data" in html
        assert "Verkenning, geen besluit" in html  # the framing of everything that leaves
        assert "Top 20 tijdelijke locaties" in html
    elif path.stem.startswith("02"):
        assert "ncw_eur" in outputs and "ncw_grondabonnement_eur" in outputs
        assert "kwaliteitskortingsgrens" in outputs  # the rent check was printed
    elif path.stem.startswith("03"):
        assert "oorzaken" in outputs and "stabiliteit" in outputs
        assert len(list((tmp_path / "reports").glob("scenario_GM*_*.gpkg"))) == 2
