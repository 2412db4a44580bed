"""Single-message publish over HTTP vs a bare ASGI route parsing the same JSON body.

Both are served the same way (one uvicorn process, its default event loop and
HTTP parser, on loopback) and loaded the same way, by ``wrk`` in a second
process (Debian package ``wrk``). Prints requests/s and latency percentiles of
both and the ratio. The publish is durable: each 201 means the message is
committed to the database.

The two are loaded in alternating rounds (bare, publish, bare, publish…) so
that other work on a shared machine weighs on both alike; each round's ratio
is printed and the median is the result. Each server's CPU time per request
(from ``/proc``) is printed too: it moves less with the machine's load than
requests/s do.

``--stack pure`` serves both on uvicorn's pure-Python HTTP parser (h11) and
the stock asyncio loop instead of httptools and uvloop.

Run: ``.venv/bin/python bench/publish_http.py [--seconds 10] [--rounds 3] [--connections 32]
[--stack fast|pure]``.
Set ``FLEETYARD_BENCH_DATABASE_URL`` to run the server on PostgreSQL (in a
scratch database created beside that one and dropped after the run).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx2
from _process import cpu_seconds, free_port, wait_ready
from _schema import bench_postgres_url, scratch_postgres

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
KEY = "fy_test_" + "b" * 40
PAYLOAD = '{"payload": {"temperature": 21.5, "humidity": 40, "battery": {"level": 87}}}'


def wrk(url: str, headers: dict[str, str], seconds: int, connections: int) -> dict[str, float]:
    body = PAYLOAD.replace('"', '\\"')
    lines = ['wrk.method = "POST"', f'wrk.body = "{body}"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx answers from {url}:\n{out}")
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        assert match, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        result[f"p{pct}_ms"] = float(match.group(1)) * scale
    return result


def measured(
    process: subprocess.Popen[bytes], url: str, headers: dict[str, str], args: argparse.Namespace
) -> dict[str, float]:
    """One wrk round against ``url``, with the serving process's CPU per request."""
    before = cpu_seconds(process.pid)
    result = wrk(url, headers, args.seconds, args.connections)
    spent = cpu_seconds(process.pid) - before
    result["cpu_us"] = spent / (result["rps"] * args.seconds) * 1e6
    return result


Rounds = list[tuple[dict[str, float], dict[str, float]]]


def run(database_url: str, args: argparse.Namespace) -> Rounds:
    """Start the bare app and ``yard serve``, load them with wrk in turns; each round's results."""
    workdir = Path(tempfile.mkdtemp(prefix="fleetyard-bench-"))
    env = {**os.environ, "FLEETYARD_BOOTSTRAP_API_KEY": KEY, "FLEETYARD_LOG_LEVEL": "warning"}

    bare_port, yard_port = free_port(), free_port()
    stack = [] if args.stack == "fast" else ["--http", "h11", "--loop", "asyncio"]
    uvicorn = [str(BIN / "uvicorn"), "_bare_app:app", "--port", str(bare_port)]
    bare = subprocess.Popen([*uvicorn, "--log-level", "warning", *stack], cwd=HERE)
    if args.stack == "pure":
        env |= {"FLEETYARD_HTTP": "h11", "FLEETYARD_LOOP": "asyncio"}
    serve = [str(BIN / "yard"), "serve", "--dev", "--port", str(yard_port)]
    serve += ["--data-dir", str(workdir)]
    if database_url:
        serve += ["--database-url", database_url]
    yard = subprocess.Popen(serve, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{bare_port}/", bare)
        base = f"http://127.0.0.1:{yard_port}"
        wait_ready(f"{base}/healthz", yard)
        auth = {"Authorization": f"Bearer {KEY}"}
        site = httpx2.post(f"{base}/v1/sites", json={"name": f"bench {time.time()}"}, headers=auth)
        agent = httpx2.post(
            f"{base}/v1/agents", json={"site_id": site.json()["id"], "name": "bench"}, headers=auth
        ).json()
        publish_url = f"{base}/v1/agents/{agent['id']}/channels/{quote('telemetry')}/messages"
        json_headers = {"Content-Type": "application/json"}

        rounds: Rounds = []
        for _ in range(args.rounds):
            bare_result = measured(bare, f"http://127.0.0.1:{bare_port}/", json_headers, args)
            yard_result = measured(yard, publish_url, {**json_headers, **auth}, args)
            rounds.append((bare_result, yard_result))
    finally:
        for process in (bare, yard):
            process.terminate()
            process.wait(timeout=15)
        shutil.rmtree(workdir, ignore_errors=True)

    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--stack",
        choices=("fast", "pure"),
        default="fast",
        help="serve both with httptools and uvloop (fast, the default) or h11 and asyncio",
    )
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("this bench needs wrk: apt-get install wrk")

    postgres = bench_postgres_url()
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(scratch_postgres(postgres)) if postgres else ""
        rounds = run(database_url, args)
    kind = "postgresql" if postgres else "sqlite"
    print(
        f"single-message publish over HTTP ({kind}), wrk -t1 -c{args.connections}"
        f" -d{args.seconds}s, {args.rounds} alternating rounds, {args.stack} stack"
    )
    for number, (bare_result, yard_result) in enumerate(rounds, 1):
        for name, result in (("bare ASGI route", bare_result), ("durable publish", yard_result)):
            print(
                f"  {number}. {name:16}: {result['rps']:9,.0f} req/s   p50"
                f" {result['p50_ms']:6.2f} ms   p99 {result['p99_ms']:6.2f} ms"
                f"   CPU {result['cpu_us']:6.1f} us/req"
            )
        print(f"     ratio           : {yard_result['rps'] / bare_result['rps']:9.2f}")
    ratios = sorted(yard["rps"] / bare["rps"] for bare, yard in rounds)
    cpu = sorted(bare["cpu_us"] / yard["cpu_us"] for bare, yard in rounds)
    print(f"  median ratio (req/s)          : {statistics.median(ratios):.2f}")
    print(f"  median ratio (CPU per request): {statistics.median(cpu):.2f}")


if __name__ == "__main__":
    main()
