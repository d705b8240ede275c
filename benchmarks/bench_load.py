"""Load benchmark of the service (issue 11): 32 clients on uncached and on cached vector tiles,
alone and together with a login flood, printing p50/p95, errors and the server's RSS growth.

The service runs as ``kansenkaart serve`` would (uvicorn, one process, default settings: tile
cache 64 MB, two password threads) on a province-size result (see ``bench_api.py``: the province
preset scan, or ``--synthetic``; or ``--result FILE``). The load generator is a minimal keep-alive
HTTP/1.1 client on asyncio, so it costs far less CPU than the server it measures. Phases, one after
the other:

1. ``/api/me`` alone (one client): the quiet baseline of a cheap authenticated request;
2. uncached z14 tiles (32 clients, every request a tile/layer not asked before);
3. cached z14 tiles (32 clients over 64 warmed tiles);
4. cached tiles (32 clients) + login flood + the ``/api/me`` probe;
5. uncached z15 tiles (32 clients) + login flood + the ``/api/me`` probe.

The login flood: 4 clients logging in again and again with the right password (each a full
argon2id check, 64 MiB) and 4 with wrong passwords (counted by the throttle: 401, then 429).
An *error* is any answer other than the one expected (200 for tiles and ``/api/me``; 200, 401 or
429 for a login), a broken connection or a request slower than 30 s. The server's RSS is sampled
every 0.2 s; growth is measured from the moment the result is loaded.

    flock /work/coord/bench.lock .venv/bin/python benchmarks/bench_load.py [--result FILE]
        [--synthetic] [--clients 32] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
from bench_api import (
    OUT,
    PASSWORD,
    SECRET,
    _candidate_tiles,
    province_result,
    serve,
    synthetic_result,
)

TILE_LAYERS = ("tijdelijke_locaties", "kantoren", "plinten")
FLOOD_RIGHT = 4
FLOOD_WRONG = 4
TIMEOUT = 30.0
LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
CHUNKED = re.compile(rb"(?i)\r\ntransfer-encoding: *chunked")


@dataclass
class Stats:
    """Latencies and outcomes of one kind of request within a phase."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def line(self, label: str, seconds: float) -> str:
        n = len(self.latencies)
        if not n:
            return f"  {label}: no answers; errors {dict(self.errors) or 0}"
        lat = np.asarray(self.latencies) * 1000
        return (
            f"  {label}: {n} answers ({n / seconds:.0f}/s), p50 {np.percentile(lat, 50):.1f} ms, "
            f"p95 {np.percentile(lat, 95):.1f} ms, max {lat.max():.0f} ms; statuses "
            f"{dict(sorted(self.statuses.items()))}; errors {sum(self.errors.values())}"
            + (f" {dict(self.errors)}" if self.errors else "")
        )


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened after an error."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        if match := LENGTH.search(head):
            await self.reader.readexactly(int(match.group(1)))
        elif CHUNKED.search(head):
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if b"\r\nconnection: close" in head.lower():
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def get(path: str, host: str, cookie: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nAccept-Encoding: gzip\r\n\r\n"
    ).encode()


def post_json(path: str, host: str, body: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


@dataclass
class Stream:
    """A client: the stats it adds to, the statuses it expects, and its next request (None: it
    has nothing left to ask)."""

    stats: Stats
    expect: frozenset[int]
    next_request: Callable[[], bytes | None]


async def run_streams(host: str, port: int, streams: list[Stream], seconds: float) -> float:
    """Run every stream on its own connection until ``seconds`` have passed or it has nothing
    left; returns the elapsed time."""
    stop = time.perf_counter() + seconds

    async def one(stream: Stream) -> None:
        conn = Connection(host, port)
        try:
            while time.perf_counter() < stop:
                raw = stream.next_request()
                if raw is None:
                    return
                t = time.perf_counter()
                try:
                    status = await asyncio.wait_for(conn.request(raw), TIMEOUT)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    stream.stats.errors[type(exc).__name__] += 1
                    conn.close()
                    continue
                stream.stats.latencies.append(time.perf_counter() - t)
                stream.stats.statuses[status] += 1
                if status not in stream.expect:
                    stream.stats.errors[f"status {status}"] += 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(s) for s in streams))
    return time.perf_counter() - t0


class RssSampler:
    """Samples a process's RSS every 0.2 s on a thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.proc.memory_info().rss)
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tile_paths(result: Path, z: int, n: int) -> list[str]:
    """Distinct (layer, tile) addresses that hold candidates, in a fixed random order."""
    tiles = _candidate_tiles(result, z, n)
    return [f"/api/tiles/{lyr}/{z}/{t.x}/{t.y}.mvt" for t in tiles for lyr in TILE_LAYERS]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--result", type=Path)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument(
        "--password-concurrency", type=int, help="KANSENKAART_PASSWORD_CONCURRENCY (default: 2)"
    )
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    result = args.result or (None if args.synthetic else province_result()) or synthetic_result()
    print(f"result: {result} ({result.stat().st_size / 1e6:.0f} MB)")

    uncached14 = tile_paths(result, 14, 2000)
    uncached15 = tile_paths(result, 15, 2000)
    cached = uncached14[-64:]
    uncached14 = uncached14[:-64]

    right = [f"flood{k}@bench.nl" for k in range(FLOOD_RIGHT)]
    wrong = [f"guess{k}@bench.nl" for k in range(FLOOD_WRONG)]
    users = [("analist@bench.nl", "analist", [])] + [(e, "analist", []) for e in right + wrong]
    work = Path(tempfile.mkdtemp(prefix="kk-load-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KANSENKAART_")}
    env.update(
        KANSENKAART_RESULT=str(result),
        KANSENKAART_DATABASE=str(work / "users.sqlite"),
        KANSENKAART_SECRET_KEY=SECRET,
        KANSENKAART_STATIC_DIR=str(work / "nostatic"),
        KANSENKAART_COOKIE_SECURE="never",
    )
    if args.password_concurrency:
        env["KANSENKAART_PASSWORD_CONCURRENCY"] = str(args.password_concurrency)
    add_users(str(work / "users.sqlite"), users)
    try:
        with serve("load", env, 1, work, None) as served:
            run(
                served.port,
                served.instances[0].pid,
                cached,
                uncached14,
                uncached15,
                right,
                wrong,
                args,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def add_users(database: str, users: list[tuple[str, str, list[str]]]) -> None:
    from api.settings import StoreSettings
    from api.store.users import open_user_store

    store = open_user_store(
        database, secret=SECRET.encode(), passwords=StoreSettings(database=database).passwords()
    )
    try:
        for email, role, gemeenten in users:
            store.add_user(email, PASSWORD, role=role, gemeenten=gemeenten)
    finally:
        store.close()


def run(
    port: int,
    pid: int,
    cached: list[str],
    uncached14: list[str],
    uncached15: list[str],
    right: list[str],
    wrong: list[str],
    args: argparse.Namespace,
) -> None:
    """The five phases against the server on ``port`` (process ``pid``)."""
    base = f"http://127.0.0.1:{port}"
    host = f"127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=120) as c:
        for email in [*right, "analist@bench.nl"]:  # each flood account's address is known
            r = c.post("/api/auth/login", json={"email": email, "password": PASSWORD})
            assert r.status_code == 200, r.text
        assert c.get("/api/gemeenten").status_code == 200  # loads the result
        cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
        for path in cached:
            assert c.get(path).status_code == 200
    proc = psutil.Process(pid)
    rss0 = proc.memory_info().rss
    print(f"server RSS with the result loaded: {rss0 / 2**20:.0f} MiB")
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    def me_stream() -> Stream:
        return Stream(Stats(), frozenset({200}), lambda: get("/api/me", host, cookie))

    def tile_streams(paths: list[str], stats: Stats, *, again: bool = False) -> list[Stream]:
        """Clients taking the next of ``paths`` (``again``: round and round, else each once)."""
        queue = iter(paths)
        if again:
            k = iter(range(10**9))
            return [
                Stream(stats, frozenset({200}), lambda: get(paths[next(k) % 64], host, cookie))
                for _ in range(args.clients)
            ]
        return [
            Stream(
                stats,
                frozenset({200}),
                lambda: get(p, host, cookie) if (p := next(queue, None)) else None,
            )
            for _ in range(args.clients)
        ]

    def flood_streams(right_stats: Stats, wrong_stats: Stats) -> list[Stream]:
        out = []
        for k, email in enumerate(right + wrong):
            good = k < len(right)
            body = {"email": email, "password": PASSWORD if good else f"wrong {k}"}
            out.append(
                Stream(
                    right_stats if good else wrong_stats,
                    frozenset({200, 401, 429}),
                    lambda b=body: post_json("/api/auth/login", host, b),
                )
            )
        return out

    def phase(title: str, parts: dict[str, tuple[Stats, list[Stream]]]) -> None:
        streams = [s for _, group in parts.values() for s in group]
        with RssSampler(pid) as rss:
            start = proc.memory_info().rss
            elapsed = asyncio.run(run_streams("127.0.0.1", port, streams, args.seconds))
        end = proc.memory_info().rss
        print(f"{title} ({elapsed:.1f} s, load average {os.getloadavg()[0]:.1f}):")
        for label, (stats, _) in parts.items():
            print(stats.line(label, elapsed))
        print(
            f"  server RSS: {start / 2**20:.0f} → {end / 2**20:.0f} MiB "
            f"(peak {max(rss.samples, default=end) / 2**20:.0f} MiB; "
            f"since the result was loaded {(end - rss0) / 2**20:+.0f} MiB)"
        )

    me = me_stream()
    phase("1. /api/me alone, one client", {"/api/me": (me.stats, [me])})
    s = Stats()
    phase(
        f"2. uncached z14 tiles, {args.clients} clients",
        {"tiles": (s, tile_streams(uncached14, s))},
    )
    s = Stats()
    phase(
        f"3. cached z14 tiles, {args.clients} clients",
        {"tiles": (s, tile_streams(cached, s, again=True))},
    )
    for title, paths in (
        (f"4. cached z14 tiles, {args.clients} clients + login flood", cached),
        (f"5. uncached z15 tiles, {args.clients} clients + login flood", uncached15),
    ):
        again = paths is cached
        s, ok, bad, me = Stats(), Stats(), Stats(), me_stream()
        flood = flood_streams(ok, bad)
        phase(
            title,
            {
                "tiles": (s, tile_streams(paths, s, again=again)),
                "/api/me probe": (me.stats, [me]),
                f"logins, right password ({FLOOD_RIGHT} clients)": (ok, flood[:FLOOD_RIGHT]),
                f"logins, wrong password ({FLOOD_WRONG} clients)": (bad, flood[FLOOD_RIGHT:]),
            },
        )
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
