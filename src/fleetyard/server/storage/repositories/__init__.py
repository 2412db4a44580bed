"""Repositories: all SQL of the identity domain, one module per table group.

Rules every function here keeps:

- It takes the caller's open connection; transactions belong to services.
- Every function that touches rows owned by an organisation takes ``org_id``
  as a required keyword argument and filters on it, so a query that forgets
  the tenant cannot be written. The only exceptions are lookups by a secret's
  hash, by a login email or by a client id, which is how the caller's
  organisation is *found*; they return the row's ``org_id`` for the service to
  carry on with.
- Lists are keyset-paginated by id: ``after`` (exclusive) and ``limit``; they
  fetch ``limit + 1`` rows so the caller can tell whether another page exists.
- Instants are integer milliseconds since the epoch (UTC).
"""
