"""`tandem payment`: invoices read by their payment clock, contract terms and partner requests."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deployments.cli.common import (
    ENCODING_FLAG,
    Encoding,
    OnBehalfOf,
    OverrideReason,
    actor,
    authorize,
    console,
    db,
    fields_as_flags,
    handle_errors,
    plain_row,
    principal,
    print_json,
    validated,
)
from models.core.base import id_of
from models.core.calendar import today_local
from models.core.errors import InputRejected, Problem
from models.core.vocabulary import BuyerType, ClockBasis, PaymentMethod
from models.lifecycle.relationships import find_relationship
from models.payments.clock import invoice_clock
from models.payments.contract import TermsUpdate, contract_for, set_terms
from models.payments.law import payment_law, rules_applied
from models.payments.ledger import PaymentCreate, add_payment, from_minor, import_payments, payments_of
from models.payments.requests import answer_request, answered_late, request_public, requests_of

app = typer.Typer(
    help="Record invoices and payments; contract payment terms; partner requests.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ADD_FLAGS = {
    "relationship": "--relationship",
    "invoice_id": "--invoice",
    "delivered_on": "--delivered",
    "invoiced_on": "--invoiced",
    "amount": "--amount",
    "currency": "--currency",
    "paid_on": "--paid",
    "accepted_on": "--accepted",
    "settled_on": "--settled",
    "payment_method": "--method",
    "matures_on": "--matures",
    "disputed_amount": "--disputed",
    "e_invoice_no": "--e-invoice",
}
TERMS_FLAGS = {
    "buyer_type": "--buyer",
    "basis": "--basis",
    "acceptance_days": "--acceptance-days",
    "agreed_rate_percent": "--agreed-rate",
    "justification": "--justification",
}


@app.command("import")
@handle_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV: invoice_id, relationship, delivered_on, invoiced_on, amount, currency; optional "
            "paid_on, accepted_on, settled_on, payment_method (cash, bill, e_voucher), matures_on, "
            "disputed_amount, e_invoice_no."
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only; write nothing.")] = False,
    encoding: Encoding = None,
    as_json: JsonFlag = False,
) -> None:
    """Import payments from a CSV file; any problem stops the whole file, reported by line and column."""
    with fields_as_flags(ENCODING_FLAG), db() as session:
        authorize("payment.write", session=session)
        plan = import_payments(session, file, actor=actor(), dry_run=dry_run, encoding=encoding)
    summary = {
        "new": len(plan.new),
        "updated": len(plan.updated),
        "paid": plan.paid,
        "unchanged": plan.unchanged,
        "dry_run": dry_run,
    }
    if as_json:
        print_json(summary)
        return
    verb = "would import" if dry_run else "imported"
    console.print(
        f"{verb} {summary['new']} invoice(s); {summary['updated']} updated ({summary['paid']} newly paid), "
        f"{summary['unchanged']} unchanged"
    )


@app.command("add")
@handle_errors
def add(
    relationship: Annotated[str, typer.Option("--relationship", help="Relationship id or key.")],
    invoice: Annotated[str, typer.Option("--invoice", help="Invoice id (unique per relationship).")],
    delivered: Annotated[str, typer.Option("--delivered", help="Delivery date, YYYY-MM-DD.")],
    invoiced: Annotated[str, typer.Option("--invoiced", help="Invoice date, YYYY-MM-DD.")],
    amount: Annotated[str, typer.Option("--amount", help="Amount, e.g. 1234.50.")],
    currency: Annotated[str, typer.Option("--currency", help="ISO currency code.")],
    paid: Annotated[
        str | None, typer.Option("--paid", help="Paid date, YYYY-MM-DD (omit if unpaid).")
    ] = None,
    accepted: Annotated[
        str | None, typer.Option("--accepted", help="Inspection or acceptance passed, YYYY-MM-DD.")
    ] = None,
    settled: Annotated[
        str | None, typer.Option("--settled", help="Settlement amount confirmed by both sides, YYYY-MM-DD.")
    ] = None,
    method: Annotated[
        PaymentMethod | None,
        typer.Option("--method", help="How it was paid: cash (default), bill, e_voucher."),
    ] = None,
    matures: Annotated[
        str | None, typer.Option("--matures", help="When a bill or e-voucher pays out, YYYY-MM-DD.")
    ] = None,
    disputed: Annotated[
        str | None, typer.Option("--disputed", help="The disputed part, e.g. 300.00 (the rest stays due).")
    ] = None,
    e_invoice: Annotated[str | None, typer.Option("--e-invoice", help="数电票 number, 20 digits.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Record one invoice, and its payment if paid."""
    data = validated(
        PaymentCreate,
        {
            "invoice_id": invoice,
            "relationship": relationship,
            "delivered_on": delivered,
            "invoiced_on": invoiced,
            "amount": amount,
            "currency": currency,
            "paid_on": paid,
            "accepted_on": accepted,
            "settled_on": settled,
            "payment_method": method.value if method else None,
            "matures_on": matures,
            "disputed_amount": disputed,
            "e_invoice_no": e_invoice,
        },
        summary="payment rejected",
        flags=ADD_FLAGS,
    )
    with db() as session:
        authorize("payment.write", session=session)
        payment = add_payment(session, data, actor=actor())
        shown = payment.model_dump(mode="json")
    if as_json:
        print_json(shown)
        return
    state = f"paid {payment.paid_on} ({payment.payment_method})" if payment.paid_on else "unpaid"
    console.print(
        f"invoice {payment.invoice_id} recorded: "
        f"{from_minor(payment.amount_minor, payment.currency)} {payment.currency}, {state}",
        highlight=False,
        markup=False,
    )


@app.command("list")
@handle_errors
def list_(
    relationship: Annotated[str, typer.Argument(help="Relationship id or key.")],
    as_of: Annotated[
        str | None, typer.Option(help="Read the clocks as of this date (default: today).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List a relationship's invoices, each with its clock: what started it, the due date, state, interest."""
    day = _date("--as-of", as_of) or today_local()
    with db() as session:
        rel = find_relationship(session, relationship)
        contract = contract_for(session, rel)
        rows = []
        for p in payments_of(session, id_of(rel)):
            clock = invoice_clock(p, contract.terms, contract.law, as_of=day, check=contract.check)
            rows.append(
                {
                    **p.model_dump(mode="json"),
                    "amount": from_minor(p.amount_minor, p.currency),
                    "clock": clock.as_dict(),
                }
            )
    if as_json:
        print_json(rows)
        return
    table = Table("invoice", "delivered", "clock from", "due", "paid", "state", "late", "amount", "owed")
    for r in rows:
        c = r["clock"]
        plain_row(
            table,
            r["invoice_id"],
            r["delivered_on"],
            f"{c['started_by'] or '-'} {c['started_on'] or ''}",
            c["due_on"] or "-",
            r["paid_on"] or "-",
            c["state"] + (f", {c['payment_method']} pays out {c['cash_on']}" if c["stretch_days"] else ""),
            str(c["days_late"] or ""),
            f"{r['amount']} {r['currency']}",
            ", ".join(f"{from_minor(m, k)} {k}" for k, m in c["owed_minor"].items()) or "-",
        )
    console.print(table)


def _date(flag: str, value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError as exc:
        raise InputRejected([Problem(flag, f"{value!r} is not a date like 2026-03-31")]) from exc


@app.command("terms")
@handle_errors
def terms(
    relationship: Annotated[str, typer.Argument(help="Relationship id or key.")],
    buyer: Annotated[
        BuyerType | None, typer.Option("--buyer", help="We pay as an enterprise or a public_body.")
    ] = None,
    basis: Annotated[
        ClockBasis | None,
        typer.Option("--basis", help="What starts the clock: delivery, acceptance, settlement (periodic)."),
    ] = None,
    acceptance_days: Annotated[
        int | None, typer.Option("--acceptance-days", help="Agreed acceptance period, days after delivery.")
    ] = None,
    agreed_rate: Annotated[
        str | None, typer.Option("--agreed-rate", help="Agreed late interest, percent a year, e.g. 4.35.")
    ] = None,
    justification: Annotated[
        str | None,
        typer.Option(
            "--justification", help="Why a term above the statutory default is reasonable ('' clears)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a relationship's payment terms and the rules that apply; with options, change them first."""
    change = validated(
        TermsUpdate,
        {
            k: v
            for k, v in {
                "buyer_type": buyer,
                "basis": basis,
                "acceptance_days": acceptance_days,
                "agreed_rate_percent": agreed_rate,
                "justification": justification,
            }.items()
            if v is not None
        },
        summary="payment terms rejected",
        flags=TERMS_FLAGS,
    )
    with db() as session:
        rel = find_relationship(session, relationship)
        authorize("payment.write", rel, session=session)
        if change.model_fields_set:
            with fields_as_flags(TERMS_FLAGS):
                set_terms(session, rel, change, actor=actor())
        contract = contract_for(session, rel)
        data = _terms_public(id_of(rel), contract)
    if as_json:
        print_json(data)
        return
    check = data["check"]
    console.print(
        f"relationship {rel.id}: {check['term_days']} days from {check['basis']}, "
        f"buyer {check['buyer_type']}; due after {check['due_days']} days"
        + (f" ({check['term_finding'].replace('_', ' ')})" if check["term_finding"] else ""),
        highlight=False,
    )
    rules = data["rules"]
    if rules is None:
        console.print("no SME payment law protects this partner: the contract term applies", highlight=False)
        return
    console.print(f"{rules['name']['en']} ({rules['source']['en']})", highlight=False, markup=False)
    for key in (
        "term",
        "clock",
        "undisputed",
        "non_cash",
        "interest",
        "fixed_fee",
        "confirmation",
        "no_retaliation",
    ):
        if rules[key]:
            console.print(
                f"  {rules[key]['article']['en']}: {rules[key]['text']['en']}", highlight=False, markup=False
            )


def _terms_public(relationship_id: int, contract: Any) -> dict[str, Any]:
    terms = contract.terms
    return {
        "relationship_id": relationship_id,
        "terms": {
            "term_days": terms.term_days,
            "buyer_type": terms.buyer_type,
            "basis": terms.basis,
            "acceptance_days": terms.acceptance_days,
            "agreed_rate_percent": f"{terms.agreed_rate_bp / 100:.2f}"
            if terms.agreed_rate_bp is not None
            else None,
            "justification": terms.justification,
            "signed_on": terms.signed_on.isoformat() if terms.signed_on else None,
        },
        "size_class": contract.size_class,
        "check": contract.check.as_dict(),
        "rules": rules_applied(contract.check.law_id, buyer_type=terms.buyer_type, basis=terms.basis),
    }


@app.command("law")
@handle_errors
def law(as_json: JsonFlag = False) -> None:
    """List the payment laws Tandem reads: per buyer type the default term and cap, with their articles."""
    table = payment_law()
    data: list[dict[str, Any]] = [
        {
            "id": j.id,
            "name": j.name,
            "countries": list(j.countries),
            "size_classes": list(j.size_classes),
            "buyers": {
                b.value: {"default_days": r.default_days, "cap_days": r.cap_days, "article": r.rule.article}
                for b, r in j.buyers.items()
            },
            "interest": {"article": j.interest.article, "text": j.interest.text},
        }
        for j in table.jurisdictions
    ]
    if as_json:
        print_json(data)
        return
    out = Table("law", "protects", "enterprise: default / cap", "public body: default / cap", "interest")
    for j in data:
        b = j["buyers"]
        plain_row(
            out,
            j["name"]["en"],
            ", ".join(j["size_classes"]),
            _term(b["enterprise"]),
            _term(b["public_body"]),
            j["interest"]["article"],
        )
    console.print(out)


def _term(rule: dict[str, Any]) -> str:
    return f"{rule['default_days']} / {rule['cap_days'] or '-'} ({rule['article']})"


@app.command("requests")
@handle_errors
def requests(
    relationship: Annotated[str | None, typer.Argument(help="Relationship id or key (default: all).")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only those not yet answered.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List the partners' payment and confirmation (确权) requests, with the date each must be answered by."""
    with db() as session:
        rid = find_relationship(session, relationship).id if relationship else None
        rows = [
            request_public(r, invoice_id) for r, invoice_id in requests_of(session, rid, open_only=open_only)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "relationship", "invoice", "kind", "asked by", "answer by", "answered")
    for r in rows:
        plain_row(
            table,
            str(r["id"]),
            str(r["relationship_id"]),
            r["invoice_id"],
            r["kind"],
            r["requested_by"],
            r["respond_by"] + (" (overdue)" if r["overdue"] else ""),
            r["answered_at"] or "-",
        )
    console.print(table)


@app.command("answer")
@handle_errors
def answer(
    request_id: Annotated[int, typer.Argument(help="The request's id (tandem payment requests).")],
    text: Annotated[str, typer.Option("--answer", help="What was done, e.g. 'receivable confirmed'.")],
    on_behalf_of: OnBehalfOf = None,
    reason: OverrideReason = None,
) -> None:
    """Answer a partner's payment or confirmation request (once)."""
    with db() as session:
        authorize("payment.write", session=session)
        late = answered_late(answer_request(session, request_id, by=principal().acting_for, answer=text))
    console.print(
        f"request {request_id} answered" + (" after its answer-by date" if late else ""), highlight=False
    )
