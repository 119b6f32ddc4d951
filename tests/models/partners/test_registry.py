"""The registry: one stored form of a registration id, stored size classes kept current, listings in SQL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import Session

from models.core.errors import NotFound
from models.core.validation import problems_from
from models.partners.registry import (
    PartnerCreate,
    PartnerFilter,
    add_partner,
    find_partner,
    list_partners,
    registration_key,
)
from models.partners.sizing import tables_version
from models.tables import Partner
from tests.support.factories import partner_row_of_older_tables, uscc


def _partner(**overrides: object) -> PartnerCreate:
    data = {
        "legal_name": "Müller GmbH",
        "registration_id": "HRB 701234",
        "country": "DE",
        "industry": "industry",
        "employees": 42,
        "annual_revenue": 7_800_000,
        "currency": "EUR",
    } | overrides
    return PartnerCreate.model_validate(data)


@pytest.mark.parametrize(
    ("given", "country", "stored"),
    [
        ("hrb 701234", "DE", "HRB 701234"),
        ("  HRB   701234 ", "DE", "HRB 701234"),
        ("91320500ma1jg0001g", "CN", "91320500MA1JG0001G"),
        ("9132 0500 MA1J G000 1G", "CN", "91320500MA1JG0001G"),
        ("pt 509 876 544", "PT", "PT509876544"),  # written as a VAT number: checked, compact
        ("KVK 61234567", "NL", "KVK 61234567"),  # not a VAT number: kept as written
    ],
)
def test_registration_ids_have_one_stored_form(given: str, country: str, stored: str) -> None:
    assert registration_key(given, country) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("91320500MA1JG0001A", "wrong check digit"),
        ("91320500MA1JG0001", "18-character"),
        ("91320500MA1JO0001G", "no I, O, S, V or Z"),
        ("R1", "18-character"),
    ],
)
def test_a_chinese_id_must_be_a_valid_unified_social_credit_code(given: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        registration_key(given, "CN")


def test_bad_fields_are_refused_with_every_reason() -> None:
    with pytest.raises(ValidationError) as caught:
        PartnerCreate.model_validate(
            {
                "legal_name": "A\u202eB",
                "registration_id": "R1",
                "country": "XX",
                "industry": "industry",
                "employees": 10**8,
                "annual_revenue": 99999999999999999999999,
                "currency": "AUD",
            }
        )
    fields = {p.where: p.message for p in problems_from(caught.value)}
    assert "U+202E" in fields["legal_name"]
    assert "ISO 3166" in fields["country"]
    assert "10000000" in fields["employees"]
    assert "1000000000000000" in fields["annual_revenue"]
    assert "no exchange rate for AUD" in fields["currency"]


def test_a_partner_is_found_by_its_id_in_any_case(session: Session) -> None:
    add_partner(session, _partner(), actor="t")
    assert find_partner(session, "hrb 701234").legal_name == "Müller GmbH"
    assert find_partner(session, "de:Hrb  701234").legal_name == "Müller GmbH"
    with pytest.raises(NotFound):
        find_partner(session, "CN:hrb 701234")


def test_every_orm_write_keeps_the_stored_size_current(session: Session) -> None:
    partner = add_partner(session, _partner(), actor="t")
    session.commit()
    assert (partner.size_class, partner.size_scheme, partner.size_tables) == (
        "small",
        "EU-2003-361",
        tables_version(),
    )
    partner.employees = 400
    session.add(partner)
    session.commit()
    assert session.get(Partner, partner.id).size_class == "large"  # type: ignore[union-attr]


def test_a_partner_the_tables_no_longer_size_is_listed_as_unclassifiable(session: Session) -> None:
    add_partner(session, _partner(), actor="t")
    partner_row_of_older_tables(session)  # the AUD rate was in an older fx_rates.yaml
    total, partners = list_partners(session, PartnerFilter())
    assert total == 2
    old = next(p for p in partners if p.currency == "AUD")
    assert old.size_class is None and "unknown currency 'AUD'" in (old.size_problem or "")
    assert old.size_tables == tables_version()
    total, partners = list_partners(session, PartnerFilter(size_class="unclassifiable"))
    assert [p.legal_name for p in partners] == ["Old Row Pty"]


def test_new_tables_resize_every_partner_at_the_next_listing(session: Session) -> None:
    partner = add_partner(session, _partner(), actor="t")
    session.commit()
    session.connection().execute(
        Partner.__table__.update().values(size_class="medium", size_tables="older-tables")  # type: ignore[attr-defined]
    )
    session.commit()
    list_partners(session, PartnerFilter())
    assert session.get(Partner, partner.id).size_class == "small"  # type: ignore[union-attr]


def test_listing_filters_and_pages_in_the_database(session: Session) -> None:
    for n in range(1, 8):
        add_partner(
            session,
            _partner(
                legal_name=f"Firma {n} GmbH" if n % 2 else f"公司 {n}",
                registration_id=f"HRB {n}" if n % 2 else uscc(n),
                country="DE" if n % 2 else "CN",
                employees=5 if n <= 4 else 400,
                currency="EUR" if n % 2 else "CNY",
            ),
            actor="t",
        )
    session.commit()
    total, page = list_partners(session, PartnerFilter(), limit=3, offset=3)
    assert total == 7 and [p.id for p in page] == [4, 5, 6]
    total, page = list_partners(session, PartnerFilter(country="cn"))
    assert total == 3 and {p.country for p in page} == {"CN"}
    total, page = list_partners(session, PartnerFilter(size_class="large", country="DE"))
    assert [p.legal_name for p in page] == ["Firma 5 GmbH", "Firma 7 GmbH"]
    assert list_partners(session, PartnerFilter(search="firma 3"))[0] == 1
    assert list_partners(session, PartnerFilter(search="hrb 7"))[0] == 1
    assert list_partners(session, PartnerFilter(search="公司"))[0] == 3
    assert list_partners(session, PartnerFilter(search="%"))[0] == 0  # a wildcard is a character
    total, page = list_partners(session, PartnerFilter(), limit=0)
    assert total == len(page) == 7
