"""What a partner sees and does about its payments through its portal link: each invoice's clock and
status, statements to confirm or dispute line by line, payment and confirmation (确权) requests, and
its own size declaration. Everything is scoped to the link's relationship and done in the contact's name.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from models.core.base import id_of
from models.core.calendar import today_local
from models.core.errors import InputRejected
from models.core.validation import problems_from
from models.payments.contract import (
    DeclarationCreate,
    contracts,
    declaration_of,
    declaration_public,
    declare_size,
)
from models.payments.law import rules_applied
from models.payments.requests import request_about, request_public, requests_of
from models.payments.statements import (
    answer_statement,
    find_statement,
    statement_public,
    statements_of,
)
from models.portal.links import PortalAccess, payment_status
from models.tables import PaymentRequest, SmeDeclaration, Statement


def payments_view(session: Session, access: PortalAccess, *, today: date | None = None) -> dict[str, Any]:
    """Return the partner's payments page: invoices with clocks and requests, statements, declaration."""
    today = today or today_local()
    rel = access.relationship
    contract = contracts(session, [(rel, access.partner)])[id_of(rel)]
    asked: dict[int, list[dict[str, Any]]] = {}
    for row, invoice_id in requests_of(session, rel.id):
        asked.setdefault(row.payment_id, []).append(request_public(row, invoice_id, today=today))
    invoices = [
        {
            **p,
            "requests": asked.get(p["id"], []),
            "open_kinds": {r["kind"] for r in asked.get(p["id"], []) if not r["answered_at"]},
        }
        for p in payment_status(session, rel, access.partner, as_of=today)
    ]
    statements = [statement_public(session, s) for s in statements_of(session, id_of(rel))]
    return {
        "invoices": invoices,
        "statements": statements,
        "open_statements": [s for s in statements if s["status"] == "open"],
        "declaration": declaration_public(declaration_of(session, id_of(rel)), rel),
        "rules": rules_applied(
            contract.check.law_id, buyer_type=contract.terms.buyer_type, basis=contract.terms.basis
        ),
        "check": contract.check.as_dict(),
    }


def partner_statement(session: Session, access: PortalAccess, statement_id: int) -> Statement:
    """Return one of this relationship's statements, or raise NotFound."""
    return find_statement(session, statement_id, relationship_id=access.relationship.id)


def answer_from_portal(
    session: Session, access: PortalAccess, statement_id: int, answers: list[dict[str, Any]]
) -> Statement:
    """Record the partner's answers to a statement in the contact's name."""
    statement = partner_statement(session, access, statement_id)
    return answer_statement(session, statement, answers, by=access.contact.email)


def request_from_portal(
    session: Session, access: PortalAccess, payment_id: int, *, kind: str, note: str | None
) -> tuple[PaymentRequest, bool]:
    """Record the partner's payment or confirmation request about one of its invoices (protected)."""
    return request_about(
        session, access.relationship, payment_id, kind=kind, by=access.contact.email, note=note
    )


def declare_from_portal(session: Session, access: PortalAccess, *, size_class: str) -> SmeDeclaration:
    """Record the contact's declaration of its firm's size class at signing (once; frozen after)."""
    try:
        data = DeclarationCreate.model_validate(
            {"size_class": size_class, "declared_by": access.contact.email, "declared_on": today_local()}
        )
    except ValidationError as exc:
        raise InputRejected(problems_from(exc), summary="declaration rejected") from exc
    return declare_size(session, access.relationship, data, source="portal", recorded_by=access.contact.email)


def open_statement_count(session: Session, access: PortalAccess) -> int:
    """Return how many statements wait for the partner's answer."""
    query = select(Statement.id).where(
        Statement.relationship_id == access.relationship.id, col(Statement.status) == "open"
    )
    return len(session.exec(query).all())
