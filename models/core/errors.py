"""Tandem's exception tree.

TandemError
├── Refused                declined on purpose: running it again cannot change the answer (no retry)
│   ├── InputRejected      bad input; carries every problem with where it is (exit code 1)
│   ├── NotFound           a reference matches no record (exit code 1)
│   ├── Conflict           the request clashes with stored state, e.g. a duplicate (exit code 1)
│   ├── TransitionRefused  a lifecycle change the state machine does not allow; every reason (exit code 1)
│   └── NotAllowed         the acting person's roles do not allow this (exit code 1, audited)
├── SchemaOutOfDate        the database needs `tandem db upgrade`
└── DeliveryError          a channel refused or failed a message (retried by the outbox)
    └── DeliveryUnknown    the channel timed out: the message may or may not have arrived
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, and where it is."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class TandemError(Exception):
    """Base of every error Tandem raises on purpose."""


class Refused(TandemError):
    """Tandem declined the request on purpose; a retry would get the same answer."""


class InputRejected(Refused):
    """Input failed validation; nothing was written."""

    def __init__(
        self, problems: list[Problem] | list[str] | str, *, summary: str = "input rejected"
    ):
        if isinstance(problems, str):
            problems = [problems]
        self.problems: list[Problem] = [
            p if isinstance(p, Problem) else Problem("", str(p)) for p in problems
        ]
        self.summary = summary
        super().__init__(self.render())

    def render(self) -> str:
        """Return the summary and every problem, one per line."""
        lines = [f"{self.summary} ({len(self.problems)} problem(s)):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class NotFound(Refused):
    """A reference matches no record."""


class Conflict(Refused):
    """The request clashes with what is stored."""


class TransitionRefused(Refused):
    """The lifecycle state machine refuses the change; `reasons` lists every thing in the way."""

    def __init__(
        self, message: str, reasons: list[str] | tuple[str, ...] = (), codes: list[str] | tuple[str, ...] = ()
    ):
        self.reasons = list(reasons)  # sentences, for the command line and logs
        self.codes = list(codes)  # stable codes, for pages that say them in the reader's language
        super().__init__(message)

    def __reduce__(self) -> tuple[type[TransitionRefused], tuple[str, list[str], list[str]]]:
        # Pickled with its reasons: Prefect stores a failed run's exception.
        return (type(self), (str(self), self.reasons, self.codes))


class NotAllowed(Refused):
    """The acting person may not do this; nothing was written but the refusal's audit event."""


class SchemaOutOfDate(TandemError):
    """The database schema is older than this code."""


class DeliveryError(TandemError):
    """A channel failed to take a message."""


class DeliveryUnknown(DeliveryError):
    """The channel timed out: the message may have arrived."""
