"""Pushing a directory tree as an app version: walk, chunk, hash, upload, publish.

The public names are re-exported from :mod:`fleetyard.sdk`; the resource
method is :meth:`client.apps.push <fleetyard.sdk.resources.apps.Apps.push>`.
"""

from fleetyard.sdk._push.models import (
    PushOptions,
    PushPhase,
    PushProgress,
    PushProgressCallback,
    PushResult,
    PushStats,
)

__all__ = [
    "PushOptions",
    "PushPhase",
    "PushProgress",
    "PushProgressCallback",
    "PushResult",
    "PushStats",
]
