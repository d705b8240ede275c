"""The working tool's api (issue 12), on decoded answers: search (scoped), site status and notes
(who may read and change them, history, audit, "niet meer in de scan", statuses that follow their
parcels), progress per municipality (only the provincie role edits), the site list as JSON, CSV
and Excel (the same rows), the PDF site sheet (read back as text) and the tier filter."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely
import sqlalchemy as sa
from conftest import PASSWORD, Env
from pyproj import Transformer

from api.db import open_database
from api.search import parse_query
from api.security import Scope
from api.status import WorkStore
from pipeline.search_index import normalise, orientation_names, search_index

TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)

# -- the search text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "KLA01 N 5440",
            {"kind": "perceel", "akr_code": "KLA01", "sectie": "N", "perceelnummer": "5440"},
        ),
        (
            "kla01n05440",
            {"kind": "perceel", "akr_code": "KLA01", "sectie": "N", "perceelnummer": "5440"},
        ),
        (
            "2611 AB 12a",
            {"kind": "postcode", "postcode": "2611AB", "huisnummer": 12, "toevoeging": "a"},
        ),
        ("2611ab", {"kind": "postcode", "postcode": "2611AB", "huisnummer": None}),
        (
            "Burg. de Kockstraat 12 Delft",
            {
                "kind": "straat",
                "straat": "burg de kockstraat",
                "huisnummer": 12,
                "woonplaats": "delft",
            },
        ),
        (
            "Stationsweg 3 b",
            {"kind": "straat", "straat": "stationsweg", "huisnummer": 3, "toevoeging": "b"},
        ),
        ("tl-90000268547000", {"kind": "site", "site_id": "TL-90000268547000"}),
        ("Émile Zolastraat", {"kind": "straat", "straat": "emile zolastraat", "huisnummer": None}),
    ],
)
def test_parse_query(text: str, expected: dict[str, Any]) -> None:
    q = parse_query(text)
    for key, value in expected.items():
        assert getattr(q, key) == value, key


@pytest.mark.parametrize("text", ["x", "12 Stationsweg", "a" * 101])
def test_parse_query_refuses(text: str) -> None:
    from api.errors import InvalidRequest

    with pytest.raises(InvalidRequest):
        parse_query(text)


# -- the index the scan writes ----------------------------------------------------------------


def _units(points: list[tuple[float, float]], **cols: list[Any]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=shapely.points(points), crs="EPSG:28992")


def test_search_index_rows_by_hand() -> None:
    units = _units(
        [(0, 0), (10, 0), (20, 0)],
        vbo_id=["v1", "v2", "v3"],
        pand_id=["p1", "p1", None],
        gemeentecode=["GM0901"] * 3,
        straatnaam=["Burg. de Kockstraat", "Burg. de Kockstraat", None],
        huisnummer=[12, 12, None],
        huisletter=[None, "A", None],
        toevoeging=[None, "2", None],
        postcode=["2611AB", "2611AB", None],
        woonplaats=["Délft", "Délft", None],
    )
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": ["900", "901"],
            "gemeentecode": ["GM0901"] * 2,
            "akr_code": ["kla01", None],
            "sectie": ["n", "N"],
            "perceelnummer": ["05440", "1"],
        },
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)],
        crs="EPSG:28992",
    )
    idx = search_index(parcels, units)
    adres = idx[idx["soort"] == "adres"]
    assert adres["naam"].tolist() == [
        "Burg. de Kockstraat 12, 2611 AB Délft",
        "Burg. de Kockstraat 12A-2, 2611 AB Délft",
    ]  # the unit without an address is left out
    assert adres["straat"].tolist() == ["burg de kockstraat"] * 2
    assert [None if pd.isna(v) else v for v in adres["toevoeging"]] == [None, "a 2"]
    assert adres["woonplaats"].tolist() == ["delft", "delft"]
    perceel = idx[idx["soort"] == "perceel"]
    assert perceel[
        ["naam", "akr_code", "sectie", "perceelnummer", "parcel_id"]
    ].values.tolist() == [
        ["Perceel KLA01 N 5440", "KLA01", "N", "5440", "900"]
    ]  # the parcel without an akr code is left out
    assert shapely.within(perceel.geometry.iloc[0], parcels.geometry.iloc[0])
    names = orientation_names(units)
    assert names[["soort", "naam", "n"]].values.tolist() == [
        ["plaats", "Délft", 2],
        ["straat", "Burg. de Kockstraat", 2],
    ]
    assert normalise(pd.Series(["  Zuid-Hollandlaan ", None])).tolist() == [
        "zuid hollandlaan",
        None,
    ]


def test_orientation_label_points_by_hand() -> None:
    """A street's label is its address nearest the median of its addresses (the first row on
    a tie), per municipality: the same street name in two municipalities is two labels."""
    units = _units(
        [(30, 0), (0, 0), (10, 0), (5, 50), (0, 50), (500, 0)],
        gemeentecode=["GM0901"] * 5 + ["GM0599"],
        straatnaam=["Kade", "Kade", "Kade", "Laan", "Laan", "Kade"],
        woonplaats=[None] * 6,
        huisnummer=[1, 2, 3, 4, 5, 6],
    )
    names = orientation_names(units)
    got = {(r.gemeentecode, r.naam): (r.geometry.x, r.geometry.y, r.n) for r in names.itertuples()}
    assert got == {
        ("GM0599", "Kade"): (500.0, 0.0, 1),
        ("GM0901", "Kade"): (10.0, 0.0, 3),  # median (10, 0)
        ("GM0901", "Laan"): (5.0, 50.0, 2),  # median (2.5, 50): both 2.5 m away, first row
    }


# -- the api ----------------------------------------------------------------------------------


def _site(env: Env, layer: str, code: str, i: int = 0) -> dict[str, Any]:
    gdf = pyogrio.read_dataframe(env.result, layer=layer)
    row = gdf[gdf["gemeentecode"] == code].sort_values("site_id").iloc[i]
    return {"site_id": row["site_id"], "geometry": row.geometry, "row": row}


def _with_index(env: Env) -> Env:
    """Add a ``zoekindex`` to the env's (copied) result: an address at a plinten site of
    GM0901 and one of GM0902, and a parcel of GM0901."""
    rows = []
    for code, pc in (("GM0901", "1111AA"), ("GM0902", "2222BB")):
        site = _site(env, "plinten", code)
        rows.append((site, code, pc))
    units = _units(
        [(s["geometry"].x, s["geometry"].y) for s, _, _ in rows],
        vbo_id=[s["row"]["vbo_id"] for s, _, _ in rows],
        pand_id=[s["row"]["pand_id"] for s, _, _ in rows],
        gemeentecode=[c for _, c, _ in rows],
        straatnaam=["Teststraat", "Teststraat"],
        huisnummer=[5, 5],
        postcode=[pc for _, _, pc in rows],
        woonplaats=["Eerstedorp", "Tweededorp"],
    )
    tl = _site(env, "tijdelijke_locaties", "GM0901")
    parcels = gpd.GeoDataFrame(
        {
            "parcel_id": [tl["row"]["parcel_ids"]],
            "gemeentecode": ["GM0901"],
            "akr_code": ["TST01"],
            "sectie": ["A"],
            "perceelnummer": ["7"],
        },
        geometry=[tl["geometry"]],
        crs="EPSG:28992",
    )
    index = search_index(parcels, units)
    pyogrio.write_dataframe(index, env.result, layer="zoekindex", driver="GPKG")
    # Orientation: the two streets and places, and a pond beside each plinten site.
    pyogrio.write_dataframe(
        orientation_names(units), env.result, layer="orientatie_namen", driver="GPKG"
    )
    water = gpd.GeoDataFrame(
        {"naam": ["Vijver", None], "gemeentecode": [c for _, c, _ in rows]},
        geometry=[s["geometry"].buffer(30).difference(s["geometry"].buffer(8)) for s, _, _ in rows],
        crs="EPSG:28992",
    )
    pyogrio.write_dataframe(water, env.result, layer="orientatie_water", driver="GPKG")
    from pipeline.export import add_search_indexes

    add_search_indexes(env.result)
    env.publish()  # the postgis backend: the changed result, published again
    return env


def test_search_is_scoped_and_finds_the_sites(make_env: Any) -> None:
    env = _with_index(make_env(copy_result=True))
    bm1, bm2 = env.login("bm1@test.nl"), env.login("bm2@test.nl")
    r = bm1.get("/api/search", params={"q": "1111 AA 5"})
    assert r.status_code == 200
    [hit] = r.json()["results"]
    assert hit["naam"] == "Teststraat 5, 1111 AA Eerstedorp" and hit["gemeentecode"] == "GM0901"
    assert [s["site_id"] for s in hit["sites"]] == [_site(env, "plinten", "GM0901")["site_id"]]
    # The same street in both municipalities: each sees only their own.
    for client, code in ((bm1, "GM0901"), (bm2, "GM0902")):
        hits = client.get("/api/search", params={"q": "teststraat 5"}).json()["results"]
        assert [h["gemeentecode"] for h in hits] == [code]
    assert bm2.get("/api/search", params={"q": "1111AA 5"}).json()["results"] == []
    # A parcel by its kadastrale aanduiding → the plot it belongs to.
    [p] = bm1.get("/api/search", params={"q": "TST01 A 7"}).json()["results"]
    assert p["naam"] == "Perceel TST01 A 7"
    assert [s["layer"] for s in p["sites"]] == ["tijdelijke_locaties"]
    assert bm2.get("/api/search", params={"q": "TST01 A 7"}).json()["results"] == []
    # A site id: only in scope.
    sid = _site(env, "kantoren", "GM0901")["site_id"]
    assert (
        bm1.get("/api/search", params={"q": sid}).json()["results"][0]["sites"][0]["site_id"] == sid
    )
    assert bm2.get("/api/search", params={"q": sid}).json()["results"] == []
    assert bm1.get("/api/search", params={"q": "x"}).status_code == 422
    assert env.client().get("/api/search", params={"q": "teststraat"}).status_code == 401
    assert (
        env.login("beheer@test.nl").get("/api/search", params={"q": "teststraat"}).status_code
        == 403
    )


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_both_backends_answer_the_same(make_env: Any, tmp_path: Path) -> None:
    """Search, orientation, "waarom hier niet?" with names and a sheet's surroundings: the
    PostGIS store answers as the GeoPackage store on the same result (published)."""
    from conftest import SECRET, USERS, FakeClock

    from api.main import create_app
    from api.settings import Settings

    pg = _with_index(make_env(copy_result=True))
    gp_settings = Settings(
        result=pg.result,
        database=str(tmp_path / "gpkg-users.sqlite"),
        secret_key=SECRET,
        static_dir=tmp_path / "none",
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )
    gp_app = create_app(gp_settings, clock=FakeClock())
    for email, (role, codes) in USERS.items():
        gp_app.state.users.add_user(email, PASSWORD, role=role, gemeenten=codes)
    gp = Env(gp_app, gp_settings, FakeClock(), pg.result, pg.gemeenten)
    try:
        tl = _site(pg, "tijdelijke_locaties", "GM0901")
        pl = _site(pg, "plinten", "GM0902")
        kt = _site(pg, "kantoren", "GM0901")
        queries = [
            "1111 AA 5",
            "2222BB",
            "teststraat",
            "Teststraat 5 Eerstedorp",
            "teststraat 5 b",
            "TST01 A 7",
            "TST01 A 8",
            tl["site_id"],
            kt["site_id"],
            pl["site_id"],
            "GM0901-bestaat-niet",
        ]
        points = []
        for site in (tl, pl, kt):
            c = site["geometry"].centroid
            points += [(c.x, c.y), (c.x + 40, c.y + 15), (c.x - 300, c.y - 300)]
        for email in ("bm1@test.nl", "bm2@test.nl", "analist@test.nl"):
            a, b = gp.login(email), pg.login(email)
            for q in queries:
                ra, rb = (
                    a.get("/api/search", params={"q": q}),
                    b.get("/api/search", params={"q": q}),
                )
                assert (ra.status_code, ra.json()) == (rb.status_code, rb.json()), (email, q)
            for x, y in points:
                params = {"x": x, "y": y, "crs": "EPSG:28992"}
                ra, rb = a.get("/api/why", params=params), b.get("/api/why", params=params)
                assert (ra.status_code, ra.json()) == (rb.status_code, rb.json()), (email, x, y)
            w, s_ = TO_WGS.transform(
                tl["geometry"].bounds[0] - 3000, tl["geometry"].bounds[1] - 3000
            )
            e, n = TO_WGS.transform(pl["geometry"].x + 3000, pl["geometry"].y + 3000)
            for zoom in (8, 12, 15):
                params = {"bbox": f"{w},{s_},{e},{n}", "zoom": zoom}
                ra = a.get("/api/orientation", params=params)
                rb = b.get("/api/orientation", params=params)
                assert (ra.status_code, ra.json()) == (rb.status_code, rb.json()), (email, zoom)
            # The site list (the page's table and the CSV): the same rows, in the same order.
            for params in (
                {},
                {"sort": "label"},
                {"tier": ["A", "B"], "sort": "-capacity_units", "layer": "tijdelijke_locaties"},
                {"bbox": f"{w},{s_},{e},{n}", "min_score": 40},
                {"q": "GM0901"},
            ):
                ra, rb = (
                    a.get("/api/sites.json", params=params),
                    b.get("/api/sites.json", params=params),
                )
                assert (ra.status_code, ra.json()) == (rb.status_code, rb.json()), (email, params)
                if email == "analist@test.nl":
                    ca, cb = (
                        a.get("/api/sites.csv", params=params),
                        b.get("/api/sites.csv", params=params),
                    )
                    assert ca.status_code == 200 and ca.content == cb.content, params
        # The surroundings of a sheet's map: the same geometries.
        scope_all = Scope(None)
        for layer, site in (("tijdelijke_locaties", tl), ("plinten", pl), ("kantoren", kt)):
            sa_ = gp.app.state.data.surroundings(layer, site["site_id"], scope=scope_all)
            sb = pg.app.state.data.surroundings(layer, site["site_id"], scope=scope_all)
            assert sa_ is not None and sb is not None
            assert sa_["box"] == sb["box"] and sa_["streets"] == sb["streets"]
            assert shapely.equals(sa_["site"], sb["site"])
            for key in ("parcels", "buildings", "water"):
                assert len(sa_[key]) == len(sb[key]), (layer, key)
                assert shapely.equals(shapely.union_all(sa_[key]), shapely.union_all(sb[key])), (
                    layer,
                    key,
                )
            assert [(n, t) for n, _, t in sa_["others"]] == [(n, t) for n, _, t in sb["others"]]
        assert (
            gp.app.state.data.surroundings(
                "kantoren", kt["site_id"], scope=Scope(frozenset({"GM0902"}))
            )
            is None
        )
        assert (
            pg.app.state.data.surroundings(
                "kantoren", kt["site_id"], scope=Scope(frozenset({"GM0902"}))
            )
            is None
        )
        orient = (
            pg.login("bm1@test.nl")
            .get("/api/orientation", params={"bbox": f"{w},{s_},{e},{n}", "zoom": 15})
            .json()
        )
        assert {n["naam"] for n in orient["names"]} == {"Teststraat", "Eerstedorp"}
        assert [f["properties"]["naam"] for f in orient["water"]["features"]] == ["Vijver"]
        # Exports: the same layers in the same order (the search index and orientation layers
        # only with the excluded objects), on both stores.
        for query in ("", "?uitgesloten=true"):
            layers = []
            for env_ in (gp, pg):
                r = env_.login("analist@test.nl").get(f"/api/export/GM0901.gpkg{query}")
                assert r.status_code == 200, r.text
                path = tmp_path / f"export-{len(layers)}.gpkg"
                path.write_bytes(r.content)
                layers.append([str(n) for n, _ in pyogrio.list_layers(path)])
            assert layers[0] == layers[1], query
            assert ("zoekindex" in layers[0]) == bool(query), layers[0]
    finally:
        for c in gp.clients:
            c.__exit__(None, None, None)
        gp_app.state.users.close()
        gp_app.state.data.close()


def _add_provincie(env: Env) -> Any:
    env.users.add_user("prov@test.nl", PASSWORD, role="provincie", gemeenten=[])
    return env.login("prov@test.nl")


def test_status_rules_history_and_audit(env: Env) -> None:
    bm1, bm2, analist = (
        env.login("bm1@test.nl"),
        env.login("bm2@test.nl"),
        env.login("analist@test.nl"),
    )
    prov = _add_provincie(env)
    sid = _site(env, "tijdelijke_locaties", "GM0901")["site_id"]
    url = f"/api/sites/tijdelijke_locaties/{sid}/status"
    first = bm1.get(url).json()
    assert first["status"] is None and first["in_scan"] and first["can_edit"]
    note = "<b>Bellen</b> & mailen"
    r = bm1.put(url, json={"status": "in_onderzoek", "note": note})
    assert r.status_code == 200, r.text
    assert r.json()["status"]["note"] == note  # plain text, stored and returned as given
    # Another municipality's policy maker: neither reading nor writing (404, like a missing site).
    assert bm2.get(url).status_code == 404
    assert bm2.put(url, json={"status": "afgevallen", "note": "", "reason": "x"}).status_code == 404
    assert note not in bm2.get("/api/statuses").text
    # The analist reads, but does not change statuses; the province does.
    assert analist.get(url).json()["status"]["status"] == "in_onderzoek"
    assert analist.put(url, json={"status": "nieuw", "note": ""}).status_code == 403
    assert prov.put(url, json={"status": "afgevallen", "note": "te nat"}).status_code == 422
    r = prov.put(url, json={"status": "afgevallen", "note": "te nat", "reason": "waterberging"})
    assert r.status_code == 200
    hist = bm1.get(url).json()["history"]
    assert [(h["old_status"], h["status"], h["user"]) for h in hist] == [
        ("in_onderzoek", "afgevallen", "prov@test.nl"),
        (None, "in_onderzoek", "bm1@test.nl"),
    ]
    assert hist[0]["old_note"] == note and hist[0]["reason"] == "waterberging"
    assert bm1.put(url, json={"status": "gerealiseerd", "note": ""}).status_code == 422
    ok = bm1.put(url, json={"status": "gerealiseerd", "note": "", "homes": 1, "date": "2026-05-01"})
    assert ok.json()["status"]["homes"] == 1
    # CSRF protects the change like every other.
    bare = env.login("bm1@test.nl")
    del bare.headers["X-CSRF-Token"]
    assert bare.put(url, json={"status": "nieuw", "note": ""}).status_code == 403
    with env.users.db.read() as con:  # the service database (SQLite or PostgreSQL)
        entries = [
            {"user_email": u, "outcome": o, "detail": d}
            for u, o, d in con.execute(
                sa.text(
                    "SELECT user_email, outcome, detail FROM audit WHERE action = 'status' "
                    "ORDER BY id"
                )
            )
        ]
    assert [(e["user_email"], e["outcome"]) for e in entries] == [
        ("bm1@test.nl", "success"),
        ("analist@test.nl", "refused"),
        ("prov@test.nl", "success"),
        ("bm1@test.nl", "success"),
    ]
    detail = json.loads(entries[2]["detail"])
    assert detail["old"] == {"status": "in_onderzoek", "note": note}
    assert detail["new"] == {"status": "afgevallen", "note": "te nat"}


def test_status_follows_parcels_and_outlives_the_site(env: Env, tmp_path: Path) -> None:
    store = WorkStore(open_database(str(tmp_path / "work.sqlite")))
    store.set_status(
        "tijdelijke_locaties",
        "TL-1",
        gemeentecode="GM0901",
        label=None,
        parcel_ids=("1", "2"),
        capacity=10,
        status="in_gesprek",
        note="n",
        reason=None,
        homes=None,
        realised_on=None,
        user_email="a@b.nl",
    )
    # A re-scan merges parcels 2 and 3 into a new site TL-2: it carries the status of parcel 2.
    found = store.status("tijdelijke_locaties", "TL-2", parcel_ids=("2", "3"))
    assert found is not None and found["site_id"] == "TL-1" and found["status"] == "in_gesprek"
    assert store.status("tijdelijke_locaties", "TL-3", parcel_ids=("4",)) is None
    # Through the api: a status of a site the scan no longer has keeps its history, in scope.
    env.app.state.work.set_status(  # type: ignore[attr-defined]
        "kantoren",
        "KT-GONE",
        gemeentecode="GM0901",
        label="Oud kantoor",
        parcel_ids=(),
        capacity=5,
        status="in_procedure",
        note="",
        reason=None,
        homes=None,
        realised_on=None,
        user_email="bm1@test.nl",
    )
    bm1, bm2 = env.login("bm1@test.nl"), env.login("bm2@test.nl")
    gone = bm1.get("/api/sites/kantoren/KT-GONE/status").json()
    assert gone["in_scan"] is False and gone["status"]["status"] == "in_procedure"
    assert [
        s["site_id"] for s in bm1.get("/api/statuses").json()["statuses"] if not s["in_scan"]
    ] == ["KT-GONE"]
    assert bm2.get("/api/sites/kantoren/KT-GONE/status").status_code == 404
    # A status recorded in another municipality for parcels of a GM0901 site (a boundary moved):
    # those who see only GM0901 do not get it through the parcels; those who see both do.
    tl = _site(env, "tijdelijke_locaties", "GM0901", 1)
    parcels = tuple(str(tl["row"]["parcel_ids"]).split(","))
    env.app.state.work.set_status(  # type: ignore[attr-defined]
        "tijdelijke_locaties",
        "TL-ELDERS",
        gemeentecode="GM0902",
        label=None,
        parcel_ids=parcels,
        capacity=3,
        status="afgevallen",
        note="geheim van GM0902",
        reason="r",
        homes=None,
        realised_on=None,
        user_email="bm2@test.nl",
    )
    url = f"/api/sites/tijdelijke_locaties/{tl['site_id']}/status"
    mine = bm1.get(url)
    assert mine.status_code == 200 and mine.json()["status"] is None
    assert "geheim" not in mine.text
    both = env.login("analist@test.nl").get(url).json()
    assert both["inherited_from"] == "TL-ELDERS" and both["status"]["status"] == "afgevallen"


def test_progress_only_province_edits_scoped_reads(env: Env) -> None:
    bm1, analist = env.login("bm1@test.nl"), env.login("analist@test.nl")
    prov = _add_provincie(env)
    mine = bm1.get("/api/progress").json()
    assert [g["gemeentecode"] for g in mine["gemeenten"]] == ["GM0901"] and not mine["can_edit"]
    assert len(prov.get("/api/progress").json()["gemeenten"]) == 3
    body = {
        "woonvisie": {"opgenomen": True, "datum": "2026-01-15", "bron": "Woonvisie 2026"},
        "prestatieafspraken": {"opgenomen": False},
        "projecten": [{"naam": "Buiten de scan", "woningen": 12, "status": "gepland"}],
        "opmerking": "<i>goed op weg</i>",
    }
    assert bm1.put("/api/progress/GM0901", json=body).status_code == 403
    assert analist.put("/api/progress/GM0901", json=body).status_code == 403
    assert prov.put("/api/progress/GM9999", json=body).status_code == 404
    r = prov.put("/api/progress/GM0901", json=body)
    assert r.status_code == 200
    assert r.json()["fase"] == 1 and r.json()["gepland"] == 12
    # A realised site status counts as realised homes and moves the class up.
    sid = _site(env, "kantoren", "GM0901")["site_id"]
    bm1.put(
        f"/api/sites/kantoren/{sid}/status",
        json={"status": "gerealiseerd", "note": "", "homes": 8, "date": "2026-06-01"},
    )
    [g] = bm1.get("/api/progress").json()["gemeenten"]
    assert (g["gerealiseerd"], g["fase"], g["opmerking"]) == (8, 3, "<i>goed op weg</i>")
    bm2 = env.login("bm2@test.nl")
    assert [x["gerealiseerd"] for x in bm2.get("/api/progress").json()["gemeenten"]] == [0]


def test_list_json_csv_and_xlsx_are_the_same_rows(env: Env) -> None:
    import openpyxl

    bm1 = env.login("bm1@test.nl")
    params = {"tier": ["A", "B"], "sort": "-capacity_units"}
    table = bm1.get("/api/sites.json", params=params).json()
    assert table["rows"] and {r["values"][5] for r in table["rows"]} <= {"A", "B"}
    assert all(r["site_id"].startswith(("TL", "KT", "PL")) for r in table["rows"])
    caps = [r["values"][7] for r in table["rows"]]
    assert caps == sorted(caps, reverse=True)
    r = bm1.get("/api/sites.csv", params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    # the page's columns, then the framing on every row (a file that leaves the service)
    assert rows[0] == [*(c["title"] for c in table["columns"]), "Let op"]
    assert [row[:-1] for row in rows[1:]] == [row["cells"] for row in table["rows"]]
    assert {row[-1] for row in rows[1:]} == {"Vertrouwelijk — verkenning, geen besluit"}
    x = bm1.get("/api/sites.xlsx", params=params)
    book = openpyxl.load_workbook(io.BytesIO(x.content))
    values = [list(v) for v in book.active.iter_rows(values_only=True)]  # type: ignore[union-attr]
    assert values[0] == rows[0] and len(values) == len(rows)
    assert [v[1] for v in values[1:]] == [row["site_id"] for row in table["rows"]]
    assert {v[-1] for v in values[1:]} == {"Vertrouwelijk — verkenning, geen besluit"}
    # Scope: nothing of another municipality; a filter outside it is refused.
    assert {row["values"][3] for row in table["rows"]} == {env.gemeenten[0].name}
    assert bm1.get("/api/sites.csv", params={"gemeente": "GM0902"}).status_code == 403
    assert bm1.get("/api/sites.json", params={"tier": "F"}).status_code == 422
    assert bm1.get("/api/sites.json", params={"sort": "geheim"}).status_code == 422
    assert env.login("beheer@test.nl").get("/api/sites.csv").status_code == 403


def test_tier_filter_on_pages_and_tile_urls(env: Env) -> None:
    bm1 = env.login("bm1@test.nl")
    page = bm1.get("/api/sites", params={"tier": ["a", "B"]}).json()
    tiers = {f["properties"]["tier"] for f in page["features"]}
    assert tiers and tiers <= {"A", "B"}
    every = bm1.get("/api/sites").json()
    assert len(page["features"]) == sum(
        f["properties"]["tier"] in ("A", "B") for f in every["features"]
    )
    layers = bm1.get("/api/layers", params={"tier": ["A", "B"]}).json()["layers"]
    assert all(t["tiles"][0].endswith("?tier=A&tier=B") for t in layers)


def test_pdf_sheet_text(env: Env) -> None:
    import pypdf

    bm1, bm2 = env.login("bm1@test.nl"), env.login("bm2@test.nl")
    sid = _site(env, "tijdelijke_locaties", "GM0901")["site_id"]
    bm1.put(
        f"/api/sites/tijdelijke_locaties/{sid}/status",
        json={"status": "in_gesprek", "note": "Gesprek op 3 maart"},
    )
    r = bm1.get(f"/api/sites/tijdelijke_locaties/{sid}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(r.content))
    pages = [p.extract_text() for p in reader.pages]
    assert all("VERTROUWELIJK — VERKENNING, GEEN BESLUIT" in t for t in pages)
    text = " ".join(" ".join(pages).split())
    feature = bm1.get(f"/api/sites/tijdelijke_locaties/{sid}").json()
    for c in feature["properties"]["explanation"]["criteria"]:
        assert c["label"] in text
    assert "in gesprek met eigenaar" in text and "Gesprek op 3 maart" in text
    assert "Kaart van de locatie en omgeving" in text
    assert bm2.get(f"/api/sites/tijdelijke_locaties/{sid}.pdf").status_code == 404


def test_every_downloaded_list_says_exploration_and_confidential(env: Env) -> None:
    """Issue 9 item 9: a list that leaves the service says "verkenning, geen besluit" and
    "vertrouwelijk" on every row (CSV and Excel) and on every printed Excel page; read back
    from the decoded files, also for an empty list."""
    import openpyxl

    an = env.login("analist@test.nl")
    for params in ({}, {"q": "bestaat-niet-xyz"}):
        text = an.get("/api/sites.csv", params=params).content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
        assert rows[0][-1] == "Let op"
        assert all(
            "verkenning, geen besluit" in row[-1] and "Vertrouwelijk" in row[-1] for row in rows[1:]
        )
        book = openpyxl.load_workbook(io.BytesIO(an.get("/api/sites.xlsx", params=params).content))
        sheet = book.active
        assert sheet is not None
        header = sheet.oddHeader.center.text or ""
        footer = sheet.oddFooter.left.text or ""
        for marking in (header, footer):
            assert "VERKENNING, GEEN BESLUIT" in marking and "VERTROUWELIJK" in marking
        assert "geen besluit" in (book.properties.description or "")
        cells = [list(v) for v in sheet.iter_rows(values_only=True)]
        assert cells[0][-1] == "Let op"
        assert all("verkenning, geen besluit" in str(row[-1]) for row in cells[1:])
    assert len(rows) == 1  # the empty list still says it (in its header and footer)
