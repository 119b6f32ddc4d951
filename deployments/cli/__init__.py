"""The `tandem` command: one entry point for every job a person runs by hand."""

from __future__ import annotations

import os

import typer

from deployments.cli import api_token as api_token_cli
from deployments.cli import checklist as checklist_cli
from deployments.cli import config as config_cli
from deployments.cli import export as export_cli
from deployments.cli import library as library_cli
from deployments.cli import lifecycle as lifecycle_cli
from deployments.cli import notify as notify_cli
from deployments.cli import ops as ops_cli
from deployments.cli import partner as partner_cli
from deployments.cli import payment as payment_cli
from deployments.cli import relationship as relationship_cli
from deployments.cli import report as report_cli
from deployments.cli import review as review_cli
from deployments.cli import statement as statement_cli
from deployments.cli import user as user_cli
from deployments.cli import web as web_cli
from deployments.cli import webhook as webhook_cli

app = typer.Typer(
    name="tandem",
    help="Run collaborative relationships with MSME partners (ISO 44004 / GB/T 43834-2024).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cli.config_app, name="config")
app.add_typer(config_cli.db_app, name="db")
app.add_typer(partner_cli.app, name="partner")
app.add_typer(partner_cli.contact_app, name="contact")
app.add_typer(relationship_cli.app, name="relationship")
app.add_typer(library_cli.app, name="library")
app.add_typer(checklist_cli.app, name="checklist")
lifecycle_cli.register(app)
app.command("remind")(notify_cli.remind)
app.add_typer(notify_cli.outbox_app, name="outbox")
app.add_typer(notify_cli.notify_app, name="notify")
app.add_typer(webhook_cli.app, name="webhook")
app.add_typer(api_token_cli.app, name="api-token")
app.add_typer(export_cli.app, name="export")
app.add_typer(review_cli.app, name="review")
app.add_typer(payment_cli.app, name="payment")
app.add_typer(statement_cli.app, name="statement")
app.add_typer(report_cli.app, name="report")
app.add_typer(user_cli.app, name="user")
app.command("web")(web_cli.web)
app.add_typer(web_cli.portal_app, name="portal")
ops_cli.register(app)


def main() -> None:
    """Run the tandem command line."""
    # Defaults for the embedded Prefect when nobody configured one: no phoning home, and time for
    # the local server's first start (15-19 s measured here, against Prefect's 20 s default).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    app()
