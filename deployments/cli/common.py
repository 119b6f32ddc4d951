"""Shared CLI plumbing: error handling and exit codes, JSON output, sessions, the acting user."""

from __future__ import annotations

import functools
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from models.core.errors import InputRejected, NotAllowed, Problem, TandemError, TransitionRefused
from models.core.principal import Principal, adopt, current_principal, restore
from models.core.validation import MAX_RECORD_ID, problems_from

if TYPE_CHECKING:
    from sqlmodel import Session

# User data is text: names, notes and ids reach the terminal as they are stored, never read as Rich
# markup (`[link=...]`), emoji codes (`:x:`) or highlighted. Styling goes through `style=` or Text.
# Lines are not cut at the terminal's width (tables still fit it): a script greps whole lines.
console = Console(markup=False, emoji=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

EXIT_REJECTED = 1


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _owns_home() -> bool:
    """Say whether this OS user owns TANDEM_HOME (or it does not exist yet: a fresh install)."""
    from models.core.settings import get_settings

    home = get_settings().home
    try:
        return home.stat().st_uid == os.getuid()
    except FileNotFoundError:
        return True
    except (OSError, AttributeError):
        return False


def local_admin() -> Principal:
    """Return the local administrator: the OS user who owns the installation's home."""
    return Principal(who=f"cli:{_os_user()}", method="local-admin", roles=frozenset({"administrator"}))


def resolve_principal() -> Principal:
    """Return who this shell acts as: TANDEM_TOKEN's user, else the local administrator.

    The local administrator is the OS user owning TANDEM_HOME (who can read the database anyway),
    or anyone while no user is configured. Everyone else needs a personal token.
    """
    from models.core.settings import get_settings
    from models.identity.users import count_enabled, principal_for_token

    token = get_settings().token
    if token is not None:
        with db() as session:
            return principal_for_token(session, token.get_secret_value())
    if _owns_home():
        return local_admin()
    with db() as session:
        if count_enabled(session) == 0:
            return local_admin()
    raise NotAllowed("set TANDEM_TOKEN to your personal token (an administrator runs `tandem user token`)")


def _has_token() -> bool:
    from models.core.settings import get_settings

    try:
        return get_settings().token is not None
    except ValidationError:
        return False  # commands that read settings report them; `tandem config check` lists every problem


def principal() -> Principal:
    """Return the principal of the running command, resolved on first use (so `tandem --help` needs none)."""
    me = current_principal()
    if me is None:
        me = resolve_principal()
        adopt(me)
    return me


def actor() -> str:
    """Return who is acting from this shell (the operator, under an override)."""
    return principal().who


def person() -> str:
    """Return the email the command acts as: the signed-in user, or whom an administrator acts for."""
    me = principal()
    if me.method == "local-admin":
        raise NotAllowed(
            "you act as the local administrator: say for whom with --on-behalf-of EMAIL --reason TEXT"
        )
    return me.acting_for


def authorize(action: str, target: Any = None, *, session: Session | None = None) -> None:
    """Refuse the command unless the acting person's roles allow the action (the refusal is audited)."""
    from models.identity.access import require

    if session is not None:
        require(principal(), action, target, session=session)
        return
    with db() as own:
        require(principal(), action, target, session=own)


def _override(me: Principal, email: str, reason: str | None) -> Principal:
    from models.identity.roles import roles

    if not any(roles()[r].scope == "all" and roles()[r].allows("*") for r in me.roles if r in roles()):
        raise NotAllowed("only an administrator may act --on-behalf-of someone else")
    why = (reason or "").strip()
    if not why:
        raise InputRejected(
            [Problem("--reason", "say why you act on behalf of someone else")], summary="override rejected"
        )
    return me.on_behalf(email, why)


# An administrator's override, on the commands that act as a person (approve, done, waive...).
OnBehalfOf = Annotated[
    str | None,
    typer.Option("--on-behalf-of", help="Administrators: act for this person (email); needs --reason."),
]
OverrideReason = Annotated[str | None, typer.Option("--reason", help="Why you act on behalf of someone.")]


def fail(message: str) -> typer.Exit:
    """Print an error and return the exit for rejected input."""
    err_console.print(Text.assemble(("error:", "red"), f" {message}"))
    return typer.Exit(EXIT_REJECTED)


def warn(label: str, message: str) -> None:
    """Print a labelled warning (the label in yellow, the message as plain text)."""
    console.print(Text.assemble((label, "yellow"), f" {message}"))


# The domain names fields; the command line says them as its flags. The one place they are mapped,
# for fields that are the same flag in every command (a role name is not: `contact remove` names the
# role a person still holds, so a command whose flags are roles maps them with `fields_as_flags`).
FIELD_FLAGS = {
    "by": "acting as",  # the signed-in person, or whom --on-behalf-of names (there is no --by)
    "comment": "--comment",
    "contact": "--contact",
    "email": "--email",
    "events": "--events",
    "period": "--period",
    "reason": "--reason",
    "role": "--role",
    "scope": "--scope",
    "secret_from_env": "--secret-from-env",
    "side": "--side",
    "stage": "--stage",
    "to": "--to",
    "trigger": "--trigger",
}


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn Tandem errors into a clear message and exit code 1 (the CLI's outer boundary)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # The principal is resolved lazily by the command's first write; reset when the command ends.
        scope = adopt(current_principal())
        try:
            if _has_token():
                principal()  # a personal token is checked by every command, reads included
            if kwargs.get("on_behalf_of"):
                reason = kwargs.get("reason")
                why = reason if isinstance(reason, str) else None
                adopt(_override(principal(), str(kwargs["on_behalf_of"]), why))
            return fn(*args, **kwargs)
        except InputRejected as exc:
            err_console.print(Text.assemble(("error:", "red"), f" {exc.summary}"))
            for problem in exc.problems:
                where = FIELD_FLAGS.get(problem.where, problem.where)
                err_console.print(f"  - {Problem(where, problem.message)}")
            raise typer.Exit(EXIT_REJECTED) from exc
        except TransitionRefused as exc:
            err_console.print(Text.assemble(("error:", "red"), f" {exc}"))
            for reason in exc.reasons:  # every one: the person needs the whole list to act on
                err_console.print(f"  - {reason}")
            raise typer.Exit(EXIT_REJECTED) from exc
        except TandemError as exc:
            raise fail(str(exc)) from exc
        finally:
            restore(scope)

    return wrapper


@contextmanager
def db() -> Iterator[Session]:
    """Open a session on a schema upgraded on first use."""
    # Imported here: commands that never open the database (`library list`) skip SQLAlchemy.
    from models.core.db import ensure_schema, session_scope

    ensure_schema()
    with session_scope() as session:
        yield session


def plain_row(table: Table, *cells: object) -> None:
    """Add a table row whose cells are plain text: user data is never read as Rich markup."""
    table.add_row(*(Text("" if c is None else str(c)) for c in cells))


def print_json(data: Any) -> None:
    """Print data as JSON (UTF-8, not escaped) on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


# Listing options shared by the registry's big listings.
Limit = Annotated[
    int, typer.Option("--limit", min=0, max=MAX_RECORD_ID, help="Show at most this many (0: all).")
]
Offset = Annotated[int, typer.Option("--offset", min=0, max=MAX_RECORD_ID, help="Skip this many first.")]
# Imports: a spreadsheet export's encoding, when it is not UTF-8 and Tandem cannot tell which it is.
Encoding = Annotated[str | None, typer.Option(help="The file's encoding if not UTF-8, e.g. cp1252, gb18030.")]
ENCODING_FLAG = {"encoding": "--encoding"}


def page_json(total: int, *, limit: int, offset: int, items: list[Any]) -> dict[str, Any]:
    """Return one page of a listing as JSON data: the matches in all, the window, and its items."""
    return {"total": total, "limit": limit, "offset": offset, "items": items}


def page_note(total: int, *, offset: int, shown: int, noun: str) -> str:
    """Say which part of a listing is shown, e.g. `showing 1-50 of 50,000 partners`."""
    if total == 0:
        return f"no {noun} match"
    if shown == 0:
        return f"none shown: {total:,} {noun} match, and --offset {offset:,} skips them all"
    return f"showing {offset + 1:,}-{offset + shown:,} of {total:,} {noun}"


@contextmanager
def fields_as_flags(flags: dict[str, str]) -> Iterator[None]:
    """Re-raise a domain refusal naming fields with the command line's flags for them."""
    try:
        yield
    except InputRejected as exc:
        problems = [Problem(flags.get(p.where, p.where), p.message) for p in exc.problems]
        raise InputRejected(problems, summary=exc.summary) from exc


def validated(model: type[M], data: dict[str, Any], *, summary: str, flags: dict[str, str]) -> M:
    """Validate CLI input into a model, naming the command-line flag in every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for p in problems_from(exc):
            head = p.where.split(".")[0]
            problems.append(Problem(flags.get(head, f"--{head.replace('_', '-')}"), p.message))
        raise InputRejected(problems, summary=summary) from exc
