"""Devices behind gateway agents: import, states, availability, and device events.

- :mod:`.devices` — list/get/update devices, apply reported states and availability.
- :mod:`.importer` — turn a gateway setup document into device rows.
- :mod:`.events` — record device events (per-organisation seq) and publish them.
- :mod:`.listeners` — pollable event listeners (long-poll fetch).
"""
