"""Publish → WebSocket delivery latency with N subscribers on one channel.

A real ``yard serve`` (its own process) serves ``/v1/stream``; subscriber
processes hold N WebSockets (the ``websockets`` client, frames scanned, not
parsed, so the clients stay cheap) on one channel; this process publishes
over HTTP at a fixed rate, each payload stamped with the wall-clock time just
before the request. Every subscriber notes when each message arrives. Prints
p50/p90/p99/max latency over all deliveries, and deliveries per second.

Run: ``.venv/bin/python bench/stream_latency.py [--subscribers 1000] [--messages 200]
[--rate 20] [--processes 2]``. Set ``FLEETYARD_BENCH_DATABASE_URL`` for PostgreSQL.
Everything shares the machine: with 2 cores the subscribers' own CPU time is
part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2

BIN = Path(sys.executable).parent
KEY = "fy_test_" + "s" * 40
MARK = '"sent":'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, data: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLEETYARD_BOOTSTRAP_API_KEY": KEY,
        "FLEETYARD_LOG_LEVEL": "warning",
    }
    database = os.environ.get("FLEETYARD_BENCH_DATABASE_URL") or f"sqlite:///{data / 'fy.db'}"
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
    port: int, channel_id: str, count: int, expected: int, ready: object, results: object
) -> None:
    latencies = asyncio.run(_subscribers(port, channel_id, count, expected, ready))
    results.put(latencies)  # type: ignore[attr-defined]


async def _subscribers(
    port: int, channel_id: str, count: int, expected: int, ready: object
) -> list[float]:
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    subscribe = json.dumps(
        {"type": "subscribe", "id": "b", "channels": [{"channel_id": channel_id}]}
    )
    connected = 0
    all_connected = asyncio.Event()

    async def one() -> None:
        nonlocal connected
        async with connect(
            f"ws://127.0.0.1:{port}/v1/stream",
            additional_headers={"Authorization": f"Bearer {KEY}"},
            max_size=2**24,
            ping_interval=None,
        ) as ws:
            await ws.send(subscribe)
            while True:
                frame = await ws.recv()
                if '"subscribed"' in frame:
                    break
            connected += 1
            if connected == count:
                all_connected.set()
            seen = 0
            while seen < expected:
                frame = await asyncio.wait_for(ws.recv(), 60)
                at = time.time_ns()
                start = frame.find(MARK)
                if start < 0:
                    continue  # a heartbeat
                end = frame.find("}", start)
                latencies.append((at - int(frame[start + len(MARK) : end])) / 1e6)
                seen += 1

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    await all_connected.wait()
    ready.set()  # type: ignore[attr-defined]
    await asyncio.gather(*tasks)
    return latencies


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux ``/proc``; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--processes", type=int, default=2, help="subscriber processes")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="fy-stream-bench-"))
    port = free_port()
    server = start_server(port, data)
    try:
        url = f"http://127.0.0.1:{port}"
        http = httpx2.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        site = http.post("/v1/sites", json={"name": "bench"}).json()["id"]
        agent = http.post("/v1/agents", json={"site_id": site, "name": "bench"}).json()["id"]
        channel = http.post(f"/v1/agents/{agent}/channels", json={"name": "latency"}).json()["id"]

        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        shares = [args.subscribers // args.processes] * args.processes
        shares[0] += args.subscribers - sum(shares)
        readies = []
        workers = []
        for share in shares:
            ready = ctx.Event()
            worker = ctx.Process(
                target=subscriber_process,
                args=(port, channel, share, args.messages, ready, results),
            )
            worker.start()
            readies.append(ready)
            workers.append(worker)
        for ready in readies:
            if not ready.wait(120):
                raise SystemExit("subscribers did not all connect")

        interval = 1 / args.rate
        cpu_before = cpu_seconds(server.pid)
        started = time.perf_counter()
        for n in range(args.messages):
            target = started + n * interval
            pause = target - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            body = f'{{"payload": {{"n": {n}, "sent": {time.time_ns()}}}}}'
            response = http.post(
                f"/v1/channels/{channel}/messages",
                content=body,
                headers={"Content-Type": "application/json"},
            )
            response.raise_for_status()
        latencies: list[float] = []
        for _ in workers:
            latencies += results.get(timeout=300)
        elapsed = time.perf_counter() - started
        cpu_after = cpu_seconds(server.pid)
        for worker in workers:
            worker.join(30)
        http.close()
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(data, ignore_errors=True)

    expected = args.subscribers * args.messages
    print(
        f"subscribers={args.subscribers} messages={args.messages} rate={args.rate}/s "
        f"database={'postgresql' if os.environ.get('FLEETYARD_BENCH_DATABASE_URL') else 'sqlite'}"
    )
    print(
        f"deliveries: {len(latencies)}/{expected} in {elapsed:.1f} s "
        f"({len(latencies) / elapsed:,.0f}/s)"
    )
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        print(
            f"server CPU: {used:.1f} s over {elapsed:.1f} s "
            f"({used / max(len(latencies), 1) * 1e6:.0f} µs per delivery)"
        )
    print(
        "publish→delivery latency ms: "
        + "  ".join(f"p{p}={percentile(latencies, p):.1f}" for p in (50, 90, 99))
        + f"  max={max(latencies):.1f}"
    )
    return 0 if len(latencies) == expected else 1


if __name__ == "__main__":
    raise SystemExit(main())
