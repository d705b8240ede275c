"""Two ``kansenkaart serve`` processes on one PostgreSQL database, behind one reverse proxy.

Both instances use the same database for their state (users, sessions, throttling, audit) and as
their result source (a published result), the way a production setup runs several instances
(api/README.md): a login on one is valid on the other, a logout on one ends the session on both,
the throttling limit holds across both, a new publish is served by both without a restart, and
when one instance dies during a tile load the other keeps serving every request that reaches it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mapbox_vector_tile
import mercantile
import pytest
from proxy import ReverseProxy
from pyproj import Transformer
from synthetic_result import write_result

from api.publish import publish_result
from api.security import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE

ROOT = Path(__file__).resolve().parents[2]
SECRET = "two-instances-secret-key-0123456789-abcdefghijkl"
PASSWORD = "two instances password"
#: How long an instance may reuse a session it validated (the default of api/settings.py).
SESSION_CACHE_SECONDS = 1.0
TO_WGS = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)

#: One worker runs them all, in order (they share the two instances; the last one kills one).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("two_instances")]


@dataclass
class Instance:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    database: str
    instances: list[Instance]
    proxy: ReverseProxy
    result: Path
    gemeenten: list


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(database: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANSENKAART_")}
    env.update(
        KANSENKAART_DATABASE=database,
        KANSENKAART_RESULT=database,
        KANSENKAART_SECRET_KEY=SECRET,
        KANSENKAART_DB_AUTO_UPGRADE="0",
        KANSENKAART_RESULT_POLL_SECONDS="0.2",
        KANSENKAART_ARGON2_TIME_COST="1",
        KANSENKAART_ARGON2_MEMORY_KIB="64",
        KANSENKAART_STATIC_DIR=str(tmp / "no-static"),
        KANSENKAART_COOKIE_SECURE="never",
        KANSENKAART_DB_POOL_SIZE="4",
        KANSENKAART_SESSION_CACHE_SECONDS=str(SESSION_CACHE_SECONDS),
        # After the free attempts a minute's wait: longer than the throttling test takes on a
        # loaded machine (with the default second, a slow request let the right password in).
        KANSENKAART_LOGIN_DELAY_SECONDS="60",
    )
    return env


def _kansenkaart(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        env=env,
        cwd=ROOT,
        input=stdin.encode(),
        capture_output=True,
        timeout=180,
    )


def _start(env: dict[str, str], log: Path) -> Instance:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Instance(port, proc)


def _wait_healthy(instance: Instance, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if instance.proc.poll() is not None:
            raise AssertionError(f"instance exited: {log.read_text()[-3000:]}")
        try:
            r = httpx.get(instance.url + "/healthz", timeout=2)
            if r.status_code == 200 and r.json()["result"] == "loaded":
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"instance did not start: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cluster(pg_cluster, tmp_path_factory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("instances")
    result = tmp / "kansenkaart.gpkg"
    gems = write_result(result, n_gemeenten=3, per_layer=30, grid=10, seed=1)
    database = pg_cluster.create_database()
    env = _env(database, tmp)
    # The operator's steps: migrate, publish, add users; then start the instances.
    for args, stdin in (
        (["db", "upgrade"], ""),
        (["publish", str(result), "--to", database], ""),
        (["users", "add", "bm1@test.nl", "--role", "beleidsmaker", "-g", "GM0901",
          "--password-stdin"], PASSWORD + "\n"),
        (["users", "add", "analist@test.nl", "--role", "analist", "--password-stdin"],
         PASSWORD + "\n"),
        (["users", "add", "guessed@test.nl", "--role", "analist", "--password-stdin"],
         PASSWORD + "\n"),
    ):  # fmt: skip
        done = _kansenkaart(*args, env=env, stdin=stdin)
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    logs = [tmp / "a.log", tmp / "b.log"]
    instances = [_start(env, log) for log in logs]
    try:
        for inst, log in zip(instances, logs, strict=True):
            _wait_healthy(inst, log)
        with ReverseProxy([i.port for i in instances]) as proxy:
            yield Cluster(database, instances, proxy, result, gems)
    finally:
        for inst in instances:
            if inst.proc.poll() is None:
                inst.proc.send_signal(signal.SIGTERM)
        for inst in instances:
            try:
                inst.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                inst.proc.kill()


def _login(base: str, email: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(base + "/api/auth/login", json={"email": email, "password": password})


def _cookies(r: httpx.Response) -> dict[str, str]:
    return {SESSION_COOKIE: r.cookies[SESSION_COOKIE], CSRF_COOKIE: r.cookies[CSRF_COOKIE]}


def test_a_session_of_one_instance_works_on_the_other_and_logout_ends_it_on_both(cluster):
    """A logout ends the session at once on the instance that handled it, and on the other one
    within KANSENKAART_SESSION_CACHE_SECONDS of that instance's last database read (it reuses a
    session it has just validated for that long; api/README.md "Several instances")."""
    a, b = cluster.instances
    r = _login(a.url, "bm1@test.nl")
    assert r.status_code == 200, r.text
    cookies = _cookies(r)
    for inst in (b, a):
        me = httpx.get(inst.url + "/api/me", cookies=cookies)
        assert me.status_code == 200 and me.json()["email"] == "bm1@test.nl"
    read_on_a = time.monotonic()  # a's last look-up in the database (at the latest)
    out = httpx.post(
        b.url + "/api/auth/logout", cookies=cookies, headers={CSRF_HEADER: cookies[CSRF_COOKIE]}
    )
    assert out.status_code == 204
    assert httpx.get(b.url + "/api/me", cookies=cookies).status_code == 401
    while True:
        sent = time.monotonic()  # a checked the session after this moment
        status = httpx.get(a.url + "/api/me", cookies=cookies).status_code
        if status != 200:
            break
        assert sent - read_on_a <= SESSION_CACHE_SECONDS + 0.01, "a logout outlived the bound"
        time.sleep(0.02)
    assert status == 401
    assert httpx.get(b.url + "/api/me", cookies=cookies).status_code == 401


def test_the_throttling_limit_holds_across_instances(cluster):
    """Wrong passwords alternate between the instances: together they get the free attempts,
    then both refuse (even the right password) with the same wait."""
    a, b = cluster.instances
    statuses = [
        _login((a, b)[i % 2].url, "guessed@test.nl", "wrong password!").status_code
        for i in range(8)
    ]
    assert statuses == [401] * 5 + [429] * 3
    for inst in (a, b):
        r = _login(inst.url, "guessed@test.nl")
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"


def test_a_new_publish_is_served_by_both_without_a_restart(cluster, tmp_path):
    a, b = cluster.instances
    cookies = _cookies(_login(a.url, "bm1@test.nl"))
    assert httpx.get(a.url + "/api/me", cookies=cookies).json()["run"]["run_id"] == "test-1"
    new = tmp_path / "new.gpkg"
    write_result(new, n_gemeenten=3, per_layer=12, grid=6, seed=7)
    publish_result(new, cluster.database)
    deadline = time.monotonic() + 20
    seen: dict[int, tuple[str, int]] = {}
    while time.monotonic() < deadline:
        for inst in (a, b):
            run = httpx.get(inst.url + "/api/me", cookies=cookies).json()["run"]["run_id"]
            n = httpx.get(inst.url + "/api/sites?layer=plinten&limit=10000", cookies=cookies)
            seen[inst.port] = (run, n.json()["numberReturned"])
        if all(v == ("test-7", 12) for v in seen.values()):
            break
        time.sleep(0.2)
    assert seen == {a.port: ("test-7", 12), b.port: ("test-7", 12)}
    assert a.proc.poll() is None and b.proc.poll() is None  # no restart
    publish_result(cluster.result, cluster.database)  # back to the first result


def _tiles(cluster: Cluster, n: int) -> list[str]:
    west, south = TO_WGS.transform(cluster.gemeenten[0].x0, cluster.gemeenten[0].y0)
    gem = cluster.gemeenten[-1]
    east, north = TO_WGS.transform(gem.x0 + gem.size, gem.y0 + gem.size / 2)
    tiles = list(mercantile.tiles(west, south, east, north, [13, 14, 15, 16]))
    layers = ("tijdelijke_locaties", "kantoren", "plinten")
    paths = [f"/api/tiles/{layers[i % 3]}/{t.z}/{t.x}/{t.y}.mvt" for i, t in enumerate(tiles)]
    return (paths * (n // len(paths) + 1))[:n]


def test_one_instance_dies_during_a_tile_load_and_the_other_keeps_serving(cluster, tmp_path):
    """Four clients load tiles through the proxy; one instance is killed (SIGKILL) half-way.
    Every request the survivor answered is a correct tile, and no client sees an error: what
    was in flight on the dead instance is retried on the other (nothing had been sent yet)."""
    a, b = cluster.instances
    base = f"http://127.0.0.1:{cluster.proxy.port}"
    cookies = _cookies(_login(base, "analist@test.nl"))
    paths = _tiles(cluster, 400)
    assert len(paths) >= 200
    results: list[tuple[int, int, bool]] = []  # (status, upstream port, decodes)
    lock = threading.Lock()
    next_i = iter(range(len(paths)))
    killed = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=30) as c:
            while True:
                with lock:
                    i = next(next_i, None)
                if i is None:
                    return
                r = c.get(paths[i], headers={"Accept-Encoding": "gzip"})
                ok = False
                if r.status_code == 200:
                    layer = paths[i].split("/")[3]
                    tile = mapbox_vector_tile.decode(r.content)
                    ok = layer in tile or len(r.content) < 100
                with lock:
                    results.append((r.status_code, int(r.headers.get("x-upstream", 0)), ok))
                    if len(results) == len(paths) // 2 and not killed.is_set():
                        killed.set()
                        a.proc.send_signal(signal.SIGKILL)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert killed.is_set() and a.proc.wait(timeout=10) == -signal.SIGKILL
    assert len(results) == len(paths)
    by_b = [r for r in results if r[1] == b.port]
    assert by_b and all(status == 200 and ok for status, _, ok in by_b)
    assert all(status == 200 and ok for status, _, ok in results)  # none reached the client
    after_kill = results[len(paths) // 2 + 8 :]  # (requests already in flight may finish on a)
    assert after_kill and {port for _, port, _ in after_kill} == {b.port}
    assert cluster.proxy.stats.unavailable == 0
