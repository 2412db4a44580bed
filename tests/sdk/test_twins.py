"""Client and AsyncClient are twins: same resources, same methods, same signatures."""

from __future__ import annotations

import inspect
import re
from functools import cached_property
from typing import Any

import pytest

import fleetyard
from fleetyard.sdk import _raw_client
from fleetyard.sdk.resources import (
    account,
    action_groups,
    agent_commands,
    agents,
    aggregates,
    api_keys,
    apps,
    auth,
    channels,
    chunks,
    devices,
    events,
    executions,
    http,
    members,
    messages,
    presence,
    publishing,
    quotas,
    rollouts,
    schedules,
    service_clients,
    sites,
    stream,
    system,
    totp,
    users,
    versions,
)

RESOURCE_MODULES = [
    account,
    action_groups,
    agent_commands,
    agents,
    aggregates,
    api_keys,
    apps,
    auth,
    channels,
    chunks,
    devices,
    events,
    executions,
    http,
    members,
    messages,
    presence,
    publishing,
    quotas,
    rollouts,
    schedules,
    service_clients,
    sites,
    stream,
    system,
    totp,
    users,
    versions,
]

PAIRS: list[tuple[type, type]] = [(fleetyard.Client, fleetyard.AsyncClient)]
PAIRS += [(_raw_client.ClientWithRawResponse, _raw_client.AsyncClientWithRawResponse)]
for module in RESOURCE_MODULES:
    for name in module.__all__:
        if not name.startswith("Async"):
            PAIRS.append((getattr(module, name), getattr(module, "Async" + name)))

# Only "Sync"/"Async" may differ in annotations: AsyncPager vs SyncPager, AsyncSites vs
# Sites, httpx2.AsyncClient vs httpx2.Client, AsyncBaseTransport vs BaseTransport.
_TWIN_WORDS = re.compile(r"\b(Async|Sync)")


def normalise(annotation: Any) -> str:
    return _TWIN_WORDS.sub("", str(annotation))


def public_members(cls: type) -> dict[str, Any]:
    found = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") or name in ("__init__", "__enter__", "__aenter__"):
                found[name] = value
    return found


def signature_of(fn: Any) -> inspect.Signature:
    sig = inspect.signature(fn)
    params = [
        p.replace(annotation=normalise(p.annotation), default=p.default)
        for p in sig.parameters.values()
    ]
    return sig.replace(parameters=params, return_annotation=normalise(sig.return_annotation))


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_twins_have_identical_public_signatures(sync_cls: type, async_cls: type) -> None:
    sync_members = public_members(sync_cls)
    async_members = public_members(async_cls)
    # Context managers differ by nature; everything else must match by name.
    sync_names = set(sync_members) - {"__enter__"}
    async_names = set(async_members) - {"__aenter__"}
    assert sync_names == async_names

    for name in sorted(sync_names):
        sync_member, async_member = sync_members[name], async_members[name]
        if isinstance(sync_member, cached_property | property):
            assert isinstance(async_member, type(sync_member)), name
            sync_fn = getattr(sync_member, "func", None) or sync_member.fget
            async_fn = getattr(async_member, "func", None) or async_member.fget
            assert signature_of(sync_fn) == signature_of(async_fn), name
            continue
        assert callable(sync_member), name
        assert signature_of(sync_member) == signature_of(async_member), name
        assert not inspect.iscoroutinefunction(sync_member), name
        # Pager factories stay plain functions (used with `async for`); calls are coroutines.
        returns = str(inspect.signature(async_member).return_annotation)
        # Pagers and subscriptions (stream, device events) are iterated (`async for`),
        # not awaited.
        returns_iterable = "Pager" in returns or "Subscription" in returns
        is_sync_by_nature = returns_iterable or name in ("__init__", "members")
        assert inspect.iscoroutinefunction(async_member) != is_sync_by_nature, name


def test_pairs_cover_every_resource_method() -> None:
    names = {f"{s.__name__}.{m}" for s, _ in PAIRS for m in public_members(s)}
    for expected in (
        "Client.close",
        "System.health",
        "Account.whoami",
        "Account.api_keys",
        "ApiKeys.rotate",
        "ServiceClients.revoke",
        "Totp.confirm",
        "Auth.client_credentials",
        "Users.remove_sites",
        "Sites.update",
        "Members.add",
        "RawHTTP.patch",
        "Client.create_channel",
        "Agents.token",
        "Channels.publish_batch",
        "Channels.messages",
        "Channels.timeseries",
        "Channels.update_aggregate",
        "Channels.latest_page",
        "ClientWithRawResponse.channels",
        "Client.devices",
        "Devices.import_setup",
        "Executions.history",
        "ExecutionHandle.wait",
        "ActionGroups.schedule",
        "Schedules.cancel",
        "Events.listen",
        "DeviceEventSubscription.close",
        "Agents.dispatch_command",
        "Agents.wait_command",
        "Apps.deploy",
        "RolloutHandle.wait",
        "Rollouts.list_for_agent",
        "ClientWithRawResponse.rollouts",
    ):
        assert expected in names


def test_close_is_async_on_the_async_client() -> None:
    assert not inspect.iscoroutinefunction(fleetyard.Client.close)
    assert inspect.iscoroutinefunction(fleetyard.AsyncClient.close)
    assert inspect.iscoroutinefunction(fleetyard.AsyncClient.__aexit__)


@pytest.mark.parametrize(
    "resource",
    [getattr(m, n) for m in RESOURCE_MODULES for n in m.__all__],
    ids=lambda c: c.__name__,
)
def test_public_names_document_an_example(resource: type) -> None:
    assert "Example" in (resource.__doc__ or ""), resource.__name__
    for name, member in vars(resource).items():
        if not name.startswith("_") and inspect.isfunction(member):
            assert "Example" in (member.__doc__ or ""), f"{resource.__name__}.{name}"


def returns_pager(member: Any) -> bool:
    return callable(member) and "Pager" in str(inspect.signature(member).return_annotation)


@pytest.mark.parametrize(
    ("resource", "raw_view"),
    [
        (getattr(m, n), getattr(m, n + "WithRawResponse"))
        for m in RESOURCE_MODULES
        for n in m.__all__
        if not n.endswith("WithRawResponse") and hasattr(m, n + "WithRawResponse")
    ],
    ids=lambda c: c.__name__,
)
def test_raw_views_cover_every_call(resource: type, raw_view: type) -> None:
    client = object()  # views only wrap bound methods; nothing is sent here
    args = ("site_1",) if "Members" in resource.__name__ else ()
    view = raw_view(resource(client, *args, raw=True))
    # Pagers (list, messages, latest) have no raw form: their *_page twins do. Nor have
    # calls whose answer is made into something else (handles, subscriptions, unwrapped
    # lists): a view names those in _WITHOUT_RAW_FORM.
    without = getattr(raw_view, "_WITHOUT_RAW_FORM", frozenset())
    assert without <= set(public_members(resource)), "stale _WITHOUT_RAW_FORM"
    expected = {
        name
        for name, value in public_members(resource).items()
        if name != "__init__" and not returns_pager(value) and name not in without
    }
    actual = {name for name in dir(view) if not name.startswith("_") and name != "site_id"}
    assert actual == expected


def test_raw_views_refuse_parsing_resources() -> None:
    with pytest.raises(TypeError, match="raw=True"):
        sites.SitesWithRawResponse(sites.Sites(object()))  # type: ignore[arg-type]
