"""The braille chart of `yard timeseries`, character by character."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetyard.cli.plot import format_number, render_chart

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def minutes(*offsets: int) -> list[datetime]:
    return [T0 + timedelta(minutes=m) for m in offsets]


def test_a_rising_line() -> None:
    lines = render_chart(minutes(0, 20, 40, 60), [1, 1.5, 2, 3], width=24, height=3)

    assert lines == [
        "3 ┤                ⣀⠤⠔⠒⠉",
        "  │        ⢀⣀⡠⠤⠔⠒⠊⠉",
        "1 ┤⣀⡠⠤⠔⠒⠒⠉⠉⠁",
        "  └─────────────────────",
        "   09:00Z         10:00Z",
    ]
    assert max(len(line) for line in lines) <= 24


def test_missing_values_are_skipped_and_time_sets_the_x_position() -> None:
    lines = render_chart(minutes(0, 10, 50), [5, None, -2.5], width=16, height=2)

    # Too narrow for both times: only the first is shown.
    assert lines == [
        "   5 ┤⠉⠒⠢⢄⣀",
        "-2.5 ┤     ⠉⠑⠢⠤⣀",
        "     └──────────",
        "      09:00Z",
    ]


def test_a_flat_line_gets_a_range_around_it() -> None:
    lines = render_chart([T0, T0 + timedelta(seconds=30)], [7, 7], width=30, height=2)

    assert lines == [
        "7.7 ┤⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀⣀",
        "6.3 ┤",
        "    └─────────────────────────",
        "     09:00:00Z       09:00:30Z",
    ]


def test_several_days_show_dates() -> None:
    lines = render_chart([T0, T0 + timedelta(days=2)], [5.0, -2], width=40, height=3)

    assert lines[-1] == "    2026-11-02 09:00Z  2026-11-04 09:00Z"
    assert lines[0].startswith(" 5 ┤⠉⠉⠒⠒")
    assert lines[2].startswith("-2 ┤ ")
    assert lines[2].endswith("⣀⣀")


def test_no_values() -> None:
    assert render_chart(minutes(0, 5), [None, float("nan")], width=40) == [
        "(no values in this window)"
    ]


def test_numbers_for_people() -> None:
    assert [format_number(v) for v in (0.0, -3.0, 0.125, 1234567.0, 1 / 3, 2.5e-7)] == [
        "0",
        "-3",
        "0.125",
        "1234567",
        "0.333333",
        "2.5e-07",
    ]
