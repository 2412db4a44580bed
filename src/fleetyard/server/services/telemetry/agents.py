"""Agents: create, read, list with filters, update, delete, and presence."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.identity import ApiKeyCreated
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.scopes import Scope
from fleetyard.protocol.telemetry import (
    AGENT_ID_PREFIX,
    Agent,
    AgentCreate,
    AgentKind,
    AgentTokenCreate,
    AgentUpdate,
)
from fleetyard.server.services import api_keys
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_ms
from fleetyard.server.services.errors import Conflict, NotFound, Unprocessable
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.telemetry import access
from fleetyard.server.services.telemetry.channel_cache import channels_changed
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.services.telemetry.models import agent_model
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories._common import DuplicateError
from fleetyard.server.storage.repositories.telemetry import agents as repo
from fleetyard.server.storage.repositories.telemetry.agents import AgentRecord


def _duplicate(name: str) -> Conflict:
    return Conflict(
        f"An agent named {name!r} already exists in this organisation.",
        code=ErrorCode.ALREADY_EXISTS,
    )


def _not_found(agent_id: str) -> NotFound:
    return NotFound(f"Agent {agent_id!r} was not found.")


async def load_agent(
    conn: AsyncConnection, principal: Principal, agent_id: str, permission: str
) -> AgentRecord:
    """The caller's agent, checked for ``permission``; 404 when it is not the caller's org's."""
    record = await repo.get(conn, agent_id, org_id=principal.org_id)
    if record is None:
        raise _not_found(agent_id)
    if permission == access.READ and not access.can(
        principal, site_id=record.site_id, agent_id=record.id, permission=access.READ
    ):
        # What a caller may not read, it may not learn exists either.
        raise _not_found(agent_id)
    access.require(principal, site_id=record.site_id, agent_id=record.id, permission=permission)
    return record


async def create_agent(database: Database, principal: Principal, body: AgentCreate) -> Agent:
    """Create an agent in a site the caller administers (``site:<id>:admin``)."""
    access.require(principal, site_id=body.site_id, agent_id=None, permission=access.ADMIN)
    now = now_ms()
    try:
        async with database.begin() as conn:
            if not await repo.site_exists(conn, body.site_id, org_id=principal.org_id):
                raise NotFound(f"Site {body.site_id!r} was not found.")
            record = await repo.insert(
                conn,
                org_id=principal.org_id,
                agent_id=new_id(AGENT_ID_PREFIX, now_ms=now),
                site_id=body.site_id,
                name=body.name,
                kind=body.kind.value,
                labels=body.labels,
                metadata=body.metadata,
                now_ms=now,
            )
    except DuplicateError as exc:
        raise _duplicate(body.name) from exc
    return agent_model(record)


async def get_agent(database: Database, principal: Principal, agent_id: str) -> Agent:
    async with database.connect() as conn:
        return agent_model(await load_agent(conn, principal, agent_id, access.READ))


async def list_agents(
    database: Database,
    principal: Principal,
    page: PageRequest,
    *,
    site_id: str | None = None,
    kind: AgentKind | None = None,
    labels: Mapping[str, str | None] | None = None,
    online: bool | None = None,
) -> PageResult[Agent]:
    """The agents the caller may read, ordered by id, narrowed by the filters.

    ``labels`` maps a key to the wanted value, or to None for "has this label";
    every entry must match.
    """
    sites, agent_ids = access.visible(principal)
    async with database.connect() as conn:
        rows = await repo.list_page(
            conn,
            org_id=principal.org_id,
            visible_sites=sites,
            visible_agents=agent_ids,
            site_id=site_id,
            kind=None if kind is None else kind.value,
            labels=labels,
            online=online,
            after=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, agent_model)


async def update_agent(
    database: Database, principal: Principal, agent_id: str, body: AgentUpdate
) -> Agent:
    """Change an agent (``admin`` on its site, and on the new site when it moves)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    try:
        async with database.begin() as conn:
            await load_agent(conn, principal, agent_id, access.ADMIN)
            if "site_id" in changes:
                access.require(
                    principal, site_id=changes["site_id"], agent_id=None, permission=access.ADMIN
                )
                if not await repo.site_exists(conn, changes["site_id"], org_id=principal.org_id):
                    raise NotFound(f"Site {changes['site_id']!r} was not found.")
            record = await repo.update(
                conn, agent_id, org_id=principal.org_id, changes=changes, now_ms=now_ms()
            )
    except DuplicateError as exc:
        raise _duplicate(str(changes.get("name"))) from exc
    channels_changed()  # a move to another site changes who may publish to its channels
    if record is None:
        raise _not_found(agent_id)
    return agent_model(record)


async def delete_agent(writer: IngestWriter, principal: Principal, agent_id: str) -> None:
    """Delete an agent with its channels and their whole history.

    Runs through the ingest writer: it deletes message rows (cascade).
    """

    async def delete(conn: AsyncConnection) -> bool:
        await load_agent(conn, principal, agent_id, access.ADMIN)
        return await repo.delete(conn, agent_id, org_id=principal.org_id)

    deleted = await writer.run(delete)
    channels_changed()
    if not deleted:
        raise _not_found(agent_id)


def agent_token_scope(agent_id: str) -> Scope:
    """The one scope of a per-agent credential: publish to and read that agent's channels."""
    return Scope("agent", agent_id, access.WRITE)


async def issue_token(
    database: Database, principal: Principal, agent_id: str, body: AgentTokenCreate
) -> ApiKeyCreated:
    """A per-agent API key (scopes exactly ``["agent:<id>:write"]``), secret shown once.

    Needs ``admin`` on the agent's site or on the agent itself. The key is
    owned by the organisation, not by the issuing user (a device keeps
    working when the person who set it up leaves); list and revoke it with
    the other keys (``key:*:admin``).
    """
    expires_at = None if body.expires_at is None else to_ms(body.expires_at)
    if expires_at is not None and expires_at <= now_ms():
        raise Unprocessable(
            "expires_at must be in the future.",
            errors=[
                {
                    "loc": ["body", "expires_at"],
                    "message": "must be in the future",
                    "type": "value_error",
                }
            ],
        )
    async with database.begin() as conn:
        agent = await load_agent(conn, principal, agent_id, access.ADMIN)
        return await api_keys.issue_key(
            conn,
            principal,
            name=body.name or f"agent {agent.name}"[:200],
            scopes=[str(agent_token_scope(agent.id))],
            expires_at=expires_at,
        )


async def set_presence(
    database: Database, *, org_id: str, agent_id: str, online: bool, at_ms: int | None = None
) -> tuple[Agent, bool]:
    """Record that an agent connected, sent a heartbeat (``online=True``) or went away.

    For the agent session itself (already authenticated as that agent), so it
    takes the org id, not a principal. Returns the agent and whether
    ``online`` flipped: the cue for ``agent.online`` / ``agent.offline`` events.
    """
    async with database.begin() as conn:
        record, flipped = await repo.set_presence(
            conn, agent_id, org_id=org_id, online=online, now_ms=at_ms or now_ms()
        )
    if record is None:
        raise _not_found(agent_id)
    return agent_model(record), flipped


async def agents_in_site(database: Database, *, org_id: str, site_id: str) -> int:
    """How many agents a site holds; the sites service refuses to delete a site with any."""
    async with database.connect() as conn:
        return await repo.count_in_site(conn, site_id, org_id=org_id)


def parse_label_filters(values: Collection[str]) -> dict[str, str | None]:
    """``["line=3", "critical"]`` → ``{"line": "3", "critical": None}`` (query-string form)."""
    parsed: dict[str, str | None] = {}
    for value in values:
        key, sep, wanted = value.partition("=")
        parsed[key] = wanted if sep else None
    return parsed
