"""`yard` telemetry commands on the real SDK and the real app, in-process (both databases)."""

from __future__ import annotations

import functools
import json

import pytest

from fleetyard import Client
from fleetyard.cli import session
from tests.cli.conftest import Yard
from tests.conftest import ADMIN_KEY
from tests.support.asgi import PortalASGITransport


@pytest.fixture
def yard_app(
    yard: Yard, monkeypatch: pytest.MonkeyPatch, app_transport: PortalASGITransport
) -> Yard:
    monkeypatch.setattr(session, "Client", functools.partial(Client, transport=app_transport))
    base = ("--base-url", "http://fleetyard.test", "--api-key", ADMIN_KEY)
    return lambda *args, **kw: yard(*base, *args, **kw)


def test_publish_then_read_back(yard_app: Yard) -> None:
    site = json.loads(yard_app("--json", "sites", "create", "Depot").stdout)
    created = yard_app("--json", "agents", "create", "pump-7", "--site", site["id"], "-l", "a=b")
    agent = json.loads(created.stdout)["id"]

    one = yard_app("publish", agent, "#proc", '{"t": 20, "mode": "eco"}', "--id", "m-1")
    again = yard_app("publish", agent, "#proc", '{"t": 99}', "--id", "m-1")
    lines = "".join(f'{{"t": {20 + n}}}\n' for n in range(1, 5))
    batch = yard_app("publish", agent, "#proc", input=lines)

    assert one.stdout == f"Published to #proc of {agent}: seq 1, aggregate version 1.\n"
    assert again.stdout == f"Already published to #proc of {agent} (seq 1); nothing stored twice.\n"
    assert batch.stdout == f"Published 4 messages to #proc of {agent}.\n"

    messages = yard_app("messages", agent, "#proc", "-n", "2")
    assert messages.exit_code == 0, messages.stderr
    rows = messages.stdout.splitlines()
    assert rows[0].split() == ["SEQ", "TIME", "PAYLOAD"]
    assert [row.split()[0] for row in rows[1:]] == ["5", "4"]
    assert rows[1].endswith('{"t": 24}')

    aggregate = yard_app("--json", "aggregate", agent, "#proc")
    assert json.loads(aggregate.stdout)["data"] == {"t": 24, "mode": "eco"}

    csv = yard_app("timeseries", agent, "#proc", "-f", "t", "--csv", "--since", "1h")
    assert csv.stdout.splitlines()[0] == "time,t"
    assert [row.split(",")[1] for row in csv.stdout.splitlines()[1:]] == [
        "20",
        "21",
        "22",
        "23",
        "24",
    ]
    plot = yard_app("timeseries", agent, "#proc", "-f", "t", "--since", "1h")
    assert plot.stdout.startswith("t  5 points · min 20 · max 24 · last 24\n")

    listed = yard_app("channels", "list", agent)
    assert listed.stdout.splitlines()[1].split()[1:5] == ["#proc", "processor", "no", "5"]
    agents = yard_app("agents", "list", "--label", "a=b")
    assert agents.stdout.splitlines()[1].split()[:2] == [agent, "pump-7"]


def test_unknown_channel_is_a_one_line_error(yard_app: Yard) -> None:
    site = json.loads(yard_app("--json", "sites", "create", "Depot").stdout)
    agent = json.loads(
        yard_app("--json", "agents", "create", "pump-7", "--site", site["id"]).stdout
    )["id"]

    result = yard_app("messages", agent, "nope")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "(code: not_found)" in result.stderr
