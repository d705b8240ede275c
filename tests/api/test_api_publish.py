"""``kansenkaart publish``: a result into PostGIS in one transaction, through the real CLI."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import psycopg
import pyogrio
import pytest
from synthetic_result import write_result
from typer.testing import CliRunner

from api.publish import CATALOG_SCHEMA, PublishError, publish_result
from api.security import Scope
from api.store.data import Filters
from api.store.postgis import PostGISStore
from pipeline.cli import app as kansenkaart


def _run(args):
    return CliRunner().invoke(kansenkaart, args)


def _current(url: str) -> tuple[str, str, str]:
    with psycopg.connect(url) as con:
        return con.execute(
            f"SELECT version, schema_name, run_id FROM {CATALOG_SCHEMA}.published WHERE current"
        ).fetchone()


def _schemas(url: str) -> set[str]:
    with psycopg.connect(url) as con:
        rows = con.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kk_result_%'"
        ).fetchall()
    return {r[0] for r in rows}


def test_publish_cli_loads_every_layer_with_indexes(pg_cluster, result_file):
    url = pg_cluster.create_database()
    r = _run(["publish", str(result_file[0]), "--to", url])
    assert r.exit_code == 0, r.output
    assert "published run test-1" in r.output
    version, schema, run_id = _current(url)
    assert run_id == "test-1" and schema == f"kk_result_{version}"
    with psycopg.connect(url) as con:
        for layer, _ in pyogrio.list_layers(result_file[0]):
            n = con.execute(f'SELECT count(*) FROM {schema}."{layer}"').fetchone()[0]
            assert n == pyogrio.read_info(result_file[0], layer=layer)["features"], layer
        srids = dict(
            con.execute(
                "SELECT f_geometry_column, srid FROM geometry_columns "
                "WHERE f_table_schema = %s AND f_table_name = 'tijdelijke_locaties'",
                (schema,),
            ).fetchall()
        )
        assert srids == {"geom": 28992, "geom_3857": 3857}
        gist = {
            r[0]
            for r in con.execute(
                "SELECT tablename || '.' || substring(indexdef from '\\((\\w+)\\)') FROM pg_indexes "
                "WHERE schemaname = %s AND indexdef LIKE '%%USING gist%%'",
                (schema,),
            )
        }
        assert {
            "tijdelijke_locaties.geom",
            "tijdelijke_locaties.geom_3857",
            "plinten.geom_3857",
        } <= gist
        assert "uitgesloten_percelen.geom" in gist
        meta = dict(con.execute(f"SELECT key, value FROM {schema}.run_metadata").fetchall())
    src = sqlite3.connect(result_file[0])
    assert meta == dict(src.execute("SELECT key, value FROM run_metadata").fetchall())
    src.close()
    # the run metadata comes along: the api reports the published run
    store = PostGISStore(url, poll_seconds=0)
    try:
        assert store.run_info().run_id == "test-1"
        assert store.run_info().sources[0]["source"] == "parcels"
    finally:
        store.close()


def test_publish_cli_refuses_bad_input_clearly(pg_cluster, tmp_path, result_file):
    url = pg_cluster.create_database()
    r = _run(["publish", str(tmp_path / "nope.gpkg"), "--to", url])
    assert r.exit_code == 2 and "nope.gpkg: no such file" in r.output
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"not a geopackage at all")
    r = _run(["publish", str(bad), "--to", url])
    assert r.exit_code == 2 and "not a readable GeoPackage" in r.output
    r = _run(["publish", str(result_file[0]), "--to", str(tmp_path / "db.sqlite")])
    assert r.exit_code == 2 and "--to must be a PostgreSQL URL" in r.output
    unreachable = f"postgresql://kk:s3cret-pw@/nodb?host={tmp_path}&port=1"
    r = _run(["publish", str(result_file[0]), "--to", unreachable])
    assert r.exit_code == 2 and "cannot connect" in r.output
    assert "s3cret-pw" not in r.output and "kk:***@" in r.output
    assert "Traceback" not in r.output


def test_a_failed_publish_changes_nothing(pg_cluster, tmp_path, result_file):
    url = pg_cluster.create_database()
    publish_result(result_file[0], url)
    before = _current(url)
    broken = tmp_path / "broken.gpkg"
    write_result(broken, n_gemeenten=2, per_layer=4, grid=4, seed=9)
    # The last layer cannot be loaded: everything loaded before it must go too.
    con = sqlite3.connect(broken)
    con.execute("ALTER TABLE layer_styles ADD COLUMN feature_json TEXT")
    con.commit()
    con.close()
    with pytest.raises(PublishError, match="feature_json are reserved"):
        publish_result(broken, url)
    assert _current(url) == before
    assert _schemas(url) == {before[1]}


def test_readers_never_see_half_a_result(pg_cluster, tmp_path, result_file):
    """While a publish runs, every answer is entirely the old result or entirely the new one."""
    url = pg_cluster.create_database()
    publish_result(result_file[0], url)
    new = tmp_path / "new.gpkg"
    write_result(new, n_gemeenten=3, per_layer=12, grid=6, seed=7)
    store = PostGISStore(url, poll_seconds=0)
    pages: set[int] = set()
    summaries: set[int] = set()
    done = threading.Event()

    def read() -> None:  # each call is one request's worth: one snapshot
        while not done.is_set():
            page = store.features(
                None, scope=Scope(None), filters=Filters(), bbox=None, limit=10_000, cursor=None
            )
            pages.add(len(page.features))
            gems = store.gemeenten(scope=Scope(None))
            summaries.add(sum(json.loads(g)["properties"]["n_plinttransformatie"] for g in gems))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        publish_result(new, url)
        deadline = time.monotonic() + 10  # a reader thread may be loading the new one right now
        while (after := store.run_info().run_id) != "test-7" and time.monotonic() < deadline:
            time.sleep(0.01)
        final = len(
            store.features(
                None, scope=Scope(None), filters=Filters(), bbox=None, limit=10_000, cursor=None
            ).features
        )
    finally:
        done.set()
        reader.join()
        store.close()
    assert after == "test-7" and final == 108
    assert pages <= {270, 108} and 270 in pages
    assert summaries <= {90, 36} and 90 in summaries


def test_older_results_are_dropped_keeping_the_previous_one(pg_cluster, result_file):
    url = pg_cluster.create_database()
    versions = [publish_result(result_file[0], url).schema for _ in range(3)]
    assert _schemas(url) == set(versions[1:])
    assert _current(url)[1] == versions[2]
