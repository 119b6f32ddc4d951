"""`make demo`: the main job end to end on the embedded default (SQLite and the local Prefect server).

Imports the bundled sample partners, onboards several with scripted sponsor approvals, sets up
governance for one, exits one, and prints where each stands.
"""

from __future__ import annotations

import os
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from models.core.base import id_of

console = Console(width=140)
SAMPLES = Path(str(resources.files("deployments.samples")))
SAMPLE = SAMPLES / "partners.csv"
PERIOD = "2026Q4"
# The demo's relationships started in June, so their first quarterly review falls in 2026Q4.
GOVERNED_ON = date(2026, 6, 1)
SPONSOR = "li.wei@bigco.example"
MANAGER = "zhang.hua@bigco.example"
DEPUTY = "chen.jing@bigco.example"

# (partner registration, partner contact, backup contact, criticality, dependency, payment days)
ONBOARD = [
    ("CN:91320500MA1JG0001G", "wang.jianguo@jinggong.example.cn", None, "low", 0.10, 45),
    ("CN:91330100MA2YY0002L", "li.xiaoyan@yunzhan.example.cn", "ops@yunzhan.example.cn", "medium", 0.25, 60),
    ("CN:91440300MA5HX00036", "chen.zhiqiang@huaxin.example.cn", "cfo@huaxin.example.cn", "high", 0.60, 60),
    (
        "DE:HRB 701234",
        "anna.mueller@mueller-praezision.example.de",
        "office@mueller-praezision.example.de",
        "high",
        0.35,
        30,
    ),
    ("FR:RCS 812 345 678", "claire@atelier-lumiere.example.fr", None, "low", 0.05, 30),
    (
        "SE:556677-8899",
        "lars.nilsson@nordicsensor.example.se",
        "cto@nordicsensor.example.se",
        "medium",
        0.15,
        45,
    ),
]


def _prepare_environment() -> None:
    home = Path(os.environ.setdefault("TANDEM_HOME", str(Path.cwd() / ".demo"))).expanduser()
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TANDEM_TIMEZONE", "Asia/Shanghai")
    os.environ.setdefault("TANDEM_ORGANIZATION_NAME", "BigCo Manufacturing")


def _import_partners() -> None:
    from models.core.db import session_scope, upgrade_schema
    from models.partners.importer import import_partners

    upgrade_schema()
    with session_scope() as session:
        plan = import_partners(session, SAMPLE, actor="demo")
    console.print(f"[bold]1.[/bold] imported {len(plan.rows)} sample partners from {SAMPLE.name}")
    _print_partners()


def _print_partners() -> None:
    from sqlmodel import col, select

    from models.core.db import session_scope
    from models.partners.registry import classify_partner
    from models.tables import Partner

    table = Table("id", "partner", "country", "industry", "staff", "size", "scheme", title="Sample partners")
    with session_scope() as session:
        for p in session.exec(select(Partner).order_by(col(Partner.id))):
            size = classify_partner(p)
            table.add_row(
                str(p.id), p.legal_name, p.country, p.industry, str(p.employees), size.size_class, size.scheme
            )
    console.print(table)


def _onboard_all() -> list[int]:
    from flows.onboard_partner import OnboardingRequest, onboard_partner

    ids = []
    for ref, contact, backup, criticality, dependency, days in ONBOARD:
        result = onboard_partner(
            OnboardingRequest(
                partner_ref=ref,
                manager=MANAGER,
                deputy=DEPUTY,
                sponsor=SPONSOR,
                partner_contact=contact,
                backup_contact=backup,
                criticality=criticality,
                dependency_ratio=dependency,
                payment_term_days=days,
                approve_as=SPONSOR,
            )
        )
        ids.append(result["relationship_id"])
        console.print(
            f"   onboarded {ref}: tier {result['tier']}, {result['checklist_items']} items, "
            f"partner effort {result['partner_minutes']}/{result['budget_minutes']} min"
        )
    console.print(f"[bold]2.[/bold] onboarded {len(ids)} partners with scripted sponsor approvals")
    return ids


def _answer_required(relationship_id: int, stage: str) -> int:
    """Close the stage's required items as the people who own them would."""
    from models.checklists.generation import mark_done, open_required
    from models.core.db import session_scope
    from models.tables import Contact, Relationship

    with session_scope() as session:
        rel = session.get(Relationship, relationship_id)
        assert rel is not None  # onboarded just now
        items = open_required(session, relationship_id, stage)
        for item in items:
            owner = session.get(Contact, item.owner_contact_id) if item.owner_contact_id else None
            manager = session.get(Contact, rel.manager_id)
            assert manager is not None  # foreign key
            by = owner.email if owner else manager.email
            mark_done(session, id_of(item), by=by, evidence="demo: answered")
    return len(items)


def _govern(relationship_id: int) -> None:
    from flows.setup_governance import setup_governance

    closed = _answer_required(relationship_id, "onboarding")
    governed = setup_governance(str(relationship_id), GOVERNED_ON)
    closed_governance = _answer_required(relationship_id, "governance")
    active = setup_governance(str(relationship_id), GOVERNED_ON)
    console.print(
        f"   relationship {relationship_id}: {closed} onboarding items answered, charter and "
        f"{governed['risks_seeded']} risks set up, {closed_governance} governance items closed -> "
        f"{active['stage']}, first review {active['next_review_on']}"
    )


# The payment clock of each governed relationship: (key, terms) and what its partner did in the portal.
JINGGONG, YUNZHAN, HUAXIN = "cn-91320500ma1jg0001g", "cn-91330100ma2yy0002l", "cn-91440300ma5hx00036"
TERMS: dict[str, dict[str, Any]] = {
    YUNZHAN: {"basis": "acceptance", "acceptance_days": 15},  # payment after acceptance, 15 days agreed
    HUAXIN: {"basis": "settlement"},  # monthly statements (对账单): the clock runs from confirmation
}


def _payments() -> None:
    """Set the contracts' payment terms, import invoices, and let partners confirm a statement and ask."""
    from sqlmodel import select

    from models.core.db import session_scope
    from models.lifecycle.relationships import find_relationship
    from models.payments.contract import DeclarationCreate, TermsUpdate, declare_size, set_terms
    from models.payments.ledger import import_payments
    from models.payments.requests import request_about
    from models.payments.statements import answer_statement, issue_statement, lines_of, period_bounds
    from models.tables import Contact, Payment

    with session_scope() as session:
        for key, terms in TERMS.items():
            set_terms(session, find_relationship(session, key), TermsUpdate(**terms), actor="demo")
        jinggong = find_relationship(session, JINGGONG)
        declared = DeclarationCreate(
            size_class="micro", declared_by="wang.jianguo@jinggong.example.cn", declared_on=GOVERNED_ON
        )
        declare_size(session, jinggong, declared, source="record", recorded_by="demo")
        plan = import_payments(session, SAMPLES / "payments.csv", actor="demo")
        huaxin = find_relationship(session, HUAXIN)
        start, end = period_bounds("2026-10")
        statement = issue_statement(session, huaxin, start=start, end=end, actor=MANAGER)
        contact = session.get(Contact, huaxin.partner_contact_id)
        (a_line, _), (b_line, _) = lines_of(session, id_of(statement))
        answers = [
            {"line_id": a_line.id, "answer": "confirm", "e_invoice_no": "25442000000001010001"},
            {
                "line_id": b_line.id,
                "answer": "dispute",
                "claimed": "35000.00",
                "reason": "2 箱短少（签收单已附）",
            },
        ]
        assert contact is not None  # foreign key
        answer_statement(session, statement, answers, by=contact.email)
        overdue = session.exec(
            select(Payment).where(Payment.relationship_id == huaxin.id, Payment.invoice_id == "HX-2026-08")
        ).one()
        request_about(session, huaxin, id_of(overdue), kind="confirmation", by=contact.email)
    console.print(
        f"[bold]5.[/bold] payment terms set (acceptance for Yunzhan, monthly statements for Huaxin), "
        f"Jinggong's size declaration recorded, {len(plan.new)} invoices imported; Huaxin confirmed one line "
        "of its October statement and disputed the other, and asked us to confirm a receivable (确权)",
        highlight=False,
    )


def _review() -> None:
    """Load both sides' scores, run the quarterly review, write the portfolio and disclosure reports."""
    from flows.portfolio_report import portfolio_report
    from flows.quarterly_review import quarterly_review
    from models.core.db import session_scope
    from models.lifecycle.relationships import find_relationship
    from models.reviews.scorecards import import_scores

    _payments()
    with session_scope() as session:
        rel = find_relationship(session, JINGGONG)
        for side in ("ours", "partner"):
            import_scores(
                session, rel, SAMPLES / f"scores_{side}.yaml", period=PERIOD, side=side, actor="demo"
            )
    result = quarterly_review(period=PERIOD)
    console.print(
        f"   quarterly-review {PERIOD}: {result['reviewed']} of {result['due']} due reviewed, "
        f"{result['escalated']} escalated, {result['messages']} messages queued "
        "(invitations with .ics, one summary per manager and sponsor); "
        f"packs: tandem review pack ID --period {PERIOD} --lang zh-CN --format html",
        highlight=False,
    )
    out = Path(os.environ["TANDEM_HOME"]) / "portfolio.html"
    report = portfolio_report(out=str(out))
    console.print(f"[bold]6.[/bold] portfolio report of {report['count']} relationships written to {out}")
    _disclosure()


def _disclosure() -> None:
    """Write the year's disclosure of overdue payments to SMEs (Art. 18), in Chinese, as HTML and CSV."""
    from models.core.db import session_scope
    from models.payments.disclosure import sme_payments
    from notifications.disclosure import disclosure_csv, disclosure_html

    with session_scope() as session:
        data = sme_payments(session, year=GOVERNED_ON.year)
    home = Path(os.environ["TANDEM_HOME"])
    (home / "sme-payments.html").write_text(disclosure_html(data, language="zh-CN"), encoding="utf-8")
    (home / "sme-payments.csv").write_text(disclosure_csv(data, language="zh-CN"), encoding="utf-8")
    cn = data["sections"][0]
    overdue = ", ".join(f"{a['amount']} {a['currency']}" for a in cn["overdue"]) or "0"
    console.print(
        f"[bold]7.[/bold] SME payment disclosure {data['year']} (as of {data['as_of']}): "
        f"{cn['contracts_overdue']} contract(s), {cn['invoices_overdue']} invoice(s), {overdue} overdue and "
        f"unpaid, longest {cn['longest_days_late']} days; written to {home}/sme-payments.html and .csv",
        highlight=False,
    )


def _exit(relationship_id: int) -> None:
    from flows.exit_relationship import exit_relationship

    started = exit_relationship(
        str(relationship_id), reason="store concept discontinued", trigger="strategy-change", by=SPONSOR
    )
    console.print(
        f"[bold]4.[/bold] relationship {relationship_id} exiting: {started['notice_days']} days' notice "
        f"until {started['notice_ends_on']}, final payment by {started['final_payment_due_on']}"
    )


def _print_portfolio() -> None:
    from sqlmodel import col, select

    from models.core.db import session_scope
    from models.tables import Partner, Relationship

    table = Table(
        "id",
        "partner",
        "size (frozen)",
        "scheme",
        "stage",
        "tier",
        "key-person flags",
        title="Where each relationship stands",
    )
    with session_scope() as session:
        for rel, partner in session.exec(
            select(Relationship, Partner).join(Partner).order_by(col(Relationship.id))
        ):
            table.add_row(
                str(rel.id),
                partner.legal_name,
                rel.size_class,
                rel.size_scheme,
                rel.stage,
                rel.tier or "-",
                "; ".join(rel.key_person_flags) or "-",
            )
    console.print(table)


def _sign_in_links() -> None:
    """Add the demo's people as users and print a sign-in link for the sponsor and the manager."""
    from models.core.db import session_scope
    from models.identity.sessions import handed_sign_in_link
    from models.identity.users import add_user

    console.print("[bold]8.[/bold] sign in as the sponsor or the manager (`tandem web`, then open a link):")
    with session_scope() as session:
        add_user(session, email=SPONSOR, name="Li Wei", role="sponsor")
        add_user(session, email=MANAGER, name="Zhang Hua", role="manager")
        for email in (SPONSOR, MANAGER):
            console.print(f"  {email}: {handed_sign_in_link(session, email, minutes=120)}", soft_wrap=True)


def main() -> None:
    """Run the demo from an empty TANDEM_HOME."""
    _prepare_environment()
    from deployments.local_server import prefect_runtime

    # The flows run on the local Prefect server under TANDEM_HOME, which `tandem` commands reuse.
    with prefect_runtime():
        _import_partners()
        ids = _onboard_all()
        console.print("[bold]3.[/bold] governance set up for three relationships")
        for relationship_id in ids[:3]:
            _govern(relationship_id)
        _exit(ids[4])
        _review()
    _print_portfolio()
    _sign_in_links()
    console.print(
        f"database: {os.environ['TANDEM_HOME']}/tandem.db · try: TANDEM_HOME={os.environ['TANDEM_HOME']} "
        ".venv/bin/tandem relationship list"
    )


if __name__ == "__main__":
    main()
