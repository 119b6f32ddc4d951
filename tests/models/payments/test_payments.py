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


FULL = (
    "invoice_id,relationship,delivered_on,invoiced_on,amount,currency,paid_on,accepted_on,settled_on,"
    "payment_method,matures_on,disputed_amount,e_invoice_no\n"
)


def write_full(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "full.csv"
    path.write_text(FULL + body, encoding="utf-8")
    return path


def test_the_clock_fields_import_and_a_reimport_fills_only_what_was_blank(
    session: Session, tmp_path: Path
) -> None:
    rel = active_relationship(session)
    first = write_full(
        tmp_path,
        f"D-1,{rel.key},2026-09-01,2026-09-02,10000.00,CNY,,2026-09-10,,,,3000.00,\n"
        f"D-2,{rel.key},2026-09-01,2026-09-02,500.00,CNY,2026-10-01,,,Bill,2027-03-30,,25320000000000012345\n",
    )
    plan = import_payments(session, first, actor="test")
    session.commit()
    assert len(plan.new) == 2
    stored = {p.invoice_id: p for p in session.exec(select(Payment))}
    d1, d2 = stored["D-1"], stored["D-2"]
    assert (d1.accepted_on, d1.disputed_minor, d1.payment_method, d1.paid_on) == (
        date(2026, 9, 10),
        300_000,
        "cash",
        None,
    )
    assert (d2.payment_method, d2.matures_on, d2.e_invoice_no) == (
        "bill",
        date(2027, 3, 30),
        "25320000000000012345",
    )
    later = write_full(
        tmp_path,
        f"D-1,{rel.key},2026-09-01,2026-09-02,10000.00,CNY,2026-11-20,2026-09-10,,e_voucher,2026-12-20,0,25320000000000054321\n"
        f"D-2,{rel.key},2026-09-01,2026-09-02,500.00,CNY,,,,,,,\n",  # blanks keep what is stored
    )
    plan = import_payments(session, later, actor="test")
    session.commit()
    assert (len(plan.updated), plan.paid, plan.unchanged) == (1, 1, 1)
    session.refresh(d1)
    assert (d1.paid_on, d1.payment_method, d1.matures_on, d1.disputed_minor) == (
        date(2026, 11, 20),
        "e_voucher",
        date(2026, 12, 20),
        0,
    )
    rewrite = write_full(
        tmp_path, f"D-2,{rel.key},2026-09-01,2026-09-02,500.00,CNY,,,,,,,25320000000000099999\n"
    )
    with pytest.raises(InputRejected) as caught:
        import_payments(session, rewrite, actor="test")
    assert (
        "row 2, column e_invoice_no: invoice 'D-2' is stored with e_invoice_no 25320000000000012345"
        in str(caught.value)
    )


def test_every_clock_field_is_checked_as_the_clock_reads_it(session: Session, tmp_path: Path) -> None:
    rel = active_relationship(session)
    path = write_full(
        tmp_path,
        f"E-1,{rel.key},2026-09-01,2026-09-02,100.00,CNY,,2026-08-01,2099-01-01,,,,\n"  # early, late
        f"E-2,{rel.key},2026-09-01,2026-09-02,100.00,CNY,,,,bill,,,\n"  # a method without a paid date
        f"E-3,{rel.key},2026-09-01,2026-09-02,100.00,CNY,2026-10-01,,,bill,,,\n"  # bill, no maturity
        f"E-4,{rel.key},2026-09-01,2026-09-02,100.00,CNY,2026-10-01,,,cash,2026-12-01,,\n"  # cash has none
        f"E-5,{rel.key},2026-09-01,2026-09-02,100.00,CNY,2026-10-01,,,bill,2026-09-15,,\n"  # matures before
        f"E-6,{rel.key},2026-09-01,2026-09-02,100.00,CNY,,,,cheque,,,\n"  # unknown method
        f"E-7,{rel.key},2026-09-01,2026-09-02,100.00,CNY,,,,,,100.01,\n"  # disputes more than the invoice
        f"E-8,{rel.key},2026-09-01,2026-09-02,100.00,CNY,,,,,,1.001,12345\n",  # decimals, short number
    )
    with pytest.raises(InputRejected) as caught:
        import_payments(session, path, actor="test")
    found = {str(p) for p in caught.value.problems}
    for expected in (
        "row 2, column accepted_on: accepted before delivery (2026-09-01)",
        "row 2, column settled_on: settled date is in the future",
        "row 3, column payment_method: a payment method needs the paid date",
        "row 4, column matures_on: a bill payment needs its maturity date",
        "row 5, column matures_on: only a bill or e-voucher payment has a maturity date",
        "row 6, column matures_on: matures before it was handed over (2026-10-01)",
        "row 8, column disputed_amount: the disputed part is more than the invoice (100.00)",
        "row 9, column e_invoice_no: an e-invoice (数电票) number is 20 digits",
    ):
        assert expected in found, (expected, found)
    assert any(p.startswith("row 7, column payment_method") for p in found)
    assert any(p.startswith("row 9, column disputed_amount") for p in found)
    assert session.exec(select(Payment)).all() == []
