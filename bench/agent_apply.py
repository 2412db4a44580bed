"""Agent apply of a version where about 1 % changed: bytes downloaded and time.

Builds the deterministic mixed tree of ``bench/push.py`` (seeded; the large
random files, one of them 100 MiB, medium random or text-like files, 200
small text-like files) at ``--size-mib`` (256 by default: 284 MiB, as the
100 MiB file is always there), plus ``--small`` more small text-like files
(2,000 by default, ~20 MiB, 200 B to 64 KiB, in 100 directories), under a
temporary directory. Then, against a fresh ``yard serve`` (SQLite in its data
dir, or a scratch PostgreSQL database beside ``FLEETYARD_BENCH_DATABASE_URL``)
and one real ``yard agent run`` process:

1. push v1 (``client.apps.push``), ``client.apps.deploy`` it to the agent and
   wait for ``succeeded``;
2. the edit of ``bench/push.py``: one byte inserted at offset 1,024 of the
   100 MiB file and ten small files changed; push v2, deploy, wait;
3. ten more small files changed, nothing else (a change of a few KB in a
   303 MiB tree); push v3, deploy, wait.

For each apply it reports, all measured:

- the bytes the agent received from the server, counted by a TCP proxy in
  this process that the agent talks to (every byte the server sent on every
  connection: the session WebSocket, which carries ``deploy.start`` with the
  manifest, and the HTTP connections of the chunk downloads);
- the chunks downloaded (new files in the agent's chunk cache, with their
  bytes) and the chunks reused (the version's distinct chunks already there);
- the wall time from the deploy call to the rollout ``succeeded`` (polled
  every 50 ms), the server's own ``finished_at - created_at``, and the
  machine's phases from its ``updated_at`` stamps (deploy → ``installing``:
  download; → ``succeeded``: assemble, switch, prune);
- the CPU seconds of the agent and of the server over the apply;
- after v2 and v3, how the agent built the new tree: the files (and bytes)
  that are one inode with a file of the previous version (hard-linked, not
  rewritten) and the files it wrote.

``--direct`` lets the agent talk to the server without the proxy (to see what
the proxy costs in time); the bytes on the wire are then not counted.

The yardstick, in the same run: ``rsync -a`` of the same tree into a target
directory before and after the same edit (a local copy: rsync sends changed
files whole), and ``rsync -a --no-whole-file`` of the edit into a second copy
(the delta transfer it would do over a network), with the bytes rsync reports
sent. rsync must be installed (``apt-get install -y rsync``).

Everything is deleted afterwards. Run: ``.venv/bin/python bench/agent_apply.py
[--size-mib 256] [--small 2000] [--seed 1] [--direct]``; it exits non-zero when an apply did not
succeed, a later apply downloaded 2 % of the tree or more, an applied tree
differs from the source, or a log shows a problem.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from _process import cpu_seconds, free_port
from push import (
    BIG_FILE,
    INSERT_AT,
    KEY,
    MIB,
    SMALL_EDITS,
    Transfer,
    Tree,
    database_url,
    edit_tree,
    log_problems,
    make_tree,
    rsync,
    server,
    text_pool,
)

from fleetyard import Client, PushOptions, RetryPolicy
from fleetyard.protocol.rollouts import Rollout

BIN = Path(sys.executable).parent
APP = "app_applybench"
POLL_SECONDS = 0.05
APPLY_TIMEOUT_SECONDS = 1800.0


def add_small_files(tree: Tree, count: int, seed: int) -> None:
    """``count`` more small text-like files (sized as ``make_tree`` sizes its own)."""
    rng = random.Random(seed + 2)
    pool = text_pool(rng, 16 * MIB)
    for n in range(count):
        size = min(int(rng.lognormvariate(8.6, 1.1)) + 200, 64 * 1024)
        start = rng.randrange(len(pool) - size)
        header = f"# extra {n} {rng.getrandbits(64):016x}\n".encode()
        path = tree.root / f"lib/pkg{n % 100:02d}/extra-{n:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes((header + pool[start : start + size])[:size])
        tree.files.append(path)
        tree.small.append(path)
        tree.total += path.stat().st_size


# -- a byte-counting TCP proxy between the agent and the server ----------------------------


@dataclass
class Counts:
    """Bytes the server sent through the proxy, by kind of connection."""

    websocket: int = 0
    http: int = 0
    connections: int = 0

    @property
    def total(self) -> int:
        return self.websocket + self.http


class CountingProxy:
    """Forwards ``127.0.0.1:port`` to the server, counting the bytes sent back.

    Runs its own event loop in a thread. A connection whose first request asks
    for ``Upgrade: websocket`` counts as the session; every other one as HTTP.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self._counts = Counts()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counting-proxy", daemon=True)

    def snapshot(self) -> Counts:
        if not self._thread.is_alive():
            return Counts()
        with self._lock:
            return Counts(self._counts.websocket, self._counts.http, self._counts.connections)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise SystemExit("the counting proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        started = asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self._loop.run_until_complete(started)
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        with self._lock:
            self._counts.connections += 1
        kind: list[str] = []

        async def upstream() -> None:
            while data := await reader.read(256 * 1024):
                if not kind:
                    kind.append("websocket" if b"upgrade: websocket" in data.lower() else "http")
                up_writer.write(data)
                await up_writer.drain()
            up_writer.write_eof()

        async def downstream() -> None:
            while data := await up_reader.read(256 * 1024):
                with self._lock:
                    if kind and kind[0] == "websocket":
                        self._counts.websocket += len(data)
                    else:
                        self._counts.http += len(data)
                writer.write(data)
                await writer.drain()
            writer.write_eof()

        with contextlib.suppress(OSError, ConnectionError):
            await asyncio.gather(upstream(), downstream())
        for w in (writer, up_writer):
            w.close()


# -- the agent ---------------------------------------------------------------------------------


@contextlib.contextmanager
def agent_process(work: Path, url: str, token: str) -> Iterator[subprocess.Popen[bytes]]:
    home = work / "agent"
    home.mkdir()
    config = home / "agent.toml"
    config.write_text(f'data_dir = "{home / "data"}"\n[local_api]\nenabled = false\n')
    env = {**os.environ, "FLEETYARD_AGENT_TOKEN": token}
    with (work / "agent.log").open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "yard"), "agent", "run", "--json", "--config", str(config), "--url", url],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cached_chunks(chunks_dir: Path) -> dict[str, int]:
    """The agent's chunk cache: hash → size."""
    if not chunks_dir.is_dir():
        return {}
    return {
        p.name: p.stat().st_size
        for d in chunks_dir.iterdir()
        if d.is_dir()
        for p in d.iterdir()
        if not p.name.startswith(".")
    }


def edit_small(tree: Tree, seed: int) -> int:
    """Insert a line into ``SMALL_EDITS`` more small files; returns the bytes added."""
    rng = random.Random(seed + 3)
    grown = 0
    for path in rng.sample(tree.small, SMALL_EDITS):
        data = bytearray(path.read_bytes())
        at = rng.randrange(len(data))
        line = f"# edited again {rng.getrandbits(32):08x}\n".encode()
        data[at:at] = line
        path.write_bytes(bytes(data))
        grown += len(line)
    return grown


def shared_with(new: Path, old: Path) -> str:
    """How ``new`` was built: its files that are one inode with a file of ``old``."""
    inodes = {
        os.lstat(os.path.join(top, name)).st_ino
        for top, _dirs, files in os.walk(old.resolve())
        for name in files
    }
    files = linked = linked_bytes = written_bytes = 0
    for top, _dirs, names in os.walk(new.resolve()):
        for name in names:
            info = os.lstat(os.path.join(top, name))
            files += 1
            if info.st_ino in inodes:
                linked, linked_bytes = linked + 1, linked_bytes + info.st_size
            else:
                written_bytes += info.st_size
    return (
        f"    new tree: {linked:,} of {files:,} files hard-linked from the previous version"
        f" ({linked_bytes:,} bytes), {files - linked:,} written ({written_bytes:,} bytes)"
    )


# -- one apply ---------------------------------------------------------------------------------


@dataclass
class Apply:
    number: int
    state: str
    seconds: float
    server_seconds: float
    phases: dict[str, float]
    wire: Counts
    chunks_total: int
    chunks_downloaded: int
    bytes_downloaded: int
    agent_cpu: float
    server_cpu: float
    tree_bytes: int
    errors: list[str] = field(default_factory=list)


def apply_version(
    client: Client,
    *,
    tree: Path,
    site_id: str,
    agent_id: str,
    agent_pid: int,
    server_pid: int,
    proxy: CountingProxy,
    chunks_dir: Path,
) -> Apply:
    pushed = client.apps.push(tree, APP, PushOptions(site_id=site_id, description="bench"))
    manifest = client.versions.get(APP, pushed.version_id).manifest
    assert manifest is not None
    distinct = manifest.chunk_hashes()
    before_cache = cached_chunks(chunks_dir)
    before_wire = proxy.snapshot()
    cpu_agent, cpu_server = cpu_seconds(agent_pid), cpu_seconds(server_pid)
    seen: dict[str, datetime] = {}

    def progress(rollout: Rollout) -> None:
        for machine in rollout.machines:
            seen.setdefault(machine.state.value, machine.updated_at)

    started = time.perf_counter()
    handle = client.apps.deploy(APP, pushed.version_id, machines=[agent_id])
    rollout = handle.wait(
        timeout=APPLY_TIMEOUT_SECONDS, on_progress=progress, poll_interval=POLL_SECONDS
    )
    seconds = time.perf_counter() - started
    progress(rollout)
    wire_after = proxy.snapshot()
    after_cache = cached_chunks(chunks_dir)
    new = {h: size for h, size in after_cache.items() if h not in before_cache}
    machine = rollout.machines[0]
    origin = machine.started_at or rollout.created_at
    phases = {
        state: (at - origin).total_seconds()
        for state, at in sorted(seen.items(), key=lambda kv: kv[1])
        if state not in ("queued",)
    }
    finished = rollout.finished_at or machine.updated_at
    return Apply(
        number=pushed.number or 0,
        state=rollout.state.value,
        seconds=seconds,
        server_seconds=(finished - rollout.created_at).total_seconds(),
        phases=phases,
        wire=Counts(
            wire_after.websocket - before_wire.websocket,
            wire_after.http - before_wire.http,
            wire_after.connections - before_wire.connections,
        ),
        chunks_total=len(distinct),
        chunks_downloaded=len(new),
        bytes_downloaded=sum(new.values()),
        agent_cpu=cpu_seconds(agent_pid) - cpu_agent,
        server_cpu=cpu_seconds(server_pid) - cpu_server,
        tree_bytes=manifest.total_bytes,
        errors=[m.error for m in rollout.machines if m.error],
    )


def describe(apply: Apply, *, counted: bool = True) -> list[str]:
    share = apply.bytes_downloaded / apply.tree_bytes if apply.tree_bytes else 0.0
    phases = ", ".join(f"{state} at {at:.2f} s" for state, at in apply.phases.items())
    return [
        f"  apply v{apply.number}: {apply.state} in {apply.seconds:.2f} s"
        f" (server: {apply.server_seconds:.2f} s; {phases}); load {os.getloadavg()[0]:.1f}",
        f"    chunks: {apply.chunks_downloaded:,} downloaded,"
        f" {apply.chunks_total - apply.chunks_downloaded:,} reused of {apply.chunks_total:,};"
        f" {apply.bytes_downloaded:,} chunk bytes ({share:.3%} of the tree)",
        (
            f"    on the wire from the server: {apply.wire.total:,} bytes"
            f" (session {apply.wire.websocket:,}, HTTP {apply.wire.http:,} on"
            f" {apply.wire.connections} new connections);"
            if counted
            else "    on the wire: not counted (--direct);"
        )
        + f" CPU: agent {apply.agent_cpu:.1f} s, server {apply.server_cpu:.1f} s",
    ]


def describe_rsync(name: str, transfer: Transfer, tree_bytes: int) -> str:
    return (
        f"  {name:34}: {transfer.sent:,} bytes sent ({transfer.sent / tree_bytes:.3%}),"
        f" literal data {transfer.extra:,}, {transfer.seconds:.2f} s"
    )


def rsync_whole(source: Path, target: Path) -> Transfer:
    """``rsync -a`` as a local copy does it (changed files sent whole)."""
    started = time.perf_counter()
    out = subprocess.run(
        ["rsync", "-a", "--stats", f"{source}/", f"{target}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seconds = time.perf_counter() - started
    numbers = {}
    for line in out.splitlines():
        label, _, value = line.partition(":")
        if label in ("Total bytes sent", "Literal data"):
            numbers[label] = int(value.split()[0].replace(",", ""))
    return Transfer(seconds, numbers["Total bytes sent"], numbers["Literal data"])


# -- the run ----------------------------------------------------------------------------------


def wait_online(client: Client, agent_id: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not client.agents.get(agent_id).online:
        if process.poll() is not None:
            raise SystemExit(f"yard agent exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit("the agent did not come online")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256, help="size of the base tree")
    parser.add_argument("--small", type=int, default=2000, help="extra small files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", default="/tmp", help="where the temporary directory goes")
    parser.add_argument("--direct", action="store_true", help="no counting proxy")
    args = parser.parse_args()
    if not shutil.which("rsync"):
        raise SystemExit("this bench needs rsync: apt-get install -y rsync")

    kind = "postgresql" if os.environ.get("FLEETYARD_BENCH_DATABASE_URL") else "sqlite"
    work = Path(tempfile.mkdtemp(prefix="fy-apply-bench-", dir=args.work))
    applies: list[Apply] = []
    problems: list[str] = []
    try:
        (work / "server").mkdir()
        started = time.perf_counter()
        tree = make_tree(work / "tree", args.size_mib * MIB, args.seed)
        add_small_files(tree, args.small, args.seed)
        print(
            f"agent apply of a {tree.total / MIB:,.0f} MiB tree ({len(tree.files):,} files,"
            f" {len(tree.small):,} small; written in {time.perf_counter() - started:.1f} s),"
            f" server on {kind}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        os.sync()
        with (
            database_url(work) as database,
            server(work, database) as (url, server_process),
            Client(KEY, base_url=url, retry=RetryPolicy(max_attempts=3)) as client,
            contextlib.ExitStack() as stack,
        ):
            proxy = CountingProxy(int(url.rsplit(":", 1)[1]))
            if not args.direct:
                stack.enter_context(proxy)
            site = client.sites.create(name="apply bench")
            agent = client.agents.create(site_id=site.id, name="bench-machine", kind="machine")
            token = client.agents.token(agent.id).secret
            proxied = url if args.direct else f"http://127.0.0.1:{proxy.port}"
            with agent_process(work, proxied, token) as agent_proc:
                wait_online(client, agent.id, agent_proc)
                client.apps.create(site.id, "apply bench", id=APP, targets=[agent.id])
                chunks_dir = work / "agent" / "data" / "apps" / APP / "chunks"
                common = {
                    "tree": tree.root,
                    "site_id": site.id,
                    "agent_id": agent.id,
                    "agent_pid": agent_proc.pid,
                    "server_pid": server_process.pid,
                    "proxy": proxy,
                    "chunks_dir": chunks_dir,
                }
                applies.append(apply_version(client, **common))  # type: ignore[arg-type]
                for line in describe(applies[0], counted=not args.direct):
                    print(line, flush=True)
                whole, delta = work / "rsync-whole", work / "rsync-delta"
                rsync_first = rsync_whole(tree.root, whole)
                rsync(tree.root, delta)
                print(describe_rsync("rsync -a (first copy)", rsync_first, tree.total))

                app_dir = work / "agent" / "data" / "apps" / APP
                tree_bytes = tree.total
                edits = [
                    (
                        f"after inserting 1 byte at {INSERT_AT} of {BIG_FILE} and changing"
                        f" {SMALL_EDITS} small files",
                        edit_tree,
                    ),
                    (f"after changing {SMALL_EDITS} more small files only", edit_small),
                ]
                for label, edit in edits:
                    grown = edit(tree, args.seed)
                    tree_bytes += grown
                    print(f"  {label} (+{grown} bytes):", flush=True)
                    applies.append(apply_version(client, **common))  # type: ignore[arg-type]
                    for line in describe(applies[-1], counted=not args.direct):
                        print(line, flush=True)
                    print(shared_with(app_dir / "current", app_dir / "previous"), flush=True)
                    print(describe_rsync("rsync -a", rsync_whole(tree.root, whole), tree_bytes))
                    print(
                        describe_rsync(
                            "rsync -a --no-whole-file", rsync(tree.root, delta), tree_bytes
                        )
                    )
                    same = subprocess.run(
                        ["diff", "-r", "-q", str(tree.root), str(app_dir / "current") + "/"],
                        capture_output=True,
                        text=True,
                    )
                    if same.returncode != 0:
                        problems.append(f"the applied tree differs: {same.stdout[:300]}")
        problems += log_problems(work / "server.log") + log_problems(work / "agent.log")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for apply in applies:
        problems += [f"apply v{apply.number}: {e}" for e in apply.errors]
    for line in problems[:20]:
        print(f"  problem: {line}")
    ok = (
        len(applies) == 3
        and all(a.state == "succeeded" for a in applies)
        and all(a.bytes_downloaded < a.tree_bytes / 50 for a in applies[1:])
        and not problems
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
