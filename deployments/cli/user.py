"""`tandem user`: the people who sign in, their roles and personal tokens (docs/IDENTITY.md).

Imports of the database happen inside each command, so loading this module for `tandem --help`
costs nothing. Every command here needs the `user.manage` permission (administrators).
"""

from __future__ import annotations

from typing import Annotated

import typer

from deployments.cli.common import authorize, console, db, handle_errors, plain_row, print_json

app = typer.Typer(help="Manage the people who sign in: roles, tokens, disabling.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Email = Annotated[str, typer.Argument(help="The person's email (any case).")]
Roles = Annotated[
    str,
    typer.Option("--role", help="Role(s), comma-separated: administrator, manager, sponsor, team, auditor."),
]
Teams = Annotated[
    str | None, typer.Option("--teams", help="Team tags for the team role, e.g. finance,legal.")
]


@app.command("add")
@handle_errors
def add(
    email: Email, role: Roles, name: Annotated[str, typer.Option(help="Full name.")] = "", teams: Teams = None
) -> None:
    """Add a person who may sign in, with their role(s)."""
    from models.identity.users import add_user

    with db() as session:
        authorize("user.manage", session=session)
        user = add_user(session, email=email, name=name, role=role, teams=teams or "")
        console.print(f"user {user.email} added with role(s) {user.roles}")


@app.command("list")
@handle_errors
def list_(as_json: JsonFlag = False) -> None:
    """List every user with roles, teams and state."""
    from rich.table import Table

    from models.identity.users import list_users, public

    with db() as session:
        authorize("user.manage", session=session)
        users = [public(u) for u in list_users(session)]
    if as_json:
        print_json(users)
        return
    table = Table("email", "name", "roles", "teams", "state", "last seen")
    for u in users:
        state = "disabled" if u["disabled"] else "active"
        plain_row(
            table, u["email"], u["name"], ",".join(u["roles"]), ",".join(u["teams"]), state, u["last_seen_at"]
        )
    console.print(table)


@app.command("disable")
@handle_errors
def disable(email: Email, reason: Annotated[str | None, typer.Option(help="Why.")] = None) -> None:
    """Disable a user: their sessions end and their tokens stop working at once."""
    from models.identity.users import disable_user

    with db() as session:
        authorize("user.manage", session=session)
        user = disable_user(session, email, reason=reason)
        console.print(f"user {user.email} disabled; their sessions ended")


@app.command("set-role")
@handle_errors
def set_role_(email: Email, role: Roles, teams: Teams = None) -> None:
    """Change a user's role(s); their sessions end so the change applies at once."""
    from models.identity.users import set_role

    with db() as session:
        authorize("user.manage", session=session)
        user = set_role(session, email, role=role, teams=teams)
        console.print(f"user {user.email} now has role(s) {user.roles}; their sessions ended")


@app.command("token")
@handle_errors
def token(email: Email, label: Annotated[str, typer.Option(help="What the token is for.")] = "") -> None:
    """Issue a personal CLI token (shown once): set it as TANDEM_TOKEN to act as that person."""
    from models.identity.users import issue_token

    with db() as session:
        authorize("user.manage", session=session)
        _row, raw = issue_token(session, email, label=label)
    console.print("the token, shown once; keep it as TANDEM_TOKEN:")
    console.print(raw)


@app.command("link")
@handle_errors
def link(
    email: Email, minutes: Annotated[int, typer.Option(min=1, max=24 * 60, help="How long it works.")] = 60
) -> None:
    """Print a single-use sign-in link to hand to a person (e.g. on first roll-out)."""
    from models.identity.sessions import handed_sign_in_link

    with db() as session:
        authorize("user.manage", session=session)
        url = handed_sign_in_link(session, email, minutes=minutes)
    console.print(url)
