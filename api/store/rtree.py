"""Bulk-load a SQLite R*Tree (the GeoPackage spatial index) in one pass.

Inserting rows into an ``rtree`` virtual table one by one costs ~10 µs each (node splits and
re-insertion), which made the R-tree the slowest part of a municipality export. This module builds
the tree with Sort-Tile-Recursive packing in numpy and writes SQLite's shadow tables
(``<name>_node``, ``<name>_rowid``, ``<name>_parent``) directly, in the format of SQLite's
``rtree.c``: each node is a blob of the table's node size holding a 2-byte tree depth (root only),
a 2-byte cell count and cells of (int64 id, float32 minx, maxx, miny, maxy), all big-endian. The
result passes SQLite's own ``rtreecheck()`` (see the tests).
"""

from __future__ import annotations

import json
import math
import sqlite3

import numpy as np

_CELL = np.dtype(
    [("id", ">i8"), ("minx", ">f4"), ("maxx", ">f4"), ("miny", ">f4"), ("maxy", ">f4")]
)


def _level_sizes(n: int, fanout: int) -> list[int]:
    sizes = [n]
    while sizes[-1] > fanout:
        sizes.append(math.ceil(sizes[-1] / fanout))
    return sizes


def _str_order(boxes: np.ndarray, fanout: int) -> np.ndarray:
    """Sort-Tile-Recursive order of entries (boxes: n×4 minx, maxx, miny, maxy)."""
    n = len(boxes)
    nodes = math.ceil(n / fanout)
    slabs = math.ceil(math.sqrt(nodes))
    cx = (boxes[:, 0] + boxes[:, 1]) / 2
    cy = (boxes[:, 2] + boxes[:, 3]) / 2
    by_x = np.argsort(cx, kind="stable")
    slab = np.empty(n, dtype=np.int64)
    slab[by_x] = np.arange(n) // (slabs * fanout)
    return np.lexsort((cy, slab))


def bulk_load(
    con: sqlite3.Connection, name: str, ids: np.ndarray, boxes: np.ndarray, *, schema: str = "main"
) -> None:
    """Replace the contents of the (empty, freshly created) rtree ``name`` with these entries.

    ``boxes`` is n×4 (minx, maxx, miny, maxy) in float32-representable values, as read from
    another rtree.
    """
    n = len(ids)
    if n == 0:
        return
    node_size = int(
        con.execute(f'SELECT length(data) FROM {schema}."{name}_node" WHERE nodeno = 1').fetchone()[
            0
        ]
    )
    fanout = (node_size - 4) // _CELL.itemsize
    sizes = _level_sizes(n, fanout)
    levels = len(sizes)  # number of node levels = len(sizes); entries at level 0 are rows
    total_nodes = sum(math.ceil(s / fanout) for s in sizes)
    root_index = total_nodes - 1

    def final(k: np.ndarray) -> np.ndarray:
        return np.where(k == root_index, 1, k + 2)

    node_rows: list[tuple[int, bytes]] = []
    parent_rows: list[tuple[int, int]] = []
    rowid_rows: list[tuple[int, int]] = []
    entry_ids = np.asarray(ids, dtype=np.int64)
    entry_boxes = np.asarray(boxes, dtype=np.float32)
    first_node = 0
    for level in range(levels):
        count = len(entry_ids)
        order = (
            _str_order(entry_boxes.astype(np.float64), fanout)
            if count > fanout
            else np.arange(count)
        )
        entry_ids, entry_boxes = entry_ids[order], entry_boxes[order]
        n_nodes = math.ceil(count / fanout)
        node_of_entry = np.arange(count) // fanout
        node_numbers = final(first_node + np.arange(n_nodes))
        cells = np.empty(count, dtype=_CELL)
        cells["id"] = entry_ids
        cells["minx"], cells["maxx"], cells["miny"], cells["maxy"] = entry_boxes.T
        raw = cells.tobytes()
        depth = levels - 1
        for j in range(n_nodes):
            lo, hi = j * fanout, min((j + 1) * fanout, count)
            is_root = first_node + j == root_index
            header = (depth if is_root else 0).to_bytes(2, "big") + (hi - lo).to_bytes(2, "big")
            blob = header + raw[lo * _CELL.itemsize : hi * _CELL.itemsize]
            node_rows.append((int(node_numbers[j]), blob + bytes(node_size - len(blob))))
        if level == 0:
            rowid_rows = list(
                zip(entry_ids.tolist(), node_numbers[node_of_entry].tolist(), strict=True)
            )
        else:
            parent_rows += list(
                zip(entry_ids.tolist(), node_numbers[node_of_entry].tolist(), strict=True)
            )
        # The next level's entries are this level's nodes with their bounding boxes.
        starts = np.arange(0, count, fanout)
        nb = np.empty((n_nodes, 4), dtype=np.float32)
        nb[:, 0] = np.minimum.reduceat(entry_boxes[:, 0], starts)
        nb[:, 1] = np.maximum.reduceat(entry_boxes[:, 1], starts)
        nb[:, 2] = np.minimum.reduceat(entry_boxes[:, 2], starts)
        nb[:, 3] = np.maximum.reduceat(entry_boxes[:, 3], starts)
        entry_ids, entry_boxes = node_numbers.astype(np.int64), nb
        first_node += n_nodes
    con.execute(f'DELETE FROM {schema}."{name}_node"')
    con.execute(f'DELETE FROM {schema}."{name}_rowid"')
    con.execute(f'DELETE FROM {schema}."{name}_parent"')
    con.executemany(f'INSERT INTO {schema}."{name}_node" (nodeno, data) VALUES (?, ?)', node_rows)
    # Many small rows: hand them over as one JSON array (json_each runs in C, no per-row round trip).
    for table, cols, rows in (
        (f"{name}_rowid", "rowid, nodeno", rowid_rows),
        (f"{name}_parent", "nodeno, parentnode", parent_rows),
    ):
        if rows:
            rows.sort()  # ascending keys: appends to the b-tree instead of random inserts
            con.execute(
                f"INSERT INTO {schema}.\"{table}\" ({cols}) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
                (json.dumps(rows),),
            )


def read_entries(
    con: sqlite3.Connection, name: str, *, schema: str = "main"
) -> tuple[np.ndarray, np.ndarray]:
    """All (id, box) entries of an rtree, parsed from its leaf nodes in one vectorised pass.

    Much faster than ``SELECT * FROM rtree`` for millions of entries. Returns ids (int64) and
    boxes (n×4 float32: minx, maxx, miny, maxy).
    """
    nodes = con.execute(f'SELECT nodeno, data FROM {schema}."{name}_node"').fetchall()
    if not nodes:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    parents = {
        r[0] for r in con.execute(f'SELECT DISTINCT parentnode FROM {schema}."{name}_parent"')
    }
    root = next(data for nodeno, data in nodes if nodeno == 1)
    depth = int.from_bytes(root[:2], "big")
    leaves = [
        data for nodeno, data in nodes if nodeno not in parents and not (nodeno == 1 and depth > 0)
    ]
    if not leaves:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    size = len(leaves[0])
    raw = np.frombuffer(b"".join(leaves), dtype=np.uint8).reshape(len(leaves), size)
    counts = raw[:, 2].astype(np.int64) * 256 + raw[:, 3]
    max_cells = (size - 4) // _CELL.itemsize
    cells = (
        np.ascontiguousarray(raw[:, 4 : 4 + max_cells * _CELL.itemsize])
        .view(_CELL)
        .reshape(len(leaves), max_cells)
    )
    valid = np.arange(max_cells)[None, :] < counts[:, None]
    picked = cells[valid]
    boxes = np.column_stack(
        [picked["minx"], picked["maxx"], picked["miny"], picked["maxy"]]
    ).astype(np.float32)
    return picked["id"].astype(np.int64), boxes


_RND_TOWARDS = 1.0 - 1.0 / 8388608.0
_RND_AWAY = 1.0 + 1.0 / 8388608.0


def float32_down(d: np.ndarray) -> np.ndarray:
    """Round doubles to float32 no larger than them, exactly as SQLite's rtree does."""
    f = d.astype(np.float32)
    bad = f.astype(np.float64) > d
    f[bad] = (d[bad] * np.where(d[bad] < 0, _RND_AWAY, _RND_TOWARDS)).astype(np.float32)
    return f


def float32_up(d: np.ndarray) -> np.ndarray:
    """Round doubles to float32 no smaller than them, exactly as SQLite's rtree does."""
    f = d.astype(np.float32)
    bad = f.astype(np.float64) < d
    f[bad] = (d[bad] * np.where(d[bad] < 0, _RND_TOWARDS, _RND_AWAY)).astype(np.float32)
    return f


def envelopes_from_gpkg(rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, float32 boxes) from GeoPackage geometry blob headers (first 40 bytes of each blob).

    Returns ``None`` unless every blob is a little-endian, non-empty geometry with an xy envelope
    (GDAL writes none for points), so callers can fall back to reading the source R-tree.
    """
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    heads = [h for _, h in rows]
    if any(h is None or len(h) != 40 for h in heads):
        return None
    raw = np.frombuffer(b"".join(heads), dtype=np.uint8).reshape(len(heads), 40)
    flags = raw[:, 3]
    ok = (raw[:, 0] == 0x47) & (raw[:, 1] == 0x50) & ((flags & 1) == 1)
    ok &= ((flags >> 1) & 7) >= 1
    ok &= ((flags >> 4) & 1) == 0
    if not ok.all():
        return None
    env = np.ascontiguousarray(raw[:, 8:40]).view("<f8").reshape(-1, 4)  # minx, maxx, miny, maxy
    boxes = np.column_stack(
        [
            float32_down(env[:, 0]),
            float32_up(env[:, 1]),
            float32_down(env[:, 2]),
            float32_up(env[:, 3]),
        ]
    )
    ids = np.fromiter((i for i, _ in rows), dtype=np.int64, count=len(rows))
    return ids, boxes
