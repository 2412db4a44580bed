"""Print the OpenAPI document the server serves (``make openapi`` commits it to docs/)."""

from __future__ import annotations

import json
from typing import Any

from fleetyard.server.app import create_app
from fleetyard.server.settings import Settings


def openapi_document() -> dict[str, Any]:
    # Building the app touches no database: the lifespan is not started.
    return create_app(Settings(dev=True)).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
