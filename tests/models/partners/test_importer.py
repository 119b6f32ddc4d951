"""Partner import: whole-file validation, every bad row reported, nothing written on error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from models.core.errors import InputRejected
from models.partners.importer import COLUMNS, import_partners
from models.tables import AuditEvent, Contact, Partner

HEADER = ",".join(COLUMNS)
GOOD = [
    "苏州精工五金制品有限公司,91320500X1,CN,industry,8,2500000,CNY,1800000,0,0,0,0,0,0,zh-CN,王建国,wang@jg.example.cn,zh-CN,wecombot://KEY123456",
    "Müller GmbH,HRB 1,DE,industry,42,7800000,EUR,,0,0,0,0,0,0,en,Anna,anna@m.example.de,en,",
]


def _csv(tmp_path: Path, rows: list[str], *, encoding: str = "utf-8", name: str = "p.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def _counts(session: Session) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.exec(select(func.count()).select_from(t)).one()
        for t in (Partner, Contact, AuditEvent)
    )


def test_good_file_imports_partners_and_contacts(session: Session, tmp_path: Path) -> None:
    plan = import_partners(session, _csv(tmp_path, GOOD), actor="test")
    session.commit()
    assert len(plan.rows) == 2
    names = set(session.exec(select(Partner.legal_name)))
    assert names == {"苏州精工五金制品有限公司", "Müller GmbH"}
    wang = session.exec(select(Contact).where(Contact.email == "wang@jg.example.cn")).one()
    assert wang.language == "zh-CN" and wang.side == "partner"
    assert wang.channels_masked and "KEY123456" not in wang.channels_masked[0]
    assert "KEY123456" not in (wang.channels_encrypted or "")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_spreadsheet_encodings_import_chinese_names(
    session: Session, tmp_path: Path, encoding: str
) -> None:
    import_partners(session, _csv(tmp_path, GOOD[:1], encoding=encoding), actor="test")
    session.commit()
    assert session.exec(select(Partner.legal_name)).one() == "苏州精工五金制品有限公司"


def test_every_kind_of_bad_row_is_reported_and_nothing_is_written(
    session: Session, tmp_path: Path
) -> None:
    import_partners(
        session,
        _csv(
            tmp_path, ["Stored Ltd,DUP-DB,DE,industry,5,100,EUR,,0,0,0,0,0,0,en,,,,"], name="a.csv"
        ),
        actor="t",
    )
    session.commit()
    before = _counts(session)
    rows = [
        *GOOD,  # rows 2 and 3 are good
        ",R4,CN,industry,5,100,CNY,,0,0,0,0,0,0,en,,,,",  # row 4: missing legal name
        "Bad Industry,R5,CN,mining-on-mars,5,100,CNY,,0,0,0,0,0,0,en,,,,",  # row 5
        "Negative,R6,CN,industry,-3,100,CNY,,0,0,0,0,0,0,en,,,,",  # row 6
        "Not a number,R7,CN,industry,five,100,CNY,,0,0,0,0,0,0,en,,,,",  # row 7
        "Bad Email,R8,CN,industry,5,100,CNY,,0,0,0,0,0,0,en,X,not-an-email,en,",  # row 8
        "Dup In File,HRB 1,DE,industry,5,100,EUR,,0,0,0,0,0,0,en,,,,",  # row 9: same as row 3
        "Dup In DB,DUP-DB,DE,industry,5,100,EUR,,0,0,0,0,0,0,en,,,,",  # row 10
        "Bad Language,R11,CN,industry,5,100,CNY,,0,0,0,0,0,0,fr,,,,",  # row 11
        "Bad URL,R12,CN,industry,5,100,CNY,,0,0,0,0,0,0,en,Y,y@x.example.cn,en,nosuchscheme://abc",  # row 12
    ]
    with pytest.raises(InputRejected) as caught:
        import_partners(session, _csv(tmp_path, rows), actor="test")
    session.rollback()
    text = str(caught.value)
    expected = [
        ("row 4, column legal_name", "missing"),
        ("row 5, column industry", "unknown industry"),
        ("row 6, column employees", "greater than or equal to 0"),
        ("row 7, column employees", "integer"),
        ("row 8, column contact_email", "not a valid email"),
        ("row 9, column registration_id", "duplicate"),
        ("row 10, column registration_id", "already exists"),
        ("row 11, column preferred_language", "language must be one of"),
        ("row 12, column contact_channels", "malformed Apprise URL"),
    ]
    for where, reason in expected:
        assert any(p.where == where and reason in p.message for p in caught.value.problems), (
            where,
            text,
        )
    assert not any(p.where.startswith(("row 2", "row 3")) for p in caught.value.problems)
    assert _counts(session) == before


def test_wrong_encoding_is_rejected(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(HEADER.encode() + b"\n" + bytes([0x81, 0x30, 0xFF, 0xFE, 0x80]) + b",x\n")
    with pytest.raises(InputRejected, match="wrong encoding"):
        import_partners(session, path, actor="test")


def test_unknown_and_missing_columns_are_named(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("legal_name,registration_id,colour\nA,B,red\n", encoding="utf-8")
    with pytest.raises(InputRejected) as caught:
        import_partners(session, path, actor="test")
    messages = [str(p) for p in caught.value.problems]
    assert "header: unknown column 'colour'" in messages
    assert "header: missing column 'industry'" in messages


def test_dry_run_writes_nothing(session: Session, tmp_path: Path) -> None:
    plan = import_partners(session, _csv(tmp_path, GOOD), actor="test", dry_run=True)
    session.commit()
    assert len(plan.rows) == 2
    assert _counts(session) == (0, 0, 0)
