"""`yavio export`: a project's raw events of a range, every page of the read API's export
endpoint, as JSON Lines, CSV or Parquet, to a file or stdout.

A file is written beside its target under a temporary name and renamed when the last page is
in, so an export that fails or is interrupted never leaves a truncated file that looks
complete (and never clobbers the file it would have replaced).
"""

from __future__ import annotations

import csv
import functools
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path
from typing import IO, Annotated, Any, get_args

import msgspec
import typer
from msgspec import inspect as field_types
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from yavio_cli import durations, scope
from yavio_cli.client import YavioClient
from yavio_cli.connection import Connection
from yavio_cli.terminal import HomeOption, errors, fail
from yavio_sdk.events import Event

# The server's largest page: each page reads the rest of the range once, so fewer pages cost
# less in all.
PAGE_SIZE = 10_000
DEFAULT_LAST = "7d"
STDOUT = "-"
# Columns holding times (ISO-8601 UTC in the API), typed as such in Parquet.
_TIME_COLUMNS = ("timestamp", "ingested_at")


class Format(str, Enum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


_EXTENSIONS = {".jsonl": Format.jsonl, ".ndjson": Format.jsonl, ".csv": Format.csv,
               ".parquet": Format.parquet, ".pq": Format.parquet}


def _time(text: str) -> datetime:
    """Parser of `--from`/`--to`: an ISO-8601 date or time, UTC unless it names an offset."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO-8601 date or time; write it like "
                                 "2026-01-31 or 2026-01-31T12:00:00Z") from None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


def _span(text: str) -> timedelta:
    """Parser of `--last`: a duration like 24h or 7d."""
    try:
        return timedelta(seconds=durations.seconds(text))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


FromOption = Annotated[datetime | None, typer.Option(
    "--from", metavar="TIME", parser=_time, show_default=False,
    help="Start of the range: an ISO-8601 date or time, UTC unless it has an offset "
         "[default: --last before --to].")]
ToOption = Annotated[datetime | None, typer.Option(
    "--to", metavar="TIME", parser=_time, show_default=False,
    help="End of the range (exclusive) [default: now].")]
LastOption = Annotated[timedelta | None, typer.Option(
    "--last", metavar="DURATION", parser=_span, show_default=False,
    help=f"The range is this much time before --to, e.g. 24h, 30d [default: {DEFAULT_LAST}]; "
         "not with --from.")]
TypeOption = Annotated[list[str] | None, typer.Option(
    "--type", "-t", metavar="TYPE[,TYPE…]", show_default=False,
    help="Only these event types, comma-separated or repeated (e.g. tool_call,conversion).")]
PlatformOption = Annotated[list[str] | None, typer.Option(
    "--platform", metavar="PLATFORM[,PLATFORM…]", show_default=False,
    help="Only events from these platforms, comma-separated or repeated (e.g. chatgpt).")]
FormatOption = Annotated[Format | None, typer.Option(
    "--format", show_default=False,
    help="The file format [default: from the output file's extension, else jsonl].")]
OutputOption = Annotated[str, typer.Option(
    "--output", "-o", metavar="FILE",
    help="Where to write, or - for stdout (not for Parquet).")]
QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="No progress bar and no summary on stderr.")]


def export(start: FromOption = None, end: ToOption = None, last: LastOption = None,
           types: TypeOption = None, platforms: PlatformOption = None,
           format_: FormatOption = None, output: OutputOption = STDOUT,
           quiet: QuietOption = False, project: scope.ProjectOption = None,
           workspace: scope.WorkspaceOption = None, home: HomeOption = None) -> None:
    """Export a project's raw events: every event of the range, deduplicated, oldest first,
    with every column, as the SDK sent it.

    JSON Lines has one event per line; CSV a header with every column, payloads as JSON
    text; Parquet one typed column per field. A file appears only once the export is
    complete. Progress and a summary go to stderr, so stdout holds the events only.

    Examples: `yavio export -o events.jsonl` ·
    `yavio export --last 30d --type tool_call -o calls.csv` ·
    `yavio export --from 2026-01-01 --to 2026-02-01 -o january.parquet` ·
    `yavio export --type conversion | jq .conversion_value`
    """
    chosen = format_ or _EXTENSIONS.get(Path(output).suffix.lower(), Format.jsonl)
    if chosen is Format.parquet and output == STDOUT:
        raise typer.BadParameter("Parquet is binary: write it to a file with --output FILE.",
                                 param_hint="'--output'")
    start, end = _range(start, end, last)
    parquet = _pyarrow() if chosen is Format.parquet else None
    # The range is fixed here, `--to` now included, so every page asks for the same one.
    query = {"start": start.isoformat(), "end": end.isoformat(),
             "platforms": _names(platforms), "types": _names(types)}

    connection = Connection.for_home(home)
    progress = Progress(TextColumn("Exporting"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=errors,
                        disable=quiet or not errors.is_terminal)
    try:
        with connection.open() as client, progress:
            target = scope.project(client, connection, workspace, project)
            with _destination(output, binary=parquet is not None) as handle:
                writer = (_ParquetFile(handle, *parquet) if parquet else
                          _CsvFile(handle) if chosen is Format.csv else _JsonLinesFile(handle))
                count = _copy_pages(client, target["id"], query, writer, progress)
    except BrokenPipeError:
        # The reader left (`| head`): point stdout at nothing so Python's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    except OSError as error:  # no such folder, no permission, disk full
        raise fail(f"Cannot write {output}: {error.strerror or error}.") from None
    if not quiet:
        where = "stdout" if output == STDOUT else output
        errors.print(f"Exported {count:,} events to {where}.", markup=False,
                     highlight=False, soft_wrap=True)


def _range(start: datetime | None, end: datetime | None,
           last: timedelta | None) -> tuple[datetime, datetime]:
    if last is not None and start is not None:
        raise typer.BadParameter("give --from or --last, not both.", param_hint="'--last'")
    end = end or datetime.now(timezone.utc)
    start = start or end - (last or _span(DEFAULT_LAST))
    if start >= end:
        raise typer.BadParameter("the range ends before it starts.", param_hint="'--from'")
    return start, end


def _copy_pages(client: YavioClient, project_id: str, query: dict[str, Any],
                writer: _JsonLinesFile | _CsvFile | _ParquetFile, progress: Progress) -> int:
    """Every page of the export into `writer`, which is closed after the last; returns how
    many events there were."""
    task = progress.add_task("export", total=None)
    count, after = 0, None
    while True:
        page = client.events_page(project_id, after=after, limit=PAGE_SIZE, **query)
        if after is None:
            progress.update(task, total=page["total"])
        writer.write(page["events"])
        count += len(page["events"])
        progress.advance(task, len(page["events"]))
        after = page["next"]
        if after is None:
            writer.close()
            return count


def _names(values: list[str] | None) -> list[str]:
    return [name.strip() for value in values or () for name in value.split(",")
            if name.strip()]


def _pyarrow() -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, imported only for Parquet: the CLI runs without them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise fail("Parquet needs pyarrow: pip install 'yavio[server]' (or pip install "
                   "pyarrow), or export as jsonl or csv.") from None
    return pyarrow, pyarrow.parquet


@contextmanager
def _destination(output: str, *, binary: bool) -> Iterator[IO[Any]]:
    """stdout, or a temporary file beside `output` renamed to it once the block succeeds and
    deleted if it fails. Created readable by its owner only, like any tempfile: events may
    hold personal data."""
    if output == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(output).expanduser()
    text = {} if binary else {"encoding": "utf-8", "newline": ""}
    handle = tempfile.NamedTemporaryFile("wb" if binary else "w", delete=False,
                                         dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".part", **text)
    try:
        with handle:
            yield handle
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


class _JsonLinesFile:
    def __init__(self, handle: IO[str]):
        self._handle = handle

    def write(self, events: list[dict[str, Any]]) -> None:
        self._handle.writelines(json.dumps(event, ensure_ascii=False) + "\n"
                                for event in events)

    def close(self) -> None:
        pass


class _CsvFile:
    """A header with the columns of the first event (every event has them all), then one row
    per event; null is an empty cell, a JSON payload its compact JSON text."""

    def __init__(self, handle: IO[str]):
        self._rows = csv.writer(handle, lineterminator="\n")
        self._columns: list[str] | None = None

    def write(self, events: list[dict[str, Any]]) -> None:
        if events and self._columns is None:
            self._columns = list(events[0])
            self._rows.writerow(self._columns)
        self._rows.writerows([_cell(event.get(name)) for name in self._columns or ()]
                             for event in events)

    def close(self) -> None:
        pass


def _cell(value: Any) -> Any:
    """A CSV cell: empty for null, a number as it is, else `_text`."""
    if value is None:
        return ""
    return value if isinstance(value, (int, float)) else _text(value)


def _text(value: Any) -> str | None:
    """Text as it is, anything else (a JSON payload) as compact JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _ParquetFile:
    """One row group per page, typed by the wire contract: its integer and float fields as
    int64 and float64, times as UTC timestamps, the rest (ids, text, JSON payloads as JSON
    text) as strings. The schema is fixed from the first page's columns, not inferred from
    values, so a column empty in one export has the same type as in the next."""

    def __init__(self, handle: IO[bytes], pyarrow: Any, parquet: Any):
        self._handle, self._pa, self._pq = handle, pyarrow, parquet
        self._schema: Any = None
        self._writer: Any = None

    def write(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        if self._writer is None:
            self._schema = self._pa.schema([(name, self._type(name)) for name in events[0]])
            self._writer = self._pq.ParquetWriter(self._handle, self._schema)
        columns = {}
        for field in self._schema:
            values = [event.get(field.name) for event in events]
            if field.name in _TIME_COLUMNS:
                values = [datetime.fromisoformat(value) if value else None for value in values]
            elif self._pa.types.is_string(field.type):
                values = [_text(value) for value in values]
            columns[field.name] = values
        self._writer.write_table(self._pa.table(columns, schema=self._schema))

    def close(self) -> None:
        if self._writer is None:  # no event: a valid file with no rows
            self._pq.write_table(self._pa.table({}), self._handle)
        else:
            self._writer.close()

    def _type(self, name: str) -> Any:
        if name in _TIME_COLUMNS:
            return self._pa.timestamp("ms", tz="UTC")
        kind = _number_fields().get(name)
        return {"int": self._pa.int64(), "float": self._pa.float64()}.get(kind,
                                                                         self._pa.string())


@functools.cache
def _number_fields() -> dict[str, str]:
    """`int` or `float` for each number field of the wire contract's events."""
    kinds: dict[str, str] = {}
    for struct in get_args(Event):
        for field in msgspec.structs.fields(struct):
            kind = _number_kind(field_types.type_info(field.type))
            if kind is not None:
                kinds[field.name] = kind
    return kinds


def _number_kind(info: Any) -> str | None:
    if isinstance(info, field_types.Metadata):
        return _number_kind(info.type)
    if isinstance(info, (field_types.IntType, field_types.BoolType)):  # 0/1 flags as booleans
        return "int"
    if isinstance(info, field_types.FloatType):
        return "float"
    if isinstance(info, field_types.LiteralType):
        return "int" if all(isinstance(value, int) for value in info.values) else None
    if isinstance(info, field_types.UnionType):
        kinds = {_number_kind(member) for member in info.types
                 if not isinstance(member, field_types.NoneType)}
        if kinds == {"int"}:
            return "int"
        return "float" if kinds <= {"int", "float"} and kinds else None
    return None
