"""Lists iterate across pages with `for` / `async for`, or page by page."""

from __future__ import annotations

import httpx2
import pytest

import fleetyard
from fleetyard.protocol.common import Page
from fleetyard.protocol.identity import Site

from .fakes import FakeAPI, make_async_client, ok, site_json, user_json


def paged_sites(api: FakeAPI) -> FakeAPI:
    """Three pages of sites: site_1 site_2 | site_3 site_4 | site_5."""
    pages = {
        None: ([1, 2], "c2"),
        "c2": ([3, 4], "c3"),
        "c3": ([5], None),
    }

    def handler(request: httpx2.Request) -> httpx2.Response:
        ids, next_cursor = pages[request.url.params.get("cursor")]
        items = [site_json(f"site_{i}", f"Site {i}") for i in ids]
        return ok({"items": items, "next_cursor": next_cursor})

    return api.route("GET", "/v1/sites", handler)


def test_for_loop_walks_every_page(client: fleetyard.Client, api: FakeAPI) -> None:
    paged_sites(api)
    pager = client.sites.list(limit=2)
    assert api.requests == []  # nothing fetched before iterating

    ids = [site.id for site in pager]

    assert ids == [f"site_{i}" for i in range(1, 6)]
    assert [r.url.params.get("cursor") for r in api.requests] == [None, "c2", "c3"]
    assert {r.url.params["limit"] for r in api.requests} == {"2"}
    assert all(isinstance(site, Site) for site in client.sites.list())


def test_pages_yield_whole_pages(client: fleetyard.Client, api: FakeAPI) -> None:
    paged_sites(api)
    pages = list(client.sites.list().pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert [p.next_cursor for p in pages] == ["c2", "c3", None]
    assert "limit" not in api.requests[0].url.params


def test_stopping_early_fetches_no_more(client: fleetyard.Client, api: FakeAPI) -> None:
    paged_sites(api)
    for site in client.sites.list():
        if site.id == "site_2":
            break
    assert len(api.requests) == 1


def test_list_page_by_cursor(client: fleetyard.Client, api: FakeAPI) -> None:
    paged_sites(api)
    page = client.sites.list_page(cursor="c2", limit=2)
    assert isinstance(page, Page)
    assert [s.id for s in page.items] == ["site_3", "site_4"]
    assert page.next_cursor == "c3"
    assert dict(api.last.url.params) == {"cursor": "c2", "limit": "2"}


def test_an_empty_list(client: fleetyard.Client, api: FakeAPI) -> None:
    api.route("GET", "/v1/sites", ok({"items": [], "next_cursor": None}))
    assert list(client.sites.list()) == []


def test_a_repeated_cursor_stops_instead_of_looping(client: fleetyard.Client, api: FakeAPI) -> None:
    api.route("GET", "/v1/sites", ok({"items": [site_json()], "next_cursor": "same"}))
    with pytest.raises(fleetyard.FleetyardError, match="twice"):
        list(client.sites.list())
    assert len(api.requests) == 2


def test_filters_and_options_reach_every_page(client: fleetyard.Client, api: FakeAPI) -> None:
    api.reply(
        ok({"items": [user_json("usr_1")], "next_cursor": "n"}),
        ok({"items": [user_json("usr_2")], "next_cursor": None}),
    )
    users = list(client.users.list(5, site_id="site_9", extra_headers={"X-Trace": "t"}))
    assert [u.id for u in users] == ["usr_1", "usr_2"]
    for request in api.requests:
        assert request.url.params["site_id"] == "site_9"
        assert request.url.params["limit"] == "5"
        assert request.headers["X-Trace"] == "t"


def test_members_pages(client: fleetyard.Client, api: FakeAPI) -> None:
    member = {
        "site_id": "site_1",
        "user_id": "usr_1",
        "email": "a@example.com",
        "role": "operator",
        "added_at": "2026-11-24T12:00:00.000Z",
    }
    api.reply(
        ok({"items": [member], "next_cursor": "n"}),
        ok({"items": [member | {"user_id": "usr_2"}], "next_cursor": None}),
    )
    assert [m.user_id for m in client.members("site_1").list()] == ["usr_1", "usr_2"]
    assert {r.url.path for r in api.requests} == {"/v1/sites/site_1/members"}


@pytest.mark.anyio
async def test_async_for_walks_every_page(api: FakeAPI, sleeps: list[float]) -> None:
    paged_sites(api)
    async with make_async_client(api, sleeps) as c:
        ids = [site.id async for site in c.sites.list(limit=2)]
        pages = [page async for page in c.sites.list().pages()]
        page = await c.sites.list_page(cursor="c3")
    assert ids == [f"site_{i}" for i in range(1, 6)]
    assert [p.next_cursor for p in pages] == ["c2", "c3", None]
    assert [s.id for s in page.items] == ["site_5"]


@pytest.mark.anyio
async def test_async_repeated_cursor(api: FakeAPI, sleeps: list[float]) -> None:
    api.route("GET", "/v1/sites", ok({"items": [], "next_cursor": "same"}))
    async with make_async_client(api, sleeps) as c:
        with pytest.raises(fleetyard.FleetyardError, match="twice"):
            _ = [site async for site in c.sites.list()]


@pytest.mark.anyio
async def test_async_stopping_early_fetches_no_more(api: FakeAPI, sleeps: list[float]) -> None:
    paged_sites(api)
    async with make_async_client(api, sleeps) as c:
        async for site in c.sites.list():
            if site.id == "site_2":
                break
    assert len(api.requests) == 1
