"""The telemetry data plane below HTTP: agents, channels, publishing, reading, retention.

Modules, by concept:

- :mod:`.agents` — agents CRUD, list filters, presence.
- :mod:`.channels` — channel lookup (:class:`~.channels.ChannelRef`), create-or-get,
  settings, delete, aggregate read.
- :mod:`.publishing` — validate and publish one message or a batch; aggregate PATCH.
- :mod:`.ingest` — :class:`~.ingest.IngestWriter`, the one writer per database.
- :mod:`.messages` — log reads (latest, pages, windows), edits, same name across agents.
- :mod:`.timeseries` — numbers at JSON paths, raw or bucketed.
- :mod:`.retention` — the retention job.
- :mod:`.merge` — JSON Merge Patch; :mod:`.schema` — payload JSON Schema checks;
  :mod:`.access` — which scopes reach which agent and channel.

Functions take a :class:`~fleetyard.server.services.auth.Principal` (its
``org_id`` scopes every query; another organisation's resources are 404) and
raise :class:`~fleetyard.server.services.errors.ServiceError` subclasses.
Reads take the :class:`~fleetyard.server.storage.database.Database`; writes to
the message tables take the :class:`~.ingest.IngestWriter`.
"""
