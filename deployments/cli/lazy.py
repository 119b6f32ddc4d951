"""A command group that imports a command's module only when that command runs.

`tandem --help` lists every command from a table of names and one-line helps; `tandem partner list`
imports `deployments.cli.partner` and nothing else, so a command that runs no flow never pays for
Prefect's import (about 2 s here).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

# Typer vendors its own Click: commands and contexts are Typer's classes, never the `click` package's.
Command = TyperCommand | TyperGroup


@dataclass(frozen=True)
class Entry:
    """One top-level command: where it lives (`module:attr`) and its one-line help."""

    target: str
    help: str


class _Stub(TyperCommand):
    """Stands for a command in the help listing without importing it."""


def load_command(name: str, target: str) -> Command:
    """Import `module:attr` and return its click command (a Typer sub-app or a plain function)."""
    from deployments.cli.common import handle_errors

    module, attr = target.split(":")
    obj: Any = getattr(importlib.import_module(module), attr)
    if isinstance(obj, typer.Typer):
        command: Any = typer.main.get_group(obj)  # a group even with one command
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(handle_errors(obj))
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """A Typer group whose commands come from `entries`, imported on first use.

    The overrides take `typer.Context`, the public name; Typer's own methods are typed with its
    private vendored Click's context, so mypy needs an `override` ignore on each.
    """

    entries: dict[str, Entry] = {}

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        """List the table's commands in its order, then any registered directly."""
        return [*self.entries, *(n for n in super().list_commands(ctx) if n not in self.entries)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:  # type: ignore[override]
        """Return a stub with the table's help (listings), or a command registered directly."""
        entry = self.entries.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        return _Stub(cmd_name, help=entry.help, short_help=entry.help)

    def resolve_command(  # type: ignore[override]
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        """Resolve the command about to run, importing its module now."""
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            # Typer suggests only from commands registered on it directly; these live in the table.
            if matches := get_close_matches(args[0], self.list_commands(ctx)):
                ctx.fail(f"No such command {args[0]!r}. Did you mean {', '.join(map(repr, matches))}?")
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Stub) and name is not None:
            command = load_command(name, self.entries[name].target)
        return name, command, rest
