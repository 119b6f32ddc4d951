"""Periodic statements (对账单): the invoices of a period, confirmed or disputed by the partner line by line.

Confirming a line confirms the settlement amount: for periodic settlement that starts the invoice's
payment clock (Art. 9(3)). Disputing a line gives the partner's own figure and a reason; the part both
sides agree on (the lower figure) stays due on time (Art. 15), the rest is recorded as disputed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
)
from sqlalchemy import update
from sqlmodel import Session, col, func, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.calendar import today_local
from models.core.data import load_data
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.settings import get_settings
from models.core.validation import problems_from
from models.payments.ledger import e_invoice_number, from_minor, to_minor
from models.tables import Payment, Relationship, Statement, StatementLine

TEXT_MAX = 2000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StatementAsk(_Strict):
    """What answering a statement asks of the partner, and when we ask for the answer."""

    minutes_base: NonNegativeInt
    minutes_per_line: NonNegativeInt
    minutes_max: PositiveInt
    respond_within_days: PositiveInt


class Asks(_Strict):
    """The asks outside the checklist (`asks.yaml`)."""

    version: Literal[1]
    statement: StatementAsk
    request_respond_within_days: PositiveInt


@lru_cache(maxsize=1)
def asks() -> Asks:
    """Load and validate the shipped asks."""
    return load_data("asks.yaml", Asks)


def statement_minutes(lines: int) -> int:
    """Return the partner's minutes to answer a statement of this many lines."""
    ask = asks().statement
    return min(ask.minutes_max, ask.minutes_base + ask.minutes_per_line * lines)


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def period_bounds(period: str) -> tuple[date, date]:
    """Return the first and last day of a month given as YYYY-MM."""
    match = _MONTH.match(period.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InputRejected([Problem("period", f"{period!r} is not a month like 2026-03")])
    year, month = int(match.group(1)), int(match.group(2))
    following = date(year + month // 12, month % 12 + 1, 1)
    return date(year, month, 1), following - timedelta(days=1)


def issue_statement(session: Session, rel: Relationship, *, start: date, end: date, actor: str) -> Statement:
    """List the period's unpaid invoices not on another statement, for the partner to confirm."""
    problems = []
    if end < start:
        problems.append(Problem("end", "the period ends before it starts"))
    if start > today_local():
        problems.append(Problem("start", "the period has not started yet"))
    if problems:
        raise InputRejected(problems, summary="statement refused")
    existing = session.exec(
        select(Statement).where(
            Statement.relationship_id == rel.id, Statement.period_start == start, Statement.period_end == end
        )
    ).first()
    if existing is not None:
        raise Conflict(f"relationship {rel.id} already has statement {existing.id} for {start} to {end}")
    listed = select(StatementLine.payment_id)
    invoices = list(
        session.exec(
            select(Payment)
            .where(
                Payment.relationship_id == rel.id,
                col(Payment.delivered_on) >= start,
                col(Payment.delivered_on) <= end,
                col(Payment.paid_on).is_(None),
                col(Payment.id).not_in(listed),
            )
            .order_by(col(Payment.delivered_on), col(Payment.invoice_id))
        )
    )
    if not invoices:
        raise InputRejected(
            [Problem("period", f"no unpaid invoice delivered {start} to {end} is waiting for a statement")],
            summary="statement refused",
        )
    statement = Statement(
        relationship_id=id_of(rel),
        period_start=start,
        period_end=end,
        issued_by=actor,
        respond_by=today_local() + timedelta(days=asks().statement.respond_within_days),
        effort_minutes=statement_minutes(len(invoices)),
    )
    session.add(statement)
    session.flush()
    session.add_all(
        [
            StatementLine(
                statement_id=id_of(statement),
                payment_id=id_of(p),
                listed_minor=p.amount_minor - p.disputed_minor,
                currency=p.currency,
            )
            for p in invoices
        ]
    )
    audit.record(
        session,
        actor=actor,
        action="statement.issued",
        entity="statement",
        entity_id=statement.id,
        relationship_id=rel.id,
        data={
            "start": str(start),
            "end": str(end),
            "lines": len(invoices),
            "minutes": statement.effort_minutes,
        },
    )
    return statement


def find_statement(session: Session, statement_id: int, *, relationship_id: int | None = None) -> Statement:
    """Return a statement (of this relationship, if given), or raise NotFound."""
    found = session.get(Statement, statement_id)
    if found is None or (relationship_id is not None and found.relationship_id != relationship_id):
        raise NotFound(f"no statement {statement_id}")
    return found


def statements_of(session: Session, relationship_id: int) -> list[Statement]:
    """Return a relationship's statements, newest period first."""
    query = (
        select(Statement)
        .where(Statement.relationship_id == relationship_id)
        .order_by(col(Statement.period_start).desc(), col(Statement.id).desc())
    )
    return list(session.exec(query))


def lines_of(session: Session, statement_id: int) -> list[tuple[StatementLine, Payment]]:
    """Return a statement's lines with their invoices, by delivery date."""
    query = (
        select(StatementLine, Payment)
        .join(Payment, col(Payment.id) == StatementLine.payment_id)
        .where(StatementLine.statement_id == statement_id)
        .order_by(col(Payment.delivered_on), col(Payment.invoice_id))
    )
    return [(line, payment) for line, payment in session.exec(query)]


def statement_public(session: Session, statement: Statement) -> dict[str, Any]:
    """Return a statement and its lines as plain data."""
    return {
        "id": statement.id,
        "relationship_id": statement.relationship_id,
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "issued_at": statement.issued_at.isoformat(),
        "respond_by": statement.respond_by.isoformat(),
        "effort_minutes": statement.effort_minutes,
        "status": statement.status,
        "answered_by": statement.answered_by,
        "answered_at": statement.answered_at.isoformat() if statement.answered_at else None,
        "lines": [
            {
                "id": line.id,
                "invoice_id": p.invoice_id,
                "delivered_on": p.delivered_on.isoformat(),
                "amount": from_minor(p.amount_minor, p.currency),
                "listed": from_minor(line.listed_minor, line.currency),
                "currency": line.currency,
                "status": line.status,
                "claimed": from_minor(line.claimed_minor, line.currency)
                if line.claimed_minor is not None
                else None,
                "reason": line.reason,
                "e_invoice_no": line.e_invoice_no or p.e_invoice_no,
            }
            for line, p in lines_of(session, id_of(statement))
        ],
    }


class LineAnswer(BaseModel):
    """The partner's answer to one line: confirm it, or dispute it with its own figure and a reason."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    line_id: int = Field(ge=1, le=2**62)
    answer: Literal["confirm", "dispute"]
    claimed: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=TEXT_MAX)
    e_invoice_no: str | None = Field(default=None, max_length=40)

    @field_validator("claimed", "reason", "e_invoice_no", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("e_invoice_no")
    @classmethod
    def _e_invoice(cls, value: str | None) -> str | None:
        return e_invoice_number(value)


def _parse_answers(raw: list[dict[str, Any]], problems: list[Problem]) -> list[LineAnswer]:
    """Validate each line's answer, adding a problem naming the line for each bad field."""
    answers = []
    for index, fields in enumerate(raw):
        try:
            answers.append(LineAnswer.model_validate(fields))
        except ValidationError as exc:
            problems += problems_from(exc, where=f"line {fields.get('line_id', index + 1)}")
    return answers


def answer_statement(
    session: Session, statement: Statement, raw: list[dict[str, Any]], *, by: str
) -> Statement:
    """Record the partner's answer to every line at once; confirmation starts periodic settlement's clock.

    Every problem with every line is reported together, and then nothing is written.
    """
    lines = lines_of(session, id_of(statement))
    problems: list[Problem] = []
    answers = _parse_answers(raw, problems)
    given = {a.get("line_id") for a in raw}
    plan = _plan_answers(lines, answers, problems, answered={i for i in given if isinstance(i, int)})
    if problems:
        raise InputRejected(problems, summary="statement answer rejected")
    # Compare-and-set: a double submission answers once, the second is told it was already answered.
    now = utcnow()
    claimed = session.connection().execute(
        update(Statement)
        .where(col(Statement.id) == statement.id, col(Statement.status) == "open")
        .values(status="answered", answered_by=by, answered_at=now)
    )
    if claimed.rowcount != 1:
        raise Conflict(f"statement {statement.id} was already answered")
    today = today_local()
    for line, payment, answer, claimed_minor in plan:
        line.status = "confirmed" if answer.answer == "confirm" else "disputed"
        line.claimed_minor, line.reason = claimed_minor, answer.reason
        line.e_invoice_no = answer.e_invoice_no
        payment.settled_on = payment.settled_on or today
        if claimed_minor is not None:  # the lower figure is agreed and stays due; the rest is disputed
            agreed = min(line.listed_minor, claimed_minor)
            payment.disputed_minor = max(payment.disputed_minor, payment.amount_minor - agreed)
        payment.e_invoice_no = answer.e_invoice_no or payment.e_invoice_no
        session.add_all([line, payment])
    session.refresh(statement)
    audit.record(
        session,
        actor=by,
        action="statement.answered",
        entity="statement",
        entity_id=statement.id,
        relationship_id=statement.relationship_id,
        data={
            "confirmed": sum(1 for _, _, a, _ in plan if a.answer == "confirm"),
            "disputed": sum(1 for _, _, a, _ in plan if a.answer == "dispute"),
        },
    )
    return statement


def _plan_answers(
    lines: list[tuple[StatementLine, Payment]],
    answers: list[LineAnswer],
    problems: list[Problem],
    *,
    answered: set[int],
) -> list[tuple[StatementLine, Payment, LineAnswer, int | None]]:
    """Match answers to lines, adding a problem for a missing, unknown or inconsistent answer."""
    by_line = {a.line_id: a for a in answers}
    known = {line.id for line, _ in lines}
    problems += [
        Problem(f"line {a.line_id}", "not a line of this statement")
        for a in answers
        if a.line_id not in known
    ]
    plan = []
    for line, payment in lines:
        where = f"line {line.id} ({payment.invoice_id})"
        answer = by_line.get(id_of(line))
        if answer is None:
            if line.id not in answered:  # an answer that failed validation is already named
                problems.append(Problem(where, "confirm or dispute this invoice"))
            continue
        if answer.e_invoice_no and payment.e_invoice_no and answer.e_invoice_no != payment.e_invoice_no:
            problems.append(
                Problem(f"{where}, e_invoice_no", f"the invoice is recorded with {payment.e_invoice_no}")
            )
        claimed = _claimed(answer, line, where, problems) if answer.answer == "dispute" else None
        plan.append((line, payment, answer, claimed))
    return plan


def _claimed(answer: LineAnswer, line: StatementLine, where: str, problems: list[Problem]) -> int | None:
    if not answer.reason:
        problems.append(Problem(f"{where}, reason", "say why you dispute this invoice"))
    if answer.claimed is None:
        problems.append(Problem(f"{where}, claimed", "give the amount you say is owed"))
        return None
    try:
        claimed = to_minor(answer.claimed, line.currency)
    except ValueError as exc:
        problems.append(Problem(f"{where}, claimed", str(exc)))
        return None
    if claimed == line.listed_minor:
        problems.append(Problem(f"{where}, claimed", "this is the listed amount: confirm the line instead"))
    if claimed > 100 * max(line.listed_minor, 1):
        problems.append(Problem(f"{where}, claimed", "more than a hundred times the listed amount"))
    return claimed


def asked_minutes(session: Session, ids: list[int], *, start: date, end: date) -> dict[int, int]:
    """Return, per relationship, the partner minutes asked by statements issued in a period."""
    since = datetime.combine(start, time(), tzinfo=get_settings().tz)
    until = datetime.combine(end + timedelta(days=1), time(), tzinfo=get_settings().tz)
    query = (
        select(Statement.relationship_id, func.sum(Statement.effort_minutes))
        .where(
            col(Statement.relationship_id).in_(ids),
            col(Statement.issued_at) >= since,
            col(Statement.issued_at) < until,
        )
        .group_by(col(Statement.relationship_id))
    )
    found: dict[int, int] = defaultdict(int)
    for rid, minutes in session.connection().execute(query):
        found[rid] = int(minutes or 0)
    return found
