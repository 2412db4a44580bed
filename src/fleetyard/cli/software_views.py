"""How apps, versions and pushes look to people (pure functions, see :mod:`fleetyard.cli.views`)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from fleetyard.cli.views import NONE, RecordView, TableView, text, when
from fleetyard.protocol.rollouts import Rollout, RolloutCounts, RolloutState
from fleetyard.protocol.software import App, FileEntry, Version, VersionDiff
from fleetyard.sdk._push.models import PushResult


def size(value: int) -> str:
    """Bytes for people: ``512 B``, ``1.5 KiB``, ``12.0 MiB``.

    >>> size(512), size(1536), size(12 * 1024 * 1024)
    ('512 B', '1.5 KiB', '12.0 MiB')
    """
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{value} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"  # pragma: no cover


def _version_label(version: Version | None) -> str:
    return NONE if version is None else f"v{version.number} ({version.id})"


def apps_table(apps: Sequence[App]) -> TableView:
    rows: list[tuple[str, ...]] = [
        (
            a.id,
            a.name,
            a.site_id,
            NONE if a.current_version is None else f"v{a.current_version.number}",
            str(len(a.targets)),
            "deleted" if a.deleted_at else "",
        )
        for a in apps
    ]
    return TableView(("ID", "NAME", "SITE ID", "CURRENT", "TARGETS", ""), rows, "No apps.")


def app_record(app: App) -> RecordView:
    return RecordView(
        f"App {app.id}",
        [
            ("Name", app.name),
            ("Site", app.site_id),
            ("Current", _version_label(app.current_version)),
            ("Targets", ", ".join(app.targets) or NONE),
            ("Extract path", text(app.extract_path)),
            (
                "Health check",
                shlex.join(app.run.health_command) if app.run.health_command else NONE,
            ),
            ("Created", when(app.created_at)),
            ("Deleted", when(app.deleted_at)),
        ],
    )


def versions_table(versions: Sequence[Version]) -> TableView:
    # The ref (v3) is what people type; the 36-character id is in --json and `versions get`.
    rows: list[tuple[str, ...]] = [
        (
            f"v{v.number}" + (" *" if v.current else ""),
            str(v.files),
            size(v.bytes),
            when(v.created_at),
            v.description,
        )
        for v in versions
    ]
    return TableView(("VERSION", "FILES", "SIZE", "CREATED", "DESCRIPTION"), rows, "No versions.")


def version_record(version: Version) -> RecordView:
    return RecordView(
        f"Version v{version.number} of {version.app_id}",
        [
            ("ID", version.id),
            ("Current", "yes" if version.current else "no"),
            ("Description", text(version.description or None)),
            ("Files", str(version.files)),
            ("Size", size(version.bytes)),
            ("Manifest SHA-256", version.manifest_sha256),
            ("Created", when(version.created_at)),
            ("Created by", text(version.created_by)),
        ],
    )


def files_table(entries: Sequence[FileEntry]) -> TableView:
    rows: list[tuple[str, ...]] = [
        (
            e.path,
            e.type,
            NONE if e.mode is None else oct(e.mode)[2:],
            size(e.size) if e.type == "file" else NONE,
            e.target or (e.digest or "")[:12],
        )
        for e in entries
    ]
    return TableView(("PATH", "TYPE", "MODE", "SIZE", "DIGEST/TARGET"), rows, "No files.")


def diff_table(diff: VersionDiff) -> TableView:
    rows: list[tuple[str, ...]] = [
        ("+", e.path, size(e.size) if e.type == "file" else e.type) for e in diff.added
    ]
    rows += [("-", e.path, size(e.size) if e.type == "file" else e.type) for e in diff.removed]
    rows += [("~", c.path, f"{size(c.old_size)} -> {size(c.new_size)}") for c in diff.changed]
    rows.sort(key=lambda r: (r[1].encode("utf-8"), r[0]))
    return TableView(("", "PATH", "SIZE"), rows, "No differences.")


def push_text(result: PushResult, seconds: float | None = None) -> str:
    """One paragraph about a push (or a dry run)."""
    s = result.stats
    reused = 100 * s.chunks_reused / s.chunks_total if s.chunks_total else 100.0
    if result.dry_run:
        head = f"Dry run: would publish {result.version_id} of {result.app_id}"
        moved = (
            f"would upload {s.chunks_missing} of {s.chunks_total} chunks ({size(s.bytes_missing)})"
        )
    else:
        verb = "Published" if result.created else "Unchanged: current is"
        head = f"{verb} v{result.number} ({result.version_id}) of {result.app_id}"
        moved = (
            f"uploaded {s.chunks_uploaded} of {s.chunks_total} chunks ({size(s.bytes_uploaded)})"
        )
    line = f"{head}: {s.files} files, {size(s.bytes)}; {moved}, {reused:.0f}% reused"
    if seconds is not None and seconds > 0:
        line += f", {s.bytes / seconds / 1e6:.0f} MB/s"
    line += "."
    if result.diff is not None:
        d = result.diff
        line += (
            f"\nChanges: {len(d.added)} added, {len(d.removed)} removed, {len(d.changed)} changed."
        )
    return line


# -- rollouts --------------------------------------------------------------------


def strategy_text(options: Mapping[str, object]) -> str:
    """How a rollout goes, from its options.

    >>> strategy_text({"strategy": "canary", "canary_percent": 10.0})
    'canary (10%)'
    >>> strategy_text({"strategy": "rate", "rate_per_minute": 5}), strategy_text({})
    ('rate (5/min)', 'all at once')
    """
    strategy = options.get("strategy") or "all_at_once"
    if strategy == "canary":
        percent, count = options.get("canary_percent"), options.get("canary_count")
        if isinstance(percent, int | float):
            return f"canary ({percent:g}%)"
        machines = count if isinstance(count, int) else 1
        return f"canary ({machines} machine{'' if machines == 1 else 's'})"
    if strategy == "rate":
        return f"rate ({options.get('rate_per_minute')}/min)"
    return "all at once" if strategy == "all_at_once" else str(strategy)


def counts_text(counts: RolloutCounts) -> str:
    """The machine states that have machines: ``1 succeeded, 2 queued``."""
    parts = [f"{n} {state}" for state, n in counts.model_dump().items() if n]
    return ", ".join(parts) or "no machines"


def _machines(n: int) -> str:
    return f"{n} machine{'' if n == 1 else 's'}"


def _of(rollout: Rollout) -> str:
    return f"v{rollout.version_number} ({rollout.version_id}) of {rollout.app_id}"


def rollout_started_text(rollout: Rollout) -> str:
    """The answer to ``yard deploy``: started, scheduled, or (a dry run) the plan."""
    machines = _machines(len(rollout.machines))
    strategy = strategy_text(rollout.options)
    if rollout.state is RolloutState.DRY_RUN:
        waves = len({m.wave for m in rollout.machines})
        return (
            f"Dry run: would deploy {_of(rollout)} to {machines}"
            f" in {waves} wave{'' if waves == 1 else 's'}; strategy: {strategy}."
        )
    if rollout.state is RolloutState.SCHEDULED:
        return (
            f"Scheduled rollout {rollout.id}: {_of(rollout)} to {machines},"
            f" starting {when(rollout.schedule_at)}; strategy: {strategy}."
        )
    return f"Started rollout {rollout.id}: {_of(rollout)} to {machines}; strategy: {strategy}."


def rollouts_table(rollouts: Sequence[Rollout]) -> TableView:
    rows: list[tuple[str, ...]] = [
        (
            r.id,
            f"v{r.version_number}",
            r.state.value,
            strategy_text(r.options),
            f"{r.counts.succeeded}/{len(r.machines)}",
            str(r.counts.failed),
            when(r.created_at),
        )
        for r in rollouts
    ]
    columns = ("ID", "VERSION", "STATE", "STRATEGY", "SUCCEEDED", "FAILED", "CREATED")
    return TableView(columns, rows, "No rollouts.")


def rollout_record(rollout: Rollout) -> RecordView:
    return RecordView(
        f"Rollout {rollout.id}",
        [
            ("App", rollout.app_id),
            ("Version", f"v{rollout.version_number} ({rollout.version_id})"),
            ("State", rollout.state.value),
            ("Strategy", strategy_text(rollout.options)),
            ("Machines", f"{len(rollout.machines)} ({counts_text(rollout.counts)})"),
            ("Created", when(rollout.created_at)),
            ("Scheduled", when(rollout.schedule_at)),
            ("Finished", when(rollout.finished_at)),
        ],
    )


def machines_table(rollout: Rollout) -> TableView:
    rows: list[tuple[str, ...]] = [
        (
            m.agent_id,
            str(m.wave),
            m.state.value,
            when(m.started_at),
            when(m.finished_at),
            text(m.error),
        )
        for m in rollout.machines
    ]
    columns = ("AGENT ID", "WAVE", "STATE", "STARTED", "FINISHED", "ERROR")
    return TableView(columns, rows, "No machines.")


def rollout_progress_title(rollout: Rollout) -> str:
    """The line above ``yard rollouts watch``'s table."""
    return (
        f"Rollout {rollout.id}: {_of(rollout)}, {rollout.state.value}"
        f" ({counts_text(rollout.counts)})"
    )


def rollout_failure_text(rollout: Rollout) -> str:
    """Why a finished rollout did not succeed, for the error line."""
    failed = [m for m in rollout.machines if m.state == "failed"]
    line = f"rollout {rollout.id} {rollout.state.value}: {counts_text(rollout.counts)}"
    if failed:
        first = failed[0]
        line += f"; {first.agent_id}: {first.error or 'failed'}"
        if len(failed) > 1:
            line += f" (and {len(failed) - 1} more)"
    return line
