"""Blocking database work never runs on the event loop (issue 11, item 8).

A session look-up that has to write (``last_seen``) waits for the database's write lock
(SQLite's, for up to the busy timeout; a PostgreSQL table lock as long as it is held). That wait
must hold up only that request, not every other one.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from api.store.users import TOUCH_INTERVAL


def test_a_session_write_waiting_for_the_lock_does_not_stall_other_requests(env):
    c = env.login("bm1@test.nl")
    env.clock.advance(TOUCH_INTERVAL + 1)  # the next look-up writes last_seen
    if env.backend == "postgis":
        import psycopg

        blocker = psycopg.connect(env.settings.database, autocommit=True)
        blocker.execute("BEGIN")
        blocker.execute("LOCK TABLE sessions IN EXCLUSIVE MODE")  # reads go on, writes wait
    else:
        blocker = sqlite3.connect(env.settings.database, timeout=1, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    statuses: dict[str, int] = {}
    slow = threading.Thread(target=lambda: statuses.update(me=c.get("/api/me").status_code))
    fast = threading.Thread(target=lambda: statuses.update(health=c.get("/healthz").status_code))
    try:
        slow.start()
        slow.join(timeout=0.5)
        assert slow.is_alive(), "the /api/me request should be waiting for the write lock"
        fast.start()
        # The lock is held until the ROLLBACK below (and /api/me waits up to the 30 s busy
        # timeout), so a /healthz that waited for it would still be waiting after 10 s; the
        # margin is for a loaded machine (3 s was too little at load average 30).
        fast.join(timeout=10)
        answered_while_locked = not fast.is_alive()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    slow.join(timeout=15)
    fast.join(timeout=15)
    assert answered_while_locked, "/healthz waited for a database lock it does not need"
    assert statuses == {"me": 200, "health": 200}


def test_tiles_render_on_the_tile_threads_no_more_at_once_than_the_store_says(env, monkeypatch):
    """Tile renders run on the app's ``kk-tile`` threads, at most ``tile_threads`` at a time
    (GeoPackage: one; PostGIS: its pool), while the requests themselves arrive all at once."""
    data = env.app.state.data
    render = data.tile
    lock = threading.Lock()
    active, peak, names = [0], [0], []

    def tile(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            names.append(threading.current_thread().name)
        try:
            time.sleep(0.05)
            return render(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(data, "tile", tile)
    c = env.login("analist@test.nl")
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda x=x: statuses.append(
                c.get(f"/api/tiles/tijdelijke_locaties/12/{2100 + x}/1350.mvt").status_code
            )
        )
        for x in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [200] * 8
    assert len(names) == 8 and all(n.startswith("kk-tile") for n in names), names
    assert 1 <= peak[0] <= data.tile_threads
    assert data.tile_threads == (1 if env.backend == "gpkg" else data._pool.max_size)


def test_the_loaded_objects_are_frozen_once_per_process():
    """After the first start-up the objects that exist (the loaded result) are moved out of the
    collector's sight, so full collections stop walking them; a process that builds many apps
    (the tests) freezes only at the first one. In a fresh process, not to freeze this worker."""
    import subprocess
    import sys

    code = (
        "import gc, api.main as m; n0 = gc.get_freeze_count(); m._freeze_loaded_objects(); "
        "n1 = gc.get_freeze_count(); junk = [[] for _ in range(1000)]; "
        "m._freeze_loaded_objects(); print(n0, n1, gc.get_freeze_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n0, n1, n2 = map(int, out.stdout.split())
    assert n0 == 0 and n1 > 10_000 and n2 == n1
