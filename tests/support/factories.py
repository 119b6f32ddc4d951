"""Small builders for notification tests: partners, contacts, relationships and checklist items."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session

from benchmarks.registry import uscc
from models.partners.registry import ContactCreate, add_contact
from models.tables import ChecklistItem, Contact, Partner, Payment, Relationship
from models.tables.core import Side

_serial = itertools.count(1)

__all__ = ["uscc"]  # one generator of valid codes, shared with the benchmarks


def partner(session: Session, *, name: str = "Yunzhan Software", language: str = "zh-CN") -> Partner:
    """Store a partner."""
    n = next(_serial)
    row = Partner(
        legal_name=name,
        registration_id=f"R{n}",
        country="CN",
        industry="software_it",
        employees=35,
        annual_revenue=6_000_000,
        currency="CNY",
        preferred_language=language,
    )
    session.add(row)
    session.flush()
    return row


def partner_row_of_older_tables(session: Session, **fields: Any) -> None:
    """Write an Australian partner as an older release would have: sized when fx_rates.yaml had AUD."""
    now = datetime.now(UTC)
    row = {
        "legal_name": "Old Row Pty",
        "registration_id": "ACN 1",
        "country": "AU",
        "industry": "other",
        "employees": 5,
        "annual_revenue": 100_000,
        "currency": "AUD",
        "linked_employees": 0,
        "linked_revenue": 0,
        "linked_assets": 0,
        "partner_enterprise_employees": 0,
        "partner_enterprise_revenue": 0,
        "partner_enterprise_assets": 0,
        "preferred_language": "en",
        "size_class": "micro",
        "size_scheme": "EU-2003-361",
        "size_tables": "older-tables",
        "created_at": now,
        "updated_at": now,
    } | fields
    session.connection().execute(Partner.__table__.insert(), [row])  # type: ignore[attr-defined]
    session.commit()


def contact(
    session: Session,
    email: str,
    *,
    side: Side = Side.ours,
    partner_id: int | None = None,
    language: str = "en",
    timezone: str | None = None,
    channels: list[str] | None = None,
    name: str = "",
) -> Contact:
    """Store a contact (channels encrypted, as the registry does)."""
    data = ContactCreate(
        email=email,
        name=name or email.split("@")[0].title(),
        side=side,
        language=language,
        timezone=timezone,
        channels=channels or [],
    )
    return add_contact(session, data, actor="test", partner_id=partner_id)


def relationship(
    session: Session,
    *,
    tier: str | None = "standard",
    partner_name: str = "Yunzhan Software",
    partner_language: str = "zh-CN",
    partner_channels: list[str] | None = None,
    with_deputy: bool = True,
    stage: str = "active",
) -> Relationship:
    """Store a relationship with manager, deputy, sponsor and a partner contact."""
    n = next(_serial)
    p = partner(session, name=partner_name, language=partner_language)
    manager = contact(session, f"manager{n}@example.org", name=f"Manager {n}")
    deputy = contact(session, f"deputy{n}@example.org", name=f"Deputy {n}") if with_deputy else None
    sponsor = contact(session, f"sponsor{n}@example.org", name=f"Sponsor {n}")
    owner = contact(
        session,
        f"owner{n}@partner.example.cn",
        side=Side.partner,
        partner_id=p.id,
        language=partner_language,
        timezone="Asia/Shanghai",
        channels=partner_channels,
        name=f"王{n}",
    )
    rel = Relationship(
        key=f"rel-{n}",
        partner_id=p.id,  # type: ignore[arg-type]
        manager_id=manager.id,  # type: ignore[arg-type]
        deputy_id=deputy.id if deputy else None,
        sponsor_id=sponsor.id,  # type: ignore[arg-type]
        partner_contact_id=owner.id,  # type: ignore[arg-type]
        tier=tier,
        stage=stage,
        size_class="small",
        size_scheme="CN-2011-300",
    )
    session.add(rel)
    session.flush()
    return rel


def item(
    session: Session,
    rel: Relationship,
    *,
    due_on: date,
    owner_role: str = "manager",
    owner_side: str = "ours",
    status: str = "open",
    key: str | None = None,
    title: dict[str, Any] | None = None,
    priority: str = "normal",
    stage: str = "active",
    asked_on: date | None = None,
    effort_minutes: int = 0,
) -> ChecklistItem:
    """Store one checklist item of a relationship."""
    n = next(_serial)
    row = ChecklistItem(
        relationship_id=rel.id,  # type: ignore[arg-type]
        stage=stage,
        item_key=key or f"item-{n}",
        clause="5.1",
        owner_side=owner_side,
        owner_role=owner_role,
        priority=priority,
        asked_on=asked_on,
        effort_minutes=effort_minutes,
        due_on=due_on,
        title=title or {"en": f"Item {n}", "zh-CN": f"事项 {n}"},
        status=status,
    )
    session.add(row)
    session.flush()
    return row


def welcome_context(name: str = "Yunzhan 云栈") -> dict[str, object]:
    """Return the context of a `welcome` message (a partner name, its manager)."""
    return {
        "partner_name": name,
        "relationship_id": 1,
        "recipient_name": "王伟",
        "manager_name": "Ann Lee",
        "manager_email": "ann@example.org",
    }


def get_settings_clear() -> None:
    """Re-read settings after a test changed the environment."""
    from models.core.settings import get_settings

    get_settings.cache_clear()


def invoice(
    session: Session, relationship_id: int, invoice_id: str, *, delivered: date, **fields: Any
) -> Payment:
    """Store one invoice of 10,000.00 CNY delivered and invoiced on a day (fields override)."""
    values: dict[str, Any] = {
        "invoiced_on": delivered,
        "amount_minor": 1_000_000,
        "currency": "CNY",
        **fields,
    }
    row = Payment(relationship_id=relationship_id, invoice_id=invoice_id, delivered_on=delivered, **values)
    session.add(row)
    session.flush()
    return row
