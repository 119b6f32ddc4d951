"""Partner import: whole-file validation as `partner add` validates, every problem by file line,
nothing written on error, and a re-import that updates what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from models.core.errors import InputRejected
from models.partners.importer import import_partners
from models.tables import AuditEvent, Contact, Partner

HEADER = (
    "legal_name,registration_id,country,industry,employees,annual_revenue,currency,total_assets,"
    "preferred_language,contact_name,contact_email,contact_language,contact_channels"
)
WANG = "苏州精工五金制品有限公司,91320500MA1JG0001G,CN,industry,8,2500000,CNY,1800000,zh-CN,王建国,wang@jg.example.cn,zh-CN,wecombot://KEY123456"
ANNA = "Müller GmbH,HRB 1,DE,industry,42,7800000,EUR,,en,Anna,anna@m.example.de,en,"
GOOD = [WANG, ANNA]


def _csv(tmp_path: Path, rows: list[str], *, encoding: str = "utf-8", name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def _counts(session: Session) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.exec(select(func.count()).select_from(t)).one() for t in (Partner, Contact, AuditEvent)
    )


def _problems(session: Session, tmp_path: Path, rows: list[str]) -> list[str]:
    before = _counts(session)
    with pytest.raises(InputRejected) as caught:
        import_partners(session, _csv(tmp_path, rows), actor="test")
    session.rollback()
    assert _counts(session) == before
    return [str(p) for p in caught.value.problems]


def test_good_file_imports_partners_contacts_and_their_size(session: Session, tmp_path: Path) -> None:
    plan = import_partners(session, _csv(tmp_path, GOOD), actor="test")
    session.commit()
    assert plan.summary() == "2 new"
    stored = {p.legal_name: p for p in session.exec(select(Partner))}
    assert set(stored) == {"苏州精工五金制品有限公司", "Müller GmbH"}
    assert stored["Müller GmbH"].size_class == "small" and stored["Müller GmbH"].size_scheme == "EU-2003-361"
    assert stored["苏州精工五金制品有限公司"].size_class == "micro"
    wang = session.exec(select(Contact).where(Contact.email == "wang@jg.example.cn")).one()
    assert wang.language == "zh-CN" and wang.side == "partner"
    assert wang.partner_id == stored["苏州精工五金制品有限公司"].id
    assert wang.channels_masked and "KEY123456" not in wang.channels_masked[0]
    assert "KEY123456" not in (wang.channels_encrypted or "")
    actions = sorted(session.exec(select(AuditEvent.action)))
    assert actions == ["contact.created"] * 2 + ["partner.created"] * 2 + ["partner.imported"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_spreadsheet_encodings_import_chinese_names(session: Session, tmp_path: Path, encoding: str) -> None:
    rows = [
        WANG,
        WANG.replace("苏州精工五金制品", "杭州云栈软件科技")
        .replace("91320500MA1JG0001G", "91330100MA2YY0002L")
        .replace("wang@", "li@"),
    ]
    plan = import_partners(session, _csv(tmp_path, rows, encoding=encoding), actor="test")
    session.commit()
    assert plan.encoding == encoding.removesuffix("-sig")
    assert set(session.exec(select(Partner.legal_name))) == {
        "苏州精工五金制品有限公司",
        "杭州云栈软件科技有限公司",
    }


def test_windows_1252_names_are_stored_as_written(session: Session, tmp_path: Path) -> None:
    rows = [ANNA.replace("Müller GmbH", "Müller Präzision GmbH")]
    plan = import_partners(session, _csv(tmp_path, rows, encoding="cp1252"), actor="test")
    session.commit()
    assert plan.encoding == "cp1252"
    assert session.exec(select(Partner.legal_name)).one() == "Müller Präzision GmbH"


def test_every_kind_of_bad_row_is_reported_by_line_and_nothing_is_written(
    session: Session, tmp_path: Path
) -> None:
    import_partners(
        session, _csv(tmp_path, ["Stored Ltd,DUP-DB,DE,industry,5,100,EUR,,en,,x@ours.example,,"]), actor="t"
    )
    session.commit()
    rows = [
        *GOOD,  # lines 2 and 3 are good
        ",R4,DE,industry,5,100,EUR,,en,,,,",  # line 4: missing legal name
        "Bad Industry,R5,DE,mining-on-mars,5,100,EUR,,en,,,,",
        "Negative,R6,DE,industry,-3,100,EUR,,en,,,,",
        "Not a number,R7,DE,industry,five,100,EUR,,en,,,,",
        "Bad Email,R8,DE,industry,5,100,EUR,,en,X,not-an-email,en,",
        "Dup In File,hrb   1,DE,industry,5,100,EUR,,en,,,,",  # same id as line 3, other case and spaces
        "Bad Language,R10,DE,industry,5,100,EUR,,fr,,,,",
        "Bad URL,R11,DE,industry,5,100,EUR,,en,Y,y@x.example.cn,en,nosuchscheme://abc",
        "Huge,R12,DE,industry,5,99999999999999999999,EUR,,en,,,,",  # line 12: 20 digits
        "Aussie,R13,DE,industry,5,100,AUD,,en,,,,",  # no rate: could not be sized
        "Nowhere,R14,XX,industry,5,100,EUR,,en,,,,",
        "Accents,R15,éé,industry,5,100,EUR,,en,,,,",
        "建筑公司,91310000MA00000016,CN,construction,5,100,CNY,,zh-CN,,,,",  # needs total assets
        "Wrong Check,91320500MA1JG0001A,CN,industry,5,100,CNY,1,zh-CN,,,,",
        "Nul\x00Name,R18,DE,industry,5,100,EUR,,en,,,,",
        "Ours,R19,DE,industry,5,100,EUR,,en,,x@ours.example,,",  # an email already used
        "Bad VAT,DE123456789,DE,industry,5,100,EUR,,en,,,,",
    ]
    problems = _problems(session, tmp_path, rows)
    expected = [
        ("line 4, column legal_name", "missing value"),
        ("line 5, column industry", "unknown industry"),
        ("line 6, column employees", "greater than or equal to 0"),
        ("line 7, column employees", "integer"),
        ("line 8, column contact_email", "not a valid email"),
        ("line 9, column registration_id", "duplicate registration id 'HRB 1' (also line 3)"),
        ("line 10, column preferred_language", "language must be one of"),
        ("line 11, column contact_channels", "malformed Apprise URL"),
        ("line 12, column annual_revenue", "less than or equal to 1000000000000000"),
        ("line 13, column currency", "no exchange rate for AUD"),
        ("line 14, column country", "ISO 3166"),
        ("line 15, column country", "ISO 3166"),
        ("line 16, column total_assets", "required"),
        ("line 17, column registration_id", "wrong check digit"),
        ("line 18, column legal_name", "control character U+0000"),
        ("line 20, column registration_id", "VAT number, but its check digits are wrong"),
    ]
    for where, reason in expected:
        assert any(p.startswith(where) and reason in p for p in problems), (where, problems)
    assert not any(p.startswith(("line 2,", "line 3,")) for p in problems)


def test_an_email_of_another_partner_or_of_our_staff_is_refused(session: Session, tmp_path: Path) -> None:
    import_partners(session, _csv(tmp_path, GOOD, name="first.csv"), actor="t")
    session.commit()
    rows = ["Other GmbH,HRB 2,DE,other,3,100000,EUR,,en,,anna@m.example.de,,"]
    assert _problems(session, tmp_path, rows) == [
        "line 2, column contact_email: anna@m.example.de is already the contact of partner 2"
    ]


def test_a_reimport_changes_nothing_and_says_so(session: Session, tmp_path: Path) -> None:
    import_partners(session, _csv(tmp_path, GOOD), actor="t")
    session.commit()
    before = _counts(session)
    plan = import_partners(
        session, _csv(tmp_path, [WANG.replace("91320500MA1JG0001G", "91320500ma1jg0001g"), ANNA]), actor="t"
    )
    session.commit()
    assert plan.summary() == "2 unchanged"
    assert _counts(session)[:2] == before[:2]  # only the import's own audit event is added


def test_a_reimport_updates_changed_figures_and_contacts_and_resizes(
    session: Session, tmp_path: Path
) -> None:
    import_partners(session, _csv(tmp_path, GOOD), actor="t")
    session.commit()
    grown = ANNA.replace(",42,", ",400,").replace(",Anna,", ",Anna Müller,")
    new = "Neu AG,HRB 3,DE,other,3,100000,EUR,,en,,neu@n.example.de,,"
    plan = import_partners(session, _csv(tmp_path, [WANG, grown, new]), actor="t")
    session.commit()
    assert plan.summary() == "1 new, 1 updated, 1 unchanged"
    anna = session.exec(select(Partner).where(Partner.registration_id == "HRB 1")).one()
    assert anna.employees == 400 and anna.size_class == "large"
    assert (
        session.exec(select(Contact.name).where(Contact.email == "anna@m.example.de")).one() == "Anna Müller"
    )
    wang = session.exec(select(Contact).where(Contact.email == "wang@jg.example.cn")).one()
    assert wang.channels_encrypted  # a row that gives no change keeps the stored channels
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "partner.updated")).one()
    assert event.data["changes"] == {"employees": [42, 400]}
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "contact.updated")).one()
    assert event.data["changes"] == {"name": ["Anna", "Anna Müller"]}


def test_dry_run_gives_the_same_verdict_and_writes_nothing(session: Session, tmp_path: Path) -> None:
    plan = import_partners(session, _csv(tmp_path, GOOD), actor="test", dry_run=True)
    session.commit()
    assert plan.summary() == "2 new" and _counts(session) == (0, 0, 0)
    huge = [ANNA.replace("7800000", "9" * 20)]
    with pytest.raises(InputRejected, match="less than or equal to"):
        import_partners(session, _csv(tmp_path, huge), actor="test", dry_run=True)


def test_file_problems_come_with_line_numbers_of_the_file(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text(
        HEADER
        + "\n\n"
        + '"Multi\nLine GmbH",HRB 9,DE,other,1,1,EUR,,en,,,,\n\n'
        + "X,R,DE,other,-1,1,EUR,,en,,,,\n",
        encoding="utf-8",
    )
    with pytest.raises(InputRejected) as caught:
        import_partners(session, path, actor="t")
    assert [str(p) for p in caught.value.problems] == [
        "line 3, column legal_name: must not contain the control character U+000A",
        "line 6, column employees: Input should be greater than or equal to 0",
    ]
