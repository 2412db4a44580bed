"""``create_app(settings)``: the whole server as one ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from fleetyard._version import __version__
from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE
from fleetyard.server.api.fastpath import FleetyardAPI
from fleetyard.server.api.idempotency import IdempotencyMiddleware
from fleetyard.server.api.middleware import BodyMiddleware, RequestContextMiddleware
from fleetyard.server.api.problems import install_problem_handlers
from fleetyard.server.api.routes import ROUTERS
from fleetyard.server.bus import create_bus
from fleetyard.server.jobs import JobRunner
from fleetyard.server.services.bootstrap import ensure_bootstrap
from fleetyard.server.services.chunks import gc as chunks_gc
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.services.executions import schedules, sweep
from fleetyard.server.services.rollouts import engine as rollouts_engine
from fleetyard.server.services.software import purge as apps_purge
from fleetyard.server.services.telemetry.fanout import StreamFanout
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.presence import PresenceMonitor
from fleetyard.server.services.telemetry.retention import run_periodically as run_retention
from fleetyard.server.settings import Settings
from fleetyard.server.state import AppState
from fleetyard.server.storage.blobs import create_blob_store
from fleetyard.server.storage.database import Database

OnReady = Callable[[AppState], Awaitable[None] | None]

DESCRIPTION = """\
Fleetyard's native API. Errors are `application/problem+json` with a stable
`code`; lists are `?limit=&cursor=`; every POST honours `Idempotency-Key`.
"""


def create_app(settings: Settings, *, on_ready: OnReady | None = None) -> FastAPI:
    """Build the application. Nothing touches the database until the lifespan starts.

    Example::

        app = create_app(Settings(dev=True, data_dir=Path("var")))
        uvicorn.run(app)
    """
    settings.ensure_safe()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(settings.resolved_database_url)
        ingest = IngestWriter(database)
        bus = create_bus(settings.bus_url)
        presence = PresenceMonitor(database, bus, timeout_seconds=settings.presence_timeout_seconds)
        retention: asyncio.Task[None] | None = None
        blobs = create_blob_store(settings.blob_url, settings.data_dir)
        chunks = Chunks(database=database, blobs=blobs, settings=settings)
        # Durable jobs (scheduled scenes) and the sweep of executions no gateway took.
        jobs = JobRunner(
            database,
            {
                **schedules.job_handlers(database, bus, limit=settings.execution_limit_per_gateway),
                **chunks_gc.job_handlers(chunks),
                **rollouts_engine.job_handlers(database, bus),
                **apps_purge.job_handlers(database),
            },
            poll_seconds=settings.job_poll_seconds,
        )
        sweeper: asyncio.Task[None] | None = None
        try:
            await database.migrate()
            await bus.start()
            ingest.add_listener(StreamFanout(bus))
            await ingest.start()
            await presence.start()
            if settings.retention_interval_seconds > 0:
                retention = asyncio.create_task(
                    run_retention(ingest, interval_seconds=settings.retention_interval_seconds),
                    name="fleetyard-retention",
                )
            await chunks_gc.schedule_next(chunks)
            await apps_purge.schedule_next(database)
            await jobs.start()
            sweeper = asyncio.create_task(
                sweep.run_sweeper(
                    database,
                    bus,
                    timeout_seconds=settings.execution_transmit_timeout_seconds,
                    limit=settings.execution_limit_per_gateway,
                    interval_seconds=min(5.0, settings.execution_transmit_timeout_seconds / 4),
                ),
                name="fleetyard-executions-sweep",
            )
            state = AppState(
                settings=settings, database=database, ingest=ingest, blobs=blobs, bus=bus
            )
            state.bootstrap_api_key = await ensure_bootstrap(database, settings)
            app.state.fleetyard = state
            if on_ready is not None:
                result = on_ready(state)
                if result is not None:
                    await result
            yield
        finally:
            if retention is not None:
                retention.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await retention
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            await jobs.stop()
            await presence.stop()
            # Streams end first (clients reconnect elsewhere and resume by position).
            await bus.close()
            # Everything acknowledged is committed already; stop() stores what is queued.
            await ingest.stop()
            await blobs.close()
            await database.dispose()

    app = FleetyardAPI(
        max_body_bytes=settings.max_body_bytes,
        title="Fleetyard",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_problem_handlers(app)
    _serve_problems_as_problem_json(app)
    for router in ROUTERS:
        app.include_router(router)
    # Added last = runs first: ids and versions, then the body, then idempotency,
    # then FastAPI's routing. Single publishes are answered before all of it, by the
    # fast path FleetyardAPI puts outside the stack (see api/fastpath.py).
    app.add_middleware(IdempotencyMiddleware, ttl_seconds=settings.idempotency_ttl_seconds)
    app.add_middleware(BodyMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


def _serve_problems_as_problem_json(app: FastAPI) -> None:
    """Document error answers under ``application/problem+json`` only.

    FastAPI files a response model under the route's own media type too; error
    bodies are never ``application/json``, so that entry would mislead clients.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status[0] in "45" and PROBLEM_CONTENT_TYPE in content:
                            content.pop("application/json", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
