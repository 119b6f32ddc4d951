"""Both importers against any bytes and any CSV shape (Hypothesis): exit 0 or 1, never a traceback,
nothing written on 1, and the listings still work afterwards."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st
from sqlmodel import func, select
from typer.testing import CliRunner

from deployments.cli import app
from models.core.db import session_scope
from models.partners.importer import COLUMNS as PARTNER_COLUMNS
from models.payments.ledger import COLUMNS as PAYMENT_COLUMNS
from models.tables import AuditEvent, Contact, Partner, Payment

runner = CliRunner()

NUMBERS = st.one_of(
    st.integers(min_value=-10, max_value=10**25).map(str),
    st.sampled_from(["", "NaN", "inf", "1e30", "1,5", "0x10", "١٢"]),  # the last: Arabic-Indic digits
)
TEXT = st.text(max_size=30)
CELLS: dict[str, st.SearchStrategy[str]] = {
    "legal_name": st.one_of(TEXT, st.sampled_from(["Acme [/x] GmbH", "=1+1", "Nul\x00", "Müller AG"])),
    "registration_id": st.one_of(
        TEXT, st.sampled_from(["HRB 1", "hrb 1", "91320500MA1JG0001G", "91320500MA1JG0001A", "DE123456789"])
    ),
    "country": st.one_of(st.text(max_size=3), st.sampled_from(["DE", "CN", "XX", "éé", "de"])),
    "industry": st.one_of(TEXT, st.sampled_from(["industry", "construction", "other", "software_it"])),
    "currency": st.one_of(st.text(max_size=4), st.sampled_from(["EUR", "CNY", "AUD", "usd"])),
    "preferred_language": st.sampled_from(["en", "zh-CN", "fr", "", "EN"]),
    "contact_language": st.sampled_from(["en", "zh-CN", "fr", ""]),
    "contact_email": st.one_of(st.sampled_from(["", "a@b.example", "bad", "A@B.EXAMPLE"]), TEXT),
    "contact_channels": st.sampled_from(["", "json://127.0.0.1:9/x", "nosuch://x", "mailto://"]),
    "invoice_id": st.one_of(TEXT, st.sampled_from(["INV-1", "inv-1", "X\x00"])),
    "relationship": st.sampled_from(["1", "r-1", "nope", "", "99999999999999999999999"]),
    "delivered_on": st.sampled_from(["2026-09-01", "2026-13-01", "", "01/09/2026"]),
    "invoiced_on": st.sampled_from(["2026-09-02", "", "yesterday"]),
    "paid_on": st.sampled_from(["", "2026-10-01", "2026-08-01", "9999-12-31"]),
    "amount": st.one_of(NUMBERS, st.sampled_from(["10.00", "1.005", "1e30", "NaN"])),
}
# What a well-filled spreadsheet holds, so that some files import (and the registry then grows).
VALID: dict[str, st.SearchStrategy[str]] = {
    "legal_name": st.sampled_from(["Acme [/x] GmbH", "[link=http://x.example]Legit AG[/link]", "小微公司"]),
    "registration_id": st.sampled_from(["HRB 1", "hrb 2", "HRB 3"]),
    "country": st.just("DE"),
    "industry": st.sampled_from(["other", "industry"]),
    "employees": st.integers(min_value=0, max_value=500).map(str),
    "annual_revenue": st.integers(min_value=0, max_value=10**9).map(str),
    "currency": st.sampled_from(["EUR", "CNY"]),
    "total_assets": st.sampled_from(["", "1000000"]),
    "preferred_language": st.sampled_from(["en", "zh-CN"]),
    "contact_email": st.sampled_from(["", "a@p.example", "b@p.example"]),
    "invoice_id": st.sampled_from(["INV-1", "INV-2", "=1+1"]),
    "relationship": st.just("r-1"),
    "delivered_on": st.just("2026-09-01"),
    "invoiced_on": st.just("2026-09-02"),
    "amount": st.sampled_from(["10.00", "99.5"]),
    "paid_on": st.sampled_from(["", "2026-10-01"]),
}
ENCODINGS = st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "gb18030", "cp1252", "utf-16"])


@st.composite
def csv_files(draw: st.DrawFn, columns: tuple[str, ...]) -> bytes:
    """A CSV file of any shape: a shuffled header (some unknown, some twice), rows of any cells."""
    header = draw(st.lists(st.sampled_from([*columns, "colour", ""]), min_size=1, max_size=len(columns) + 2))
    rows = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        cells = [draw(CELLS.get(name, TEXT)) for name in header]
        rows.append(cells + draw(st.lists(TEXT, max_size=1)))  # sometimes one cell too many
    return _saved(draw, [header, *rows], delimiter=draw(st.sampled_from([",", ";", "\t"])))


@st.composite
def near_valid_files(draw: st.DrawFn, columns: tuple[str, ...]) -> bytes:
    """A well-formed file whose cells are plausible but one in twenty: many import, some do not."""
    def cell(column: str) -> str:
        if draw(st.integers(min_value=0, max_value=19)):
            return draw(VALID.get(column, st.just("")))  # an optional column left empty
        return draw(CELLS.get(column, TEXT))

    rows = [[cell(c) for c in columns] for _ in range(draw(st.integers(min_value=1, max_value=3)))]
    return _saved(draw, [list(columns), *rows], delimiter=",")


def _saved(draw: st.DrawFn, rows: list[list[str]], *, delimiter: str) -> bytes:
    """Save rows as a spreadsheet program might: some encoding, some line ends."""
    stream = io.StringIO()
    csv.writer(stream, delimiter=delimiter).writerows(rows)
    text = stream.getvalue()
    if draw(st.booleans()):
        text = text.replace("\r\n", draw(st.sampled_from(["\n", "\r", "\n\n"])))
    return text.encode(draw(ENCODINGS), errors="replace")


def files(columns: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """Any bytes, a CSV file of any shape, or one close to valid."""
    return st.one_of(st.binary(max_size=400), csv_files(columns), near_valid_files(columns))


def _stored() -> tuple[object, ...]:
    """Return how many rows each table has and when its last row changed."""
    with session_scope() as session:
        counts = [
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Partner, Contact, Payment, AuditEvent)
        ]
        changed = [session.exec(select(func.max(t.updated_at))).one() for t in (Partner, Contact, Payment)]
    return (*counts, *changed)


def _lists() -> None:
    for listing in (["partner", "list"], ["partner", "list", "--json"], ["relationship", "list"]):
        shown = runner.invoke(app, listing)
        assert shown.exit_code == 0 and shown.exception is None, shown.output


def _import(path: Path, raw: bytes, command: str) -> None:
    """Import a file: exit 0 or 1, no traceback; on 1 nothing changed, on 0 the listings still work."""
    path.write_bytes(raw)
    before = _stored()
    result = runner.invoke(app, [command, "import", str(path)])
    assert result.exit_code in (0, 1), result.output
    event(f"exit {result.exit_code}")  # shown by --hypothesis-show-statistics
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    if result.exit_code == 1:
        assert _stored() == before, result.output  # so the listings show what they showed before
    else:
        _lists()


def test_partner_import_survives_any_file(schema: str, tmp_path: Path) -> None:
    @given(raw=files(PARTNER_COLUMNS))
    def check(raw: bytes) -> None:
        _import(tmp_path / "partners.csv", raw, "partner")

    check()
    _lists()


def test_payment_import_survives_any_file(schema: str, tmp_path: Path) -> None:
    code = runner.invoke(
        app,
        ["partner", "add", "--name", "P", "--registration-id", "R-1", "--country", "DE", "--industry",
         "other", "--employees", "3", "--revenue", "100", "--currency", "EUR"],
    ).exit_code  # fmt: skip
    opened = runner.invoke(
        app,
        ["relationship", "open", "R-1", "--manager", "m@o.example", "--sponsor", "s@o.example",
         "--partner-contact", "p@p.example", "--key", "r-1"],
    )  # fmt: skip
    assert code == 0 and opened.exit_code == 0, opened.output

    @given(raw=files(PAYMENT_COLUMNS))
    def check(raw: bytes) -> None:
        _import(tmp_path / "payments.csv", raw, "payment")

    check()
    _lists()
