"""The R*Tree bulk loader writes trees SQLite itself accepts and queries correctly."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from api.store.rtree import bulk_load


def _tree(boxes: np.ndarray, ids: np.ndarray) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:", isolation_level=None)
    con.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    con.execute("BEGIN")
    bulk_load(con, "r", ids, boxes)
    con.execute("COMMIT")
    return con


@pytest.mark.parametrize("n", [0, 1, 7, 167, 168, 1000, 30_000])
def test_bulk_loaded_rtree_is_valid_and_answers_like_a_scan(n):
    rng = np.random.default_rng(n)
    x, y = (
        rng.uniform(0, 10_000, n).astype(np.float32),
        rng.uniform(0, 10_000, n).astype(np.float32),
    )
    w = rng.uniform(1, 50, n).astype(np.float32)
    boxes = np.column_stack([x, x + w, y, y + w]).astype(np.float32)
    ids = rng.permutation(n).astype(np.int64) * 3 + 5
    con = _tree(boxes, ids)
    assert con.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM r").fetchone()[0] == n
    for qx, qy in rng.uniform(0, 10_000, (25, 2)):
        q = (qx - 200, qx + 200, qy - 200, qy + 200)
        got = {
            r[0]
            for r in con.execute(
                "SELECT id FROM r WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?", q
            )
        }
        want = set(
            ids[
                (boxes[:, 1] >= q[0])
                & (boxes[:, 0] <= q[1])
                & (boxes[:, 3] >= q[2])
                & (boxes[:, 2] <= q[3])
            ].tolist()
        )
        assert got == want
    if n:
        i = int(ids[0])
        assert con.execute(
            "SELECT minx, maxx FROM r WHERE id = ?", (i,)
        ).fetchone() == pytest.approx(tuple(boxes[0, :2].tolist()))
    # the tree stays a normal rtree: inserts and deletes keep it consistent
    con.execute("INSERT INTO r VALUES (1, 0, 1, 0, 1)")
    if n:
        con.execute("DELETE FROM r WHERE id = ?", (int(ids[-1]),))
    assert con.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"


def test_float32_rounding_matches_sqlite_rtree():
    from api.store.rtree import float32_down, float32_up

    rng = np.random.default_rng(7)
    values = np.concatenate(
        [rng.uniform(-300_000, 700_000, 2000), rng.uniform(-1, 1, 200), [0.0, 1.0, -1.0]]
    )
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    lo, hi = np.minimum(values, values[::-1]), np.maximum(values, values[::-1])
    con.executemany(
        "INSERT INTO r VALUES (?, ?, ?, ?, ?)",
        [(i, a, b, a, b) for i, (a, b) in enumerate(zip(lo.tolist(), hi.tolist(), strict=True))],
    )
    stored = np.array(con.execute("SELECT minx, maxx FROM r ORDER BY id").fetchall())
    assert np.array_equal(stored[:, 0], float32_down(lo).astype(np.float64))
    assert np.array_equal(stored[:, 1], float32_up(hi).astype(np.float64))
