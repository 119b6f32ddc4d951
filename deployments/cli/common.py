"""Shared CLI plumbing: error handling and exit codes, JSON output, sessions, the acting user."""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from models.core.db import ensure_schema, session_scope
from models.core.errors import InputRejected, Problem, TandemError
from models.core.validation import problems_from

console = Console()
err_console = Console(stderr=True)

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
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(EXIT_REJECTED)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn Tandem errors into a clear message and exit code 1 (the CLI's outer boundary)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InputRejected as exc:
            err_console.print(f"[red]error:[/red] {exc.summary}", highlight=False)
            for problem in exc.problems:
                err_console.print(f"  - {problem}", highlight=False, markup=False)
            raise typer.Exit(EXIT_REJECTED) from exc
        except TandemError as exc:
            raise fail(str(exc)) from exc

    return wrapper


@contextmanager
def db() -> Iterator[Session]:
    """Open a session on a schema upgraded on first use."""
    ensure_schema()
    with session_scope() as session:
        yield session


def plain_row(table: Table, *cells: object) -> None:
    """Add a table row whose cells are plain text: user data is never read as Rich markup."""
    table.add_row(*(Text("" if c is None else str(c)) for c in cells))


def print_json(data: Any) -> None:
    """Print data as JSON (UTF-8, not escaped) on stdout."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


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
