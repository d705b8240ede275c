"""Benchmark of the service on a province-size result (DESIGN.md §10).

Serves the result with uvicorn on 127.0.0.1 (a separate process) and measures, with a bounded
httpx load generator (a fixed number of requests and a time cap):

- z14 vector tiles, uncached: p50/p95 latency over distinct tiles that hold candidates;
- z14 vector tiles, cached: tiles/s with 32 concurrent clients;
- one GeoJSON page of 1,000 features (following cursors);
- the GeoPackage export of the largest municipality (default and ``?uitgesloten=true``; first
  request builds it, later ones come from the per-version export cache).

Goals: p95 ≤ 50 ms uncached, ≥ 300 tiles/s cached, export ≤ 2 s.

The result: ``--result FILE``; by default the province preset
(``kansenkaart sample --preset province`` + ``kansenkaart scan``, cached in benchmarks/out/api/);
with ``--synthetic`` (or when the scan is not available) a synthetic result that follows
docs/contracts.md §C at province scale.

    .venv/bin/python benchmarks/bench_api.py [--result FILE] [--synthetic] [--tiles 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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

SECRET = "benchmark-secret-key-0123456789-abcdefghijklmnop"
PASSWORD = "benchmark password"


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
    return float(np.percentile(np.asarray(values), q))


async def _cached_load(
    host: str,
    port: int,
    cookie: str,
    paths: list[str],
    *,
    clients: int,
    seconds: float,
    max_requests: int,
) -> tuple[int, float, list[float]]:
    """Keep-alive HTTP/1.1 GETs from ``clients`` connections (a minimal client, so the load
    generator costs far less CPU than the server it measures)."""
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
                path = paths[i % len(paths)]
                t = time.perf_counter()
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\nAccept-Encoding: gzip\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                assert head[9:12] == b"200", head[:40]
                match = length_re.search(head)
                assert match is not None
                await reader.readexactly(int(match.group(1)))
                latencies.append(time.perf_counter() - t)
                done += 1
                i += clients
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    return done, time.perf_counter() - t0, latencies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--result", type=Path)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument(
        "--tiles", type=int, default=300, help="distinct z14 tiles for the uncached run"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="time cap of the cached run")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    result = args.result or (None if args.synthetic else province_result()) or synthetic_result()
    kind = "synthetic §C" if "synthetic" in result.name else "province preset scan"
    counts = {
        lyr: pyogrio.read_info(result, layer=lyr)["features"]
        for lyr in (
            "tijdelijke_locaties",
            "kantoren",
            "plinten",
            "uitgesloten_percelen",
            "uitgesloten_panden",
        )
    }
    print(f"result: {result} ({kind}, {result.stat().st_size / 1e6:.0f} MB)")
    print("  features: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))

    work = Path(tempfile.mkdtemp(prefix="kk-bench-"))
    env = dict(os.environ)
    env.update(
        {
            "KANSENKAART_RESULT": str(result),
            "KANSENKAART_DATABASE": str(work / "users.sqlite"),
            "KANSENKAART_SECRET_KEY": SECRET,
            "KANSENKAART_TILE_CACHE_MB": "256",
            "KANSENKAART_STATIC_DIR": str(work / "nostatic"),
        }
    )
    from api.settings import StoreSettings
    from api.store.users import open_user_store

    store = open_user_store(
        str(work / "users.sqlite"),
        secret=SECRET.encode(),
        passwords=StoreSettings(database=str(work / "users.sqlite")).passwords(),
    )
    store.add_user("analist@bench.nl", PASSWORD, role="analist", gemeenten=[])
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
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
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=120) as c:
            t = time.perf_counter()
            assert (
                c.post(
                    "/api/auth/login", json={"email": "analist@bench.nl", "password": PASSWORD}
                ).status_code
                == 200
            )
            assert c.get("/api/gemeenten").status_code == 200  # loads the result
            print(f"login + first load of the result: {time.perf_counter() - t:.2f} s")
            cookies = dict(c.cookies)

            proc = psutil.Process(server.pid)

            def cpu() -> float:
                t = proc.cpu_times()
                return t.user + t.system

            print(f"server RSS with the result loaded: {proc.memory_info().rss / 2**30:.2f} GiB")
            print(
                f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes compete for the CPU)"
            )
            # 1. uncached z14 tiles
            tiles = _candidate_tiles(result, 14, args.tiles)
            lat_unc: list[float] = []
            sizes: list[int] = []
            cpu0 = cpu()
            for i, tl in enumerate(tiles):
                layer = (
                    ("tijdelijke_locaties", "kantoren", "plinten")[i % 3]
                    if i % 4
                    else "tijdelijke_locaties"
                )
                t = time.perf_counter()
                r = c.get(f"/api/tiles/{layer}/14/{tl.x}/{tl.y}.mvt")
                lat_unc.append(time.perf_counter() - t)
                assert r.status_code == 200
                sizes.append(int(r.headers.get("content-length", len(r.content))))
            cpu_unc = (cpu() - cpu0) / len(tiles) * 1000
            p50, p95 = _pct(lat_unc, 50) * 1000, _pct(lat_unc, 95) * 1000
            print(
                f"z14 tiles uncached ({len(tiles)} distinct): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(lat_unc) * 1000:.0f} ms; gzip size p95 {_pct(sizes, 95) / 1024:.1f} KB, max {max(sizes) / 1024:.1f} KB; server CPU {cpu_unc:.1f} ms/tile  [goal p95 ≤ 50 ms: {50 / p95:.2f}×]"
            )

            # 2. cached tiles, 32 concurrent clients
            urls = [
                f"/api/tiles/tijdelijke_locaties/14/{tl.x}/{tl.y}.mvt" for tl in tiles[::4][:64]
            ]
            for u in urls:
                c.get(u)
            cpu0 = cpu()
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            done, elapsed, lat = asyncio.run(
                _cached_load(
                    "127.0.0.1",
                    port,
                    cookie,
                    urls,
                    clients=args.clients,
                    seconds=args.seconds,
                    max_requests=20_000,
                )
            )
            rate = done / elapsed
            cpu_cached = (cpu() - cpu0) / max(done, 1) * 1000
            print(
                f"z14 tiles cached, {args.clients} clients: {rate:.0f} tiles/s ({done} in {elapsed:.1f} s; p50 {_pct(lat, 50) * 1000:.1f} ms, p95 {_pct(lat, 95) * 1000:.1f} ms); server CPU {cpu_cached:.2f} ms/tile = {1000 / cpu_cached:.0f} tiles/s per core  [goal ≥ 300/s: {rate / 300:.2f}×]"
            )

            # 3. GeoJSON pages of 1,000 features
            page_times: list[float] = []
            cursor = None
            for _ in range(10):
                t = time.perf_counter()
                r = c.get(
                    "/api/sites", params={"limit": 1000, **({"cursor": cursor} if cursor else {})}
                )
                page_times.append(time.perf_counter() - t)
                body = r.json()
                assert body["numberReturned"] == 1000 or body["next_cursor"] is None
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            print(
                f"GeoJSON page of 1,000 features: p50 {_pct(page_times, 50) * 1000:.0f} ms, max {max(page_times) * 1000:.0f} ms ({len(r.content) / 1e6:.1f} MB)"
            )

            # 4. export of the largest municipality
            code = _largest(result)
            for query, label in (
                ("", "styled layers (default)"),
                ("?uitgesloten=true", "with excluded parcels/buildings"),
            ):
                cpu0 = cpu()
                t = time.perf_counter()
                r = c.get(f"/api/export/{code}.gpkg{query}")
                cold = time.perf_counter() - t
                cpu_cold = cpu() - cpu0
                assert r.status_code == 200, r.text
                warm: list[float] = []
                for _ in range(3):
                    t = time.perf_counter()
                    assert c.get(f"/api/export/{code}.gpkg{query}").status_code == 200
                    warm.append(time.perf_counter() - t)
                path = work / "export.gpkg"
                path.write_bytes(r.content)
                n = {
                    str(lyr): pyogrio.read_info(path, layer=str(lyr))["features"]
                    for lyr, _ in pyogrio.list_layers(path)
                    if str(lyr) not in ("run_metadata", "layer_styles", "gemeenten")
                }
                print(
                    f"export {code} (largest), {label}: {len(r.content) / 1e6:.0f} MB {n}; first (built) "
                    f"{cold:.2f} s (server CPU {cpu_cold:.2f} s), again (cached per result version) "
                    f"median {statistics.median(warm):.2f} s  [goal ≤ 2 s: {2 / cold:.2f}× first, "
                    f"{2 / statistics.median(warm):.2f}× again]"
                )
            print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
