"""`tandem api-token`: integration tokens for the HTTP API (docs/API.md).

Imports of the database happen inside each command, so loading this module for `tandem --help`
costs nothing; none of these commands runs a flow or imports Prefect.
"""

from __future__ import annotations

from typing import Annotated

import typer

from deployments.cli.common import (
    actor,
    authorize,
    console,
    db,
    fields_as_flags,
    handle_errors,
    plain_row,
    print_json,
)

app = typer.Typer(help="Tokens for other systems calling the HTTP API (/api/v1).", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@app.command("create")
@handle_errors
def create(
    name: Annotated[
        str, typer.Argument(help="The integration's name, e.g. erp (its writes show as api:erp).")
    ],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope", help="read, partners:write, payments:write or flows:write (repeat for more)."
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Create a token with scopes and print it once: it is stored only as a hash."""
    from models.integration.tokens import create_token, token_public

    with fields_as_flags({"name": "NAME"}), db() as session:
        authorize("user.manage", session=session)  # integration tokens: administrators only
        row, token = create_token(session, name, scope, actor=actor())
        shown = token_public(row)
    if as_json:
        print_json({**shown, "token": token})
        return
    _say(token)
    _say(f"token {shown['public_id']} for {name} ({', '.join(shown['scopes'])}): shown once, keep it secret")


@app.command("list")
@handle_errors
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List tokens: name, public id, scopes, created, last used (never the token)."""
    from rich.table import Table

    from models.integration.tokens import list_tokens, token_public

    with db() as session:
        authorize("user.manage", session=session)  # integration tokens: administrators only
        rows = [token_public(t) for t in list_tokens(session, include_revoked=all_)]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "public id", "scopes", "created", "last used", "revoked")
    for r in rows:
        cells = [r["id"], r["name"], r["public_id"], ", ".join(r["scopes"]), r["created_at"][:16]]
        cells += [(r["last_used_at"] or "never")[:16], (r["revoked_at"] or "")[:16]]
        plain_row(table, *cells)
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke(ref: Annotated[str, typer.Argument(help="The token's name, public id or number.")]) -> None:
    """Revoke a token at once: its next call is refused."""
    from models.integration.tokens import revoke_token

    with db() as session:
        authorize("user.manage", session=session)  # integration tokens: administrators only
        row = revoke_token(session, ref, actor=actor())
        name, public_id = row.name, row.public_id
    _say(f"token {public_id} ({name}) revoked")
