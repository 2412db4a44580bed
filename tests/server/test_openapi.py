from __future__ import annotations

import json
from pathlib import Path

import httpx2

from fleetyard.server.openapi import openapi_document, render

COMMITTED = Path(__file__).parents[2] / "docs" / "openapi.json"


def test_committed_openapi_matches_the_server() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/openapi.json is out of date: run `make openapi` and commit it"
    )


def test_served_openapi_is_the_same_document(http: httpx2.Client) -> None:
    served = http.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(COMMITTED.read_text())
    assert served.json()["openapi"].startswith("3.1")


def test_every_operation_documents_its_problems() -> None:
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in openapi_document()["paths"].items()
        for method, operation in item.items()
        if path.startswith("/v1/")
        and path != "/v1/system/info"
        and not any(code.startswith("4") for code in operation.get("responses", {}))
    ]
    assert undocumented == []
