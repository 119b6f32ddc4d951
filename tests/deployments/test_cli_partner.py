"""`tandem partner`, `contact` and `relationship list` with hostile names, odd files and big numbers,
driven as a user would: plain text out, exit 0 or 1 with every reason, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from deployments.cli import app
from deployments.cli import common as cli_common
from tests.support import factories as f
from tests.support.factories import partner_row_of_older_tables

runner = CliRunner()

HOSTILE = [
    "Acme [/x] GmbH",
    "[link=http://evil.example]Legit AG[/link]",
    "[bold red]Loud[/] :thumbs_up: Ltd",
    '=HYPERLINK("http://evil.example") SA',
]


def tandem(*args: str) -> tuple[int, str]:
    """Run `tandem ARGS`; return the exit code and the output (stdout and stderr)."""
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def tandem_json(*args: str) -> dict:
    code, out = tandem(*args, "--json")
    assert code == 0, out
    return json.loads(out)


def add(name: str, regid: str, *extra: str) -> tuple[int, str]:
    return tandem(
        "partner", "add", "--name", name, "--registration-id", regid, "--country", "DE",
        "--industry", "other", "--employees", "5", "--revenue", "100000", "--currency", "EUR", *extra,
    )  # fmt: skip


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the console room, so table cells are not wrapped and can be compared whole."""
    monkeypatch.setattr(cli_common.console, "width", 300)


def test_hostile_names_are_printed_as_stored_by_every_listing(tandem_env: str, wide: None) -> None:
    for n, name in enumerate(HOSTILE, start=1):
        assert add(name, f"HRB {n}")[0] == 0
    code, out = tandem(
        "relationship", "open", "HRB 2", "--manager", "rm@ours.example", "--sponsor", "vp@ours.example",
        "--partner-contact", "boss@legit.example", "--deputy", "dep@ours.example",
    )  # fmt: skip
    assert code == 0, out
    code, out = tandem("contact", "add", "x@legit.example", "--side", "partner", "--partner", "HRB 1",
                       "--name", "[/b]Eve")  # fmt: skip
    assert code == 0, out
    outputs = {
        "partner list": tandem("partner", "list"),
        "partner show 1": tandem("partner", "show", "1"),
        "partner show 2": tandem("partner", "show", "HRB 2"),
        "partner show 3": tandem("partner", "show", "3"),
        "partner classify": tandem("partner", "classify", "HRB 1"),
        "contact list": tandem("contact", "list"),
        "relationship list": tandem("relationship", "list"),
        "relationship show": tandem("relationship", "show", "1"),
        "relationship timeline": tandem("relationship", "timeline", "1"),
    }
    for command, (code, out) in outputs.items():
        assert code == 0, (command, out)
    listing = outputs["partner list"][1]
    for name in HOSTILE:
        assert name in listing  # not read as markup, not an emoji, not a link
    assert HOSTILE[0] in outputs["partner show 1"][1] and HOSTILE[1] in outputs["partner show 2"][1]
    assert HOSTILE[2] in outputs["partner show 3"][1]
    assert HOSTILE[1] in outputs["relationship list"][1] and HOSTILE[1] in outputs["relationship show"][1]
    assert "[/b]Eve" in outputs["contact list"][1]
    assert "\x1b]8;" not in "".join(out for _, out in outputs.values())  # no terminal hyperlink


def test_a_stored_partner_that_cannot_be_classified_breaks_no_listing(tandem_env: str, wide: None) -> None:
    from models.core.db import session_scope

    assert add("Good GmbH", "HRB 1")[0] == 0
    with session_scope() as session:
        partner_row_of_older_tables(session)
    code, out = tandem("partner", "list")
    assert code == 0 and "Good GmbH" in out
    assert "unclassifiable: currency: unknown currency 'AUD'" in out
    code, out = tandem("partner", "show", "ACN 1")
    assert code == 0 and "size: unclassifiable: currency" in out
    assert tandem_json("partner", "show", "ACN 1")["size"] is None
    unclassifiable = tandem_json("partner", "list", "--class", "unclassifiable")["items"]
    assert [p["legal_name"] for p in unclassifiable] == ["Old Row Pty"]
    code, out = tandem("partner", "classify", "ACN 1")
    assert code == 1 and "unknown currency 'AUD'" in out
    code, out = tandem(
        "relationship", "open", "ACN 1", "--manager", "rm@o.example", "--sponsor", "vp@o.example",
        "--partner-contact", "p@old.example",
    )  # fmt: skip
    assert code == 1 and "unknown currency 'AUD'" in out
    assert tandem_json("relationship", "list")["total"] == 0


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("--revenue", "99999999999999999999999"), "--revenue: Input should be less than or equal to"),
        (("--employees", "100000000"), "--employees: Input should be less than or equal to 10000000"),
        (("--currency", "AUD"), "--currency: no exchange rate for AUD"),
        (("--country", "XX"), "--country: country must be an ISO 3166 two-letter code"),
        (("--name", "Nul\x00Byte"), "--name: must not contain the control character U+0000"),
    ],
)
def test_partner_add_bounds_every_field(tandem_env: str, flags: tuple[str, str], named: str) -> None:
    args = {"--name": "X GmbH", "--country": "DE", "--currency": "EUR", "--employees": "5", "--revenue": "1"}
    args[flags[0]] = flags[1]
    code, out = tandem(
        "partner", "add", "--registration-id", "R1", "--industry", "other",
        *[part for pair in args.items() for part in pair],
    )  # fmt: skip
    assert code == 1 and named in out, out
    assert tandem_json("partner", "list")["total"] == 0


def test_registration_ids_match_in_any_case(tandem_env: str) -> None:
    assert add("A GmbH", "hrb 701234")[0] == 0
    code, out = add("B GmbH", "HRB  701234")
    assert code == 1 and "already exists" in out
    assert tandem_json("partner", "show", "Hrb 701234")["registration_id"] == "HRB 701234"


def test_classify_refuses_an_unknown_language(tandem_env: str) -> None:
    assert add("A GmbH", "HRB 1")[0] == 0
    code, out = tandem("partner", "classify", "HRB 1", "--lang", "fr")
    assert code == 1 and "--lang: unknown language 'fr'" in out
    code, out = tandem("partner", "classify", "HRB 1", "--lang", "zh-CN")
    assert code == 0 and "微型企业" in out


def test_listing_pages_filters_and_says_how_many_matched(tandem_env: str) -> None:
    for n in range(1, 4):
        assert add(f"Firma {n}", f"HRB {n}")[0] == 0
    code, out = tandem("partner", "list", "--limit", "2", "--offset", "1")
    assert code == 0 and "showing 2-3 of 3 partners" in out and "Firma 1" not in out
    page = tandem_json("partner", "list", "--limit", "1", "--search", "firma 2")
    assert (page["total"], page["limit"], page["offset"]) == (1, 1, 0)
    assert [p["legal_name"] for p in page["items"]] == ["Firma 2"]
    assert tandem("partner", "list", "--search", "nobody")[1].strip() == "no partners match"
    assert tandem("partner", "list", "--class", "tiny")[0] == 2  # not a size class: a usage error
    code, out = tandem("partner", "list", "--country", "XX")
    assert code == 1 and "--country" in out
    assert tandem_json("relationship", "list", "--stage", "active", "--tier", "light")["total"] == 0


HEADER = "legal_name,registration_id,country,industry,employees,annual_revenue,currency\n"


def test_import_names_the_encoding_flag_when_unsure_and_uses_it(tandem_env: str, tmp_path: Path) -> None:
    path = tmp_path / "fr.csv"
    path.write_bytes((HEADER + "Atelier Lumière SARL,RCS 1,FR,other,6,900000,EUR\n").encode("cp1252"))
    code, out = tandem("partner", "import", str(path))
    assert code == 1 and "--encoding: cannot tell the encoding" in out
    code, out = tandem("partner", "import", str(path), "--encoding", "cp1252")
    assert code == 0 and "imported fr.csv (cp1252): 1 new" in out
    assert tandem_json("partner", "list")["items"][0]["legal_name"] == "Atelier Lumière SARL"


def test_reimport_summarizes_and_verbose_lists_each_row(tandem_env: str, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(HEADER + "A GmbH,HRB 1,DE,other,5,100000,EUR\nB GmbH,HRB 2,DE,other,5,100000,EUR\n")
    assert tandem("partner", "import", str(path))[0] == 0
    code, out = tandem("partner", "import", str(path))
    assert code == 0 and out.strip() == "imported p.csv (utf-8): 2 unchanged"
    path.write_text(HEADER + "A GmbH,HRB 1,DE,other,6,100000,EUR\nB GmbH,HRB 2,DE,other,5,100000,EUR\n")
    code, out = tandem("partner", "import", str(path), "--dry-run", "--verbose")
    assert code == 0
    assert out.splitlines() == [
        "line 2: updated DE:HRB 1 A GmbH (employees 5 -> 6)",
        "line 3: unchanged DE:HRB 2 B GmbH",
        "would import p.csv (utf-8): 1 updated, 1 unchanged",
    ]
    summary = tandem_json("partner", "import", str(path))
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (0, 1, 1)


def test_payment_import_names_the_encoding_flag(tandem_env: str, tmp_path: Path) -> None:
    path = tmp_path / "pay.csv"
    body = "invoice_id,relationship,delivered_on,invoiced_on,amount,currency,paid_on\n"
    path.write_bytes((body + "Crème-1,1,2026-09-01,2026-09-02,10,EUR,\n").encode("cp1252"))
    code, out = tandem("payment", "import", str(path))
    assert code == 1 and "--encoding: cannot tell the encoding" in out
    code, out = tandem("payment", "import", str(path), "--encoding", "cp1252")
    assert code == 1 and "line 2, column relationship: no relationship '1'" in out


@pytest.mark.parametrize(
    "command",
    [
        ("partner", "show", "99999999999999999999999"),
        ("partner", "classify", "١٢"),  # Arabic-Indic digits are not an id
        ("relationship", "show", "99999999999999999999999"),
        ("payment", "list", "99999999999999999999999"),
    ],
)
def test_a_reference_too_big_for_an_id_is_not_found(tandem_env: str, command: tuple[str, ...]) -> None:
    code, out = tandem(*command)
    assert code == 1 and "no " in out


@pytest.mark.parametrize(
    "command",
    [
        ("partner", "list", "--offset", "99999999999999999999"),
        ("partner", "list", "--limit", "99999999999999999999"),
        ("relationship", "list", "--offset", "99999999999999999999"),
        ("checklist", "done", "99999999999999999999", "--on-behalf-of", "a@b.example", "--reason", "t"),
        ("outbox", "retry", "99999999999999999999"),
    ],
)
def test_numbers_past_any_id_are_usage_errors(tandem_env: str, command: tuple[str, ...]) -> None:
    code, out = tandem(*command)
    assert code == 2 and "999999999999999999" in out


def test_partners_with_a_relationship_of_a_tier_and_stage(session: Session) -> None:
    light = f.relationship(session, partner_name="Light Active Co", tier="light", stage="active")
    f.relationship(session, partner_name="Standard Exiting Co", tier="standard", stage="exiting")
    f.partner(session, name="Loose Partner")
    session.commit()
    found = tandem_json("partner", "list", "--tier", "light", "--stage", "active")["items"]
    assert [p["id"] for p in found] == [light.partner_id]
    assert tandem_json("partner", "list", "--tier", "light", "--stage", "exiting")["total"] == 0
    assert (
        tandem_json("partner", "list", "--stage", "exiting")["items"][0]["legal_name"]
        == "Standard Exiting Co"
    )
    assert tandem("partner", "list", "--tier", "platinum")[0] == 2  # not a tier: a usage error
