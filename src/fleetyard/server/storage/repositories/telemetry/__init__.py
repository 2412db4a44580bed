"""Repositories of the telemetry domain: agents, channels, the message log, ingest.

The rules of :mod:`fleetyard.server.storage.repositories` hold here too:
functions take the caller's connection and ``org_id`` as a required keyword
and filter on it. Channels are addressed internally by their integer ``pk``
(see :mod:`fleetyard.server.storage.telemetry_tables`), which services only
ever obtain from an org-checked channel lookup. The one cross-tenant function
is :func:`channels.retention_policies`, for the retention job.
"""
