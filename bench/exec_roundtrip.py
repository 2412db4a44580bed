"""Device control round trip: SDK execute → server → agent → ``completed`` event back.

A real ``yard serve`` (SQLite, or a scratch PostgreSQL database beside
``FLEETYARD_BENCH_DATABASE_URL``) and ``--gateways`` real ``yard agent run --simulate``
processes, each a gateway with the devices of ``setup_local_tahoma.json`` (so the
device URLs repeat across gateways and every execute names its ``gateway_id``).
An ``AsyncClient`` in this process keeps ``--in-flight`` executions running, spread
evenly over the gateways and their devices (one action, one command each): as soon
as one finishes, its worker starts the next. For each execution it measures

- the round trip: just before ``executions.execute`` → the moment the
  ``execution.state_changed`` event with ``new_state: completed`` reaches this
  process, through one event listener long-polled by a dedicated task
  (``--via listener``, the SDK) or a ``device_events`` subscription on
  ``/v1/stream`` (``--via stream``, a raw ``websockets`` connection, frames
  parsed with ``json`` only);
- the execute call alone (``201`` with the id, the execution stored and sent).

The command is ``--command``: ``getName`` (default; a command of the definition
the simulator answers after ``min(step_seconds, 0.2)``, here 0 s, without state
changes) or ``setClosure`` (a move to 0 or 100, alternating, in one step of 0 s:
three ``device.states`` reports per execution, so state events flow too).
Prints p50/p90/p99/max, executions/s, and the CPU seconds of the server and of
all agents over the measured window (``/proc``).

Run: ``.venv/bin/python bench/exec_roundtrip.py [--seconds 20] [--gateways 10]
[--in-flight 100] [--command getName|setClosure] [--via listener|stream]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from _process import cpu_seconds, free_port
from _schema import bench_postgres_url, scratch_postgres

from fleetyard import AsyncClient, Client, RetryPolicy
from fleetyard.sdk import action

HERE = Path(__file__).parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
KEY = "fy_test_" + "r" * 40
SETUP = ROOT / "tests" / "fixtures" / "overkiz" / "setup" / "setup_local_tahoma.json"
IDLE_SECONDS = 3.0
"""How long the server's CPU is sampled with every agent connected and nothing to do."""
FINAL = {"completed", "failed", "not_transmitted", "cancelled"}


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def devices_for(command: str) -> list[str]:
    """Device URLs of the setup whose definition has ``command``."""
    data = json.loads(SETUP.read_text())
    return [
        d["deviceURL"]
        for d in data["devices"]
        if any(c.get("commandName") == command for c in d["definition"].get("commands", []))
    ]


@dataclass
class Fleet:
    """The processes of one run, stopped (all of them, whatever happened) by :meth:`stop`."""

    work: Path
    server: subprocess.Popen[bytes] | None = None
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for process in [*self.agents, self.server]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.agents, self.server]:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_problems(self) -> list[str]:
        """Lines of the server's and agents' logs that look like errors."""
        found = []
        for log in sorted(self.work.glob("**/*.log")):
            for line in log.read_text(errors="replace").splitlines():
                lowered = line.lower()
                if any(w in lowered for w in ("error", "traceback", "exception", "warning")):
                    found.append(f"{log.relative_to(self.work)}: {line[:300]}")
        return found


def start_server(fleet: Fleet, port: int, database: str, limit: int) -> None:
    env = {
        **os.environ,
        "FLEETYARD_BOOTSTRAP_API_KEY": KEY,
        "FLEETYARD_LOG_LEVEL": "warning",
        "FLEETYARD_EXECUTION_LIMIT_PER_GATEWAY": str(limit),
    }
    log = (fleet.work / "server.log").open("wb")
    fleet.server = subprocess.Popen(
        [
            *(str(BIN / "yard"), "serve", "--dev", "--port", str(port)),
            *("--data-dir", str(fleet.work / "server"), "--database-url", database),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        if fleet.server.poll() is not None:
            raise SystemExit(f"yard serve exited with {fleet.server.returncode}")
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit("yard serve never became ready")


def start_agent(fleet: Fleet, url: str, token: str, name: str) -> None:
    home = fleet.work / name
    home.mkdir(parents=True)
    config = home / "agent.toml"
    config.write_text(
        f'data_dir = "{home / "data"}"\n'
        "[local_api]\nenabled = false\n"
        "[simulator]\nstep_seconds = 0\nsteps = 1\n"
    )
    env = {**os.environ, "FLEETYARD_AGENT_TOKEN": token}
    with (home / "agent.log").open("wb") as log:
        fleet.agents.append(
            subprocess.Popen(
                [
                    *(str(BIN / "yard"), "agent", "run", "--json", "--config", str(config)),
                    *("--simulate", str(SETUP), "--url", url),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )


def setup_fleet(fleet: Fleet, url: str, gateways: int) -> list[str]:
    """A site, ``gateways`` gateway agents with the setup imported, their processes online."""
    with Client(base_url=url, api_key=KEY, retry=RetryPolicy(max_attempts=1)) as client:
        site = client.sites.create(name="bench")
        ids = []
        for n in range(gateways):
            gateway = client.agents.create(site_id=site.id, name=f"gw-{n}", kind="gateway")
            client.devices.import_setup(SETUP, gateway_id=gateway.id)
            start_agent(fleet, url, client.agents.token(gateway.id).secret, f"gw-{n}")
            ids.append(gateway.id)
        deadline = time.monotonic() + 60
        while not all(client.agents.get(i).online for i in ids):
            if time.monotonic() > deadline:
                raise SystemExit("the agents did not all come online")
            if any(a.poll() is not None for a in fleet.agents):
                raise SystemExit("an agent exited")
            time.sleep(0.2)
    return ids


@dataclass
class Tally:
    round_trips: list[float] = field(default_factory=list)
    execute_calls: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    events: int = 0

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


class Finishes:
    """Execution id → when its final event arrived; waiters get it whichever comes first."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[tuple[float, str]]] = {}
        self.early: dict[str, tuple[float, str]] = {}

    def arrived(self, execution_id: str, state: str, at: float) -> None:
        future = self.waiting.pop(execution_id, None)
        if future is None:
            self.early[execution_id] = (at, state)  # the event beat the execute's answer
        elif not future.done():
            future.set_result((at, state))

    async def wait(self, execution_id: str) -> tuple[float, str]:
        if (got := self.early.pop(execution_id, None)) is not None:
            return got
        future = asyncio.get_running_loop().create_future()
        self.waiting[execution_id] = future
        return await future


async def listen(client: AsyncClient, listener_id: str, finishes: Finishes, tally: Tally) -> None:
    while True:
        events = await client.events.fetch(listener_id, timeout=10)
        at = time.perf_counter()
        tally.events += len(events)
        for event in events:
            if event.type == "execution.state_changed" and event.new_state in FINAL:
                assert event.execution_id is not None
                finishes.arrived(event.execution_id, str(event.new_state), at)


async def listen_stream(
    port: int, finishes: Finishes, tally: Tally, subscribed: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        f"ws://127.0.0.1:{port}/v1/stream",
        additional_headers={"Authorization": f"Bearer {KEY}"},
        max_size=2**24,
    ) as ws:
        await ws.send(json.dumps({"type": "subscribe", "id": "d", "device_events": {}}))
        while True:
            frame = json.loads(await ws.recv())
            at = time.perf_counter()
            if frame.get("type") == "subscribed":
                subscribed.set()
            elif frame.get("type") == "device.event":
                tally.events += 1
                event = frame["event"]
                if event["type"] == "execution.state_changed" and event["new_state"] in FINAL:
                    finishes.arrived(event["execution_id"], event["new_state"], at)
            elif frame.get("type") == "error":
                raise SystemExit(f"stream error: {frame}")


async def drive(
    url: str, port: int, gateways: list[str], args: argparse.Namespace
) -> tuple[Tally, float, float, float]:
    """Keep ``args.in_flight`` executions running; returns the tally of the measured window,
    its length, and the executions started/finished per second over it."""
    devices = devices_for(args.command)
    tally = Tally()
    finishes = Finishes()
    http = httpx2.AsyncClient(
        timeout=60, limits=httpx2.Limits(max_connections=None, max_keepalive_connections=None)
    )
    client = AsyncClient(
        base_url=url, api_key=KEY, retry=RetryPolicy(max_attempts=1), http_client=http
    )
    measuring = False
    stop = False
    counter = 0

    async def worker(k: int) -> None:
        nonlocal counter
        gateway = gateways[k % len(gateways)]
        device = devices[(k // len(gateways)) % len(devices)]
        n = 0
        while not stop:
            n += 1
            counter += 1
            command = ("setClosure", 100 * (n % 2)) if args.command == "setClosure" else "getName"
            recording = measuring
            t0 = time.perf_counter()
            try:
                handle = await client.executions.execute(
                    actions=[action(device, command)], gateway_id=gateway, label=f"b{k}.{n}"
                )
            except Exception as error:  # counted and shown
                tally.fail(f"execute: {type(error).__name__}: {error}"[:200])
                await asyncio.sleep(0.1)
                continue
            t1 = time.perf_counter()
            try:
                at, state = await asyncio.wait_for(finishes.wait(handle.id), 60)
            except TimeoutError:
                finishes.waiting.pop(handle.id, None)
                tally.fail("no final event within 60 s")
                continue
            if not recording:
                continue
            if state != "completed":
                tally.fail(f"ended {state}")
                continue
            tally.execute_calls.append(t1 - t0)
            tally.round_trips.append(at - t0)

    try:
        if args.via == "stream":
            subscribed = asyncio.Event()
            receiver = asyncio.create_task(listen_stream(port, finishes, tally, subscribed))
            await asyncio.wait_for(subscribed.wait(), 30)
        else:
            listener = await client.events.register_listener()
            receiver = asyncio.create_task(listen(client, listener.id, finishes, tally))
        workers = [asyncio.create_task(worker(k)) for k in range(args.in_flight)]
        await asyncio.sleep(args.warmup)
        measuring = True
        started, counted = time.perf_counter(), counter
        await asyncio.sleep(args.seconds)
        elapsed = time.perf_counter() - started
        rate_started = (counter - counted) / elapsed
        stop = True
        done, _ = await asyncio.wait(workers, timeout=90)
        for task in workers:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    finally:
        await client.close()
        await http.aclose()
    return tally, elapsed, rate_started, len(tally.round_trips) / elapsed


@contextlib.contextmanager
def database_url(work: Path) -> Iterator[str]:
    postgres = bench_postgres_url()
    if postgres is None:
        yield f"sqlite:///{work / 'fy.db'}"
    else:
        with scratch_postgres(postgres) as url:
            yield url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured window")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured start")
    parser.add_argument("--gateways", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=100)
    parser.add_argument("--command", choices=("getName", "setClosure"), default="getName")
    parser.add_argument("--via", choices=("listener", "stream"), default="listener")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fy-exec-bench-"))
    fleet = Fleet(work)
    kind = "postgresql" if bench_postgres_url() else "sqlite"
    try:
        with database_url(work) as database:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            limit = max(100, args.in_flight)
            start_server(fleet, port, database, limit)
            try:
                gateways = setup_fleet(fleet, url, args.gateways)
                assert fleet.server is not None
                idle_cpu = cpu_seconds(fleet.server.pid)
                time.sleep(IDLE_SECONDS)
                idle_cpu = (cpu_seconds(fleet.server.pid) - idle_cpu) / IDLE_SECONDS
                server_cpu = cpu_seconds(fleet.server.pid)
                agent_cpu = sum(cpu_seconds(a.pid) for a in fleet.agents)
                tally, elapsed, started_rate, finished_rate = asyncio.run(
                    drive(url, port, gateways, args)
                )
                server_cpu = cpu_seconds(fleet.server.pid) - server_cpu
                agent_cpu = sum(cpu_seconds(a.pid) for a in fleet.agents) - agent_cpu
            finally:
                fleet.stop()
        problems = fleet.log_problems()
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"exec round trip ({kind}): {args.gateways} gateways, {args.in_flight} in flight,"
        f" {args.command}, completion via {args.via}, {elapsed:.1f} s measured"
        f" (load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"  executions completed: {len(tally.round_trips)} ({finished_rate:,.0f}/s;"
        f" started {started_rate:,.0f}/s), events received {tally.events:,}"
    )
    for name, values in (("round trip", tally.round_trips), ("execute call", tally.execute_calls)):
        ordered = sorted(values)
        if ordered:
            print(
                f"  {name:12} ms: "
                + "  ".join(f"p{p}={percentile(ordered, p) * 1000:7.1f}" for p in (50, 90, 99))
                + f"  max={ordered[-1] * 1000:7.1f}"
            )
    print(
        f"  CPU over the window: server {server_cpu:.1f} s ({server_cpu / elapsed:.0%} of a core),"
        f" agents {agent_cpu:.1f} s ({agent_cpu / elapsed:.0%} of a core, all {args.gateways});"
        f" server idle before: {idle_cpu:.0%}"
    )
    if tally.round_trips:
        per = server_cpu / len(tally.round_trips) * 1000
        print(f"  server CPU per completed execution: {per:.0f} ms")
    for why, count in tally.failures.items():
        print(f"  FAILED {count}: {why}")
    for line in problems[:20]:
        print(f"  log: {line}")
    if len(problems) > 20:
        print(f"  log: … {len(problems) - 20} more")
    return 1 if tally.failures or not tally.round_trips else 0


if __name__ == "__main__":
    raise SystemExit(main())
