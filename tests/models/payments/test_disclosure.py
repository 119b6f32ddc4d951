"""The annual disclosure for a seeded year, against a table computed by hand; HTML and a formula-safe CSV."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from sqlmodel import Session

from models.core.errors import InputRejected
from models.payments.contract import TermsUpdate, set_terms
from models.payments.disclosure import sme_payments
from models.tables import Partner, Payment, Relationship
from notifications.disclosure import disclosure_csv, disclosure_html, safe_cell
from tests.models.reviews.review_data import active_relationship

TODAY = date(2026, 2, 1)  # 2025 has ended: a final report as at 2025-12-31

# Hand-computed, invoice by invoice, at 2025-12-31:
# China (cn-sme-payments), 0.05% a day on the undisputed part:
#   A-1  small, 60 days from delivery 2025-09-01 -> due 10-31; unpaid: 61 days late on 10,000.00
#        interest 1,000,000 x 0.0005 x 61 = 30,500 fen
#   A-2  due 2025-12-14, paid 2026-01-20 (after the year's end): 17 days late on 5,000.00 -> 4,250 fen
#   A-3  due 2026-01-19: not yet due                                   -> not counted
#   A-4  paid late, but within the year                                -> not counted
#   B-1  medium, 30 days from 2025-10-01 -> due 10-31; 20,000.00 with 8,000.00 disputed:
#        61 days late on 12,000.00 -> 1,200,000 x 0.0005 x 61 = 36,600 fen
#   B-2  wholly disputed                                               -> not counted
#   C    a large partner: outside the regulation                       -> not counted, not covered
#   D-1  periodic settlement never confirmed: the clock has not started -> covered, not counted
# EU (eu-late-payment), reference rate + 8 points (2025H2: 2.15 + 8 = 10.15%) and EUR 40:
#   E-1  invoiced 2025-11-03, 30 days -> due 12-03; 28 days late on 3,650.00 EUR:
#        1,000 cents x 10.15% x 28 = 2,842 cents, plus 4,000 cents
#   F-1  paid on time                                                  -> covered, not counted
EXPECTED = {
    "cn-sme-payments": {
        "contracts_covered": 3,
        "contracts_overdue": 2,
        "invoices_overdue": 3,
        "overdue": [{"currency": "CNY", "amount": "27000.00"}],
        "longest_days_late": 61,
        "interest": [{"currency": "CNY", "amount": "713.50"}],
        "fees": [],
        "invoice_ids": ["A-1", "A-2", "B-1"],
    },
    "eu-late-payment": {
        "contracts_covered": 2,
        "contracts_overdue": 1,
        "invoices_overdue": 1,
        "overdue": [{"currency": "EUR", "amount": "3650.00"}],
        "longest_days_late": 28,
        "interest": [{"currency": "EUR", "amount": "28.42"}],
        "fees": [{"currency": "EUR", "amount": "40.00"}],
        "invoice_ids": ["E-1"],
    },
}


def _invoice(session: Session, rel: Relationship, invoice_id: str, delivered: date, **fields: object) -> None:
    values: dict[str, object] = {
        "invoiced_on": delivered,
        "amount_minor": 1_000_000,
        "currency": "CNY",
        **fields,
    }
    session.add(Payment(relationship_id=rel.id, invoice_id=invoice_id, delivered_on=delivered, **values))  # type: ignore[arg-type]


def seed_year(session: Session) -> None:
    a = active_relationship(session, employees=30, term_days=60)  # small
    b = active_relationship(session, employees=400, term_days=30)
    c = active_relationship(session, employees=3000, term_days=60)
    b.size_class, c.size_class = "medium", "large"  # as frozen at signing
    session.add_all([b, c])
    d = active_relationship(session, employees=30, term_days=60)
    e = active_relationship(session, country="DE", employees=5, term_days=30, language="en")  # micro
    f = active_relationship(session, country="FR", employees=20, term_days=60, language="en")
    partner = session.get(Partner, e.partner_id)
    assert partner is not None
    partner.legal_name = '=HYPERLINK("http://evil.example","Müller") GmbH'  # a formula in a name
    session.add(partner)
    set_terms(session, d, TermsUpdate(basis="settlement"), actor="t")
    _invoice(session, a, "A-1", date(2025, 9, 1))
    _invoice(session, a, "A-2", date(2025, 10, 15), amount_minor=500_000, paid_on=date(2026, 1, 20))
    _invoice(session, a, "A-3", date(2025, 11, 20))
    _invoice(session, a, "A-4", date(2025, 8, 1), paid_on=date(2025, 10, 15))
    _invoice(
        session,
        b,
        "B-1",
        date(2025, 10, 1),
        amount_minor=2_000_000,
        disputed_minor=800_000,
        e_invoice_no="25320000000000012345",
    )
    _invoice(session, b, "B-2", date(2025, 10, 1), amount_minor=300_000, disputed_minor=300_000)
    _invoice(session, c, "C-1", date(2025, 6, 1))
    _invoice(session, d, "D-1", date(2025, 10, 1))
    _invoice(
        session,
        e,
        "E-1",
        date(2025, 11, 1),
        invoiced_on=date(2025, 11, 3),
        amount_minor=365_000,
        currency="EUR",
    )
    _invoice(
        session, f, "F-1", date(2025, 6, 1), amount_minor=100_000, currency="EUR", paid_on=date(2025, 7, 15)
    )
    session.commit()


def test_the_years_figures_match_the_hand_computed_table(session: Session) -> None:
    seed_year(session)
    data = sme_payments(session, year=2025, today=TODAY)
    assert (data["as_of"], data["final"]) == ("2025-12-31", True)
    for section in data["sections"]:
        expected = dict(EXPECTED[section["law"]])
        assert [r["invoice_id"] for r in section["invoices"]] == expected.pop("invoice_ids")
        assert {k: section[k] for k in expected} == expected
    cn = data["sections"][0]
    # Each figure is the sum of the invoices listed with it.
    rows = {r["invoice_id"]: r for r in cn["invoices"]}
    assert (rows["A-1"]["days_late"], rows["A-2"]["days_late"], rows["B-1"]["days_late"]) == (61, 17, 61)
    assert rows["B-1"]["overdue"] == "12000.00" and rows["B-1"]["disputed"] == "8000.00"
    assert sum(r["interest_minor"]["CNY"] for r in rows.values()) == 71_350
    assert cn["longest_invoice"].endswith("A-1") and cn["disclosure"]["article"] == {
        "en": "Art. 18",
        "zh-CN": "第18条",
    }


def test_a_running_year_is_provisional_and_a_future_year_is_refused(session: Session) -> None:
    seed_year(session)
    running = sme_payments(session, year=2026, today=date(2026, 3, 1))
    assert (running["as_of"], running["final"]) == ("2026-03-01", False)
    # A-3 (due 2026-01-19) is now overdue too: 41 days on 10,000.00
    assert "A-3" in [r["invoice_id"] for r in running["sections"][0]["invoices"]]
    with pytest.raises(InputRejected):
        sme_payments(session, year=2027, today=date(2026, 3, 1))


def test_the_csv_is_formula_safe_and_the_html_names_the_article_in_both_languages(session: Session) -> None:
    seed_year(session)
    data = sme_payments(session, year=2025, today=TODAY)
    text = disclosure_csv(data, language="zh-CN")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:4] == ["行类型", "法规", "逾期尚未支付的合同数量", "逾期尚未支付的发票数量"]
    totals = [r for r in rows if r[0] == "合计"]
    assert [(r[2], r[3]) for r in totals] == [("2", "3"), ("1", "1")]
    partner_cells = [r[5] for r in rows if r[0] == "发票"]
    assert '\'=HYPERLINK("http://evil.example","Müller") GmbH' in partner_cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert [safe_cell(v) for v in ("-1", "+x", "@a", "\tb", "ok", None)] == [
        "'-1",
        "'+x",
        "'@a",
        "'\tb",
        "ok",
        "",
    ]
    html = disclosure_html(data, language="zh-CN")
    assert "2025年逾期尚未支付中小企业款项情况" in html and "第18条" in html and "27000.00 CNY" in html
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in html  # escaped, as text
    english = disclosure_html(data, language="en")
    assert "Overdue payments to SMEs, 2025" in english and "As at the year&#39;s end, 2025-12-31." in english
