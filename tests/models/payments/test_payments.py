"""Payment import and entry: validated like the partner import, nothing written on error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from models.core.errors import Conflict, InputRejected
from models.payments.ledger import PaymentCreate, add_payment, from_minor, import_payments, to_minor
from models.tables import Payment
from tests.models.reviews.review_data import active_relationship

HEADER = "invoice_id,relationship,delivered_on,invoiced_on,amount,currency,paid_on\n"


def write(tmp_path: Path, body: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "payments.csv"
    path.write_bytes((HEADER + body).encode(encoding))
    return path


def test_amounts_are_stored_in_minor_units() -> None:
    assert to_minor("1,234.50", "CNY") == 123_450 and to_minor("1234", "JPY") == 1234
    assert from_minor(123_450, "EUR") == "1234.50"
    for bad in ("12.345", "abc", "-1"):
        with pytest.raises(ValueError):
            to_minor(bad, "EUR")


def test_import_writes_every_row_and_rerun_changes_nothing(session: Session, tmp_path: Path) -> None:
    rel = active_relationship(session)
    path = write(
        tmp_path,
        f"A-1,{rel.key},2026-09-01,2026-09-02,1000.00,cny,2026-10-20\nA-2,{rel.id},2026-10-01,2026-10-02,50,CNY,\n",
    )
    plan = import_payments(session, path, actor="test")
    session.commit()
    assert len(plan.new) == 2
    stored = {p.invoice_id: p for p in session.exec(select(Payment))}
    assert stored["A-1"].amount_minor == 100_000 and stored["A-1"].currency == "CNY"
    assert stored["A-2"].paid_on is None
    again = import_payments(session, path, actor="test")
    assert (len(again.new), again.unchanged) == (0, 2)
    paid_now = write(tmp_path, f"A-2,{rel.id},2026-10-01,2026-10-02,50,CNY,2026-11-20\n")
    assert import_payments(session, paid_now, actor="test").paid == 1
    session.commit()
    assert session.exec(select(Payment).where(Payment.invoice_id == "A-2")).one().paid_on == date(
        2026, 11, 20
    )


def test_a_bad_file_names_every_problem_by_row_and_column_and_writes_nothing(
    session: Session, tmp_path: Path
) -> None:
    rel = active_relationship(session)
    path = write(
        tmp_path,
        f"B-1,{rel.key},2026-09-01,2026-09-02,100.00,CNY,2026-08-01\n"  # paid before delivery
        f"B-2,nope,2026-09-01,2026-09-02,100.00,CNY,\n"  # unknown relationship
        f"B-3,{rel.key},2026-13-01,2026-09-02,1.005,CNY,\n"  # bad date and too many decimals
        f"B-4,{rel.key},2026-09-01,2026-09-02,10,CNY,\n"
        f"B-4,{rel.key},2026-09-01,2026-09-02,10,CNY,\n"  # duplicate
        f"B-5,{rel.key},2026-09-01,2026-09-02,,CNY,\n",  # missing amount
        encoding="gb18030",
    )
    with pytest.raises(InputRejected) as caught:
        import_payments(session, path, actor="test")
    wheres = [str(p) for p in caught.value.problems]
    assert any(w.startswith("row 2, column paid_on: paid before delivery") for w in wheres)
    assert any(w.startswith("row 3, column relationship: no relationship 'nope'") for w in wheres)
    assert any(w.startswith("row 4, column delivered_on") for w in wheres)
    assert any(w.startswith("row 4, column amount") for w in wheres)
    assert any(w.startswith("row 6, column invoice_id: duplicate invoice 'B-4' (also row 5)") for w in wheres)
    assert any(w.startswith("row 7, column amount: missing value") for w in wheres)
    assert session.exec(select(Payment)).all() == []


def test_header_problems_stop_before_rows(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("invoice,relationship\nx,y\n")
    with pytest.raises(InputRejected) as caught:
        import_payments(session, path, actor="test")
    assert "unknown column 'invoice'" in str(caught.value) and "missing column 'amount'" in str(caught.value)


def test_add_refuses_a_duplicate_invoice_and_names_flags(session: Session) -> None:
    rel = active_relationship(session)
    data = PaymentCreate.model_validate(
        {
            "invoice_id": "C-1",
            "relationship": rel.key,
            "delivered_on": "2026-09-01",
            "invoiced_on": "2026-09-01",
            "amount": "10",
            "currency": "EUR",
            "paid_on": None,
        }
    )
    add_payment(session, data, actor="test")
    with pytest.raises(Conflict):
        add_payment(session, data, actor="test")
    with pytest.raises(ValidationError) as caught:
        PaymentCreate.model_validate(
            {
                "invoice_id": "C-2",
                "relationship": "1",
                "delivered_on": "x",
                "invoiced_on": "2026-09-01",
                "amount": "10",
                "currency": "EUR",
            }
        )
    assert [e["loc"] for e in caught.value.errors()] == [("delivered_on",)]
