"""Spreadsheet files (CSV): read one for an import, write one for an export, safely both ways.

Reading takes bytes as a person saved them from a spreadsheet program:
- the encoding is a byte order mark's, else strict UTF-8, else the one the person named, else the one
  charset-normalizer finds among the encodings spreadsheet programs write in Tandem's markets; when
  two of those read the file differently, the file is refused with both readings shown (a wrong
  guess would store mojibake for ever);
- every record is numbered by the file line it starts on (blank lines and cells that span lines
  included), so a problem points at the line an editor shows;
- the header must name known columns, each once; a file separated by semicolons or tabs gets a hint.

Writing neutralizes every text cell a spreadsheet would run as a formula (CSV injection).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from models.core.errors import InputRejected, Problem

# What spreadsheet programs save as "CSV" in Tandem's markets when not asked for UTF-8: Chinese
# (simplified, traditional), then Windows' Western, Central European, Cyrillic, Greek and Baltic pages.
SPREADSHEET_ENCODINGS = ("gb18030", "big5", "cp1252", "cp1250", "cp1251", "cp1253", "cp1257")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DETECTION_SAMPLE = 256 * 1024  # bytes of the lines that are not ASCII: enough to tell, fast to read
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs"}
_FIELD_LIMIT = csv.field_size_limit()


@dataclass(frozen=True)
class Record:
    """One data record: the file line it starts on and its cells by column name (trimmed)."""

    line: int
    values: dict[str, str]


@dataclass
class CsvTable:
    """A file's data records, in file order, and the encoding it was read with."""

    encoding: str
    records: list[Record] = field(default_factory=list)


def read_csv(
    raw: bytes, *, columns: Sequence[str], required: Sequence[str], encoding: str | None = None
) -> tuple[CsvTable | None, list[Problem]]:
    """Decode and parse a spreadsheet export: its records (None if unreadable) and every problem."""
    text, used = decode(raw, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    records = _records(reader, problems)
    first = next(records, None)
    if first is None:
        return None, problems or [Problem("file", "empty file: no header row")]
    header = [name.strip() for name in first[1]]
    problems += header_problems(header, columns=columns, required=required)
    if problems:
        return None, problems
    table = CsvTable(encoding=used)
    for line, cells in records:
        values, row_problems = _values(line, cells, header)
        problems += row_problems
        table.records.append(Record(line, values))
    return table, problems


def decode(raw: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Return the text of a file and the encoding it was read with, or refuse it."""
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise InputRejected([Problem("encoding", f"unknown encoding {encoding!r}")]) from None
        return _strict(raw, codec).removeprefix("\ufeff"), codec
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return _strict(raw, codec).removeprefix("\ufeff"), codec.removesuffix("-sig")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return _detect(raw)


def _strict(raw: bytes, codec: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not valid {codec}: cannot read byte 0x{raw[exc.start]:02X}"
        raise InputRejected([Problem(f"line {line}", message)], summary="file refused") from None


def _detect(raw: bytes) -> tuple[str, str]:
    """Find the one reading of the file that the candidate encodings agree on, or refuse."""
    from charset_normalizer import from_bytes  # loaded only for a file that is not UTF-8

    # ASCII lines (the header, numbers, codes) read the same in every candidate and only dilute
    # the detector's statistics; the lines with other bytes are the evidence.
    sample = bytearray()
    for line in raw.splitlines():
        if not line.isascii():
            sample += line + b"\n"
            if len(sample) > _DETECTION_SAMPLE:
                break
    readings: dict[str, str] = {}  # text -> encoding, the detector's best reading first
    for match in from_bytes(bytes(sample), cp_isolation=list(SPREADSHEET_ENCODINGS)):
        try:
            text = raw.decode(match.encoding)
        except UnicodeDecodeError:
            continue
        readings.setdefault(text, match.encoding)
    if len(readings) == 1:
        text, codec = next(iter(readings.items()))
        return text, _usual_name(raw, text, codec)
    if not readings:
        message = (
            "not UTF-8, and not readable in any encoding spreadsheet programs write here "
            f"({', '.join(SPREADSHEET_ENCODINGS)}): name its encoding, or save it as CSV UTF-8"
        )
    else:
        message = f"cannot tell the encoding: {_disagreement(readings)}; name the right encoding"
    raise InputRejected([Problem("encoding", message)], summary="file refused")


def _usual_name(raw: bytes, text: str, codec: str) -> str:
    """Of the encodings that read the file alike (German in cp1250 and cp1252), name the most usual."""
    for candidate in SPREADSHEET_ENCODINGS:
        try:
            if raw.decode(candidate) == text:
                return candidate
        except UnicodeDecodeError:
            continue
    return codec


def _disagreement(readings: dict[str, str]) -> str:
    """Show the first line the candidate readings differ on, as each one reads it."""
    split = {codec: text.splitlines() for text, codec in list(readings.items())[:3]}
    lines = list(split.values())
    index = next(
        (i for i in range(min(map(len, lines))) if len({ls[i] for ls in lines}) > 1),
        min(map(len, lines)),
    )
    shown = [
        f"{codec} reads it {_clip(ls[index] if index < len(ls) else '')!r}" for codec, ls in split.items()
    ]
    return f"line {index + 1}: " + ", ".join(shown)


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _records(reader: Any, problems: list[Problem]) -> Iterator[tuple[int, list[str]]]:
    """Yield (first file line, cells) of each record that is not blank; stop at a broken one."""
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(Problem(f"line {start}", _csv_message(exc)))
            return
        if any(cell.strip() for cell in cells):
            yield start, cells


def _csv_message(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a cell is longer than {_FIELD_LIMIT:,} characters; nothing after it was read"
    return f"cannot read the file from here on: {text}"


def header_problems(header: list[str], *, columns: Sequence[str], required: Sequence[str]) -> list[Problem]:
    """Check a header: known columns, each once, the required ones present."""
    hint = _delimiter_hint(header, columns)
    if hint is not None:
        return [hint]
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name:
            continue  # a column without a name may stay empty; a value under it is refused
        if name in first:
            problems.append(
                Problem("header", f"column {name!r} appears twice (columns {first[name]} and {position})")
            )
            continue
        first[name] = position
        if name not in columns:
            problems.append(Problem("header", f"unknown column {name!r}"))
    problems += [Problem("header", f"missing column {c!r}") for c in required if c not in first]
    return problems


def _delimiter_hint(header: list[str], columns: Sequence[str]) -> Problem | None:
    """Recognize a file whose cells are separated by another character than a comma."""
    for delimiter, name in _OTHER_DELIMITERS.items():
        parts = [part.strip() for cell in header for part in cell.split(delimiter)]
        if any(delimiter in cell for cell in header) and any(part in columns for part in parts):
            return Problem(
                "header",
                f"the cells seem separated by {name}, not commas: save the file as "
                "\"CSV UTF-8 (comma delimited)\"",
            )
    return None


def _values(line: int, cells: list[str], header: list[str]) -> tuple[dict[str, str], list[Problem]]:
    """Map a record's cells to the header's names; refuse a value with no named column."""
    problems = []
    if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
        message = f"{len(cells)} cells, but the header has {len(header)} columns"
        problems.append(Problem(f"line {line}", message))
    values: dict[str, str] = {}
    for position, name in enumerate(header):
        cell = cells[position].strip() if position < len(cells) else ""
        if name:
            values[name] = cell
        elif cell:
            problems.append(Problem(f"line {line}", f"a value in column {position + 1}, which has no name"))
    return values, problems


# --- writing ---------------------------------------------------------------------------------

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV injection");
# tab and carriage return are stripped by some before they look.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def safe_cell(value: object) -> str:
    """Return a value as CSV cell text a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text  # the apostrophe is how spreadsheets mark a cell as text
    return text


def write_csv(stream: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a header and rows as CSV, every cell neutralized by safe_cell."""
    writer = csv.writer(stream, lineterminator="\r\n")  # RFC 4180, as spreadsheets write it
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
