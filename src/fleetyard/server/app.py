"""``create_app(settings)``: the whole server as one ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fleetyard._version import __version__
from fleetyard.server.api.idempotency import IdempotencyMiddleware
from fleetyard.server.api.middleware import BodyMiddleware, RequestContextMiddleware
from fleetyard.server.api.problems import install_problem_handlers
from fleetyard.server.api.routes import ROUTERS
from fleetyard.server.services.bootstrap import ensure_bootstrap
from fleetyard.server.settings import Settings
from fleetyard.server.state import AppState
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
        try:
            await database.migrate()
            state = AppState(settings=settings, database=database)
            state.bootstrap_api_key = await ensure_bootstrap(database, settings)
            app.state.fleetyard = state
            if on_ready is not None:
                result = on_ready(state)
                if result is not None:
                    await result
            yield
        finally:
            await database.dispose()

    app = FastAPI(
        title="Fleetyard",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_problem_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    # Added last = runs first: ids and versions, then the body, then idempotency.
    app.add_middleware(IdempotencyMiddleware, ttl_seconds=settings.idempotency_ttl_seconds)
    app.add_middleware(BodyMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
