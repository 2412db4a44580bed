"""Publishing over the agent session WebSocket: messages/s and ack latency.

One ``yard serve`` process (started as ``bench/publish_http.py`` does) and one
agent connection from this process, authenticated with a per-agent token.
The agent keeps up to ``--window`` ``publish`` frames in flight, each answered
by an ``ack`` once its messages are committed (durable), and measures each
frame's send → ack time. Two runs: one message per frame, then
``--batch`` messages per frame. Every message has its own
``client_message_id``, as an agent outbox sends them.

Run: ``.venv/bin/python bench/agent_publish.py [--seconds 10] [--window 64] [--batch 100]``.
Set ``FLEETYARD_BENCH_DATABASE_URL`` to run the server on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
from websockets.asyncio.client import connect

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from publish_http import BIN, KEY, free_port, wait_ready  # noqa: E402

PAYLOAD = {"temperature": 21.5, "humidity": 40, "battery": {"level": 87}}
SESSION_PATH = "/v1/agents/session"


async def run(url: str, token: str, *, seconds: float, window: int, batch: int) -> dict[str, float]:
    """Publish for ``seconds`` with ``window`` frames in flight; rates and latency percentiles."""
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    slots = asyncio.Semaphore(window)
    acked_messages = 0
    errors = 0
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        await ws.send(json.dumps({"type": "hello", "agent_version": "bench"}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        deadline = time.perf_counter() + seconds
        done = asyncio.Event()

        async def reader() -> None:
            nonlocal acked_messages, errors
            while not (done.is_set() and not sent_at):
                frame = json.loads(await ws.recv())
                ref = frame.get("ref")
                if ref is None or ref not in sent_at:
                    continue  # heartbeats
                latencies.append(time.perf_counter() - sent_at.pop(ref))
                if frame["type"] == "ack":
                    acked_messages += len(frame["results"])
                else:
                    errors += 1
                slots.release()

        async def writer() -> None:
            n = 0
            while time.perf_counter() < deadline:
                await slots.acquire()
                ref = f"r{n}"
                messages = [
                    {"channel": "telemetry", "payload": PAYLOAD, "client_message_id": f"{ref}.{i}"}
                    for i in range(batch)
                ]
                text = json.dumps({"type": "publish", "ref": ref, "messages": messages})
                sent_at[ref] = time.perf_counter()
                await ws.send(text)
                n += 1
            done.set()

        started = time.perf_counter()
        read = asyncio.create_task(reader())
        await writer()
        await read
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "frames": len(latencies),
        "messages_per_s": acked_messages / elapsed,
        "frames_per_s": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fleetyard-bench-"))
    env = {**os.environ, "FLEETYARD_BOOTSTRAP_API_KEY": KEY, "FLEETYARD_LOG_LEVEL": "warning"}
    database_url = os.environ.get("FLEETYARD_BENCH_DATABASE_URL", "")
    port = free_port()
    serve = [str(BIN / "yard"), "serve", "--dev", "--port", str(port)]
    serve += ["--data-dir", str(workdir)]
    if database_url:
        serve += ["--database-url", database_url]
    yard = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/healthz", yard)
        auth = {"Authorization": f"Bearer {KEY}"}
        site = httpx2.post(f"{base}/v1/sites", json={"name": f"bench {time.time()}"}, headers=auth)
        results = {}
        for name, batch in (("1 message/frame", 1), (f"{args.batch} messages/frame", args.batch)):
            # A fresh agent (and channel) per run: the runs do not share a channel's history.
            agent = httpx2.post(
                f"{base}/v1/agents",
                json={"site_id": site.json()["id"], "name": f"bench-{batch}"},
                headers=auth,
            ).json()
            token = httpx2.post(
                f"{base}/v1/agents/{agent['id']}/token", json={}, headers=auth
            ).json()["secret"]
            url = f"ws://127.0.0.1:{port}{SESSION_PATH}"
            results[name] = asyncio.run(
                run(url, token, seconds=args.seconds, window=args.window, batch=batch)
            )
    finally:
        yard.terminate()
        yard.wait(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)

    kind = "postgresql" if database_url else "sqlite"
    print(
        f"publish over the agent session ({kind}), {args.window} frames in flight,"
        f" {args.seconds:g} s per run"
    )
    for name, result in results.items():
        print(
            f"  {name:20}: {result['messages_per_s']:9,.0f} msg/s  {result['frames_per_s']:8,.0f}"
            f" frames/s   ack p50 {result['p50_ms']:7.2f} ms   p99 {result['p99_ms']:7.2f} ms"
            f"   errors {result['errors']:.0f}"
        )


if __name__ == "__main__":
    main()
