from __future__ import annotations

import gzip
import json

import httpx2
import pytest

from fleetyard._version import __version__


def test_health_and_readiness_need_no_token(http: httpx2.Client) -> None:
    anonymous = {"Authorization": ""}
    assert http.get("/healthz", headers=anonymous).json() == {"status": "ok", "checks": {}}
    ready = http.get("/readyz", headers=anonymous)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


def test_system_info_names_version_and_database(http: httpx2.Client, database_url: str) -> None:
    info = http.get("/v1/system/info").json()
    assert info["version"] == __version__
    assert info["database"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert info["uptime_seconds"] >= 0
    assert info["dev_mode"] is True


def test_every_response_has_a_request_id_and_api_version(http: httpx2.Client) -> None:
    response = http.get("/healthz")
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["fleetyard-version"] == "2026-11-01"
    echoed = http.get("/healthz", headers={"X-Request-Id": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"


def test_unsupported_api_version_is_a_problem(http: httpx2.Client) -> None:
    response = http.get("/healthz", headers={"Fleetyard-Version": "1999-01-01"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unsupported_api_version"


def test_unknown_route_is_a_problem_with_the_request_id(http: httpx2.Client) -> None:
    response = http.get("/v1/nothing-here")
    body = response.json()
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert body["code"] == "not_found"
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("size", [10 * 1024 * 1024 + 1])
def test_oversized_body_is_413(http: httpx2.Client, size: int) -> None:
    response = http.post("/v1/sites", content=b"{" + b" " * size + b"}")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_gzip_bomb_is_refused_by_inflated_size(http: httpx2.Client) -> None:
    bomb = gzip.compress(b" " * (11 * 1024 * 1024))
    assert len(bomb) < 100_000
    response = http.post(
        "/v1/sites",
        content=bomb,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_broken_gzip_is_400(http: httpx2.Client) -> None:
    response = http.post("/v1/sites", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


def test_unknown_content_encoding_is_415(http: httpx2.Client) -> None:
    response = http.post("/v1/sites", content=b"{}", headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert json.loads(response.text)["code"] == "unsupported_media_type"


def test_a_json_body_sent_with_another_content_type_is_415(http: httpx2.Client) -> None:
    # curl's -d declares application/x-www-form-urlencoded.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = http.post("/v1/sites", content=b'{"name": "form"}', headers=form)
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("application/problem+json")
    assert json.loads(response.text)["code"] == "unsupported_media_type"
    assert "application/json" in json.loads(response.text)["detail"]
    # Declared as JSON it goes through; a JSON body of the wrong shape is still 422.
    assert http.post("/v1/sites", json={"name": "json"}).status_code == 201
    assert http.post("/v1/sites", json=[1]).status_code == 422
    names = [site["name"] for site in http.get("/v1/sites").json()["items"]]
    assert "form" not in names
    assert "json" in names
