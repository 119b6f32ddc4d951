"""A partner's requests about an invoice: to be paid, or to have the receivable confirmed (确权).

Each request starts a confirmation clock (30 days under the Chinese regulation, Art. 16; the same
period is our own commitment elsewhere) and is protected (Art. 20: no retaliation): it is never an
input of the partner's scores, the health score or any review rule that could act against the
partner. Review rules may read the protected counts only to escalate or discuss on the partner's
behalf (models/reviews/rules.py refuses anything else).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import today_local
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.settings import get_settings
from models.core.vocabulary import RequestKind
from models.payments.contract import contract_for
from models.payments.statements import asks
from models.tables import Payment, PaymentRequest, Relationship

TEXT_MAX = 2000


def respond_within_days(rel: Relationship, session: Session) -> tuple[int, str | None]:
    """Return how many days we have to answer the partner's request, and the article that says so."""
    law = contract_for(session, rel).law
    if law is not None and law.confirmation is not None:
        return law.confirmation.days, law.confirmation.article
    return asks().request_respond_within_days, None


def request_about(
    session: Session, rel: Relationship, payment_id: int, *, kind: str, by: str, note: str | None = None
) -> tuple[PaymentRequest, bool]:
    """Record a partner's request about one of its invoices; a repeat while one is open returns that one."""
    if kind not in {k.value for k in RequestKind}:
        raise InputRejected([Problem("kind", f"ask for payment or confirmation, not {kind!r}")])
    payment = session.get(Payment, payment_id)
    if payment is None or payment.relationship_id != rel.id:
        raise NotFound(f"no invoice {payment_id} for this relationship")
    if note is not None and len(note) > TEXT_MAX:
        raise InputRejected([Problem("note", f"at most {TEXT_MAX} characters")])
    if kind == RequestKind.payment.value and payment.paid_on is not None:
        raise InputRejected(
            [Problem("invoice", f"invoice {payment.invoice_id} was paid on {payment.paid_on}")]
        )
    key = f"{payment.id}:{kind}"
    existing = session.exec(select(PaymentRequest).where(PaymentRequest.open_key == key)).first()
    if existing is not None:
        return existing, False
    days, article = respond_within_days(rel, session)
    row = PaymentRequest(
        relationship_id=rel.id,
        payment_id=id_of(payment),
        kind=kind,
        open_key=key,
        requested_by=by,
        respond_by=today_local() + timedelta(days=days),
        note=(note or "").strip() or None,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=by,
        action=f"payment.request.{kind}",
        entity="payment_request",
        entity_id=row.id,
        relationship_id=rel.id,
        data={
            "invoice_id": payment.invoice_id,
            "respond_by": row.respond_by.isoformat(),
            "article": article,
            "protected": True,  # Art. 20: no retaliation against a partner asking to be paid
        },
    )
    return row, True


def answer_request(session: Session, request_id: int, *, by: str, answer: str) -> PaymentRequest:
    """Record our answer to a partner's request (once): e.g. the receivable confirmed, or the payment date."""
    text = answer.strip()
    if not text or len(text) > TEXT_MAX:
        raise InputRejected([Problem("answer", f"say what was done, in 1 to {TEXT_MAX} characters")])
    row = session.get(PaymentRequest, request_id)
    if row is None:
        raise NotFound(f"no payment request {request_id}")
    done = session.connection().execute(
        update(PaymentRequest)
        .where(col(PaymentRequest.id) == request_id, col(PaymentRequest.answered_at).is_(None))
        .values(answered_at=utcnow(), answered_by=by, answer=text, open_key=None)
    )
    if done.rowcount != 1:
        raise Conflict(f"payment request {request_id} was already answered")
    session.refresh(row)
    audit.record(
        session,
        actor=by,
        action="payment.request.answered",
        entity="payment_request",
        entity_id=row.id,
        relationship_id=row.relationship_id,
        data={"kind": row.kind, "on_time": not answered_late(row)},
    )
    return row


def answered_late(row: PaymentRequest) -> bool:
    """Say whether a request was answered after its answer-by date (in our timezone)."""
    if row.answered_at is None:
        return False
    return row.answered_at.astimezone(get_settings().tz).date() > row.respond_by


def requests_of(
    session: Session, relationship_id: int | None = None, *, open_only: bool = False
) -> list[Any]:
    """Return requests (of one relationship, or all) with their invoice ids, newest first."""
    query = select(PaymentRequest, Payment.invoice_id).join(
        Payment, col(Payment.id) == PaymentRequest.payment_id
    )
    if relationship_id is not None:
        query = query.where(PaymentRequest.relationship_id == relationship_id)
    if open_only:
        query = query.where(col(PaymentRequest.answered_at).is_(None))
    return list(
        session.exec(query.order_by(col(PaymentRequest.requested_at).desc(), col(PaymentRequest.id).desc()))
    )


def request_public(row: PaymentRequest, invoice_id: str, *, today: date | None = None) -> dict[str, Any]:
    """Return a request as plain data, with whether its answer is overdue."""
    today = today or today_local()
    return {
        "id": row.id,
        "relationship_id": row.relationship_id,
        "invoice_id": invoice_id,
        "kind": row.kind,
        "requested_by": row.requested_by,
        "requested_at": row.requested_at.isoformat(),
        "respond_by": row.respond_by.isoformat(),
        "note": row.note,
        "protected": row.protected,
        "answered_by": row.answered_by,
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "answer": row.answer,
        "overdue": row.answered_at is None and today > row.respond_by,
    }


def request_counts(session: Session, ids: list[int], *, as_of: date) -> dict[int, tuple[int, int]]:
    """Return, per relationship, requests open at the as-of date and those past their answer-by date."""
    end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=get_settings().tz)
    query = sa_select(
        col(PaymentRequest.relationship_id), col(PaymentRequest.respond_by), col(PaymentRequest.answered_at)
    ).where(col(PaymentRequest.relationship_id).in_(ids), col(PaymentRequest.requested_at) < end)
    found: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for rid, respond_by, answered_at in session.connection().execute(query):
        if answered_at is not None and answered_at < end:
            continue
        found[rid][0] += 1
        found[rid][1] += int(as_of > respond_by)
    return {rid: (n[0], n[1]) for rid, n in found.items()}
