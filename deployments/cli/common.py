"""Shared CLI plumbing: error handling and exit codes, JSON output, sessions, the acting user."""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from models.core.errors import InputRejected, Problem, TandemError, TransitionRefused
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


def actor() -> str:
    """Return who is acting from this shell."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


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
    "by": "--by",
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
        try:
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
