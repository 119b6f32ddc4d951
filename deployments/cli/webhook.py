"""`tandem webhook`: systems that receive Tandem's events as signed CloudEvents (docs/WEBHOOKS.md).

Imports of the database, the outbox and HTTP happen inside each command, so loading this module for
`tandem --help` costs nothing; none of these commands runs a flow or imports Prefect.
"""

from __future__ import annotations

from typing import Annotated

import typer

from deployments.cli import common
from deployments.cli.common import actor, authorize, console, db, handle_errors, plain_row, print_json

app = typer.Typer(
    help="Send Tandem's events to other systems: signed CloudEvents over HTTPS.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
WebhookId = Annotated[int, typer.Argument(help="Webhook id (see `tandem webhook list`).")]


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@app.command("add")
@handle_errors
def add(
    url: Annotated[
        str, typer.Argument(help="https:// URL (plain http only to 127.0.0.1, ::1 or localhost).")
    ],
    events: Annotated[
        list[str],
        typer.Option(
            "--events",
            help="Event types, comma-separated or repeated (e.g. com.tandem.relationship.stage_changed), "
            "or `all`.",
        ),
    ],
    secret_from_env: Annotated[
        str,
        typer.Option(
            "--secret-from-env",
            metavar="VAR",
            help="Environment variable holding the signing secret (24+ characters); read now, stored "
            "encrypted, never shown.",
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Subscribe a URL to event types; each delivery is signed with the secret."""
    import os

    from models.webhooks.subscriptions import add_subscription, subscription_public

    with db() as session:
        authorize("webhook.manage", session=session)
        subscription = add_subscription(
            session, url=url, events=events, secret_env=secret_from_env, environ=os.environ, actor=actor()
        )
        shown = subscription_public(subscription, {})
    if as_json:
        print_json(shown)
        return
    _say(f"webhook {shown['id']} sends {', '.join(shown['events'])} to {shown['url']}")
    _say(f"try it: tandem webhook test {shown['id']}")


@app.command("list")
@handle_errors
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include removed webhooks.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List webhooks (URLs in privacy form) with their deliveries by status."""
    from rich.table import Table

    from models.webhooks.subscriptions import list_subscriptions

    with db() as session:
        rows = list_subscriptions(session, include_removed=all_)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "url", "events", "sent", "waiting", "dead", "removed")
    for row in rows:
        counts = row["deliveries"]
        waiting = counts["queued"] + counts["sending"] + counts["failed"]
        cells = [row["id"], row["url"], ", ".join(row["events"]), counts["sent"], waiting, counts["dead"]]
        cells.append(row["removed_at"] or "")
        plain_row(table, *cells)
    console.print(table)


@app.command("remove")
@handle_errors
def remove(webhook_id: WebhookId) -> None:
    """Stop a webhook and cancel its undelivered events."""
    from models.webhooks.subscriptions import remove_subscription

    with db() as session:
        authorize("webhook.manage", session=session)
        cancelled = remove_subscription(session, webhook_id, actor=actor())
    _say(f"webhook {webhook_id} removed; {cancelled} undelivered event(s) cancelled")


@app.command("retry")
@handle_errors
def retry(webhook_id: WebhookId) -> None:
    """Queue a webhook's dead deliveries again with fresh attempts (after the receiver is fixed)."""
    from models.webhooks.subscriptions import retry_dead

    with db() as session:
        authorize("webhook.manage", session=session)
        retried = retry_dead(session, webhook_id, actor=actor())
    _say(f"webhook {webhook_id}: {retried} dead delivery(ies) queued again")


@app.command("test")
@handle_errors
def test(webhook_id: WebhookId, as_json: JsonFlag = False) -> None:
    """Send a signed `com.tandem.webhook.test` event through the outbox now and show the result."""
    from models.core.db import ensure_schema
    from models.tables import DeliveryStatus
    from notifications.delivery import send_test_event

    ensure_schema()
    authorize("webhook.manage")
    message_id, deliveries = send_test_event(webhook_id, actor=actor())
    results = [{"target": d.target_masked, "status": d.status, "result": d.result} for d in deliveries]
    if as_json:
        print_json({"message_id": message_id, "deliveries": results})
    else:
        for r in results:
            _say(f"{r['target']}: {r['status']} ({r['result']})")
    if not results or any(d.status != DeliveryStatus.sent.value for d in deliveries):
        raise typer.Exit(common.EXIT_REJECTED)
