"""The `tandem` command: one entry point for every job a person runs by hand.

Commands are listed here by name, with where they live and a one-line help; a command's module is
imported only when the command runs (see `lazy.py`). A command that runs no flow never imports
Prefect: `tandem --help` and the listings answer at once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from deployments.cli.lazy import Entry, LazyGroup

_CLI = "deployments.cli"
T = TypeVar("T")

# name -> where it lives, and its help line (kept equal to the module's own: a test checks it).
COMMANDS: dict[str, Entry] = {
    "onboard": Entry(
        f"{_CLI}.lifecycle:onboard",
        "Run `onboard-partner`: open the relationship, get the sponsor's approval, generate the checklist.",
    ),
    "approve": Entry(
        f"{_CLI}.lifecycle:approve",
        "Approve an onboarding as its sponsor: resume the waiting run, or continue the onboarding.",
    ),
    "reject": Entry(
        f"{_CLI}.lifecycle:reject",
        "Reject an onboarding as its sponsor; the relationship stays proposed with the reason recorded.",
    ),
    "governance": Entry(
        f"{_CLI}.lifecycle:governance",
        "Run `setup-governance` once onboarding is done; run it again to activate when governance is done.",
    ),
    "exit": Entry(
        f"{_CLI}.lifecycle:exit_",
        "Run `exit-relationship`: start the planned exit, or close it when the exit checklist is done.",
    ),
    "exit-propose": Entry(
        f"{_CLI}.lifecycle:exit_propose",
        "Propose an exit as the manager; the sponsor approves it before `tandem exit` runs it.",
    ),
    "exit-approve": Entry(
        f"{_CLI}.lifecycle:exit_approve", "Approve a proposed exit as the relationship's executive sponsor."
    ),
    "remind": Entry(
        f"{_CLI}.notify:remind", "Sweep due and overdue items and queue one digest per recipient for today."
    ),
    "web": Entry(f"{_CLI}.web:web", "Serve the partner portal and the staff dashboard (see docs/WEB.md)."),
    "serve": Entry(
        f"{_CLI}.ops:serve",
        "Serve every deployment in this process against the configured Prefect API (Ctrl-C stops).",
    ),
    "deploy": Entry(
        f"{_CLI}.ops:deploy",
        "Register every deployment on a work pool, with the governance automation and concurrency limits.",
    ),
    "server": Entry(f"{_CLI}.server:app", "The local Prefect server Tandem starts once and reuses."),
    "config": Entry(f"{_CLI}.config:config_app", "Show the effective configuration."),
    "db": Entry(f"{_CLI}.config:db_app", "Create or upgrade the database schema."),
    "partner": Entry(f"{_CLI}.partner:app", "Register, import, list and classify partners."),
    "contact": Entry(f"{_CLI}.partner:contact_app", "People on either side of a relationship."),
    "relationship": Entry(f"{_CLI}.relationship:app", "Open, list and show relationships."),
    "library": Entry(f"{_CLI}.library:app", "Checklist content library."),
    "checklist": Entry(f"{_CLI}.checklist:app", "Proportionate checklists per relationship and stage."),
    "outbox": Entry(
        f"{_CLI}.notify:outbox_app", "See, deliver and retry queued, sent, failed and dead messages."
    ),
    "notify": Entry(f"{_CLI}.notify:notify_app", "Check that a contact's channels work."),
    "webhook": Entry(
        f"{_CLI}.webhook:app", "Send Tandem's events to other systems: signed CloudEvents over HTTPS."
    ),
    "api-token": Entry(f"{_CLI}.api_token:app", "Tokens for other systems calling the HTTP API (/api/v1)."),
    "export": Entry(f"{_CLI}.export:app", "Files for auditors: the audit trail and the evidence pack."),
    "review": Entry(f"{_CLI}.review:app", "Periodic reviews: run the sweep, show a review, record scores."),
    "payment": Entry(
        f"{_CLI}.payment:app", "Record invoices and payments; contract payment terms; partner requests."
    ),
    "statement": Entry(f"{_CLI}.statement:app", "Periodic statements the partner confirms in the portal."),
    "report": Entry(f"{_CLI}.report:app", "Reports across the portfolio."),
    "user": Entry(f"{_CLI}.user:app", "Manage the people who sign in: roles, tokens, disabling."),
    "portal": Entry(f"{_CLI}.web:portal_app", "Partners' personal portal links."),
}


class TandemGroup(LazyGroup):
    """The top-level group: every command of the table above."""

    entries = COMMANDS


app = typer.Typer(
    name="tandem",
    cls=TandemGroup,
    help="Run collaborative relationships with MSME partners (ISO 44004 / GB/T 43834-2024).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    # A callback makes Typer build a group even though no command is registered on it directly.
    pass


def main() -> None:
    """Run the tandem command line; a command goes to the warm runner when one answers for it."""
    from deployments import warm

    argv = sys.argv[1:]
    if not warm.wants(argv):
        app()
        return
    environ = dict(os.environ)  # as it started: the runner is matched on it
    code = _quietly(warm.delegate, argv)
    if code is not None:
        sys.exit(code)
    try:
        app()
    finally:
        _quietly(warm.start_if_needed, environ)


def _quietly(fn: Callable[..., T], *args: Any) -> T | None:
    """Call a warm-runner step; any problem there means "run the command here", never a failure."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - the command itself reports real problems (settings, database)
        return None
