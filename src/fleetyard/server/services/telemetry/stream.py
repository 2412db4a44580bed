"""Stream sessions: one client's subscriptions, delivered in order, resumable, bounded.

A :class:`StreamSession` serves one WebSocket (or SSE) client. It holds one
bus subscription for all the client's topics and, per subscribed channel, a
high-water mark: the last ``seq`` sent (and the last aggregate ``version``).

Subscribing never loses or repeats a message:

1. the channels are resolved and checked (read permission; another
   organisation's channel is 404), all or nothing;
2. under the session lock, the bus subscription takes the new topics first,
   so live events from now on are buffered in it;
3. the starting positions are read from storage (after step 2): the
   client's ``after`` (at most the channel's ``last_seq``), or the
   channel's ``last_seq`` ("from now");
4. stored messages after that position are replayed page by page;
5. the lock is released and the pump drains the buffer, skipping seqs at or
   below the high-water mark.

Live delivery keeps the same rule: a message event at or below the mark is
skipped, one beyond ``mark + 1`` first has the gap filled from storage (an
event lost or reordered by a networked bus). Seqs are per channel and
gap-free in commit order (see the ingest writer), so storage can always
fill in.

Slow clients: the bus subscription is bounded; when it overflows it is
marked lagged and dropped, and the session catches up from storage (the
same replay), then carries on. A client that does not read at all is cut
off after ``send_timeout`` (:meth:`StreamSession.watch` raises
:class:`ClientTooSlow`) and resumes on reconnect.

Presence, device and software events are live only: nothing is replayed, and
each device or software event is sent only to subscriptions whose caller may
read it (its site, or its gateway or app).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.stream import (
    MAX_SUBSCRIPTIONS,
    ClientMessage,
    StreamAuth,
    StreamSubscribe,
    StreamSubscribed,
    StreamUnsubscribe,
    StreamUnsubscribed,
    SubscribedChannel,
)
from fleetyard.server.bus import DEFAULT_MAX_PENDING, Bus, BusClosed, BusEvent, Lagged
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.devices.events import device_events_topic
from fleetyard.server.services.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServiceError,
)
from fleetyard.server.services.software import access as software_access
from fleetyard.server.services.software._common import software_topic
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry import events as ev
from fleetyard.server.services.telemetry.stream_org_events import REPLAY_PAGE, OrgEvents
from fleetyard.server.services.telemetry.stream_plan import (
    Feed,
    Plan,
    Start,
    Sub,
    build_sub,
    check_device_events,
    check_presence,
    check_software_events,
    error_frame,
    invalid_message,
    resolve_channels,
    software_only,
)
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import device_events as device_events_repo
from fleetyard.server.storage.repositories.telemetry import channels as channel_repo
from fleetyard.server.storage.repositories.telemetry import messages as messages_repo
from fleetyard.server.storage.repositories.telemetry import presence as presence_repo

__all__ = ["ClientTooSlow", "Emit", "Plan", "StreamSession", "error_frame"]

Emit = Callable[[str, str], Awaitable[None]]
"""Sends one frame to the client: ``(event type, JSON text)``."""

MAX_CHANNELS_PER_SESSION = 10_000
DEFAULT_SEND_TIMEOUT = 30.0

_CLIENT_MESSAGE: TypeAdapter[Any] = TypeAdapter(ClientMessage)


class ClientTooSlow(Exception):
    """The client did not take a frame within the send timeout: close and let it resume."""


class StreamSession:
    """The subscriptions of one connected client. See the module docstring.

    Example (what the WebSocket route does)::

        session = StreamSession(database, bus, principal, emit)
        pump = asyncio.create_task(session.pump())
        async for text in websocket.iter_text():
            await session.handle(text)
        session.close()
    """

    def __init__(
        self,
        database: Database,
        bus: Bus,
        principal: Principal,
        emit: Emit,
        *,
        send_timeout: float = DEFAULT_SEND_TIMEOUT,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        self.database = database
        self.principal = principal
        self.send_timeout = send_timeout
        self._emit = emit
        self._bus = bus.subscribe(max_pending=max_pending)
        self._subs: dict[str, Sub] = {}
        self._routes: dict[str, list[tuple[Sub, Feed | None]]] = {}
        self._refs: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self._sending_since: float | None = None
        self._device_topic = device_events_topic(principal.org_id)
        self._software_topic = software_topic(principal.org_id)
        self._org_events = OrgEvents(database, principal, self._send)

    # -- client messages ---------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Act on one client frame; refusals are sent back as ``error`` frames."""
        try:
            data = json.loads(text)
        except ValueError:
            await self.send_error(
                BadRequest("The message is not JSON.", code=ErrorCode.INVALID_JSON)
            )
            return
        sub_id = data.get("id") if isinstance(data, dict) else None
        sub_id = sub_id if isinstance(sub_id, str) else None
        try:
            message = _CLIENT_MESSAGE.validate_python(data)
            if isinstance(message, StreamSubscribe):
                await self.subscribe(message)
            elif isinstance(message, StreamUnsubscribe):
                await self.unsubscribe(message.id)
            elif isinstance(message, StreamAuth):
                raise BadRequest("This connection is authenticated already.")
        except ValidationError as exc:
            await self.send_error(invalid_message(exc), sub_id)
        except ServiceError as exc:
            await self.send_error(exc, sub_id)

    async def subscribe(self, request: StreamSubscribe) -> None:
        """Check, then start a subscription (replay first when it resumes)."""
        await self.activate(await self.authorize(request))

    async def authorize(
        self, request: StreamSubscribe, *, resume: Mapping[str, tuple[int, int]] | None = None
    ) -> Plan:
        """Resolve and check everything a subscribe names; nothing is subscribed yet.

        ``resume`` maps channel ids to ``(seq, aggregate version)`` positions
        (an SSE ``Last-Event-ID``); they win over a channel's ``after``.
        """
        if software_only(request):
            # Software events alone: read on some site or some app will do.
            software_access.require_somewhere(self.principal, software_access.READ)
        else:
            access.require_somewhere(self.principal, access.READ)
        if request.id in self._subs:
            raise Conflict(
                f"Subscription {request.id!r} exists already on this connection.",
                code=ErrorCode.ALREADY_EXISTS,
            )
        if len(self._subs) >= MAX_SUBSCRIPTIONS:
            raise BadRequest(f"A connection holds at most {MAX_SUBSCRIPTIONS} subscriptions.")
        held = sum(len(sub.feeds) for sub in self._subs.values())
        if held + len(request.channels) > MAX_CHANNELS_PER_SESSION:
            raise BadRequest(f"A connection follows at most {MAX_CHANNELS_PER_SESSION} channels.")
        async with self.database.connect() as conn:
            records = await resolve_channels(conn, self.principal, request.channels)
            if request.presence is not None:
                await check_presence(conn, self.principal, request.presence)
            if request.device_events is not None:
                await check_device_events(conn, self.principal, request.device_events)
            if request.software_events is not None:
                await check_software_events(conn, self.principal, request.software_events)
        starts: list[Start] = []
        seen: set[str] = set()
        for spec, record in zip(request.channels, records, strict=True):
            if record.id in seen:
                continue
            seen.add(record.id)
            after, aggregate_after = spec.after, spec.aggregate_after
            if resume and record.id in resume:
                after, aggregate_after = resume[record.id]
            starts.append(Start(record, after, aggregate_after))
        return Plan(request, starts)

    async def activate(self, plan: Plan) -> None:
        """Subscribe on the bus, read where each channel starts, answer, replay."""
        sub = build_sub(plan, org_id=self.principal.org_id)
        async with self._lock:
            # Topics first: from here on live events are buffered, so the
            # positions read below cannot miss anything committed meanwhile.
            self._attach(sub)
            try:
                await self._start(sub, plan)
            except BaseException:
                self._detach(sub)
                raise

    async def unsubscribe(self, sub_id: str) -> None:
        async with self._lock:
            sub = self._subs.get(sub_id)
            if sub is None:
                raise NotFound(f"There is no subscription {sub_id!r} on this connection.")
            self._detach(sub)
            await self._send("unsubscribed", StreamUnsubscribed(id=sub_id).model_dump_json())

    async def send_error(self, error: ServiceError, sub_id: str | None = None) -> None:
        async with self._lock:
            await self._send("error", error_frame(error, sub_id))

    async def send(self, kind: str, frame: str) -> None:
        """Send a frame of the caller's own (``connected``, ``heartbeat``) in turn with events."""
        async with self._lock:
            await self._send(kind, frame)

    async def heartbeat(self) -> None:
        await self.send("heartbeat", ev.dumps({"type": "heartbeat", "at": ev.timestamp(now_ms())}))

    # -- live events -------------------------------------------------------------------

    async def pump(self) -> None:
        """Deliver live events until the bus closes (the server is stopping)."""
        subscription = self._bus
        while True:
            try:
                batch = await subscription.next_batch()
            except BusClosed:
                return
            async with self._lock:
                if isinstance(batch, Lagged):
                    await self._catch_up()
                    continue
                for topic, event in batch:
                    routes = self._routes.get(topic)
                    if routes and topic == self._device_topic:
                        await self._org_events.dispatch_device(routes, event)
                    elif routes and topic == self._software_topic:
                        await self._org_events.dispatch_software(routes, event)
                    elif routes:
                        await self._dispatch(routes, event)

    async def watch(self) -> None:
        """Raise :class:`ClientTooSlow` once a frame has been waiting ``send_timeout`` seconds.

        Run beside :meth:`pump`; the caller then closes the connection (1013)
        and the client resumes when it reconnects.
        """
        while True:
            await asyncio.sleep(min(1.0, self.send_timeout / 4))
            since = self._sending_since
            if since is not None and time.monotonic() - since >= self.send_timeout:
                raise ClientTooSlow(f"the client took no frame for {self.send_timeout} s")

    def positions(self) -> dict[str, tuple[int, int]]:
        """Each channel's delivered ``(seq, aggregate version)`` (for SSE event ids)."""
        found: dict[str, tuple[int, int]] = {}
        for sub in self._subs.values():
            for feed in sub.feeds.values():
                found[feed.channel_id] = (feed.seq, feed.version)
        return found

    def close(self) -> None:
        """Leave the bus; :meth:`pump` returns."""
        self._bus.close()

    # -- internals ---------------------------------------------------------------------

    async def _send(self, kind: str, frame: str) -> None:
        # No timeout object per frame (it costs more than the send): watch() checks instead.
        self._sending_since = time.monotonic()
        await self._emit(kind, frame)
        self._sending_since = None

    def _attach(self, sub: Sub) -> None:
        self._subs[sub.id] = sub
        for topic, feed in sub.topics:
            self._routes.setdefault(topic, []).append((sub, feed))
            self._refs[topic] += 1
        self._bus.add(topic for topic, _ in sub.topics)

    def _detach(self, sub: Sub) -> None:
        if self._subs.get(sub.id) is not sub:
            return
        del self._subs[sub.id]
        gone: list[str] = []
        for topic, _ in sub.topics:
            routes = [route for route in self._routes.get(topic, ()) if route[0] is not sub]
            if routes:
                self._routes[topic] = routes
            else:
                self._routes.pop(topic, None)
            self._refs[topic] -= 1
            if self._refs[topic] <= 0:
                del self._refs[topic]
                gone.append(topic)
        self._bus.remove(gone)

    async def _start(self, sub: Sub, plan: Plan) -> None:
        org_id = self.principal.org_id
        async with self.database.connect() as conn:
            current = {
                record.id: record
                for record in await channel_repo.resolve(conn, org_id=org_id, ids=list(sub.feeds))
            }
            if sub.device_events is not None:
                # As for channels, a position past the end starts at the end.
                given = sub.device_events.after
                last = await device_events_repo.last_seq(conn, org_id=org_id)
                sub.device_seen = last if given is None else min(given, last)
            if sub.presence is not None:
                for state in await presence_repo.states(
                    conn,
                    org_id=org_id,
                    site_id=sub.presence.site_id,
                    agent_ids=sub.presence.agent_ids,
                ):
                    sub.presence_known[state.agent_id] = state.online
        starts = {start.record.id: start for start in plan.channels}
        for feed in sub.feeds.values():
            start, now = starts[feed.channel_id], current.get(feed.channel_id)
            last_seq = now.last_seq if now is not None else start.record.last_seq
            version = now.aggregate_version if now is not None else start.record.aggregate_version
            # A position past the channel's end (a client's ``after`` for many channels,
            # or one that is simply wrong) starts at the end: anything above it would
            # otherwise count as delivered already and never be sent.
            feed.seq = last_seq if start.after is None else min(start.after, last_seq)
            feed.version = (
                version if start.aggregate_after is None else min(start.aggregate_after, version)
            )
        subscribed = StreamSubscribed(
            id=sub.id,
            channels=[
                SubscribedChannel(
                    channel_id=feed.channel_id,
                    agent_id=feed.agent_id,
                    name=feed.name,
                    seq=feed.seq,
                    aggregate_version=feed.version,
                )
                for feed in sub.feeds.values()
            ],
            aggregates=sub.aggregates,
            presence=sub.presence,
            device_events=None
            if sub.device_events is None
            else sub.device_events.model_copy(update={"after": sub.device_seen}),
            software_events=sub.software_events,
        )
        await self._send("subscribed", subscribed.model_dump_json(exclude_none=True))
        if sub.device_events is not None and sub.device_events.after is not None:
            await self._org_events.replay_device(sub)
        for feed in sub.feeds.values():
            if starts[feed.channel_id].after is not None:
                await self._replay(feed)
            if sub.aggregates and starts[feed.channel_id].aggregate_after is not None:
                await self._aggregate_catch_up(feed)

    async def _catch_up(self) -> None:
        """After lagging: resume buffering, then re-read from storage what was dropped."""
        self._bus.resume()
        for sub in list(self._subs.values()):
            for feed in sub.feeds.values():
                await self._replay(feed)
                if sub.aggregates:
                    await self._aggregate_catch_up(feed)
            if sub.presence is not None:
                await self._presence_catch_up(sub)
            if sub.device_events is not None:
                await self._org_events.replay_device(sub)

    async def _dispatch(self, routes: list[tuple[Sub, Feed | None]], event: BusEvent) -> None:
        kind = event.type
        if kind == ev.MESSAGE_CREATED:
            for _, feed in routes:
                assert feed is not None
                seq = event.position
                if seq <= feed.seq:
                    continue  # replayed already, or a duplicate delivery
                if seq > feed.seq + 1:
                    await self._replay(feed, before=seq)  # a gap: storage has it
                feed.seq = seq
                await self._send(kind, ev.splice(feed.message_prefix, event.body))
        elif kind == ev.AGGREGATE_UPDATED:
            for _, feed in routes:
                assert feed is not None
                if event.position > feed.version:
                    feed.version = event.position
                    await self._send(kind, ev.splice(feed.aggregate_prefix, event.body))
        elif kind in (ev.AGENT_ONLINE, ev.AGENT_OFFLINE):
            for sub, _ in routes:
                sub.presence_known[event.key] = kind == ev.AGENT_ONLINE
                await self._send(kind, ev.splice(sub.presence_prefixes[kind], event.body))

    async def _replay(self, feed: Feed, *, before: int | None = None) -> None:
        """Send stored messages after ``feed.seq`` (and before ``before``), in seq order."""
        org_id = self.principal.org_id
        while True:
            # One short read per page: no connection is held while a slow client reads.
            async with self.database.connect() as conn:
                rows = await messages_repo.list_by_seq(
                    conn,
                    feed.pk,
                    org_id=org_id,
                    after_seq=feed.seq,
                    before_seq=before,
                    descending=False,
                    limit=REPLAY_PAGE,
                )
            for record in rows[:REPLAY_PAGE]:
                feed.seq = record.seq
                body = ev.message_body(
                    feed.channel_id,
                    record.seq,
                    record.ts,
                    record.received_at,
                    record.payload,
                    record.client_message_id,
                )
                await self._send(ev.MESSAGE_CREATED, ev.splice(feed.message_prefix, body))
            if len(rows) <= REPLAY_PAGE:
                return

    async def _aggregate_catch_up(self, feed: Feed) -> None:
        async with self.database.connect() as conn:
            record = await channel_repo.get_aggregate(conn, feed.pk, org_id=self.principal.org_id)
        if record is not None and record.version > feed.version:
            feed.version = record.version
            body = ev.aggregate_body(
                feed.channel_id, record.version, record.data, record.updated_at
            )
            await self._send(ev.AGGREGATE_UPDATED, ev.splice(feed.aggregate_prefix, body))

    async def _presence_catch_up(self, sub: Sub) -> None:
        assert sub.presence is not None
        async with self.database.connect() as conn:
            states = await presence_repo.states(
                conn,
                org_id=self.principal.org_id,
                site_id=sub.presence.site_id,
                agent_ids=sub.presence.agent_ids,
            )
        at = now_ms()
        for state in states:
            if sub.presence_known.get(state.agent_id) is state.online:
                continue
            sub.presence_known[state.agent_id] = state.online
            kind = ev.AGENT_ONLINE if state.online else ev.AGENT_OFFLINE
            body = ev.presence_body(state.agent_id, state.site_id, at, state.last_seen)
            await self._send(kind, ev.splice(sub.presence_prefixes[kind], body))
