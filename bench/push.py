"""Push of a ~1 GiB tree to a local ``yard serve``, then a re-push after a small edit.

Generates a deterministic mixed tree (seeded ``random.Random``): four large
random files (one of 100 MiB), medium files (random and text-like) and
thousands of small text-like files, ``--size-mib`` in all (1,024 by default),
under a temporary directory in ``/tmp``. Then, in one run:

1. the yardsticks: ``sha256sum`` over every file (``find -print0 | xargs -0``,
   one process, and ``xargs -P2`` on both cores), Python ``hashlib`` on one
   thread, and the disk: writing as many bytes to one file beside the server's
   store and fsyncing it (a push keeps every byte durably before it answers, so
   it cannot go faster than that);
2. ``client.apps.push`` of the tree to a fresh ``yard serve`` (SQLite in its
   data dir, or a scratch PostgreSQL database beside
   ``FLEETYARD_BENCH_DATABASE_URL``; blobs in the data dir on the same disk):
   MB/s end to end (walk + chunk + hash + check + upload + commit + publish),
   the time of each phase from the ``on_progress`` events, the push's stats,
   and the CPU seconds of this process and of the server;
3. ``rsync -a --no-whole-file --stats`` of the tree to a target directory, and
   ``restic backup`` of it to a fresh repository (Debian packages);
4. the edit: one byte inserted at offset 1,024 of the 100 MiB file and ten
   small files changed; then a second push, rsync and restic backup, whose
   bytes sent / added are printed side by side, with the push's share of the
   tree (goal: under 1 %).

Everything is deleted afterwards. ``--py-spy PATH`` also samples this process
and the server with py-spy (``--gil``, 50 Hz) during the first push and prints
the hottest frames of each (``--profile-dir`` keeps the raw profiles). The
agent applying a version is not part of the bench yet.

Run: ``.venv/bin/python bench/push.py [--size-mib 1024] [--seed 1]
[--py-spy /path/py-spy [--profile-dir DIR]]``; it exits non-zero when the
re-push uploads 1 % of the tree or more, or the server logged a problem.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from _process import cpu_seconds, cpu_split, free_port
from _schema import bench_postgres_url, scratch_postgres

from fleetyard import Client, PushOptions, PushProgress, PushResult, RetryPolicy

BIN = Path(sys.executable).parent
KEY = "fy_test_" + "p" * 40
MB = 1_000_000
MIB = 1024 * 1024
BIG_FILE = "assets/video/intro-100m.bin"
INSERT_AT = 1024
SMALL_EDITS = 10
VOCABULARY = (
    "the of and to in is for on that with as by at from this be are or it an was "
    "fleet yard agent device site push chunk version rollout server config value "
    "import return def class self none true false await async function const let "
    "http request response error status message payload channel telemetry index"
)
WORDS = VOCABULARY.split()


# -- the tree ----------------------------------------------------------------------------


@dataclass
class Tree:
    root: Path
    files: list[Path] = field(default_factory=list)
    small: list[Path] = field(default_factory=list)
    total: int = 0


def text_pool(rng: random.Random, size: int) -> bytes:
    """Text-like bytes (words, punctuation, line breaks) to cut small files from."""
    out: list[str] = []
    length = 0
    while length < size:
        line = " ".join(rng.choices(WORDS, k=rng.randint(3, 14)))
        line = "    " * rng.randint(0, 3) + line + rng.choice((":", ";", ",", "", "", "."))
        out.append(line)
        length += len(line) + 1
    return "\n".join(out).encode()[:size]


def write_random(path: Path, rng: random.Random, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 4 * MIB)
            out.write(rng.randbytes(n))
            left -= n


def make_tree(root: Path, total: int, seed: int) -> Tree:
    """About ``total`` bytes: large random files, medium files, small text-like files."""
    rng = random.Random(seed)
    tree = Tree(root)

    def add(rel: str, data: bytes | None = None, size: int = 0) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            write_random(path, rng, size)
        else:
            path.write_bytes(data)
        tree.files.append(path)
        tree.total += path.stat().st_size
        return path

    scale = total / (1024 * MIB)
    # Large random files (the 100 MiB one is the one edited later): ~56 %.
    add(BIG_FILE, size=100 * MIB)
    for i, mib in enumerate((200, 160, 120)):
        add(f"assets/blobs/large-{i}.bin", size=int(mib * MIB * scale))
    # Medium files, 1-8 MiB: half random (images, archives), half text-like (bundles): ~25 %.
    pool = text_pool(rng, 16 * MIB)
    medium_budget = int(256 * MIB * scale)
    i = 0
    while medium_budget > 0:
        size = min(medium_budget, rng.randint(1 * MIB, 8 * MIB))
        if i % 2:
            start = rng.randrange(len(pool) - size) if size < len(pool) else 0
            header = f"/* bundle {i} seed {rng.getrandbits(64):016x} */\n".encode()
            data = header + (pool[start : start + size] * 2)[: size - len(header)]
            add(f"static/js/bundle-{i:03d}.js", data)
        else:
            add(f"static/img/image-{i:03d}.png", size=size)
        medium_budget -= size
        i += 1
    # Small text-like files, 200 B-64 KiB, many directories: the rest.
    n = 0
    while tree.total < total or n < 200:
        size = min(max(total - tree.total, 200), int(rng.lognormvariate(8.6, 1.1)) + 200, 64 * 1024)
        start = rng.randrange(len(pool) - size)
        header = f"# file {n} {rng.getrandbits(64):016x}\n".encode()
        data = (header + pool[start : start + size])[:size]
        path = add(f"src/pkg{n % 40:02d}/mod{n // 40 % 25:02d}/file-{n:05d}.py", data)
        tree.small.append(path)
        n += 1
    return tree


def edit_tree(tree: Tree, seed: int) -> int:
    """Insert one byte at ``INSERT_AT`` of the 100 MiB file; change ten small files.

    Returns the number of bytes the tree grew by.
    """
    rng = random.Random(seed + 1)
    big = tree.root / BIG_FILE
    tmp = big.with_suffix(".tmp")
    with big.open("rb") as src, tmp.open("wb") as dst:
        dst.write(src.read(INSERT_AT))
        dst.write(b"\x2a")
        shutil.copyfileobj(src, dst, 4 * MIB)
    os.replace(tmp, big)
    grown = 1
    for path in rng.sample(tree.small, SMALL_EDITS):
        data = bytearray(path.read_bytes())
        at = rng.randrange(len(data))
        line = f"# edited {rng.getrandbits(32):08x}\n".encode()
        data[at:at] = line
        path.write_bytes(bytes(data))
        grown += len(line)
    return grown


# -- yardsticks ----------------------------------------------------------------------------


def timed(command: str, **kwargs: object) -> float:
    started = time.perf_counter()
    subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started


def sha256sum_seconds(root: Path, parallel: int) -> float:
    xargs = "xargs -0 sha256sum" if parallel == 1 else f"xargs -0 -P{parallel} -n 8 sha256sum"
    return timed(f"find . -type f -print0 | {xargs}", cwd=root)


def hashlib_seconds(tree: Tree) -> float:
    started = time.perf_counter()
    for path in tree.files:
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as stream:
            while block := stream.read(MIB):
                digest.update(block)
    return time.perf_counter() - started


def durable_write_seconds(directory: Path, size: int) -> float:
    """Writing ``size`` bytes to a new file beside the server's store and fsyncing it:
    what the disk itself takes to keep that much durably (a push cannot beat it)."""
    block = os.urandom(8 * MIB)
    path = directory / "durable-write-test"
    started = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(size // len(block)):
            os.write(fd, block)
        os.write(fd, block[: size % len(block)])
        os.fsync(fd)
    finally:
        os.close(fd)
        path.unlink()
    return time.perf_counter() - started


@dataclass
class Transfer:
    seconds: float
    sent: int  # rsync: total bytes sent; restic: data added
    extra: int  # rsync: literal data; restic: repository growth on disk


def rsync(source: Path, target: Path) -> Transfer:
    started = time.perf_counter()
    out = subprocess.run(
        ["rsync", "-a", "--no-whole-file", "--stats", f"{source}/", f"{target}/"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seconds = time.perf_counter() - started

    def number(label: str) -> int:
        match = re.search(rf"{label}: ([\d,]+)", out)
        assert match, out
        return int(match.group(1).replace(",", ""))

    return Transfer(seconds, number("Total bytes sent"), number("Literal data"))


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def restic_backup(repo: Path, source: Path) -> Transfer:
    env = {**os.environ, "RESTIC_PASSWORD": "bench", "RESTIC_REPOSITORY": str(repo)}
    if not (repo / "config").exists():
        subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
    before = du_bytes(repo)
    started = time.perf_counter()
    out = subprocess.run(
        ["restic", "backup", "--json", "--host", "bench", "."],
        env=env,
        cwd=source,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds = time.perf_counter() - started
    summary = next(
        json.loads(line)
        for line in reversed(out.splitlines())
        if line.startswith("{") and '"summary"' in line
    )
    return Transfer(seconds, int(summary["data_added"]), du_bytes(repo) - before)


# -- the server and the push -----------------------------------------------------------------


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def server(work: Path, database: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "FLEETYARD_BOOTSTRAP_API_KEY": KEY, "FLEETYARD_LOG_LEVEL": "warning"}
    command = [str(BIN / "yard"), "serve", "--dev", "--port", str(port)]
    command += ["--data-dir", str(work / "server")]
    if database:
        command += ["--database-url", database]
    with (work / "server.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if process.poll() is not None:
                raise SystemExit(f"yard serve exited with {process.returncode}")
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("yard serve never became ready")
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Push:
    result: PushResult
    seconds: float
    phases: dict[str, float]
    client_cpu: float
    server_cpu: float
    server_sys: float


def push(client: Client, tree: Path, app_id: str, site_id: str, server_pid: int) -> Push:
    starts: dict[str, float] = {}

    def progress(event: PushProgress) -> None:
        starts.setdefault(event.phase, time.perf_counter())

    cpu, (server_user, server_sys) = own_cpu(), cpu_split(server_pid)
    started = time.perf_counter()
    result = client.apps.push(
        tree, app_id, PushOptions(site_id=site_id, description="bench", on_progress=progress)
    )
    ended = time.perf_counter()
    order = sorted(starts.items(), key=lambda kv: kv[1])
    phases = {
        name: (order[i + 1][1] if i + 1 < len(order) else ended) - at
        for i, (name, at) in enumerate(order)
    }
    return Push(
        result,
        ended - started,
        phases,
        own_cpu() - cpu,
        cpu_seconds(server_pid) - server_user - server_sys,
        cpu_split(server_pid)[1] - server_sys,
    )


@contextlib.contextmanager
def py_spy(binary: str | None, pid: int, out: Path) -> Iterator[None]:
    """Sample ``pid`` with py-spy (raw collapsed stacks into ``out``) while the block runs."""
    if binary is None:
        yield
        return
    process = subprocess.Popen(
        [
            *(binary, "record", "--pid", str(pid), "--gil"),
            *("--format", "raw", "--rate", "50", "-o", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def hottest(raw: Path, n: int = 10) -> list[tuple[str, float]]:
    """Where the samples are: the top frames (``self``) and the Fleetyard frames a sample
    is under (``in``), each as a share of all samples; at most ``n`` of each."""
    if not raw.exists():
        return []
    leaves: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [
            re.sub(r" \(.*/(site-packages|src|lib/python[\d.]+)/", " (", f)
            for f in stack.split(";")
        ]
        leaves[frames[-1]] += int(count)
        for frame in {re.sub(r":\d+\)$", ")", f) for f in frames if "(fleetyard/" in f}:
            inside[frame] += int(count)
        total += int(count)
    return [(f"self {frame}", count / total) for frame, count in leaves.most_common(n)] + [
        (f"in   {frame}", count / total) for frame, count in inside.most_common(n)
    ]


# -- the run ----------------------------------------------------------------------------------


@contextlib.contextmanager
def database_url(work: Path) -> Iterator[str]:
    postgres = bench_postgres_url()
    if postgres is None:
        yield ""  # SQLite in the server's data dir
    else:
        with scratch_postgres(postgres) as url:
            yield url


def log_problems(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    words = ("error", "traceback", "exception", "warning")
    return [line[:300] for line in lines if any(w in line.lower() for w in words)]


def mbps(size: int, seconds: float) -> str:
    return f"{size / MB / seconds:7.1f} MB/s ({seconds:6.2f} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the tree")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--py-spy", help="path of a py-spy binary: profile the first push")
    parser.add_argument("--work", default="/tmp", help="where the temporary directory goes")
    parser.add_argument("--profile-dir", help="keep py-spy's raw profiles here")
    args = parser.parse_args()
    for tool in ("rsync", "restic", "sha256sum"):
        if not shutil.which(tool):
            raise SystemExit(f"this bench needs {tool}: apt-get install rsync restic coreutils")

    kind = "postgresql" if bench_postgres_url() else "sqlite"
    work = Path(tempfile.mkdtemp(prefix="fy-push-bench-", dir=args.work))
    problems: list[str] = []
    try:
        (work / "server").mkdir()
        started = time.perf_counter()
        tree = make_tree(work / "tree", args.size_mib * MIB, args.seed)
        made = time.perf_counter() - started
        size = tree.total
        print(
            f"push of a {size / MIB:,.0f} MiB tree ({len(tree.files):,} files: 4 large,"
            f" {len(tree.files) - 4 - len(tree.small)} medium, {len(tree.small):,} small;"
            f" written in {made:.1f} s), server on {kind}, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        os.sync()

        sums = {
            "sha256sum (1 process)": sha256sum_seconds(tree.root, 1),
            "sha256sum (xargs -P2)": sha256sum_seconds(tree.root, 2),
            "hashlib (1 thread)": hashlib_seconds(tree),
            "disk: write + fsync": durable_write_seconds(work / "server", size),
        }
        for name, seconds in sums.items():
            print(f"  {name:26}: {mbps(size, seconds)}", flush=True)

        with (
            database_url(work) as database,
            server(work, database) as (url, process),
            Client(KEY, base_url=url, retry=RetryPolicy(max_attempts=3)) as client,
        ):
            site = client.sites.create(name="push bench")
            keep = Path(args.profile_dir) if args.profile_dir else work
            keep.mkdir(parents=True, exist_ok=True)
            profiles = keep / f"client-{kind}.raw", keep / f"server-{kind}.raw"
            with (
                py_spy(args.py_spy, os.getpid(), profiles[0]),
                py_spy(args.py_spy, process.pid, profiles[1]),
            ):
                first = push(client, tree.root, "app_pushbench", site.id, process.pid)
            stats = first.result.stats
            print(
                f"  {f'push v{first.result.number}':26}: {mbps(size, first.seconds)}"
                f" end to end; load {os.getloadavg()[0]:.1f}"
            )
            print(
                "    phases: "
                + ", ".join(f"{k} {v:.2f} s" for k, v in first.phases.items())
                + f"; CPU: client {first.client_cpu:.1f} s, server {first.server_cpu:.1f} s"
                + f" (of which system {first.server_sys:.1f} s)"
            )
            print(
                f"    chunks {stats.chunks_total:,} total, {stats.chunks_uploaded:,} uploaded;"
                f" {stats.bytes_uploaded:,} bytes uploaded",
                flush=True,
            )
            for name, raw in zip(("client", "server"), profiles, strict=True):
                for frame, share in hottest(raw):
                    print(f"    py-spy --gil {name}: {share:5.1%} {frame[:140]}")

            target, repo = work / "rsync-target", work / "restic-repo"
            rsync_first = rsync(tree.root, target)
            restic_first = restic_backup(repo, tree.root)
            print(f"  rsync -a (first copy)     : {mbps(size, rsync_first.seconds)}")
            print(f"  restic backup (first)     : {mbps(size, restic_first.seconds)}", flush=True)

            grown = edit_tree(tree, args.seed)
            second = push(client, tree.root, "app_pushbench", site.id, process.pid)
            rsync_second = rsync(tree.root, target)
            restic_second = restic_backup(repo, tree.root)
        problems = log_problems(work / "server.log")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tree_size = size + grown
    stats2 = second.result.stats
    print(
        f"  after inserting 1 byte at {INSERT_AT} of the 100 MiB file and changing"
        f" {SMALL_EDITS} small files:"
    )
    print(
        f"    push v{second.result.number}: {stats2.bytes_uploaded:,} bytes uploaded"
        f" ({stats2.bytes_uploaded / tree_size:.3%} of the tree),"
        f" {stats2.chunks_uploaded} of {stats2.chunks_total:,} chunks, {second.seconds:.2f} s"
        f" (" + ", ".join(f"{k} {v:.2f} s" for k, v in second.phases.items()) + ")"
    )
    print(
        f"    rsync --no-whole-file: {rsync_second.sent:,} bytes sent"
        f" ({rsync_second.sent / tree_size:.3%}), literal data {rsync_second.extra:,},"
        f" {rsync_second.seconds:.2f} s"
    )
    print(
        f"    restic backup: {restic_second.sent:,} bytes added"
        f" ({restic_second.sent / tree_size:.3%}), repository grew {restic_second.extra:,},"
        f" {restic_second.seconds:.2f} s"
    )
    for line in problems[:20]:
        print(f"  server log: {line}")
    ok = stats2.bytes_uploaded < tree_size / 100 and not problems
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
