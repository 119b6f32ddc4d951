"""`tandem web` serves the portal and dashboard; `tandem portal` issues and revokes partners' links."""

from __future__ import annotations

from typing import Annotated

import typer

from deployments.cli.common import actor, authorize, console, db, handle_errors
from deployments.local_server import configure_prefect
from models.core.errors import InputRejected, Problem
from models.core.validation import problems_from
from models.lifecycle.relationships import find_relationship
from models.partners.registry import find_contact
from models.portal.links import issue_link, link_url, revoke_link

portal_app = typer.Typer(help="Partners' personal portal links.", no_args_is_help=True)


@handle_errors
def web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the partner portal and the staff dashboard (see docs/WEB.md)."""
    import uvicorn
    from pydantic import ValidationError

    from deployments.web import create_app
    from deployments.web.security import log_config, serving_problems

    try:
        problems = serving_problems(host)
    except ValidationError as exc:  # a refused setting: a weak dashboard token, a proxy not an address
        raise InputRejected(problems_from(exc), summary="settings rejected") from exc
    if problems:
        raise InputRejected(problems, summary="not serving")
    configure_prefect()  # before anything imports Prefect: flows started here use the local server
    with db():
        pass  # upgrade the schema before serving
    # Proxy headers are read inside the app (from the configured proxy only); the log hides tokens.
    app = create_app()
    uvicorn.run(app, host=host, port=port, proxy_headers=False, server_header=False, log_config=log_config())


@portal_app.command("link")
@handle_errors
def link(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    contact: Annotated[str, typer.Option("--contact", help="The partner contact's email.")],
) -> None:
    """Issue a new personal link for a partner contact and print it."""
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("portal.link", rel, session=session)
        person = find_contact(session, contact)
        if person is None:
            raise InputRejected([Problem("--contact", f"{contact} is not a known contact")])
        row, token = issue_link(session, rel, person, actor=actor())
    console.print(link_url(token), soft_wrap=True, highlight=False)
    console.print(
        f"link {row.id} (id {row.token_id}) expires {row.expires_at:%Y-%m-%d %H:%M} UTC", highlight=False
    )


@portal_app.command("revoke")
@handle_errors
def revoke(
    ref: Annotated[str, typer.Argument(help="The link, its token, its token id or its number.")],
) -> None:
    """Revoke a personal link at once."""
    with db() as session:
        authorize("portal.link", session=session)
        row = revoke_link(session, ref, actor=actor())
    console.print(f"link {row.id} (id {row.token_id}) revoked", highlight=False)
