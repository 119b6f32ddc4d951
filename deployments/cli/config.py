"""`tandem config` and `tandem db`: effective settings and schema upgrades."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.table import Table

from deployments.cli.common import EXIT_REJECTED, console, err_console, handle_errors, print_json
from models.core.db import current_revision, head_revision, upgrade_schema
from models.core.secrets import mask
from models.core.settings import get_settings

config_app = typer.Typer(help="Show the effective configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Create or upgrade the database schema.", no_args_is_help=True)


def effective_settings() -> dict[str, object]:
    """Return every setting with secrets masked and the database URL's password hidden."""
    settings = get_settings()
    shown: dict[str, object] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        shown[name] = mask(value.get_secret_value()) if isinstance(value, SecretStr) else value
    shown["database_url"] = _hide_password(settings.effective_database_url)
    return {k: (str(v) if v is not None else None) for k, v in shown.items()}


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def configuration_problems() -> list[str]:
    """Return what is wrong in files the settings point to (the settings' own validation cannot see it)."""
    settings = get_settings()
    if settings.apprise_config is None:
        return []
    # Apprise is loaded only when there is a config to check: `config show` stays quick otherwise.
    from notifications.channels import apprise_config_problems

    return apprise_config_problems(settings)


@config_app.command("show")
@handle_errors
def show(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print the effective settings (secrets masked) and any problem found; exit 1 if there is one."""
    data = effective_settings()
    problems = configuration_problems()
    if as_json:
        print_json({**data, "problems": problems})
    else:
        table = Table("setting", "value", title="Tandem settings")
        for name, value in data.items():
            table.add_row(f"TANDEM_{name.upper()}", "" if value is None else str(value))
        console.print(table)
        for problem in problems:
            err_console.print(f"problem: {problem}", highlight=False, markup=False, soft_wrap=True)
    if problems:
        raise typer.Exit(EXIT_REJECTED)


@db_app.command("upgrade")
@handle_errors
def upgrade() -> None:
    """Create the schema or upgrade it to the newest revision (safe to run twice)."""
    before, after = upgrade_schema()
    if before == after:
        console.print(f"database already at revision {after}")
    else:
        console.print(f"database upgraded from {before or 'empty'} to {after}")


@db_app.command("status")
@handle_errors
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the database's schema revision against the code's."""
    data: dict[str, Any] = {
        "database": _hide_password(get_settings().effective_database_url),
        "current": current_revision(),
        "head": head_revision(),
    }
    data["up_to_date"] = data["current"] == data["head"]
    if as_json:
        print_json(data)
    else:
        console.print(f"{data['database']}: at {data['current'] or 'empty'}, code needs {data['head']}")
