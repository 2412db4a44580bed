"""Publish → WebSocket delivery latency with N subscribers on one channel.

A real ``yard serve`` (its own process) serves ``/v1/stream``; subscriber
processes hold N WebSockets (the ``websockets`` client, frames scanned, not
parsed, so the clients stay cheap) on one channel; this process publishes
over HTTP at a fixed rate, each payload stamped with the wall-clock time just
before the request. Every subscriber notes when each message arrives. Prints
p50/p90/p99/max latency over all deliveries, and deliveries per second.

Run: ``.venv/bin/python bench/stream_latency.py [--subscribers 1000] [--messages 200]
[--rate 20] [--processes 2] [--pad 0]``. Set ``FLEETYARD_BENCH_DATABASE_URL`` for
PostgreSQL. Everything shares the machine: with 2 cores the subscribers' own CPU
time is part of what is measured. ``bench/stream_vs_mqtt.py`` runs the same
experiment against Mosquitto with the pieces defined here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from _process import free_port

BIN = Path(sys.executable).parent
KEY = "fy_test_" + "s" * 40
MARK = '"sent":'
"""Every payload ends with ``"sent": <time.time_ns()>}``; subscribers look for this, not parse."""
MARK_BYTES = MARK.encode()


CONNECT_AT_ONCE = 50
"""Handshakes in flight per subscriber process: connections are set up gradually, since
the bench measures fan-out, not a connection storm (each connect authenticates and
checks the channel against the database)."""


def payload(n: int, pad: int) -> str:
    """The published payload object: a counter, ``pad`` filler bytes, the wall-clock stamp last."""
    filler = f'"pad": "{"x" * pad}", ' if pad else ""
    return f'{{"n": {n}, {filler}"sent": {time.time_ns()}}}'


def latency_ms(frame: str | bytes | bytearray, at: int) -> float | None:
    """Milliseconds from the stamp in ``frame`` to ``at`` (ns); None if no stamp (a heartbeat)."""
    if isinstance(frame, bytes | bytearray):
        start = frame.find(MARK_BYTES)
        end = frame.find(b"}", start)
    else:
        start = frame.find(MARK)
        end = frame.find("}", start)
    if start < 0:
        return None
    return (at - int(frame[start + len(MARK) : end])) / 1e6


def start_server(port: int, data: Path, database: str | None = None) -> subprocess.Popen[bytes]:
    """``yard serve`` on ``database`` (default: a SQLite file in ``data``), once ready."""
    env = {
        **os.environ,
        "FLEETYARD_BOOTSTRAP_API_KEY": KEY,
        "FLEETYARD_LOG_LEVEL": "warning",
    }
    database = database or f"sqlite:///{data / 'fy.db'}"
    process = subprocess.Popen(
        [
            *(str(BIN / "yard"), "serve", "--dev", "--port", str(port)),
            *("--data-dir", str(data), "--database-url", database),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"yard serve exited with {process.returncode}")
        try:
            if httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                return process
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("yard serve never became ready")


def subscriber_process(
    port: int, channel_id: str, count: int, expected: int, ready: Any, results: Any
) -> None:
    results.put(asyncio.run(_subscribers(port, channel_id, count, expected, ready)))


async def _subscribers(
    port: int, channel_id: str, count: int, expected: int, ready: Any
) -> tuple[list[float], int]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    frame_bytes = 0
    subscribe = json.dumps(
        {"type": "subscribe", "id": "b", "channels": [{"channel_id": channel_id}]}
    )
    connected = 0
    all_connected = asyncio.Event()
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one() -> None:
        nonlocal connected, frame_bytes
        async with gate:
            ws = await connect(
                f"ws://127.0.0.1:{port}/v1/stream",
                additional_headers={"Authorization": f"Bearer {KEY}"},
                max_size=2**24,
                ping_interval=None,
            )
            await ws.send(subscribe)
            while True:
                frame = await ws.recv()
                if '"subscribed"' in frame:
                    break
        connected += 1
        if connected == count:
            all_connected.set()
        try:
            seen = 0
            while seen < expected:
                frame = await asyncio.wait_for(ws.recv(), 60)
                latency = latency_ms(frame, time.time_ns())
                if latency is None:
                    continue  # a heartbeat
                latencies.append(latency)
                frame_bytes = len(frame)
                seen += 1
        finally:
            await ws.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    await all_connected.wait()
    ready.set()
    await asyncio.gather(*tasks)
    return latencies, frame_bytes


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``; None elsewhere)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Result:
    """One run: every delivery's latency (ms), what was expected, and the server's CPU time."""

    name: str
    latencies: list[float]
    expected: int
    elapsed: float
    server_cpu: float | None
    frame_bytes: int

    def deliveries_per_s(self) -> float:
        return len(self.latencies) / self.elapsed

    def cpu_per_delivery_us(self) -> float | None:
        if self.server_cpu is None:
            return None
        return self.server_cpu / max(len(self.latencies), 1) * 1e6

    def report(self) -> None:
        got = len(self.latencies)
        print(
            f"{self.name}: deliveries {got}/{self.expected} in {self.elapsed:.1f} s "
            f"({self.deliveries_per_s():,.0f}/s), {self.frame_bytes} bytes each"
        )
        per = self.cpu_per_delivery_us()
        if per is not None and self.server_cpu is not None:
            print(
                f"  server CPU: {self.server_cpu:.1f} s over {self.elapsed:.1f} s "
                f"({per:.0f} µs per delivery)"
            )
        if self.latencies:
            print(
                "  publish→delivery latency ms: "
                + "  ".join(f"p{p}={percentile(self.latencies, p):.1f}" for p in (50, 90, 99))
                + f"  max={max(self.latencies):.1f}"
            )


def fan_out(
    target: Callable[..., None],
    common: tuple[Any, ...],
    subscribers: int,
    processes: int,
    messages: int,
    publish: Callable[[int], None],
    rate: float,
    server_pid: int | None,
) -> tuple[list[float], float, float | None, int]:
    """Start ``processes`` processes running ``target(*common, share, messages, ready, results)``
    holding ``subscribers`` connections between them; once all are connected call
    ``publish(n)`` for ``n < messages`` at ``rate`` per second; gather what each process
    put on ``results``: ``(latencies, frame_bytes)``. Returns the latencies, the seconds
    from the first publish to the last result, the server's CPU seconds over that time,
    and the size of a delivered frame."""
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    shares = [subscribers // processes] * processes
    shares[0] += subscribers - sum(shares)
    readies = []
    workers = []
    for share in shares:
        ready = ctx.Event()
        worker = ctx.Process(target=target, args=(*common, share, messages, ready, results))
        worker.start()
        readies.append(ready)
        workers.append(worker)
    try:
        for ready in readies:
            if not ready.wait(120):
                raise SystemExit("subscribers did not all connect")
        interval = 1 / rate
        cpu_before = cpu_seconds(server_pid)
        started = time.perf_counter()
        for n in range(messages):
            pause = started + n * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            publish(n)
        latencies: list[float] = []
        frame_bytes = 0
        for _ in workers:
            got, size = results.get(timeout=300)
            latencies += got
            frame_bytes = max(frame_bytes, size)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(server_pid)
    finally:
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.terminate()
    used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return latencies, elapsed, used, frame_bytes


def database_kind() -> str:
    return "postgresql" if os.environ.get("FLEETYARD_BENCH_DATABASE_URL") else "sqlite"


def run_fleetyard(subscribers: int, messages: int, rate: float, processes: int, pad: int) -> Result:
    """The experiment against a fresh ``yard serve``: HTTP publishes, WebSocket subscribers.
    On PostgreSQL the server gets a scratch database, created and dropped around the run."""
    from _schema import bench_postgres_url, scratch_postgres  # not in subscriber processes

    postgres = bench_postgres_url()
    if postgres is None:
        return _run_fleetyard(None, subscribers, messages, rate, processes, pad)
    with scratch_postgres(postgres) as database:
        return _run_fleetyard(database, subscribers, messages, rate, processes, pad)


def _run_fleetyard(
    database: str | None, subscribers: int, messages: int, rate: float, processes: int, pad: int
) -> Result:
    data = Path(tempfile.mkdtemp(prefix="fy-stream-bench-"))
    port = free_port()
    server = start_server(port, data, database)
    try:
        url = f"http://127.0.0.1:{port}"
        http = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)

        def create(path: str, body: dict[str, str]) -> str:
            response = http.post(path, json=body)
            response.raise_for_status()
            return str(response.json()["id"])

        site = create("/v1/sites", {"name": "bench"})
        agent = create("/v1/agents", {"site_id": site, "name": "bench"})
        channel = create(f"/v1/agents/{agent}/channels", {"name": "latency"})

        def publish(n: int) -> None:
            response = http.post(
                f"/v1/channels/{channel}/messages",
                content=f'{{"payload": {payload(n, pad)}}}',
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()

        latencies, elapsed, used, frame_bytes = fan_out(
            subscriber_process,
            (port, channel),
            subscribers,
            processes,
            messages,
            publish,
            rate,
            server.pid,
        )
        http.close()
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)
    name = f"Fleetyard ({database_kind()})"
    return Result(name, latencies, subscribers * messages, elapsed, used, frame_bytes)


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--processes", type=int, default=2, help="subscriber processes")
    parser.add_argument("--pad", type=int, default=0, help="filler bytes added to each payload")
    return parser


def main() -> int:
    args = arguments(__doc__.split("\n")[0]).parse_args()
    result = run_fleetyard(args.subscribers, args.messages, args.rate, args.processes, args.pad)
    print(
        f"subscribers={args.subscribers} messages={args.messages} rate={args.rate}/s "
        f"database={database_kind()} payload={len(payload(0, args.pad))} bytes"
    )
    result.report()
    return 0 if len(result.latencies) == result.expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
