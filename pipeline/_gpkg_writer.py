"""Background GeoPackage writer: ``python -m pipeline._gpkg_writer OUT.gpkg``.

Used by :class:`pipeline.export.ResultWriter`. Reads one JSON command per line on stdin,
``{"ipc": path, "layer": name, "geometry_type": type, "indexes": {index: [column, …]}}``,
writes the Arrow IPC stream file at ``path`` as layer ``name`` into ``OUT.gpkg`` (in the order
received) with its attribute indexes (``indexes`` may be left out), deletes the IPC file and
answers ``{"layer": name, "seconds": s, "waited": w, "peak_rss_gb": g}`` on stdout; on a
failure it answers ``{"error": message}`` and exits with status 1. It ends when stdin is
closed.

The parent sends the command as soon as the stream's first batch is in the file and goes on
writing the rest: this process writes the batches as they come, waiting at the file's end for
more until the stream's end marker (``waited``: the seconds it waited;
``seconds`` excludes them). A file ``<path>.failed`` says the parent gave up on the stream.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The result's coordinate reference system (RD New; pipeline.schemas.CRS, not imported here
#: so the writer process starts without pandas and geopandas).
CRS = "EPSG:28992"
#: GeoPackage 1.3: nothing in the result needs 1.4, and GDAL before 3.7 warns on every open of a
#: 1.4 file ("may only be partially supported"). Applies when a layer creates the file.
GPKG_DATASET_OPTIONS = {"VERSION": "1.3"}


def write_layer_table(
    table: Any,
    path: Path,
    name: str,
    geometry_type: str,
    *,
    indexes: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Write one Arrow layer (a table from ``pipeline.export.layer_table``, or a reader of
    its batches) into the GeoPackage ``path``, with a spatial index and the attribute
    ``indexes`` (index name → columns; made here, so a background writer builds them while
    the scan goes on)."""
    import pyogrio

    with unsynced_sqlite():
        pyogrio.write_arrow(
            table,
            path,
            layer=name,
            driver="GPKG",
            geometry_name="geometry",
            geometry_type=geometry_type,
            crs=CRS,
            dataset_options=GPKG_DATASET_OPTIONS,
            layer_options={"SPATIAL_INDEX": "YES", "GEOMETRY_NAME": "geom", "FID": "fid"},
            append=False,
        )
    if indexes:
        create_indexes(path, name, indexes)


def create_indexes(path: Path, table: str, indexes: Mapping[str, Sequence[str]]) -> None:
    """``CREATE INDEX IF NOT EXISTS`` for each index name → columns of ``table`` in ``path``.

    Without a sync (as :func:`unsynced_sqlite`: the result file is synced once when whole).
    """
    import sqlite3

    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA synchronous = OFF")
        for index, columns in indexes.items():
            cols = ", ".join(f'"{c}"' for c in columns)
            con.execute(f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ({cols})')
        con.commit()
    finally:
        con.close()


@contextmanager
def unsynced_sqlite() -> Iterator[None]:
    """GDAL's SQLite writes without an fsync per transaction, for the duration.

    Only for the temporary result file: :class:`pipeline.export.ResultWriter` syncs it once
    when complete and only then renames it into place, so a crash can only lose the temporary
    file, never the previous result.
    """
    import pyogrio

    before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": before})


#: How long a read at the end of a growing stream file sleeps before it looks again (s).
GROWING_POLL_S = 0.005


class GrowingFile(io.RawIOBase):
    """A file another process is still writing: a read at its current end waits for more
    (it returns what there is, at least one byte; wrap it in ``io.BufferedReader`` for reads of
    exactly the size asked).

    Raises ``OSError`` when the writer gave up (a file ``<path>.failed`` appears) or when the
    parent process is gone. ``waited`` adds up the seconds spent waiting."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fh = open(path, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self.parent = os.getppid()
        self.waited = 0.0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while True:
            n = self.fh.readinto(buffer)
            if n:
                return n
            if not len(buffer):
                return 0
            if os.path.exists(self.path + ".failed"):
                raise OSError(f"the scan stopped writing {Path(self.path).name}")
            if os.getppid() != self.parent:
                raise OSError("the scan that started this writer is gone")
            t0 = time.perf_counter()
            time.sleep(GROWING_POLL_S)
            self.waited += time.perf_counter() - t0

    def close(self) -> None:
        self.fh.close()
        super().close()


def start_writeback(path: Path) -> None:
    """Have the kernel start writing the file's dirty pages to disk now, without waiting
    (Linux ``sync_file_range``; nothing elsewhere): the result's final ``fsync`` then has only
    the last layers left to flush, not the 1.6 GB of the province (0.7 s at the end)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        sync_file_range = libc.sync_file_range
    except (OSError, AttributeError):
        return
    sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fd = os.open(path, os.O_RDONLY)
    try:
        sync_file_range(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE: start, do not wait
    finally:
        os.close(fd)


def _peak_rss_gb() -> float:
    """This process's peak resident memory (VmHWM; Linux), in GB (0 where unknown)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024**2, 3)
    except OSError:
        pass
    return 0.0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pipeline._gpkg_writer OUT.gpkg", file=sys.stderr)
        return 2
    out = Path(args[0])
    import pyarrow as pa
    import pyarrow.ipc as ipc

    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        t0 = time.perf_counter()
        try:
            growing = GrowingFile(cmd["ipc"])
            # buffered: a read of n bytes gets n (Arrow takes a short read for a truncated
            # stream), waiting where the file ends for now
            with pa.PythonFile(io.BufferedReader(growing, 1 << 20), mode="r") as source:
                reader = ipc.open_stream(source)  # batch by batch: little memory
                write_layer_table(
                    reader,
                    out,
                    cmd["layer"],
                    cmd["geometry_type"],
                    indexes=cmd.get("indexes"),
                )
            waited = growing.waited
            Path(cmd["ipc"]).unlink(missing_ok=True)
            start_writeback(out)
        except Exception as exc:  # reported to the parent, which raises it
            print(json.dumps({"error": f"layer {cmd.get('layer')}: {exc}"}), flush=True)
            return 1
        answer = {
            "layer": cmd["layer"],
            "seconds": round(time.perf_counter() - t0 - waited, 3),
            "waited": round(waited, 3),
            "peak_rss_gb": _peak_rss_gb(),
        }
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
