"""`yard publish`, `messages`, `aggregate`, `timeseries`: exact output and the SDK calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetyard.protocol.telemetry import BatchPublishAck, Timeseries
from tests.cli.conftest import Yard
from tests.cli.fakes import T0, FakeSDK, ack, aggregate, api_error, channel, message

# -- publish ---------------------------------------------------------------------------------


def test_publish_one_message(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish.return_value = ack()

    result = yard("publish", "agt_1", "status", '{"t": 21.5}')

    assert result.exit_code == 0
    assert result.stdout == "Published to status of agt_1: seq 43, aggregate version 41.\n"
    sdk.client.channels.publish.assert_called_once_with(
        ("agt_1", "status"),
        {"t": 21.5},
        timestamp=None,
        client_message_id=None,
        override_aggregate=False,
        save_log=True,
        log_aggregate=False,
    )


def test_publish_options_and_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish.return_value = ack(duplicate=True)

    result = yard(
        "publish", "agt_1", "#proc", "[1, 2]", "--timestamp", "2026-11-01T08:00:00",
        "--override", "--id", "m-1", "--json",
    )  # fmt: skip

    assert result.exit_code == 0
    sdk.client.channels.publish.assert_called_once_with(
        ("agt_1", "#proc"),
        [1, 2],
        timestamp=datetime(2026, 11, 1, 8, tzinfo=UTC),
        client_message_id="m-1",
        override_aggregate=True,
        save_log=True,
        log_aggregate=False,
    )
    assert json.loads(result.stdout) == {
        "channel_id": "ch_1",
        "seq": 43,
        "ts": "2026-11-02T09:30:15.123Z",
        "duplicate": True,
        "aggregate_version": 41,
    }


def test_publish_log_options(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish.return_value = ack(seq=None)

    result = yard("publish", "agt_1", "status", "{}", "--no-log")
    assert result.stdout == "Published to status of agt_1: not logged, aggregate version 41.\n"
    assert sdk.client.channels.publish.call_args.kwargs["save_log"] is False

    yard("publish", "agt_1", "status", "{}", "--log-aggregate")
    assert sdk.client.channels.publish.call_args.kwargs["log_aggregate"] is True


def test_a_duplicate_says_so(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish.return_value = ack(duplicate=True)

    result = yard("publish", "agt_1", "status", "1", "--id", "m-1")

    assert result.stdout == "Already published to status of agt_1 (seq 43); nothing stored twice.\n"


def test_text_publishes_a_string(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish.return_value = ack()

    yard("publish", "agt_1", "status", "door open", "--text")

    assert sdk.client.channels.publish.call_args.args[1] == "door open"


@pytest.mark.parametrize("payload", ["door open", "{'t': 1}", "NaN", "[1,"])
def test_a_payload_that_is_not_json_is_a_usage_error(
    sdk: FakeSDK, yard: Yard, payload: str
) -> None:
    result = yard("publish", "agt_1", "status", payload)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: PAYLOAD is not JSON (")
    assert result.stderr.endswith(
        "); quote it ('{\"t\": 21.5}'), or add --text to publish it as a string"
        " (code: invalid_json)\n"
    )
    sdk.client.channels.publish.assert_not_called()


def test_the_json_error_names_where(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("publish", "agt_1", "status", "door open")

    assert result.stderr == (
        "error: PAYLOAD is not JSON (Expecting value at column 1); quote it ('{\"t\": 21.5}'),"
        " or add --text to publish it as a string (code: invalid_json)\n"
    )


def acks_for(items: list[dict[str, Any]]) -> BatchPublishAck:
    return BatchPublishAck(items=[ack(seq=n, duplicate=n == 0) for n in range(len(items))])


def test_stdin_is_published_in_batches(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish_batch.side_effect = acks_for
    lines = "".join(f'{{"n": {n}}}\n' for n in range(2500)) + "\n  \n"

    result = yard("publish", "agt_1", "status", input=lines)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Published 2500 messages to status of agt_1 (3 already there).\n"
    batches = [c.args[0] for c in sdk.client.channels.publish_batch.call_args_list]
    assert [len(b) for b in batches] == [1000, 1000, 500]
    assert batches[0][0] == {"agent_id": "agt_1", "channel": "status", "payload": {"n": 0}}
    assert batches[2][-1]["payload"] == {"n": 2499}
    sdk.client.channels.publish.assert_not_called()


def test_stdin_with_dash_options_and_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish_batch.side_effect = acks_for

    result = yard(
        "publish", "agt_1", "status", "-", "--text", "--override",
        "--timestamp", "2026-11-01T08:00:00Z", "--json",
        input="one\r\ntwo\n",
    )  # fmt: skip

    assert json.loads(result.stdout) == {"published": 2, "duplicates": 1}
    (items,) = sdk.client.channels.publish_batch.call_args.args
    assert items == [
        {
            "agent_id": "agt_1",
            "channel": "status",
            "timestamp": datetime(2026, 11, 1, 8, tzinfo=UTC),
            "override_aggregate": True,
            "payload": text,
        }
        for text in ("one", "two")
    ]


def test_stdin_with_log_options(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish_batch.side_effect = acks_for

    yard("publish", "agt_1", "status", "--no-log", "--log-aggregate", input="1\n")

    (items,) = sdk.client.channels.publish_batch.call_args.args
    assert items == [
        {
            "agent_id": "agt_1",
            "channel": "status",
            "save_log": False,
            "log_aggregate": True,
            "payload": 1,
        }
    ]


def test_empty_stdin_publishes_nothing(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("publish", "agt_1", "status", input="")

    assert result.stdout == "Published 0 messages to status of agt_1.\n"
    sdk.client.channels.publish_batch.assert_not_called()


def test_a_bad_line_stops_and_says_what_was_sent(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish_batch.side_effect = acks_for
    lines = "".join("{}\n" for _ in range(1000)) + "{}\n{oops\n{}\n"

    result = yard("publish", "agt_1", "status", input=lines)

    assert result.exit_code == 2
    assert result.stderr == (
        "error: line 1002 is not JSON (Expecting property name enclosed in double quotes"
        " at column 2); quote it ('{\"t\": 21.5}'), or add --text to publish it as a string;"
        " the 1000 messages before it were published (code: invalid_json)\n"
    )
    assert sdk.client.channels.publish_batch.call_count == 1


def test_an_id_needs_a_payload(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("publish", "agt_1", "status", "--id", "m-1", input="{}\n")

    assert result.exit_code == 2
    assert "--id needs a PAYLOAD argument" in result.stderr
    sdk.client.channels.publish_batch.assert_not_called()


def test_a_rejected_batch_is_one_line(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.publish_batch.side_effect = api_error(
        422,
        "payload_invalid",
        "Some payloads do not match the channel's schema.",
        errors=[
            {"loc": ["body", "items", 1, "payload"], "message": "'t' is required", "type": "x"}
        ],
    )

    result = yard("publish", "agt_1", "status", input="{}\n{}\n")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: Some payloads do not match the channel's schema: body.items.1.payload:"
        " 't' is required (code: payload_invalid) [request id: req_42]\n"
    )


def test_fields_the_detail_already_names_are_not_repeated(sdk: FakeSDK, yard: Yard) -> None:
    # The server's own shape: the detail lists the failing paths, `errors` lists them again.
    sdk.client.channels.publish.side_effect = api_error(
        422,
        "payload_invalid",
        "payload: $.temperature: expected number",
        errors=[
            {
                "loc": ["body", "payload"],
                "message": "$.temperature: expected number",
                "type": "payload_invalid",
            },
            {"loc": ["body", "payload"], "message": "$.mode: expected string", "type": "x"},
        ],
    )

    result = yard("publish", "agt_1", "status", '{"temperature": "hot", "mode": 1}')

    assert result.exit_code == 1
    assert result.stderr == (
        "error: payload: $.temperature: expected number: body.payload: $.mode: expected string"
        " (code: payload_invalid) [request id: req_42]\n"
    )


# -- messages --------------------------------------------------------------------------------


def test_messages_is_a_table(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.messages.return_value = iter(
        [message(3), message(2, [1, "ü"]), message(1, "text")]
    )

    result = yard("messages", "agt_1", "status")

    assert result.exit_code == 0
    assert result.stdout == (
        "SEQ  TIME                      PAYLOAD\n"
        '3    2026-11-02 09:30:15.123Z  {"t": 21.5, "ok": true}\n'
        '2    2026-11-02 09:30:15.123Z  [1, "ü"]\n'
        '1    2026-11-02 09:30:15.123Z  "text"\n'
    )
    sdk.client.channels.get_by_name.assert_called_once_with("agt_1", "status")
    sdk.client.channels.messages.assert_called_once_with(
        "ch_1", start=None, end=None, order="desc", limit=20
    )


def test_messages_window_order_and_limit(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.messages.return_value = iter([message(n) for n in range(1, 10)])

    result = yard(
        "messages", "agt_1", "status", "--since", "1h", "--until", "2026-11-02T10:00:00+01:00",
        "-n", "3", "--oldest-first", "--json",
    )  # fmt: skip

    assert [m["seq"] for m in json.loads(result.stdout)] == [1, 2, 3]
    sdk.client.channels.messages.assert_called_once_with(
        "ch_1",
        start=timedelta(hours=1),
        end=datetime(2026, 11, 2, 9, tzinfo=UTC),
        order="asc",
        limit=3,
    )


def test_a_large_limit_is_fetched_in_pages(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.messages.return_value = iter([])

    result = yard("messages", "agt_1", "status", "--limit", "5000")

    assert result.stdout == "No messages.\n"
    assert sdk.client.channels.messages.call_args.kwargs["limit"] == 1000


@pytest.mark.parametrize("value", ["yesterday", "1 hour", "-1h"])
def test_a_bad_since_is_a_usage_error(sdk: FakeSDK, yard: Yard, value: str) -> None:
    result = yard("messages", "agt_1", "status", "--since", value)

    assert result.exit_code == 2
    assert "is neither a duration like 1h" in result.stderr
    sdk.client.channels.get_by_name.assert_not_called()


# -- aggregate -------------------------------------------------------------------------------


def test_aggregate_is_pretty_json_for_people(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel(name="#proc")
    sdk.client.channels.aggregate.return_value = aggregate({"t": 21.5, "nested": {"on": True}})

    result = yard("aggregate", "agt_1", "#proc")

    assert result.exit_code == 0
    assert result.stdout == (
        "{\n"
        '  "t": 21.5,\n'
        '  "nested": {\n'
        '    "on": true\n'
        "  }\n"
        "}\n"
        "version 40, updated 2026-11-02 09:30:15Z\n"
    )
    sdk.client.channels.get_by_name.assert_called_once_with("agt_1", "#proc")
    sdk.client.channels.aggregate.assert_called_once_with("ch_1")


def test_aggregate_json_is_the_aggregate(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.aggregate.return_value = aggregate(None)

    result = yard("aggregate", "agt_1", "status", "--json")

    assert json.loads(result.stdout) == {
        "channel_id": "ch_1",
        "data": {"t": 21.5, "mode": "eco"},
        "version": 40,
        "updated_at": "2026-11-02T09:30:15.123Z",
    }


# -- timeseries ------------------------------------------------------------------------------


def series(*, bucketed: bool = True) -> Timeseries:
    values = [20, 21, 22, None, 18, 21.5]
    return Timeseries.model_validate(
        {
            "channel_id": "ch_1",
            "interval": "5m" if bucketed else None,
            "timestamps": [T0 + timedelta(minutes=5 * i) for i in range(6)],
            "series": [
                {"field": "t", "aggregate": "avg" if bucketed else None, "values": values},
                {
                    "field": "battery.level",
                    "aggregate": "max" if bucketed else None,
                    "values": [1.0, None, None, None, None, 0.125],
                },
            ],
        }
    )


def test_timeseries_plots_each_series(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.timeseries.return_value = series()

    result = yard(
        "timeseries", "agt_1", "status", "-f", "t", "--field", "battery.level",
        "--interval", "5m", "--agg", "avg", "--agg", "max", "--since", "2h",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    sdk.client.channels.timeseries.assert_called_once_with(
        "ch_1",
        ["t", "battery.level"],
        start=timedelta(hours=2),
        end=None,
        interval=timedelta(minutes=5),
        aggregates=["avg", "max"],
        limit=None,
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "t (avg)  5 points every 5m · min 18 · max 22 · last 21.5"
    assert lines[1].startswith("22 ┤")
    assert lines[10].startswith("18 ┤")
    assert lines[11] == "   └" + "─" * 96
    assert lines[12] == "    09:30Z" + " " * 84 + "09:55Z"
    assert lines[13] == ""
    assert lines[14] == "battery.level (max)  2 points every 5m · min 0.125 · max 1 · last 0.125"
    assert lines[15].startswith("    1 ┤⠉⠑⠒⠒⠤⠤⣀⣀⡀")
    assert len(lines) == 27
    assert max(len(line) for line in lines) <= 100


def test_timeseries_defaults_to_the_last_day_raw(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.timeseries.return_value = series(bucketed=False)

    result = yard("timeseries", "agt_1", "status", "-f", "t")

    assert result.stdout.splitlines()[0] == "t  5 points · min 18 · max 22 · last 21.5"
    assert sdk.client.channels.timeseries.call_args.kwargs == {
        "start": timedelta(hours=24),
        "end": None,
        "interval": None,
        "aggregates": None,
        "limit": None,
    }


def test_timeseries_without_data(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.timeseries.return_value = Timeseries(
        channel_id="ch_1", timestamps=[], series=[{"field": "t", "values": []}]
    )

    result = yard("timeseries", "agt_1", "status", "-f", "t")

    assert result.stdout == "No data in this window.\n"


def test_timeseries_csv(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.timeseries.return_value = series()

    result = yard("timeseries", "agt_1", "status", "-f", "t", "-f", "battery.level", "--csv")

    assert result.stdout == (
        "time,t_avg,battery.level_max\n"
        "2026-11-02T09:30:15.123Z,20,1\n"
        "2026-11-02T09:35:15.123Z,21,\n"
        "2026-11-02T09:40:15.123Z,22,\n"
        "2026-11-02T09:45:15.123Z,,\n"
        "2026-11-02T09:50:15.123Z,18,\n"
        "2026-11-02T09:55:15.123Z,21.5,0.125\n"
    )


def test_timeseries_raw_csv_header(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.timeseries.return_value = series(bucketed=False)

    result = yard("timeseries", "agt_1", "status", "-f", "t", "--csv")

    assert result.stdout.splitlines()[0] == "time,t,battery.level"


def test_timeseries_json(sdk: FakeSDK, yard: Yard) -> None:
    sdk.client.channels.get_by_name.return_value = channel()
    sdk.client.channels.timeseries.return_value = series()

    result = yard("--json", "timeseries", "agt_1", "status", "-f", "t")

    document = json.loads(result.stdout)
    assert document["interval"] == "5m"
    assert document["series"][0] == {
        "field": "t",
        "aggregate": "avg",
        "values": [20.0, 21.0, 22.0, None, 18.0, 21.5],
    }
    assert document["timestamps"][0] == "2026-11-02T09:30:15.123Z"


def test_timeseries_csv_and_json_exclude_each_other(sdk: FakeSDK, yard: Yard) -> None:
    result = yard("timeseries", "agt_1", "status", "-f", "t", "--csv", "--json")

    assert result.exit_code == 2
    assert "give --csv or --json, not both" in result.stderr
    sdk.client.channels.timeseries.assert_not_called()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--interval", "5 minutes"), "is not a duration like 30s, 5m, 1h or 7d"),
        (("--agg", "median"), "'median' is not one of"),
        ((), "Missing option '--field'"),
    ],
)
def test_timeseries_usage_errors(
    sdk: FakeSDK, yard: Yard, args: tuple[str, ...], message: str
) -> None:
    fields = () if not args else ("-f", "t")
    result = yard("timeseries", "agt_1", "status", *fields, *args)

    assert result.exit_code == 2
    assert message in result.stderr
    sdk.client.channels.timeseries.assert_not_called()
