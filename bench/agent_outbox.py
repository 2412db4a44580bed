"""The device agent: memory at idle and under 1,000 telemetry messages/s, outbox drain rate.

Starts ``yard serve`` (SQLite, or ``FLEETYARD_BENCH_DATABASE_URL``) and ``yard agent run``
as real processes, like ``publish_http.py``, then:

1. RSS of the agent process once connected and idle;
2. ``--rate`` messages/s for ``--seconds`` through the local API from ``--clients``
   concurrent apps (one message per request, keep-alive, paced), RSS at the end, and
   how far the outbox lagged (one app alone is bound by one disk flush per request);
3. a network cut: the agent runs against a closed port while ``--queued`` messages
   are published (batches of 500), then it is restarted against the server and the
   time until its outbox is empty gives the drain rate.

Run: ``.venv/bin/python bench/agent_outbox.py [--rate 1000] [--seconds 10] [--queued 50000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx2
from _process import free_port, wait_ready

from fleetyard.agent.local import LocalPublisher

BIN = Path(sys.executable).parent
KEY = "fy_test_" + "b" * 40


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class AgentProcess:
    def __init__(self, url: str, token: str, data_dir: Path, port: int) -> None:
        command = [str(BIN / "yard"), "agent", "run", "--url", url, "--json"]
        command += ["--data-dir", str(data_dir), "--local-port", str(port)]
        env = {**os.environ, "FLEETYARD_AGENT_TOKEN": token}
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        self.started = json.loads(self.process.stdout.readline())
        self.local = LocalPublisher(self.started["local_api"])

    def wait_connected(self) -> None:
        assert self.process.stdout is not None
        while json.loads(self.process.stdout.readline())["event"] != "connected":
            pass

    def pending(self) -> int:
        return int(self.local.health()["outbox_pending"])

    def stop(self) -> None:
        self.local.close()
        self.process.terminate()
        self.process.wait(timeout=60)
        if self.process.stdout is not None:
            self.process.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8, help="concurrent local publishers")
    parser.add_argument("--queued", type=int, default=50_000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="fleetyard-bench-agent-"))
    env = {**os.environ, "FLEETYARD_BOOTSTRAP_API_KEY": KEY, "FLEETYARD_LOG_LEVEL": "warning"}
    port = free_port()
    serve = [str(BIN / "yard"), "serve", "--dev", "--port", str(port), "--data-dir", str(workdir)]
    if url := os.environ.get("FLEETYARD_BENCH_DATABASE_URL"):
        serve += ["--database-url", url]
    server = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/healthz", server)
        auth = {"Authorization": f"Bearer {KEY}"}
        site = httpx2.post(f"{base}/v1/sites", json={"name": "bench"}, headers=auth).json()
        agent = httpx2.post(
            f"{base}/v1/agents", json={"site_id": site["id"], "name": "bench"}, headers=auth
        ).json()
        token = httpx2.post(f"{base}/v1/agents/{agent['id']}/token", json={}, headers=auth).json()[
            "secret"
        ]

        # 1 + 2: idle, then a paced load.
        live = AgentProcess(base, token, workdir / "agent", free_port())
        live.wait_connected()
        time.sleep(2)
        idle = rss_mb(live.process.pid)
        start = time.monotonic()
        counts = [0] * args.clients
        url = str(live.started["local_api"])

        def publisher(index: int) -> None:
            # Each client paced at rate/clients; concurrent requests share outbox commits.
            rate = args.rate / args.clients
            with LocalPublisher(url) as local:
                while (elapsed := time.monotonic() - start) < args.seconds:
                    while counts[index] < int(elapsed * rate):
                        local.publish("load", {"i": counts[index], "temperature": 21.5})
                        counts[index] += 1
                    time.sleep(0.002)

        threads = [threading.Thread(target=publisher, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        max_lag = 0
        while any(thread.is_alive() for thread in threads):
            max_lag = max(max_lag, live.pending())
            time.sleep(0.25)
        achieved = sum(counts) / (time.monotonic() - start)
        loaded = rss_mb(live.process.pid)
        drain_start = time.monotonic()
        while live.pending():
            time.sleep(0.01)
        tail = time.monotonic() - drain_start
        live.stop()

        # 3: offline, queue, reconnect, drain.
        offline = AgentProcess(f"http://127.0.0.1:{free_port()}", token, workdir / "cut", 0)
        batch = [{"channel": "queued", "payload": {"n": 1, "v": 3.14}}] * 500
        for _ in range(args.queued // 500):
            offline.local.publish_many(batch)
        queued = offline.pending()
        queued_rss = rss_mb(offline.process.pid)
        offline.stop()
        online = AgentProcess(base, token, workdir / "cut", 0)
        begin = time.monotonic()
        online.wait_connected()
        while online.pending():
            time.sleep(0.01)
        drain = time.monotonic() - begin
        online.stop()
    finally:
        server.terminate()
        server.wait(timeout=15)

    print(f"agent RSS idle (connected)         : {idle:8.1f} MB")
    print(
        f"telemetry through the outbox       : {achieved:8.0f} msg/s for {args.seconds}s"
        f" ({args.clients} local clients)"
    )
    print(f"agent RSS after the load           : {loaded:8.1f} MB")
    print(f"outbox lag during the load (max)   : {max_lag:8d} messages ({tail:.2f}s to empty)")
    print(f"queued offline                     : {queued:8d} messages, RSS {queued_rss:.1f} MB")
    print(f"drain after reconnect              : {queued / drain:8.0f} msg/s ({drain:.2f}s)")


if __name__ == "__main__":
    main()
