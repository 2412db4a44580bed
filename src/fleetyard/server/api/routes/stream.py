"""``/v1/stream`` (WebSocket) and ``/v1/events`` (server-sent events): live telemetry.

Both are thin: authenticate, then hand frames to a
:class:`~fleetyard.server.services.telemetry.stream.StreamSession`, which
owns subscriptions, replay and ordering. The wire protocol is described in
:mod:`fleetyard.protocol.stream`; SSE event ids in :mod:`.sse`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.stream import (
    CLOSE_INTERNAL_ERROR,
    CLOSE_SERVICE_RESTART,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHENTICATED,
    ChannelSubscription,
    PresenceSubscription,
    StreamAuth,
    StreamConnected,
    StreamSubscribe,
)
from fleetyard.server.api.deps import State
from fleetyard.server.api.routes._shared import SCOPED_ONE, problems
from fleetyard.server.api.routes._telemetry import TelemetryRead
from fleetyard.server.api.sse import (
    MAX_SSE_CHANNELS,
    EventStreamResponse,
    SSEWriter,
    parse_event_id,
)
from fleetyard.server.bus import BusClosed
from fleetyard.server.services import auth
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.errors import BadRequest, ServiceError, Unprocessable
from fleetyard.server.services.telemetry.stream import ClientTooSlow, StreamSession, error_frame
from fleetyard.server.state import AppState

log = logging.getLogger(__name__)

router = APIRouter(tags=["stream"])

AUTH_TIMEOUT_SECONDS = 10.0
REAUTH_SECONDS = 300.0
"""How often a long-lived stream re-checks its credential (revoked keys, expired tokens)."""
SSE_SUBSCRIPTION_ID = "events"


# --- WebSocket -----------------------------------------------------------------------


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    """Channels and presence over one WebSocket (protocol: :mod:`fleetyard.protocol.stream`)."""
    state: AppState = websocket.app.state.fleetyard
    await websocket.accept()
    credentials = await _authenticate(websocket, state)
    if credentials is None:
        return
    principal, token = credentials

    async def emit(kind: str, frame: str) -> None:
        await websocket.send_text(frame)

    try:
        session = StreamSession(
            state.database,
            state.bus,
            principal,
            emit,
            send_timeout=state.settings.stream_send_timeout_seconds,
        )
    except BusClosed:
        await _close(websocket, CLOSE_SERVICE_RESTART)
        return
    heartbeat = state.settings.stream_heartbeat_seconds
    connected = StreamConnected(org_id=principal.org_id, heartbeat_seconds=heartbeat)

    async def read() -> int | None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text is None:
                data = message.get("bytes") or b""
                text = data.decode("utf-8", errors="replace")
            await session.handle(text)

    async def pump() -> int | None:
        await session.pump()
        return CLOSE_SERVICE_RESTART

    try:
        await session.send("connected", connected.model_dump_json())
        code = await _run_until_first(
            read(),
            pump(),
            _watch(session),
            _heartbeats(session, heartbeat),
            _reauthenticate(state, session, token),
        )
    except ClientTooSlow:
        code = CLOSE_TRY_AGAIN
    except (WebSocketDisconnect, OSError, RuntimeError):
        code = None  # the client went away mid-send
    except Exception:
        log.exception("stream session failed")
        code = CLOSE_INTERNAL_ERROR
    finally:
        session.close()
    if code is not None:
        await _close(websocket, code)


async def _authenticate(websocket: WebSocket, state: AppState) -> tuple[Principal, str] | None:
    """The principal behind the upgrade's bearer token or the first ``auth`` message."""
    header = websocket.headers.get("authorization")
    try:
        if header is not None:
            scheme, _, given = header.partition(" ")
            if scheme.lower() != "bearer" or not given.strip():
                raise auth.missing_credentials()
            token = given.strip()
        else:
            first = await _first_message_token(websocket)
            if first is None:
                return None
            token = first
        principal = await auth.authenticate(state.database, token)
    except ServiceError as exc:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await websocket.send_text(error_frame(exc))
        # Only a refused credential is final; an overloaded server is "try again".
        await _close(
            websocket, CLOSE_UNAUTHENTICATED if exc.status in (401, 403) else CLOSE_TRY_AGAIN
        )
        return None
    return principal, token


async def _first_message_token(websocket: WebSocket) -> str | None:
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_SECONDS):
            message = await websocket.receive()
    except TimeoutError:
        raise auth.missing_credentials() from None
    if message["type"] == "websocket.disconnect":
        return None
    try:
        first = StreamAuth.model_validate_json(message.get("text") or message.get("bytes") or b"")
    except ValidationError:
        raise auth.missing_credentials() from None
    return first.token


async def _watch(session: StreamSession) -> int | None:
    await session.watch()  # returns only by raising ClientTooSlow
    return None


async def _heartbeats(session: StreamSession, interval: float) -> int | None:
    while True:
        await asyncio.sleep(interval)
        await session.heartbeat()


async def _reauthenticate(state: AppState, session: StreamSession, token: str) -> int | None:
    while True:
        await asyncio.sleep(REAUTH_SECONDS)
        try:
            await auth.authenticate(state.database, token)
        except ServiceError as exc:
            await session.send_error(exc)
            return CLOSE_UNAUTHENTICATED


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


# --- server-sent events --------------------------------------------------------------


@router.get(
    "/v1/events",
    summary="Follow channels and presence (server-sent events)",
    status_code=200,
    response_class=EventStreamResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "An endless event stream."},
        **problems(400, *SCOPED_ONE),
    },
)
async def events(
    request: Request,
    principal: TelemetryRead,
    state: State,
    channel_id: Annotated[list[str] | None, Query(description="A channel to follow.")] = None,
    agent_id: Annotated[
        list[str] | None, Query(description="With `name`: a channel by agent and name.")
    ] = None,
    name: Annotated[
        list[str] | None, Query(description="Paired with `agent_id`, in order.")
    ] = None,
    aggregates: Annotated[bool, Query(description="Also send aggregate changes.")] = False,
    presence_site_id: Annotated[str | None, Query(description="Presence of a site.")] = None,
    presence_agent_id: Annotated[list[str] | None, Query(description="Presence of agents.")] = None,
    after: Annotated[
        int | None, Query(ge=0, description="First connect: replay messages after this seq.")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Query(description="The `Last-Event-ID` for clients that cannot set the header."),
    ] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventStreamResponse:
    """The WebSocket's events as `text/event-stream`, for clients without WebSockets.

    Each event's `id` is an opaque position covering every channel of the
    stream; a reconnect with `Last-Event-ID` resumes each channel without
    gap or duplicate (within retention). `: heartbeat` comments come every
    15 s. Needs read access to every channel (404 otherwise) and `site:<id>:read`
    for site presence.
    """
    agents, names = agent_id or [], name or []
    if len(agents) != len(names):
        raise BadRequest("Give one `name` per `agent_id` (a channel by agent and name).")
    channels = [ChannelSubscription(channel_id=c, after=after) for c in channel_id or []]
    try:
        channels += [
            ChannelSubscription(agent_id=a, name=n, after=after)
            for a, n in zip(agents, names, strict=True)
        ]
        presence = None
        if presence_site_id is not None or presence_agent_id:
            presence = PresenceSubscription(
                site_id=presence_site_id, agent_ids=presence_agent_id or None
            )
        subscribe = StreamSubscribe(
            id=SSE_SUBSCRIPTION_ID, channels=channels, aggregates=aggregates, presence=presence
        )
    except ValidationError as exc:
        raise Unprocessable("; ".join(e["msg"] for e in exc.errors()[:5])) from exc
    if len(channels) > MAX_SSE_CHANNELS:
        raise BadRequest(f"An event stream follows at most {MAX_SSE_CHANNELS} channels.")
    resume_text = last_event_id_header or last_event_id
    resume = None
    if resume_text:
        resume = parse_event_id(resume_text)
        if resume is None:
            raise BadRequest(
                "This Last-Event-ID was not handed out by this server.",
                code=ErrorCode.INVALID_CURSOR,
            )
    writer = SSEWriter()
    session = StreamSession(
        state.database,
        state.bus,
        principal,
        writer.emit,
        send_timeout=state.settings.stream_send_timeout_seconds,
    )
    try:
        plan = await session.authorize(subscribe, resume=resume)
    except BaseException:
        session.close()
        raise
    writer.positions = session.positions
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    heartbeat = state.settings.stream_heartbeat_seconds

    async def run(send: Callable[[bytes], Awaitable[None]]) -> None:
        writer.send = send
        try:
            await session.activate(plan)
            await _run_until_first(
                _pump_until_closed(session),
                _watch(session),
                _heartbeats(session, heartbeat),
                _reauthenticate(state, session, token),
            )
        except ClientTooSlow:
            pass
        finally:
            session.close()

    return EventStreamResponse(run)


async def _pump_until_closed(session: StreamSession) -> int | None:
    await session.pump()
    return None
