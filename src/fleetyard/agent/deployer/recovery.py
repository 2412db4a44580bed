"""What a crash leaves in an app directory, cleaned at start (see
:mod:`fleetyard.agent.deployer.layout` for the files)."""

from __future__ import annotations

from fleetyard.agent.deployer.cache import ChunkCache
from fleetyard.agent.deployer.layout import TMP_SUFFIX, TRASH_SUFFIX, AppLayout, remove_tree

__all__ = ["recover_app"]


def recover_app(layout: AppLayout) -> list[str]:
    """Remove half-written trees and links; undo a switch whose health was never confirmed."""
    done: list[str] = []
    for link in (layout.current, layout.previous):
        stray = link.with_name(link.name + TMP_SUFFIX)
        if stray.is_symlink():
            stray.unlink()
    if layout.versions.is_dir():
        for entry in layout.versions.iterdir():
            if entry.name.endswith((TMP_SUFFIX, TRASH_SUFFIX)):
                remove_tree(entry)
                done.append(f"{layout.app_id}: removed {entry.name}")
    for directory in (layout.root, layout.manifests, layout.stamps):
        if directory.is_dir():
            for stray_file in directory.glob(f".*{TMP_SUFFIX}"):
                stray_file.unlink()
    if layout.stamps.is_dir():  # stamps written, then a crash before the tree's rename
        on_disk = set(layout.versions_on_disk())
        for stamps in layout.stamps.glob("*.json"):
            if stamps.stem not in on_disk:
                stamps.unlink()
    ChunkCache(layout.chunks).clean()
    journal = layout.read_journal()
    if journal is not None:
        switched_to = journal.get("version_id")
        back = journal.get("from")
        if layout.target(layout.current) == switched_to and switched_to != back:
            target = back if isinstance(back, str) and layout.has_version(back) else None
            layout.point(layout.current, target)
            done.append(f"{layout.app_id}: switched back from unconfirmed {switched_to}")
        layout.clear_journal()
    if layout.current.is_symlink():
        current = layout.target(layout.current)
        if current is None or not layout.has_version(current):
            layout.point(layout.current, None)  # never expected: no link to nowhere
            done.append(f"{layout.app_id}: removed a dangling current link")
    return done
