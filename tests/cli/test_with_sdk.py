"""`yard` on the real SDK client, its network replaced by ``httpx2.MockTransport``.

The other CLI tests use a fake client; this one checks the wiring to the real
one: options and credentials reach it, pages are followed, problems become
the one-line error, and the client is closed.
"""

from __future__ import annotations

import functools
import json

import httpx2
import pytest

from fleetyard import Client
from fleetyard.cli import session
from fleetyard.protocol.errors import Problem
from tests.cli.conftest import Yard
from tests.cli.fakes import site


def handler(request: httpx2.Request) -> httpx2.Response:
    assert request.headers["Authorization"] == "Bearer fy_test_KEY"
    if request.url.path == "/v1/sites":
        page: dict[str, object]
        if request.url.params.get("cursor") is None:
            page = {"items": [site(1).model_dump(mode="json")], "next_cursor": "c2"}
        else:
            page = {"items": [site(2, "Lyon").model_dump(mode="json")], "next_cursor": None}
        return httpx2.Response(200, json=page)
    problem = Problem.build(404, "not_found", "Not found", "No such site.", request_id="req_9")
    return httpx2.Response(
        404,
        json=problem.model_dump(mode="json", exclude_none=True),
        headers={"Content-Type": "application/problem+json", "X-Request-Id": "req_9"},
    )


@pytest.fixture(autouse=True)
def _mock_network(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = httpx2.MockTransport(handler)
    monkeypatch.setattr(session, "Client", functools.partial(Client, transport=transport))


def test_list_follows_pages(yard: Yard) -> None:
    result = yard("--base-url", "http://yard.test", "--api-key", "fy_test_KEY", "sites", "list")

    assert result.exit_code == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["ID", "site_1", "site_2"]


def test_json_list(yard: Yard) -> None:
    result = yard(
        "--json", "--base-url", "http://yard.test", "--api-key", "fy_test_KEY", "sites", "list"
    )

    assert [s["id"] for s in json.loads(result.stdout)] == ["site_1", "site_2"]


def test_problem_becomes_the_error_line(yard: Yard) -> None:
    result = yard(
        "--base-url", "http://yard.test", "--api-key", "fy_test_KEY", "sites", "get", "site_x"
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: No such site. (code: not_found) [request id: req_9]\n"
