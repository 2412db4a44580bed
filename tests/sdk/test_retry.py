"""Retries: which failures, how long between attempts, one Idempotency-Key per call."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2
import pytest

import fleetyard
from fleetyard.sdk._retry import parse_retry_after, retry_delay

from .fakes import FakeAPI, make_async_client, make_client, ok, problem, site_json

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


# -- the pure delay function ---------------------------------------------------


def test_backoff_doubles_and_caps() -> None:
    policy = fleetyard.RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=3.0, jitter=False)
    assert [retry_delay(policy, n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_no_delay_once_attempts_are_used_up() -> None:
    policy = fleetyard.RetryPolicy(max_attempts=3, jitter=False)
    assert retry_delay(policy, 2) is not None
    assert retry_delay(policy, 3) is None
    assert retry_delay(fleetyard.RetryPolicy(max_attempts=1), 1) is None


def test_jitter_stays_within_the_upper_half() -> None:
    policy = fleetyard.RetryPolicy(base_delay=2.0, jitter=True)
    assert retry_delay(policy, 1, rand=lambda: 0.0) == 1.0
    assert retry_delay(policy, 1, rand=lambda: 0.999999) == pytest.approx(2.0, abs=1e-5)


def test_retry_after_seconds_wins_over_backoff() -> None:
    policy = fleetyard.RetryPolicy(base_delay=0.5, max_delay=1.0)
    assert retry_delay(policy, 1, "7") == 7.0
    assert retry_delay(policy, 1, "0") == 0.0


def test_retry_after_http_date() -> None:
    policy = fleetyard.RetryPolicy()
    header = "Tue, 24 Nov 2026 12:00:04 GMT"
    assert retry_delay(policy, 1, header, now=NOW) == 4.0
    # A date in the past means "now", not a negative sleep.
    assert retry_delay(policy, 1, "Tue, 24 Nov 2026 11:00:00 GMT", now=NOW) == 0.0


def test_unparseable_retry_after_falls_back_to_backoff() -> None:
    policy = fleetyard.RetryPolicy(jitter=False)
    assert retry_delay(policy, 1, "later please") == 0.5
    assert parse_retry_after("nan") is None
    assert parse_retry_after("inf") is None


def test_retry_after_beyond_the_limit_gives_up() -> None:
    policy = fleetyard.RetryPolicy(max_retry_after=60.0)
    assert retry_delay(policy, 1, "60") == 60.0
    assert retry_delay(policy, 1, "61") is None


def test_policy_validates() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        fleetyard.RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        fleetyard.RetryPolicy(base_delay=-1)


# -- the client ------------------------------------------------------------------


def test_retry_after_is_honoured_and_the_key_is_reused(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(
        ok({"title": "x", "status": 503, "code": "unavailable"}, 503, **{"Retry-After": "2"}),
        httpx2.Response(429, headers={"Retry-After": "Tue, 24 Nov 2026 12:00:05 GMT"}),
        ok(site_json(), 201),
    )
    client._now = lambda: NOW

    site = client.sites.create("Depot")

    assert site.id == "site_1"
    assert sleeps == [2.0, 5.0]
    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert len(keys[0]) == 36
    assert api.bodies() == [{"name": "Depot"}] * 3


def test_each_logical_call_gets_its_own_key(client: fleetyard.Client, api: FakeAPI) -> None:
    api.route("POST", "/v1/sites", ok(site_json(), 201))
    client.sites.create("A")
    client.sites.create("B")
    first, second = (r.headers["Idempotency-Key"] for r in api.requests)
    assert first != second


def test_caller_key_is_used_on_every_attempt(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(httpx2.ConnectError("reset"), ok(site_json(), 201))
    client.sites.create("Depot", idempotency_key="import-42")
    assert [r.headers["Idempotency-Key"] for r in api.requests] == ["import-42", "import-42"]
    assert len(sleeps) == 1


def test_writes_get_keys_reads_do_not(client: fleetyard.Client, api: FakeAPI) -> None:
    api.route("GET", "/v1/sites/site_1", ok(site_json()))
    api.route("PATCH", "/v1/sites/site_1", ok(site_json()))
    api.route("DELETE", "/v1/users/usr_1", ok({"id": "usr_1", "deleted": True}))
    client.sites.get("site_1")
    client.sites.update("site_1", name="X")
    client.users.delete("usr_1")
    get, patch, delete = api.requests
    assert "Idempotency-Key" not in get.headers
    assert patch.headers["Idempotency-Key"]
    assert delete.headers["Idempotency-Key"]


def test_no_retry_on_400(client: fleetyard.Client, api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(problem(400, "invalid_json"), ok(site_json(), 201))
    with pytest.raises(fleetyard.BadRequestError):
        client.sites.create("Depot")
    assert len(api.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [404, 409, 422, 501])
def test_no_retry_on_other_statuses(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float], status: int
) -> None:
    api.reply(httpx2.Response(status), ok(site_json()))
    with pytest.raises(fleetyard.APIStatusError):
        client.sites.get("site_1")
    assert len(api.requests) == 1
    assert sleeps == []


def test_gives_up_after_max_attempts(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    client._rand = lambda: 1.0  # no jitter: predictable delays
    api.reply(*[httpx2.Response(502, text="<html>bad gateway</html>")] * 5)
    with pytest.raises(fleetyard.InternalServerError):
        client.system.info()
    assert len(api.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_connection_errors_are_retried(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow"), ok(site_json()))
    assert client.sites.get("site_1").name == "Depot"
    assert len(sleeps) == 2


def test_an_unusable_url_scheme_is_not_retried(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(httpx2.UnsupportedProtocol("nope"))
    with pytest.raises(fleetyard.APIConnectionError):
        client.system.info()
    assert sleeps == []


def test_retry_after_too_long_raises_at_once(
    client: fleetyard.Client, api: FakeAPI, sleeps: list[float]
) -> None:
    api.reply(httpx2.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(fleetyard.RateLimitError) as caught:
        client.system.info()
    assert caught.value.retry_after == 3600.0
    assert sleeps == []


def test_retries_off(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(httpx2.Response(503))
    policy = fleetyard.RetryPolicy(max_attempts=1)
    with (
        make_client(api, sleeps, retry=policy) as c,
        pytest.raises(fleetyard.InternalServerError),
    ):
        c.system.info()
    assert len(api.requests) == 1


def test_custom_retry_statuses(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(httpx2.Response(409), ok(site_json()))
    policy = fleetyard.RetryPolicy(retry_statuses=(409,), jitter=False)
    with make_client(api, sleeps, retry=policy) as c:
        c.sites.get("site_1")
    assert sleeps == [0.5]


@pytest.mark.anyio
async def test_async_retries_share_the_same_rules(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(
        httpx2.Response(503, headers={"Retry-After": "1.5"}),
        httpx2.ConnectError("refused"),
        ok(site_json(), 201),
    )
    async with make_async_client(api, sleeps) as c:
        c._rand = lambda: 1.0
        site = await c.sites.create("Depot")
    assert site.name == "Depot"
    assert sleeps == [1.5, 1.0]
    assert len({r.headers["Idempotency-Key"] for r in api.requests}) == 1


@pytest.mark.anyio
async def test_async_no_retry_on_400(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(problem(400, "bad_request"))
    async with make_async_client(api, sleeps) as c:
        with pytest.raises(fleetyard.BadRequestError):
            await c.sites.create("Depot")
    assert len(api.requests) == 1
    assert sleeps == []
