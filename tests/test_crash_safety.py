"""A scan killed with SIGKILL while reading, computing or writing leaves the previous result
intact and no temporary file; two scans to the same output at once leave one complete result
(issue 11, "Crash safety"). The real ``kansenkaart scan`` on the tiny preset, as a process.

The phase is read from the scan's own progress display (run on a pseudo-terminal, so rich
draws it): ``reading …``, ``scan: …`` (computing) and ``writing …`` with its temporary file.
"""

from __future__ import annotations

import hashlib
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyogrio
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("crash")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.sample import generate_sample

    return generate_sample(tmp_path_factory.mktemp("crash") / "raw", preset="tiny", seed=42)


def _env(tmp: Path) -> dict[str, str]:
    tmp.mkdir(exist_ok=True)
    # TMPDIR of its own, to see that the background writer's folder goes too.
    return {**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200", "TERM": "xterm"}


def _scan(sources: Path, out: Path, tmp: Path, **kw):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "scan",
            "--sources",
            str(sources),
            "--out",
            str(out),
        ],
        env=_env(tmp),
        cwd=ROOT,
        **kw,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _temporaries(out: Path, tmp: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name) + sorted(
        p.name for p in tmp.iterdir()
    )


def _kill_during(sources: Path, out: Path, tmp: Path, phase: str) -> str:
    """Start a scan on a pseudo-terminal and SIGKILL it once its progress shows ``phase``
    (and, for writing, once its temporary file exists). Returns the screen text seen."""
    master, slave = pty.openpty()
    proc = _scan(sources, out, tmp, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    seen = b""
    killed = False
    deadline = time.monotonic() + 300
    poller = select.poll()  # not select(): a test worker may hold more than 1,024 descriptors
    poller.register(master, select.POLLIN)
    try:
        while time.monotonic() < deadline:
            if poller.poll(10):
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
            writing = any(".tmp-" in p.name for p in out.parent.iterdir())
            if phase.encode() in seen and (phase != "writing" or writing):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            if proc.poll() is not None:
                break
        assert killed, (
            f"the scan was not killed while {phase!r}: it "
            f"{'ended' if proc.poll() is not None else 'still ran'} without showing it "
            f"(within 300 s): {seen[-2000:]!r}"
        )
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return seen.decode(errors="replace")


def _settled(out: Path, tmp: Path, seconds: float = 30) -> list[str]:
    """What is left next to the result once the guard of the killed scan has done its work."""
    deadline = time.monotonic() + seconds
    while _temporaries(out, tmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _temporaries(out, tmp)


@pytest.fixture(scope="module")
def reference(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One complete result of the tiny preset."""
    out = tmp_path_factory.mktemp("reference") / "kansenkaart.gpkg"
    scan = _scan(tiny, out, out.parent / "tmp", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert scan.wait(timeout=600) == 0, scan.stderr.read() if scan.stderr else ""
    return out


def test_a_scan_killed_while_reading_computing_or_writing_leaves_the_previous_result(
    tiny: Path, reference: Path, tmp_path: Path
):
    out = tmp_path / "processed" / "kansenkaart.gpkg"
    tmp = tmp_path / "tmp"
    out.parent.mkdir()
    shutil.copy(reference, out)
    before = _digest(out)
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert {"tijdelijke_locaties", "gemeenten", "run_metadata"} <= layers

    for phase in ("reading ", "scan: ", "writing"):
        _kill_during(tiny, out, tmp, phase)
        assert _settled(out, tmp) == [], f"left behind after a kill while {phase!r}"
        assert _digest(out) == before, f"the result changed after a kill while {phase!r}"
    assert {name for name, _ in pyogrio.list_layers(out)} == layers


def test_two_scans_to_the_same_output_at_once_leave_one_complete_result(
    tiny: Path, reference: Path, tmp_path: Path
):
    out = tmp_path / "processed" / "kansenkaart.gpkg"
    tmp = tmp_path / "tmp"
    scans = [
        _scan(tiny, out, tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for s in scans:
        assert s.wait(timeout=600) == 0, s.stderr.read() if s.stderr else ""
    assert _settled(out, tmp) == []
    con_counts = {
        name: pyogrio.read_info(out, layer=name)["features"] for name, _ in pyogrio.list_layers(out)
    }
    # one whole result: every layer there, as a scan on its own writes it
    assert con_counts == {
        name: pyogrio.read_info(reference, layer=name)["features"]
        for name, _ in pyogrio.list_layers(reference)
    }
    assert con_counts["tijdelijke_locaties"] > 0


GUARDED_WRITER = """
import sys, time
import geopandas as gpd, shapely
import pipeline.export
from pipeline.export import ResultWriter
pipeline.export.prepare_layer = lambda name, gdf, names: gdf  # any columns will do here
w = ResultWriter(__import__("pathlib").Path(sys.argv[1]), background=True)
gdf = gpd.GeoDataFrame({"gemeentecode": ["GM0001"] * 2000, "site_id": [f"TL-{i}" for i in range(2000)]},
                       geometry=[shapely.box(i, 0, i + 1, 1) for i in range(2000)], crs="EPSG:28992")
w.add("tijdelijke_locaties", gdf)
w._wait_sent()
print(w._bg.proc.pid, w._bg.folder, flush=True)
time.sleep(600)
"""


def test_a_killed_scan_takes_its_background_writer_and_its_files_along(tmp_path: Path):
    """The process that writes the big layers in the background dies with the scan, and its
    layer folder and the temporary GeoPackage go too."""
    out = tmp_path / "processed" / "kansenkaart.gpkg"
    tmp = tmp_path / "tmp"
    proc = subprocess.Popen(
        [sys.executable, "-c", GUARDED_WRITER, str(out)],
        env=_env(tmp),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    writer_pid, folder = proc.stdout.readline().split()
    deadline = time.monotonic() + 60
    while not any(".tmp-" in p.name for p in out.parent.iterdir()):  # the writer has begun
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert Path(folder).is_dir()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert _settled(out, tmp) == []
    assert (
        not Path(f"/proc/{writer_pid}").exists()
        or "Z" in Path(f"/proc/{writer_pid}/stat").read_text().rsplit(")", 1)[1].split()[:1]
    )
