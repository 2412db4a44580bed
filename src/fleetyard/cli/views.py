"""How each kind of object looks to people: table columns and panel fields.

Pure functions from SDK models to :class:`TableView` / :class:`RecordView`;
nothing here prints (that is :mod:`fleetyard.cli.output`). ``--json`` never
uses these views: it prints the models as the API sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fleetyard.protocol.identity import ApiKey, Principal, Site, SiteMember, User
from fleetyard.protocol.system import SystemInfo

NONE = "-"


@dataclass(frozen=True)
class TableView:
    """Column headers, rows of cells, and what to say when there are no rows."""

    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    empty: str = "Nothing to show."


@dataclass(frozen=True)
class RecordView:
    """A titled list of ``(label, value)`` pairs."""

    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileEntry:
    """One profile of the config file, without its secrets."""

    name: str
    base_url: str | None
    auth: str | None
    default: bool


def when(value: datetime | None) -> str:
    """An instant for people: UTC to the second, ``-`` when unset."""
    if value is None:
        return NONE
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def duration(seconds: float) -> str:
    """``3d 4h 5m``, ``12m 3s``, ``5s``: the two largest units."""
    total = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        amount, total = divmod(total, size)
        if amount or (unit == "s" and not parts):
            parts.append(f"{amount}{unit}")
    return " ".join(parts[:2])


def text(value: str | None) -> str:
    return NONE if value is None or value == "" else value


# -- sites and members ---------------------------------------------------------


def sites_table(sites: Sequence[Site]) -> TableView:
    return TableView(
        columns=("ID", "NAME", "DESCRIPTION", "CREATED"),
        rows=[(s.id, s.name, text(s.description), when(s.created_at)) for s in sites],
        empty="No sites.",
    )


def site_record(site: Site) -> RecordView:
    return RecordView(
        title=f"Site {site.name}",
        fields=[
            ("ID", site.id),
            ("Name", site.name),
            ("Description", text(site.description)),
            ("Organization", site.org_id),
            ("Created", when(site.created_at)),
            ("Updated", when(site.updated_at)),
        ],
    )


def members_table(members: Sequence[SiteMember]) -> TableView:
    return TableView(
        columns=("USER", "EMAIL", "ROLE", "ADDED"),
        rows=[(m.user_id, m.email, str(m.role), when(m.added_at)) for m in members],
        empty="No members.",
    )


def member_record(member: SiteMember) -> RecordView:
    return RecordView(
        title=f"Member {member.email}",
        fields=[
            ("Site", member.site_id),
            ("User", member.user_id),
            ("Email", member.email),
            ("Role", str(member.role)),
            ("Added", when(member.added_at)),
        ],
    )


# -- users ----------------------------------------------------------------------


def users_table(users: Sequence[User]) -> TableView:
    return TableView(
        columns=("ID", "EMAIL", "NAME", "ROLE", "SITES", "2FA"),
        rows=[
            (
                u.id,
                u.email,
                text(u.name),
                str(u.role),
                str(len(u.site_ids)),
                "on" if u.totp_enabled else "off",
            )
            for u in users
        ],
        empty="No users.",
    )


def user_record(user: User) -> RecordView:
    return RecordView(
        title=f"User {user.email}",
        fields=[
            ("ID", user.id),
            ("Email", user.email),
            ("Name", text(user.name)),
            ("Role", str(user.role)),
            ("Two-factor", "on" if user.totp_enabled else "off"),
            ("Sites", ", ".join(user.site_ids) or NONE),
            ("Organization", user.org_id),
            ("Created", when(user.created_at)),
        ],
    )


# -- API keys -------------------------------------------------------------------


def key_status(key: ApiKey, now: datetime | None = None) -> str:
    """``active``, ``rotated`` (old key in its grace period), ``revoked`` or ``expired``."""
    now = now or datetime.now(UTC)
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    if key.rotated_to is not None:
        return "rotated"
    return "active"


def keys_table(keys: Sequence[ApiKey]) -> TableView:
    return TableView(
        columns=("ID", "NAME", "PREFIX", "ENV", "SCOPES", "EXPIRES", "LAST USED", "STATUS"),
        rows=[
            (
                k.id,
                k.name,
                k.prefix,
                str(k.environment),
                " ".join(k.scopes),
                when(k.expires_at),
                when(k.last_used_at),
                key_status(k),
            )
            for k in keys
        ],
        empty="No API keys.",
    )


def key_record(key: ApiKey) -> RecordView:
    fields = [
        ("ID", key.id),
        ("Name", key.name),
        ("Prefix", key.prefix),
        ("Environment", str(key.environment)),
        ("Scopes", " ".join(key.scopes)),
        ("Status", key_status(key)),
        ("Created", when(key.created_at)),
        ("Expires", when(key.expires_at)),
        ("Last used", when(key.last_used_at)),
    ]
    if key.revoked_at is not None:
        fields.append(("Revoked", when(key.revoked_at)))
    if key.rotated_to is not None:
        fields.append(("Rotated to", key.rotated_to))
    return RecordView(title=f"API key {key.name}", fields=fields)


# -- account and system -----------------------------------------------------------


def principal_record(principal: Principal) -> RecordView:
    fields = [
        ("Kind", principal.kind),
        ("Organization", f"{principal.org.name} ({principal.org.id})"),
    ]
    if principal.user is not None:
        fields.append(("User", f"{principal.user.email} ({principal.user.id})"))
        fields.append(("Role", str(principal.user.role)))
    if principal.api_key_id is not None:
        fields.append(("API key", principal.api_key_id))
    if principal.client_id is not None:
        fields.append(("Service client", principal.client_id))
    fields.append(("Scopes", " ".join(principal.scopes) or NONE))
    return RecordView(title="Signed in", fields=fields)


def principal_name(principal: Principal) -> str:
    """Who a principal is, in a few words: an email, an API key or a client id."""
    if principal.user is not None:
        return principal.user.email
    if principal.api_key_id is not None:
        return f"API key {principal.api_key_id}"
    if principal.client_id is not None:
        return f"service client {principal.client_id}"
    return principal.kind


def system_record(info: SystemInfo) -> RecordView:
    return RecordView(
        title="Fleetyard server",
        fields=[
            ("Version", info.version),
            ("API version", info.api_version),
            ("Database", info.database),
            ("Uptime", duration(info.uptime_seconds)),
            ("Dev mode", "on" if info.dev_mode else "off"),
        ],
    )


# -- profiles ----------------------------------------------------------------------


def profiles_table(profiles: Sequence[ProfileEntry]) -> TableView:
    return TableView(
        columns=("DEFAULT", "NAME", "URL", "AUTH"),
        rows=[("*" if p.default else "", p.name, text(p.base_url), text(p.auth)) for p in profiles],
        empty="No profiles yet: run `yard login`.",
    )
