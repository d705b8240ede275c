"""An export carries no trace of the other municipalities (issue 11, item 4), checked on the
file's bytes: features numbered 1…n, ``sqlite_sequence`` no higher than the export's own rows,
extents of its own features, run metadata of the export only, no server paths, and not one
byte of another municipality's codes, names or ids anywhere in the file (free pages included)."""

from __future__ import annotations

import json
import sqlite3

import pyogrio
import pytest

LAYERS = (
    "gemeenten",
    "tijdelijke_locaties",
    "kantoren",
    "plinten",
    "uitgesloten_percelen",
    "uitgesloten_panden",
)


@pytest.fixture
def export_gm0902(env, tmp_path):
    r = env.login("bm2@test.nl").get("/api/export/GM0902.gpkg?uitgesloten=true")
    assert r.status_code == 200, r.text
    path = tmp_path / "GM0902.gpkg"
    path.write_bytes(r.content)
    return path


def test_features_are_numbered_from_one_and_no_sequence_tells_more(export_gm0902):
    con = sqlite3.connect(export_gm0902)
    for layer in LAYERS:
        fids = [r[0] for r in con.execute(f'SELECT fid FROM "{layer}" ORDER BY fid')]
        assert fids == list(range(1, len(fids) + 1)), layer
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "sqlite_sequence" in tables:
        for name, seq in con.execute("SELECT name, seq FROM sqlite_sequence"):
            n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            assert seq <= n, f"sqlite_sequence of {name} says {seq}, the export holds {n}"
    con.close()


def test_extents_and_counts_describe_only_the_export(export_gm0902, env):
    con = sqlite3.connect(export_gm0902)
    for layer in LAYERS:
        df = pyogrio.read_dataframe(export_gm0902, layer=layer)
        minx, miny, maxx, maxy = con.execute(
            "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?", (layer,)
        ).fetchone()
        assert (minx, miny, maxx, maxy) == pytest.approx(tuple(df.total_bounds)), layer
        (count,) = con.execute(
            "SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?", (layer,)
        ).fetchone()
        assert count == len(df), layer
    meta = dict(con.execute("SELECT key, value FROM run_metadata").fetchall())
    con.close()
    assert json.loads(meta["gemeenten"]) == ["GM0902"]
    counts = json.loads(meta["feature_counts"])
    assert counts == {
        "output": {
            layer: len(pyogrio.read_dataframe(export_gm0902, layer=layer, read_geometry=False))
            for layer in LAYERS
        }
    }
    assert json.loads(meta["repaired_geometries"]) == {}
    assert all("/" not in i["path"] for i in json.loads(meta["inputs"]))


def test_not_one_byte_of_another_municipality(export_gm0902, env):
    data = export_gm0902.read_bytes()
    assert b"GM0902" in data and b"Testgemeente 2" in data  # what must be there, is
    for gem in env.gemeenten:
        if gem.code == "GM0902":
            continue
        for trace in (gem.code, gem.name, f"{gem.code[2:]}1000"):  # code, name, pand ids
            for encoded in (trace.encode(), trace.encode("utf-16-le")):
                assert encoded not in data, f"{trace!r} found in the export of GM0902"


def test_no_server_path_in_site_sources_or_export_metadata(make_env, tmp_path):
    env = make_env(copy_result=True)
    con = sqlite3.connect(env.result)
    (inputs,) = con.execute("SELECT value FROM run_metadata WHERE key = 'inputs'").fetchone()
    moved = json.loads(inputs)
    moved[0]["path"] = "/srv/kansenkaart/data/raw/kadastralekaart.gpkg"
    con.execute("UPDATE run_metadata SET value = ? WHERE key = 'inputs'", (json.dumps(moved),))
    con.commit()
    con.close()
    env.publish()
    c = env.login("bm1@test.nl")
    site = c.get("/api/sites?limit=1").json()["features"][0]["id"]
    sources = c.get(f"/api/sites/tijdelijke_locaties/{site}").json()["sources"]
    assert [s["path"] for s in sources] == ["kadastralekaart.gpkg"]
    path = tmp_path / "e.gpkg"
    path.write_bytes(c.get("/api/export/GM0901.gpkg").content)
    assert b"/srv/kansenkaart" not in path.read_bytes()


def test_the_table_of_export_locks_stays_empty(env):
    c = env.login("analist@test.nl")
    for code in ("GM0901", "GM0902", "GM0903"):
        for flag in ("false", "true"):
            assert c.get(f"/api/export/{code}.gpkg?uitgesloten={flag}").status_code == 200
    assert env.app.state.data._exports._locks == {}
