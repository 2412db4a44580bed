"""Everything `yard` shows on a terminal goes through :class:`Output`.

Commands never print: they hand a view (see :mod:`fleetyard.cli.views`) and
the raw data to ``Output``, which picks the shape. For people that is a
table, a key/value panel or a sentence on stdout; with ``--json`` it is one
JSON document on stdout and nothing else there. Warnings, prompts and errors
go to stderr in both modes, so ``yard … --json | jq`` always gets clean input.

Errors are one line, ``error: <message> (code: <code>) [request id: <id>]``,
or ``{"error": {...}}`` on one line with ``--json``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from fleetyard.cli.plot import ChartView
from fleetyard.cli.views import RecordView, TableView

JSONValue = Any
"""Anything :func:`to_jsonable` turns into plain JSON data."""


def to_jsonable(data: object) -> JSONValue:
    """Plain JSON data from models, lists of models and mappings."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, Mapping):
        return {str(key): to_jsonable(value) for key, value in data.items()}
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return [to_jsonable(item) for item in data]
    return data


class Output:
    """The terminal of one `yard` run: a stdout and a stderr rich console.

    Tests pass consoles that write to a buffer, or let ``CliRunner`` swap
    ``sys.stdout``/``sys.stderr`` (the default consoles look them up on each
    write).
    """

    def __init__(
        self,
        stdout: Console | None = None,
        stderr: Console | None = None,
        *,
        json: bool = False,
    ) -> None:
        self.stdout = stdout or Console(highlight=False)
        self.stderr = stderr or Console(stderr=True, highlight=False)
        self.json = json

    # -- results ----------------------------------------------------------------

    def table(self, view: TableView, data: object) -> None:
        """A list: a table for people, a JSON array with ``--json``."""
        if self.json:
            self._json_document(to_jsonable(data))
            return
        if not view.rows:
            self.stdout.print(Text(view.empty, style="dim"), soft_wrap=True)
            return
        # rich pads the last column; trailing blanks only get in the way of grep and diff.
        with self.stdout.capture() as captured:
            self.stdout.print(_table(view))
        lines = captured.get().splitlines()
        self.stdout.file.write("".join(line.rstrip() + "\n" for line in lines))
        self.stdout.file.flush()

    def record(self, view: RecordView, data: object) -> None:
        """One object: a key/value panel for people, a JSON object with ``--json``."""
        if self.json:
            self._json_document(to_jsonable(data))
            return
        self.stdout.print(_panel(view))

    def message(self, text: str, data: object) -> None:
        """The outcome of an action: a sentence for people, ``data`` with ``--json``."""
        if self.json:
            self._json_document(to_jsonable(data))
            return
        self.stdout.print(Text(text), soft_wrap=True)

    def secret(self, view: RecordView, data: object, secret: str) -> None:
        """A new credential whose secret is shown this once and never again."""
        if self.json:
            self._json_document(to_jsonable(data))
        else:
            self.stdout.print(_panel(view))
            self.stdout.print(Text.assemble(("Secret: ", "bold"), secret), soft_wrap=True)
        self.warning("the secret is shown only this once; store it now, it cannot be read again")

    def stream_item(self, text: str, data: object) -> None:
        """One item of a live stream as it arrives: a line for people; with ``--json`` one
        compact JSON object per line (JSON Lines), flushed at once for pipes."""
        if self.json:
            line = json.dumps(to_jsonable(data), ensure_ascii=False, separators=(",", ":"))
            self.stdout.file.write(line + "\n")
            self.stdout.file.flush()
            return
        self.stdout.print(Text(text), soft_wrap=True)
        self.stdout.file.flush()

    def line(self, text: str) -> None:
        """A plain line on stdout (``--version``)."""
        self.stdout.print(Text(text), soft_wrap=True)

    def document(self, value: JSONValue, data: object, *, footer: str | None = None) -> None:
        """A JSON value for people (indented, then a dim ``footer``); ``data`` with ``--json``."""
        if self.json:
            self._json_document(to_jsonable(data))
            return
        self.stdout.print(Text(json.dumps(value, indent=2, ensure_ascii=False)), soft_wrap=True)
        if footer:
            self.stdout.print(Text(footer, style="dim"), soft_wrap=True)

    def charts(self, charts: Sequence[ChartView], data: object, *, empty: str) -> None:
        """Terminal charts for people (``empty`` when there are none); ``data`` with ``--json``."""
        if self.json:
            self._json_document(to_jsonable(data))
            return
        if not charts:
            self.stdout.print(Text(empty, style="dim"), soft_wrap=True)
        for n, chart in enumerate(charts):
            if n:
                self.stdout.print()
            title = Text.assemble((chart.title, "bold"), "  ", (chart.summary, "dim"))
            self.stdout.print(title, soft_wrap=True)
            for line in chart.lines:
                self.stdout.print(Text(line, style="cyan"), soft_wrap=True)

    def csv(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        """CSV on stdout, for scripts and spreadsheets (``--csv``)."""
        writer = csv.writer(self.stdout.file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        self.stdout.file.flush()

    def width(self) -> int:
        """How many columns the output has (the terminal's, or ``COLUMNS``)."""
        return self.stdout.width

    def live_table(self) -> LiveTable:
        """A titled table redrawn in place while a command polls (``yard rollouts watch``).

        On a terminal it is a rich ``Live`` display whose last frame stays on
        screen; elsewhere (pipes, files) only the last frame is printed, once,
        when it ends; with ``--json`` nothing (the command prints its result).
        """
        return LiveTable(self)

    def push_progress(self) -> PushBar:
        """A progress bar on stderr for ``yard push`` (silent with ``--json``)."""
        return PushBar(self.stderr, enabled=not self.json)

    def note(self, text: str) -> None:
        """A hint for people on stderr (never in the way of stdout)."""
        self.stderr.print(Text(text, style="dim"), soft_wrap=True)

    # -- stderr -----------------------------------------------------------------

    def warning(self, text: str) -> None:
        self.stderr.print(Text.assemble(("warning:", "bold yellow"), " ", text), soft_wrap=True)

    def error(
        self,
        message: str,
        *,
        code: str | None,
        request_id: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """One line on stderr that names the problem code.

        With ``--json`` the line is ``{"error": details}``; ``details`` is the
        problem document when the server sent one.
        """
        if self.json:
            body = dict(details) if details is not None else {}
            body.setdefault("code", code)
            body.setdefault("detail", message)
            if status is not None:
                body.setdefault("status", status)
            if request_id is not None:
                body.setdefault("request_id", request_id)
            text = json.dumps({"error": to_jsonable(body)}, ensure_ascii=False)
            self.stderr.file.write(text + "\n")
            self.stderr.file.flush()
            return
        # "(code: X)" stays a fixed token scripts can grep; the request id follows it.
        line = message
        if code:
            line += f" (code: {code})"
        elif status is not None:
            line += f" (status: {status})"
        if request_id:
            line += f" [request id: {request_id}]"
        self.stderr.print(Text.assemble(("error:", "bold red"), " ", line), soft_wrap=True)

    def prompt(self, text: str, *, hide_input: bool = False) -> str:
        """Ask for a value on stderr (stdout stays clean for ``--json``)."""
        value: str = typer.prompt(text, hide_input=hide_input, err=True)
        return value

    def confirm(self, text: str) -> bool:
        """Ask yes/no on stderr; no is the default."""
        return bool(typer.confirm(text, default=False, err=True))

    # -- internals --------------------------------------------------------------

    def _json_document(self, data: JSONValue) -> None:
        # Written raw: rich would wrap long lines and highlight.
        self.stdout.file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        self.stdout.file.flush()


def _table(view: TableView) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in view.columns:
        # An id (or a device URL) split over two lines can't be copied; others may fold.
        is_id = column == "ID" or column.endswith((" ID", " URL"))
        table.add_column(column, overflow="fold", no_wrap=is_id)
    for row in view.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _panel(view: RecordView) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in view.fields:
        grid.add_row(Text(label), Text(value))
    return Panel(grid, title=Text(view.title), title_align="left", expand=False)


class LiveTable:
    """:meth:`Output.live_table`: use as a context manager, call :meth:`update` with each
    new frame (a title line and a table)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.live: Live | None = None
        self.last: tuple[str, TableView] | None = None

    def __enter__(self) -> LiveTable:
        if not self.out.json and self.out.stdout.is_terminal:
            self.live = Live(console=self.out.stdout, auto_refresh=False, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
        elif not self.out.json and self.last is not None:
            title, view = self.last
            self.out.stdout.print(Text(title, style="bold"), soft_wrap=True)
            self.out.table(view, None)

    def update(self, title: str, view: TableView) -> None:
        """Show this frame now (on a terminal) or keep it for the end (elsewhere)."""
        self.last = (title, view)
        if self.live is not None:
            body = _table(view) if view.rows else Text(view.empty, style="dim")
            self.live.update(Group(Text(title, style="bold"), body), refresh=True)


class PushBar:
    """``yard push``'s bar: files hashed, then chunks uploaded with MB/s and reused %.

    Use as a context manager; ``update`` is the push's ``on_progress``.
    """

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.enabled = enabled and console.is_terminal
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> PushBar:
        if self.enabled:
            self.progress.start()
            self.task = self.progress.add_task("discover", total=None, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.progress.stop()

    def update(self, event: Any) -> None:
        """Show one :class:`~fleetyard.PushProgress`."""
        if self.task is None:
            return
        if event.phase == "hash":
            detail = f"{event.files_done}/{event.files_total} files hashed"
            self.progress.update(
                self.task,
                description="hash",
                total=event.bytes_total or None,
                completed=event.bytes_hashed,
                detail=detail,
            )
        elif event.phase == "upload":
            reused = event.chunks_total - event.chunks_missing
            share = 100 * reused / event.chunks_total if event.chunks_total else 100.0
            detail = f"{event.chunks_uploaded}/{event.chunks_missing} chunks, {share:.0f}% reused"
            self.progress.update(
                self.task,
                description="upload",
                total=event.bytes_missing or None,
                completed=event.bytes_uploaded,
                detail=detail,
            )
        else:
            self.progress.update(self.task, description=event.phase)
