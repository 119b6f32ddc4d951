"""`tandem remind`, `tandem outbox` and `tandem notify`: reminders, the outbox, and channel tests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from deployments.cli import common
from deployments.cli.common import actor, authorize, console, db, handle_errors, print_json
from models.core.base import id_of
from models.core.db import ensure_schema
from models.core.errors import InputRejected, Problem
from models.core.settings import get_settings
from models.core.validation import MAX_RECORD_ID
from models.tables import DeliveryStatus, MessageStatus
from notifications.delivery import (
    DeliveryReport,
    deliver_batches,
    deliver_due,
    delivery_problems,
    send_test_message,
)
from notifications.outbox import deliveries_of, list_messages, message_public, retry_message
from notifications.reminders import sweep
from tasks.secrets import smtp_password

outbox_app = typer.Typer(
    help="See, deliver and retry queued, sent, failed and dead messages.", no_args_is_help=True
)
notify_app = typer.Typer(help="Check that a contact's channels work.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def parse_as_of(value: str | None) -> datetime | None:
    """Parse --as-of (ISO date or datetime; without an offset it is in the organization's timezone)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputRejected([Problem("--as-of", f"not an ISO date or datetime: {value!r}")]) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=get_settings().tz)


@handle_errors
def remind(
    as_of: Annotated[str | None, typer.Option(help="Sweep as of DATETIME (ISO; default now).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the digests without queueing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Sweep due and overdue items and queue one digest per recipient for today."""
    when = parse_as_of(as_of)
    with db() as session:
        authorize("notify.manage", session=session)
        report = sweep(session, as_of=when, dry_run=dry_run)
    if as_json:
        print_json(report.as_dict())
        return
    verb = "would queue" if dry_run else "queued"
    console.print(
        f"{report.items} due item(s); {verb} {len(report.digests) if dry_run else report.queued} digest(s); "
        f"{report.already_queued} already queued; {report.not_today} not on cadence today; "
        f"{report.unreachable} unreachable",
        highlight=False,
    )
    for digest in report.digests:
        console.print(
            f"  {digest['recipient']}: {digest['items']} item(s) in {digest['relationships']} "
            f"relationship(s), {digest['status']}",
            highlight=False,
        )


@outbox_app.command("list")
@handle_errors
def outbox_list(
    status: Annotated[MessageStatus | None, typer.Option(help="Only this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="Most rows to show.")] = 200,
    as_json: JsonFlag = False,
) -> None:
    """List outbox messages, newest first (targets masked, no bodies)."""
    with db() as session:
        rows = [
            message_public(m, deliveries_of(session, id_of(m)))
            for m in list_messages(session, status=status.value if status else None, limit=limit)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "to", "status", "attempts", "subject", "last error")
    for row in rows:
        to = f"contact {row['recipient_id']}"
        if row["team"] or row["webhook_id"]:
            to = f"team {row['team']}" if row["team"] else f"webhook {row['webhook_id']}"
        error = (row["last_error"] or "")[:60]
        table.add_row(
            str(row["id"]), row["kind"], to, row["status"], str(row["attempts"]), row["subject"], error
        )
    console.print(table)


@outbox_app.command("retry")
@handle_errors
def outbox_retry(
    message_id: Annotated[int, typer.Argument(min=1, max=MAX_RECORD_ID, help="Outbox message id.")],
) -> None:
    """Queue a dead or failed message again with fresh attempts."""
    with db() as session:
        authorize("notify.manage", session=session)
        message = retry_message(session, message_id, actor=actor())
        console.print(f"message {message.id} queued again: {message.subject}", highlight=False)


@outbox_app.command("deliver")
@handle_errors
def outbox_deliver(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most messages to claim.")] = 5000,
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="Messages claimed at a time.")] = 200,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Sends in flight at once.")] = 4,
    per_minute: Annotated[
        int | None, typer.Option(min=0, help="Sends a minute per chat target (default: vendor limits).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Deliver what is due now, once, in this process (no Prefect), and print what happened.

    Safe beside the `deliver-outbox` deployment: claims are compare-and-set with a lease, so no
    message is sent by both. Exit 1 if the configuration keeps some messages from going out.
    """
    ensure_schema()
    password = smtp_password()
    report = DeliveryReport(problems=delivery_problems())
    report.add(
        deliver_batches(
            lambda size: deliver_due(
                limit=size, max_workers=workers, per_minute=per_minute, smtp_password=password
            ),
            limit=limit,
            batch_size=batch_size,
        )
    )
    if as_json:
        print_json(report.as_dict())
    else:
        _print_delivery(report)
    if report.problems:
        raise typer.Exit(common.EXIT_REJECTED)


def _print_delivery(report: DeliveryReport) -> None:
    console.print(
        f"{report.claimed} claimed: {report.sent} sent, {report.failed} failed (retried later), "
        f"{report.dead} dead, {report.cancelled} cancelled, {report.deferred} deferred to allowed hours, "
        f"{report.lost} taken over by another worker; targets: {report.targets_sent} sent, "
        f"{report.targets_failed} failed, {report.targets_unknown} unknown",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for error in report.errors:
        console.print(f"  {error}", highlight=False, markup=False, soft_wrap=True)
    for problem in report.problems:
        common.err_console.print(f"problem: {problem}", highlight=False, markup=False, soft_wrap=True)


@notify_app.command("test")
@handle_errors
def notify_test(
    contact_email: Annotated[str, typer.Argument(help="The contact's email address.")],
    as_json: JsonFlag = False,
) -> None:
    """Send a test message to every channel of a contact now and show each result."""
    ensure_schema()
    message_id, deliveries = send_test_message(contact_email, smtp_password=smtp_password())
    results = [
        {"channel": d.channel, "target": d.target_masked, "status": d.status, "result": d.result}
        for d in deliveries
    ]
    if as_json:
        print_json({"message_id": message_id, "deliveries": results})
    else:
        for r in results:
            console.print(
                f"{r['target']}: {r['status']} ({r['result']})", highlight=False, markup=False, soft_wrap=True
            )
    if not results or any(d.status != DeliveryStatus.sent.value for d in deliveries):
        raise typer.Exit(common.EXIT_REJECTED)
