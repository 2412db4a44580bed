"""``/v1/agents/session`` (WebSocket): a device agent's one connection to the server.

Thin: authenticate the upgrade, then hand frames to an
:class:`~fleetyard.server.services.agent_session.session.AgentSession`. The
wire protocol is :mod:`fleetyard.protocol.agent_session`.

Authentication is the upgrade's ``Authorization: Bearer …``. A per-agent
credential (scopes exactly ``agent:<id>:write``) speaks for its agent; any
other credential names the agent with ``?agent_id=`` and needs ``write`` on
it or its site. A refusal is an ``error`` frame, then close code 4401. The
credential is checked again every :data:`REAUTH_SECONDS` (revoked keys,
expired tokens, an agent moved out of reach).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

from fastapi import APIRouter, WebSocket
from fastapi.exceptions import RequestValidationError
from starlette.websockets import WebSocketDisconnect

from fleetyard.protocol.agent_session import SESSION_PATH
from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.stream import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_SERVICE_RESTART,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHENTICATED,
)
from fleetyard.server.api import jsonbody
from fleetyard.server.bus import BusClosed
from fleetyard.server.services import auth
from fleetyard.server.services.agent_session.auth import authorize_agent
from fleetyard.server.services.agent_session.session import (
    AgentSession,
    ClientTooSlow,
    error_frame,
)
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.errors import BadRequest, ServiceError, Unprocessable
from fleetyard.server.state import AppState
from fleetyard.server.storage.repositories.telemetry.agents import AgentRecord

log = logging.getLogger(__name__)

router = APIRouter(tags=["agents"])

REAUTH_SECONDS = 300.0
"""How often a session re-checks its credential and its right to the agent."""
AGENT_ID_MAX_LENGTH = 64


@router.websocket(SESSION_PATH)
async def agent_session(websocket: WebSocket) -> None:
    """A device agent's session (protocol: :mod:`fleetyard.protocol.agent_session`)."""
    state: AppState = websocket.app.state.fleetyard
    await websocket.accept()
    credentials = await _authenticate(websocket, state)
    if credentials is None:
        return
    principal, token, agent = credentials
    settings = state.settings
    try:
        session = AgentSession(
            database=state.database,
            bus=state.bus,
            writer=state.ingest,
            principal=principal,
            agent=agent,
            emit=websocket.send_text,
            heartbeat_seconds=settings.agent_heartbeat_seconds,
            # Often enough that the presence sweep never sees a live session as silent.
            touch_seconds=min(
                settings.agent_heartbeat_seconds, settings.presence_timeout_seconds / 3
            ),
            execution_limit=settings.execution_limit_per_gateway,
            registry=state.agent_sessions,
            check_storable=_check_storable,
            send_timeout=settings.stream_send_timeout_seconds,
        )
    except BusClosed:
        await _close(websocket, CLOSE_SERVICE_RESTART)
        return

    async def read() -> int | None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            await session.handle(text if text is not None else message.get("bytes") or b"")

    async def pump() -> int | None:
        await session.pump()
        return CLOSE_SERVICE_RESTART

    async def watch() -> int | None:
        await session.watch()  # returns only by raising ClientTooSlow
        return None

    async def heartbeats() -> int | None:
        while True:
            await asyncio.sleep(settings.agent_heartbeat_seconds)
            await session.heartbeat()

    async def reauthenticate() -> int | None:
        while True:
            await asyncio.sleep(REAUTH_SECONDS)
            try:
                fresh = await auth.authenticate(state.database, token)
                await authorize_agent(state.database, fresh, agent.id)
            except ServiceError as exc:
                await session.send_error(exc)
                return _close_code(exc)
            session.principal = fresh

    code: int | None
    try:
        code = await _run_until_first(read(), pump(), watch(), heartbeats(), reauthenticate())
    except ClientTooSlow:
        code = CLOSE_TRY_AGAIN
    except (WebSocketDisconnect, OSError, RuntimeError):
        code = None  # the agent went away mid-send
    except Exception:
        log.exception("agent session failed")
        code = CLOSE_INTERNAL_ERROR
    finally:
        # Shielded: a server stopping cancels this task, and the agent must still go offline.
        await asyncio.shield(session.close())
    if code is not None:
        await _close(websocket, code)


async def _authenticate(
    websocket: WebSocket, state: AppState
) -> tuple[Principal, str, AgentRecord] | None:
    """The caller, its token and its agent; on refusal an error frame and close 4401."""
    header = websocket.headers.get("authorization")
    agent_id = websocket.query_params.get("agent_id") or None
    try:
        scheme, _, given = (header or "").partition(" ")
        token = given.strip()
        if scheme.lower() != "bearer" or not token:
            raise auth.missing_credentials()
        principal = await auth.authenticate(state.database, token)
        if agent_id is not None and len(agent_id) > AGENT_ID_MAX_LENGTH:
            raise BadRequest("agent_id is too long.")
        agent = await authorize_agent(state.database, principal, agent_id)
    except ServiceError as exc:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await websocket.send_text(error_frame(exc))
        await _close(websocket, _close_code(exc))
        return None
    return principal, token, agent


def _close_code(exc: ServiceError) -> int:
    """4401 ends an agent's run (its credential is refused); anything else is "try again"."""
    return CLOSE_TRY_AGAIN if exc.status >= 500 else CLOSE_UNAUTHENTICATED


def _check_storable(text: str | bytes) -> None:
    """Refuse NaN/Infinity (``invalid_json``) and values no database stores (422)."""
    try:
        jsonbody.check_storable(text.encode() if isinstance(text, str) else text)
    except RequestValidationError as exc:
        errors = list(exc.errors())
        detail = "; ".join(str(e.get("msg", "")) for e in errors[:5]) or "not storable"
        if any(e.get("type") == "json_invalid" for e in errors):
            raise BadRequest(detail, code=ErrorCode.INVALID_JSON) from None
        raise Unprocessable(
            detail,
            code=ErrorCode.PAYLOAD_INVALID,
            errors=[
                {
                    "loc": [str(part) for part in e.get("loc", ())][1:],
                    "message": e.get("msg"),
                    "type": ErrorCode.PAYLOAD_INVALID.value,
                }
                for e in errors
            ],
        ) from None


async def _run_until_first(*jobs: Awaitable[int | None]) -> int | None:
    """Run ``jobs`` until one ends; cancel the others; its result (or error) is the outcome."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    first = next(task for task in tasks if task in done)
    return first.result()


async def _close(websocket: WebSocket, code: int) -> None:
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
        await websocket.close(code)
