"""Benchmark of the service on a province-size result (DESIGN.md §10, issue 15).

Serves the result with uvicorn on 127.0.0.1 (separate processes) from both result sources in one
run — the GeoPackage (service state in SQLite) and the same result published to PostGIS
(``kansenkaart publish``, service state in PostgreSQL) — each with one instance and with two
instances behind a reverse proxy (nginx from Debian's package with the configuration of
api/README.md, or the small Python proxy of tests/proxy.py when nginx is absent), and measures
with a bounded load generator (a fixed number of requests and a time cap):

- z14 vector tiles, uncached: p50/p95 latency over distinct tiles that hold candidates, for one
  client (one request at a time) and for 32 concurrent clients (other distinct tiles);
- z14 vector tiles, cached: tiles/s with 32 concurrent clients;
- one GeoJSON page of 1,000 features (following cursors);
- the site list of the whole province as CSV (``/api/sites.csv``);
- the GeoPackage export of the largest municipality (default and ``?uitgesloten=true``; first
  request builds it, later ones come from the per-version export cache).

Server CPU is the api processes' (and, for PostGIS, the PostgreSQL server's) user+system time.

Goals: uncached p95 ≤ 50 ms for one client and ≤ 150 ms for 32 clients, ≥ 300 tiles/s cached,
export ≤ 2 s.

The result: ``--result FILE``; by default the province preset
(``kansenkaart sample --preset province`` + ``kansenkaart scan``, cached in benchmarks/out/api/);
with ``--synthetic`` (or when the scan is not available) a synthetic result that follows
docs/contracts.md §C at province scale. PostGIS: a private cluster (tests/pgcluster.py,
PostgreSQL 15 + PostGIS from Debian's packages) unless ``--pg URL`` names a database.

    .venv/bin/python benchmarks/bench_api.py [--result FILE] [--synthetic] [--sources gpkg,postgis]
        [--instances 1,2] [--pg URL] [--tiles 300] [--tiles-concurrent 640] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import mercantile
import numpy as np
import psutil
import pyogrio
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "api"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "api"))
sys.path.insert(0, str(ROOT / "tests"))

SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"
PASSWORD = "benchmark password for the analist"
EMAIL = "analist@bench.nl"
LAYERS = ("tijdelijke_locaties", "kantoren", "plinten")


def app_factory():
    from api.main import create_app
    from api.settings import Settings

    return create_app(Settings())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def province_result() -> Path | None:
    """The province preset scanned by the real pipeline (cached), or None when it fails."""
    result = OUT / "province.gpkg"
    if result.exists():
        return result
    raw = OUT / "raw"
    kk = str(ROOT / ".venv" / "bin" / "kansenkaart")
    try:
        if not (raw / "sources.yaml").exists():
            print("generating the province preset (minutes) …", flush=True)
            subprocess.run(
                [kk, "sample", "--preset", "province", "--out", str(raw), "--seed", "42"],
                check=True,
                timeout=1800,
            )
        print("scanning the province preset …", flush=True)
        subprocess.run(
            [kk, "scan", "--sources", str(raw / "sources.yaml"), "--out", str(result)],
            check=True,
            timeout=1800,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"province preset not available ({exc}); using the synthetic result", flush=True)
        return None
    return result


def synthetic_result() -> Path:
    from synthetic_result import write_result

    result = OUT / "synthetic-province.gpkg"
    if not result.exists():
        print("writing a synthetic province-size result (§C) …", flush=True)
        t = time.perf_counter()
        weights = [6.0, 3.0, 2.0, 2.0, 1.5, 1.0, 1.0, 1.0, 0.8, 0.7, 0.5, 0.5]
        write_result(
            result,
            n_gemeenten=len(weights),
            per_layer=2500,
            grid=200,
            seed=42,
            size=6000.0,
            weights=weights,
        )
        print(f"  written in {time.perf_counter() - t:.0f} s", flush=True)
    return result


def _largest(result: Path) -> str:
    df = pyogrio.read_dataframe(
        result,
        layer="uitgesloten_percelen",
        columns=["gemeentecode"],
        read_geometry=False,
        use_arrow=True,
    )
    return str(df["gemeentecode"].value_counts().idxmax())


def _candidate_tiles(result: Path, z: int, n: int) -> list[mercantile.Tile]:
    tiles: set[mercantile.Tile] = set()
    to_wgs = Transformer.from_crs("EPSG:28992", "EPSG:4326", always_xy=True)
    for layer in ("tijdelijke_locaties", "kantoren", "plinten"):
        gdf = pyogrio.read_dataframe(result, layer=layer, columns=["site_id"], use_arrow=True)
        pts = gdf.geometry.representative_point()
        lon, lat = to_wgs.transform(pts.x.to_numpy(), pts.y.to_numpy())
        tiles |= {mercantile.tile(float(a), float(b), z) for a, b in zip(lon, lat, strict=True)}
    ordered = sorted(tiles)
    rng = np.random.default_rng(1)
    pick = rng.choice(len(ordered), size=min(n, len(ordered)), replace=False)
    return [ordered[i] for i in sorted(pick)]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _tile_paths(tiles: list[mercantile.Tile]) -> list[str]:
    """One request per tile; three in four for the busiest layer, the rest over the others."""
    return [
        f"/api/tiles/{LAYERS[i % 3] if i % 4 else LAYERS[0]}/14/{t.x}/{t.y}.mvt"
        for i, t in enumerate(tiles)
    ]


async def _load(
    host: str,
    port: int,
    cookie: str,
    paths: list[str],
    *,
    clients: int,
    seconds: float,
    max_requests: int,
    once: bool = False,
) -> tuple[int, float, list[float]]:
    """Keep-alive HTTP/1.1 GETs from ``clients`` connections (a minimal client, so the load
    generator costs far less CPU than the server it measures). ``once``: every path exactly once
    (client k takes paths k, k + clients, …), else round and round until the time cap."""
    done = 0
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    length_re = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")

    async def worker(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port)
        i = k
        try:
            while time.perf_counter() < stop and done < max_requests:
                if once and i >= len(paths):
                    break
                path = paths[i % len(paths)]
                t = time.perf_counter()
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                    "Accept-Encoding: gzip\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                assert head[9:12] == b"200", head[:200]
                match = length_re.search(head)
                assert match is not None, head[:400]
                await reader.readexactly(int(match.group(1)))
                latencies.append(time.perf_counter() - t)
                done += 1
                i += clients
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    return done, time.perf_counter() - t0, latencies


# -- what serves: instances, proxy, PostgreSQL ----------------------------------------------------
NGINX_CONF = """\
# The reverse proxy of api/README.md ("Several instances"), without TLS (127.0.0.1 only).
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream kansenkaart {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 1m;
        location / {{
            proxy_pass http://kansenkaart;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@dataclass
class Served:
    """One configuration being measured: its instances, the proxy in front, the PostgreSQL."""

    label: str
    port: int
    instances: list[subprocess.Popen[bytes]]
    postgres: psutil.Process | None
    proxy: str = "none"
    _dead: dict[int, float] = field(default_factory=dict)

    def api_cpu(self) -> float:
        total = 0.0
        for p in self.instances:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(p.pid).cpu_times()
                total += t.user + t.system
        return total

    def pg_cpu(self) -> float:
        """The PostgreSQL server's CPU (postmaster and its backends; a backend that ended since
        the last call keeps counting with its last figure)."""
        if self.postgres is None:
            return 0.0
        now: dict[int, float] = {}
        for p in [self.postgres, *self.postgres.children()]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                now[p.pid] = t.user + t.system
        for pid, v in list(self._dead.items()):
            if pid not in now:
                now[-pid] = v
        self._dead = {k: v for k, v in now.items()}
        return sum(now.values())

    def rss(self) -> float:
        return sum(psutil.Process(p.pid).memory_info().rss for p in self.instances) / 2**30


def _start_instance(env: dict[str, str], log: Path) -> tuple[int, subprocess.Popen[bytes]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_api:app_factory",
            "--factory",
            "--app-dir",
            str(ROOT / "benchmarks"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    return port, proc


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 600
    while True:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"an instance did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


@contextlib.contextmanager
def _proxy(ports: list[int], work: Path) -> Iterator[tuple[int, str]]:
    """nginx (Debian's package) in front of ``ports``; else tests/proxy.py in its own process."""
    port = _free_port()
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        # nginx's workers run as an unprivileged user: their temp files (a large export is
        # buffered there) must not sit under the private work directory, or a response larger
        # than the memory buffers is cut off
        tmp = Path(tempfile.mkdtemp(prefix="kk-bench-nginx-"))
        tmp.chmod(0o755)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp / sub).mkdir(mode=0o777)
            (tmp / sub).chmod(0o777)  # nginx's workers run as an unprivileged user
        servers = "\n".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in ports
        )
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, servers=servers, port=port))
        cmd = [nginx, "-e", str(tmp / "error.log"), "-c", str(conf), "-g", "daemon off;"]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        kind = (
            "nginx "
            + subprocess.run([nginx, "-v"], capture_output=True, text=True)
            .stderr.strip()
            .split("/")[-1]
        )
    else:
        code = (
            "import sys, time; sys.path.insert(0, 'tests'); from proxy import ReverseProxy\n"
            f"with ReverseProxy({ports!r}) as p:\n"
            "    print(p.port, flush=True); time.sleep(1e9)\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        kind = "tests/proxy.py (Python, one upstream connection per request)"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(
                    f"the proxy did not start: {proc.stderr.read() if proc.stderr else ''}"
                )
            time.sleep(0.2)
        yield port, kind
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if nginx:
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def serve(
    label: str, env: dict[str, str], n: int, work: Path, postgres: psutil.Process | None
) -> Iterator[Served]:
    log = work / f"{label.replace(' ', '_').replace('×', 'x')}.log"
    started = [_start_instance(env, log) for _ in range(n)]
    try:
        for port, proc in started:
            _wait_healthy(port, proc, log)
        procs = [p for _, p in started]
        if n == 1:
            yield Served(label, started[0][0], procs, postgres)
        else:
            with _proxy([port for port, _ in started], work) as (port, kind):
                yield Served(label, port, procs, postgres, proxy=kind)
    finally:
        for _, proc in started:
            proc.terminate()
        for _, proc in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _add_user(database: str) -> None:
    from api.settings import StoreSettings
    from api.store.users import open_user_store

    store = open_user_store(
        database,
        secret=SECRET.encode(),
        passwords=StoreSettings(database=database).passwords(),
    )
    try:
        if store.get_user(EMAIL) is None:
            store.add_user(EMAIL, PASSWORD, role="analist", gemeenten=[])
    finally:
        store.close()


# -- one configuration ---------------------------------------------------------------------------
def measure(
    s: Served, result: Path, tiles1: list[str], tiles32: list[str], args: argparse.Namespace
) -> dict[str, float]:
    base = f"http://127.0.0.1:{s.port}"
    fig: dict[str, float] = {}
    print(f"\n== {s.label} (proxy: {s.proxy}) ==", flush=True)
    with httpx.Client(base_url=base, timeout=300) as c:
        t = time.perf_counter()
        r = c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert c.get("/api/gemeenten").status_code == 200
        print(f"login + gemeenten: {time.perf_counter() - t:.2f} s")
        cookie = "; ".join(f"{k}={v}" for k, v in dict(c.cookies).items())
        print(
            f"api RSS with the result loaded: {s.rss():.2f} GiB over {len(s.instances)} process(es)"
        )
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        def cpu() -> tuple[float, float]:
            return s.api_cpu(), s.pg_cpu()

        def cpu_note(c0: tuple[float, float], n: int) -> str:
            a, p = cpu()
            note = f"api CPU {(a - c0[0]) / n * 1000:.1f} ms"
            if s.postgres is not None:
                note += f" + PostgreSQL CPU {(p - c0[1]) / n * 1000:.1f} ms"
            return note

        # 1. uncached z14 tiles, one client
        lat: list[float] = []
        sizes: list[int] = []
        c0 = cpu()
        for path in tiles1:
            t = time.perf_counter()
            r = c.get(path)
            lat.append(time.perf_counter() - t)
            assert r.status_code == 200, (path, r.status_code)
            sizes.append(int(r.headers.get("content-length", len(r.content))))
        p50, p95 = _pct(lat, 50) * 1000, _pct(lat, 95) * 1000
        fig.update(unc1_p50=p50, unc1_p95=p95)
        print(
            f"z14 tiles uncached, 1 client ({len(tiles1)} distinct): p50 {p50:.1f} ms, p95 "
            f"{p95:.1f} ms, max {max(lat) * 1000:.0f} ms; gzip size p95 {_pct(sizes, 95) / 1024:.1f} KB, "
            f"max {max(sizes) / 1024:.1f} KB; {cpu_note(c0, len(tiles1))} per tile  "
            f"[goal p95 ≤ 50 ms: {50 / p95:.2f}×]"
        )

        # 2. uncached z14 tiles, 32 clients (other distinct tiles)
        c0 = cpu()
        done, elapsed, lat = asyncio.run(
            _load(
                "127.0.0.1",
                s.port,
                cookie,
                tiles32,
                clients=args.clients,
                seconds=600,
                max_requests=len(tiles32),
                once=True,
            )
        )
        p50, p95 = _pct(lat, 50) * 1000, _pct(lat, 95) * 1000
        fig.update(unc32_p50=p50, unc32_p95=p95, unc32_rate=done / elapsed)
        print(
            f"z14 tiles uncached, {args.clients} clients ({done} distinct in {elapsed:.1f} s = "
            f"{done / elapsed:.0f} tiles/s): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max "
            f"{max(lat) * 1000:.0f} ms; {cpu_note(c0, done)} per tile  "
            f"[goal p95 ≤ 150 ms: {150 / p95:.2f}×]"
        )

        # 3. cached tiles, 32 clients (the first 64 tiles of the one-client run, now cached;
        # with two instances each has them after the first round)
        urls = tiles1[:64]
        for _ in range(len(s.instances)):
            for u in urls:
                c.get(u)
        c0 = cpu()
        done, elapsed, lat = asyncio.run(
            _load(
                "127.0.0.1",
                s.port,
                cookie,
                urls,
                clients=args.clients,
                seconds=args.seconds,
                max_requests=20_000,
            )
        )
        rate = done / elapsed
        fig.update(cached_rate=rate, cached_p95=_pct(lat, 95) * 1000)
        print(
            f"z14 tiles cached, {args.clients} clients: {rate:.0f} tiles/s ({done} in {elapsed:.1f} s;"
            f" p50 {_pct(lat, 50) * 1000:.1f} ms, p95 {_pct(lat, 95) * 1000:.1f} ms); "
            f"{cpu_note(c0, max(done, 1))} per tile  [goal ≥ 300/s: {rate / 300:.2f}×]"
        )

        # 4. GeoJSON pages of 1,000 features
        page_times: list[float] = []
        cursor = None
        for _ in range(10):
            t = time.perf_counter()
            r = c.get(
                "/api/sites", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}
            )
            page_times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["numberReturned"] == 1000 or body["next_cursor"] is None
            cursor = body["next_cursor"]
            if cursor is None:
                break
        fig["page_p50"] = _pct(page_times, 50) * 1000
        print(
            f"GeoJSON page of 1,000 features: p50 {fig['page_p50']:.0f} ms, max "
            f"{max(page_times) * 1000:.0f} ms ({len(r.content) / 1e6:.1f} MB)"
        )

        # 5. the site list of the whole province (the working tool's CSV download)
        list_times: list[float] = []
        for _ in range(2):
            t = time.perf_counter()
            r = c.get("/api/sites.csv")
            list_times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        fig["list_csv"] = list_times[0]
        rows = r.content.count(b"\n") - 1
        print(
            f"site list CSV of the whole province ({rows:,} rows, "
            f"{len(r.content) / 1e6:.1f} MB): {list_times[0]:.2f} s, again {list_times[1]:.2f} s"
        )

        # 6. export of the largest municipality
        code = _largest(result)
        for query, label, key in (
            ("", "styled layers (default)", "export"),
            ("?uitgesloten=true", "with excluded parcels/buildings", "export_excl"),
        ):
            c0 = cpu()
            t = time.perf_counter()
            r = c.get(f"/api/export/{code}.gpkg{query}")
            cold = time.perf_counter() - t
            assert r.status_code == 200, r.text
            note = cpu_note(c0, 1)
            warm: list[float] = []
            for _ in range(3):
                t = time.perf_counter()
                assert c.get(f"/api/export/{code}.gpkg{query}").status_code == 200
                warm.append(time.perf_counter() - t)
            fig[key] = cold
            fig[key + "_again"] = statistics.median(warm)
            path = Path(tempfile.mkdtemp(prefix="kk-export-")) / "export.gpkg"
            path.write_bytes(r.content)
            n = {
                str(lyr): pyogrio.read_info(path, layer=str(lyr))["features"]
                for lyr, _ in pyogrio.list_layers(path)
                if str(lyr) not in ("run_metadata", "layer_styles", "gemeenten")
            }
            shutil.rmtree(path.parent, ignore_errors=True)
            print(
                f"export {code} (largest), {label}: {len(r.content) / 1e6:.0f} MB {n}; first (built) "
                f"{cold:.2f} s ({note.replace(' ms', ' ms total')}), again (cached per result "
                f"version, median of 3; with two instances each builds its own) "
                f"{statistics.median(warm):.2f} s  [goal ≤ 2 s: {2 / cold:.2f}× first]"
            )
    fig["load"] = os.getloadavg()[0]
    print(f"load average after: {fig['load']:.1f}", flush=True)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--result", type=Path)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--sources", default="gpkg,postgis", help="gpkg, postgis or both")
    parser.add_argument("--instances", default="1,2", help="instance counts to measure, e.g. 1,2")
    parser.add_argument(
        "--pg", help="a PostgreSQL database with PostGIS (default: a private cluster)"
    )
    parser.add_argument("--tiles", type=int, default=300, help="distinct z14 tiles, one client")
    parser.add_argument(
        "--tiles-concurrent", type=int, default=640, help="other distinct z14 tiles, 32 clients"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="time cap of the cached run")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    sources = [x.strip() for x in args.sources.split(",") if x.strip()]
    counts_n = [int(x) for x in args.instances.split(",") if x.strip()]
    if not set(sources) <= {"gpkg", "postgis"} or not counts_n:
        raise SystemExit("--sources takes gpkg and/or postgis; --instances e.g. 1,2")
    OUT.mkdir(parents=True, exist_ok=True)

    result = args.result or (None if args.synthetic else province_result()) or synthetic_result()
    kind = (
        "synthetic §C"
        if "synthetic" in result.name
        else "the given result"
        if args.result
        else "province preset scan"
    )
    counts = {
        lyr: pyogrio.read_info(result, layer=lyr)["features"]
        for lyr in (*LAYERS, "uitgesloten_percelen", "uitgesloten_panden")
    }
    print(f"result: {result} ({kind}, {result.stat().st_size / 1e6:.0f} MB)")
    print("  features: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    tiles = _candidate_tiles(result, 14, args.tiles + args.tiles_concurrent)
    if len(tiles) < args.tiles + args.tiles_concurrent:
        print(f"  only {len(tiles)} distinct candidate tiles at z14", flush=True)
    cut = min(args.tiles, len(tiles) // 3)
    tiles1, tiles32 = _tile_paths(tiles[:cut]), _tile_paths(tiles[cut:])
    rng = np.random.default_rng(2)  # the sorted tiles, shuffled: no run walks a strip in order
    tiles1 = [tiles1[i] for i in rng.permutation(len(tiles1))]
    tiles32 = [tiles32[i] for i in rng.permutation(len(tiles32))]

    work = Path(tempfile.mkdtemp(prefix="kk-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KANSENKAART_")}
    base_env.update(
        KANSENKAART_SECRET_KEY=SECRET,
        KANSENKAART_TILE_CACHE_MB="256",
        KANSENKAART_STATIC_DIR=str(work / "nostatic"),
        KANSENKAART_COOKIE_SECURE="never",
        KANSENKAART_DB_AUTO_UPGRADE="0",
        KANSENKAART_TRUSTED_PROXIES="127.0.0.1",
    )
    figures: dict[str, dict[str, float]] = {}
    cluster = None
    try:
        if "gpkg" in sources:
            state = str(work / "users.sqlite")
            _add_user(state)  # migrates the new database too
            env = {**base_env, "KANSENKAART_RESULT": str(result), "KANSENKAART_DATABASE": state}
            for n in counts_n:
                label = f"GeoPackage × {n}"
                with serve(label, env, n, work, None) as s:
                    figures[label] = measure(s, result, tiles1, tiles32, args)
        if "postgis" in sources:
            from api.publish import publish_result

            postgres = None
            if args.pg:
                url = state = args.pg
            else:
                from pgcluster import PgCluster

                cluster = PgCluster.start(
                    settings={
                        "shared_buffers": "1GB",
                        "work_mem": "32MB",
                        "max_wal_size": "4GB",
                        "checkpoint_timeout": "30min",
                    }
                )
                url = cluster.create_database("result")
                state = cluster.create_database("state")
                pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
                postgres = psutil.Process(pid)
            t = time.perf_counter()
            info = publish_result(result, url)
            print(
                f"\npublish to PostGIS: {time.perf_counter() - t:.1f} s (schema kk_result_"
                f"{info.version}; load average {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            _add_user(state)
            env = {**base_env, "KANSENKAART_RESULT": url, "KANSENKAART_DATABASE": state}
            for n in counts_n:
                label = f"PostGIS × {n}"
                with serve(label, env, n, work, postgres) as s:
                    figures[label] = measure(s, result, tiles1, tiles32, args)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nsummary ({kind}; z14; ms unless stated; load average at the end of each run):")
    print(
        "| source × instances | uncached 1 client p50/p95 | uncached 32 clients p50/p95 "
        "| cached 32 clients tiles/s | GeoJSON page p50 | site list CSV (s) "
        "| export first / again (s) | load |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, f in figures.items():
        print(
            f"| {label} | {f['unc1_p50']:.1f} / {f['unc1_p95']:.1f} | {f['unc32_p50']:.0f} / "
            f"{f['unc32_p95']:.0f} | {f['cached_rate']:.0f} | {f['page_p50']:.0f} | "
            f"{f['list_csv']:.2f} | "
            f"{f['export']:.2f} / {f['export_again']:.2f} | {f['load']:.1f} |"
        )


if __name__ == "__main__":
    main()
