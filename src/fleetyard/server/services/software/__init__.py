"""Software delivery: apps, their immutable versions, publishing and rollback.

- :mod:`.access` — who may read, change or roll back an app (site or app scopes).
- :mod:`.apps` — create, list, get, patch, soft-delete and restore apps.
- :mod:`.versions` — publish (optimistic concurrency), refs, lists, files, diff, rollback.
"""
