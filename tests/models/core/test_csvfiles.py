"""Spreadsheet files: encodings, line numbers, headers, and formula-safe writing."""

from __future__ import annotations

import csv
import io

import pytest

from models.core.csvfiles import decode, read_csv, safe_cell, write_csv
from models.core.errors import InputRejected

COLUMNS = ("name", "city", "amount")
HEADER = "name,city,amount\n"


def _read(raw: bytes, **kwargs: str) -> tuple[list[tuple[int, str]], list[str], str]:
    table, problems = read_csv(raw, columns=COLUMNS, required=("name",), **kwargs)
    rows = [(r.line, r.values["name"]) for r in table.records] if table else []
    return rows, [str(p) for p in problems], table.encoding if table else ""


# --- encodings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        ((HEADER + "Müller,Köln,1\n").encode("utf-8"), "utf-8"),
        ((HEADER + "Müller,Köln,1\n").encode("utf-8-sig"), "utf-8"),
        ((HEADER + "Müller,Köln,1\n").encode("utf-16"), "utf-16"),
    ],
)
def test_bom_and_utf8_are_read_as_such(raw: bytes, encoding: str) -> None:
    rows, problems, used = _read(raw)
    assert rows == [(2, "Müller")] and not problems and used == encoding


def test_windows_1252_is_detected_not_read_as_gb18030() -> None:
    raw = (HEADER + "Müller Präzision GmbH,Köln,1\nSchäfer Söhne KG,Düsseldorf,2\n").encode("cp1252")
    rows, problems, used = _read(raw)
    assert rows == [(2, "Müller Präzision GmbH"), (3, "Schäfer Söhne KG")]
    assert used == "cp1252" and not problems


def test_chinese_spreadsheet_export_is_detected() -> None:
    names = ["苏州精工五金制品有限公司", "杭州云栈软件科技有限公司", "深圳华芯电子有限公司"]
    raw = (HEADER + "".join(f"{n},苏州,1\n" for n in names)).encode("gb18030")
    rows, problems, used = _read(raw)
    assert [name for _, name in rows] == names and used == "gb18030"


def test_unsure_detection_refuses_showing_each_reading() -> None:
    # "è" is 0xE8: Lumière in Windows-1252, Lumičre in Windows-1250; both are plausible text.
    raw = (HEADER + "Atelier Lumière SARL,Paris,1\n").encode("cp1252")
    with pytest.raises(InputRejected) as caught:
        _read(raw)
    (problem,) = caught.value.problems
    assert problem.where == "encoding"
    assert "cannot tell the encoding" in problem.message
    assert "Lumière" in problem.message and "Lumičre" in problem.message


def test_a_named_encoding_is_used_strictly() -> None:
    raw = (HEADER + "Atelier Lumière SARL,Paris,1\n").encode("cp1252")
    assert _read(raw, encoding="cp1252")[0] == [(2, "Atelier Lumière SARL")]
    with pytest.raises(InputRejected, match="unknown encoding 'klingon'"):
        _read(raw, encoding="klingon")
    with pytest.raises(InputRejected) as caught:
        _read(raw, encoding="utf-8")
    assert str(caught.value.problems[0]) == "line 2: not valid utf-8: cannot read byte 0xE8"


def test_bytes_no_spreadsheet_encoding_reads_are_refused() -> None:
    with pytest.raises(InputRejected, match="not UTF-8"):
        decode(HEADER.encode() + b"\x98\x81\x90\n")  # undefined in every one of them


# --- records and line numbers ----------------------------------------------------------------


def test_records_are_numbered_by_the_line_they_start_on() -> None:
    raw = (HEADER + '\n\nA,x,1\n"B\nsecond line",y,2\n,,\nC,z,3\r\n').encode()
    rows, problems, _ = _read(raw)
    assert rows == [(4, "A"), (5, "B\nsecond line"), (8, "C")] and not problems


def test_a_cell_past_the_field_limit_is_a_problem_not_a_traceback() -> None:
    raw = (HEADER + "A,x,1\n" + "B," + "y" * 200_000 + ",2\nC,z,3\n").encode()
    rows, problems, _ = _read(raw)
    assert rows == [(2, "A")]
    assert problems == ["line 3: a cell is longer than 131,072 characters; nothing after it was read"]


def test_extra_cells_and_values_under_unnamed_columns_are_refused() -> None:
    raw = b"name,city,amount,\nA,x,1,\nB,y,2,oops\nC,z,3,,4\n"
    _, problems, _ = _read(raw)
    assert problems == [
        "line 3: a value in column 4, which has no name",
        "line 4: 5 cells, but the header has 4 columns",
    ]


# --- header ----------------------------------------------------------------------------------


def test_a_duplicated_column_is_refused() -> None:
    _, problems, _ = _read(b"name,city,name\nA,x,B\n")
    assert problems == ["header: column 'name' appears twice (columns 1 and 3)"]


def test_unknown_and_missing_columns_are_named() -> None:
    _, problems, _ = _read(b"city,colour\nx,red\n")
    assert problems == ["header: unknown column 'colour'", "header: missing column 'name'"]


@pytest.mark.parametrize(("separator", "word"), [(";", "semicolons"), ("\t", "tabs")])
def test_another_delimiter_gets_one_hint(separator: str, word: str) -> None:
    raw = HEADER.replace(",", separator).encode() + f"A{separator}x{separator}1\n".encode()
    _, problems, _ = _read(raw)
    assert len(problems) == 1 and f"separated by {word}, not commas" in problems[0]


def test_an_empty_file_is_refused() -> None:
    assert _read(b"")[1] == ["file: empty file: no header row"]
    assert _read(b"\n\n")[1] == ["file: empty file: no header row"]


# --- writing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-12.50", "-12.50"),  # a plain number stays a number
        (-3, "-3"),
        ("Müller GmbH", "Müller GmbH"),
        (None, ""),
    ],
)
def test_safe_cell_neutralizes_formulas(value: object, written: str) -> None:
    assert safe_cell(value) == written


def test_write_csv_neutralizes_every_cell_and_reads_back() -> None:
    stream = io.StringIO()
    write_csv(stream, ["name", "=note"], [["=1+1", "a,b"], ["Acme", "@x"]])
    assert list(csv.reader(io.StringIO(stream.getvalue()))) == [
        ["name", "'=note"],
        ["'=1+1", "a,b"],
        ["Acme", "'@x"],
    ]


def test_only_the_shared_helper_writes_csv() -> None:
    """Every CSV Tandem writes, now or later, goes through write_csv (so through safe_cell)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    writers = re.compile(r"csv\.(writer|DictWriter)\(|\.writerows?\(")
    found = [
        str(path.relative_to(root))
        for package in ("models", "notifications", "tasks", "flows", "deployments")
        for path in (root / package).rglob("*.py")
        if writers.search(path.read_text(encoding="utf-8"))
    ]
    assert found == ["models/core/csvfiles.py"]
