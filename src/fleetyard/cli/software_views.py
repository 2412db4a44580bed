"""How apps, versions and pushes look to people (pure functions, see :mod:`fleetyard.cli.views`)."""

from __future__ import annotations

from collections.abc import Sequence

from fleetyard.cli.views import NONE, RecordView, TableView, text, when
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
