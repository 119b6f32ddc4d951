"""Field checks shared by every input boundary (CLI flags, CSV rows, flow parameters, forms)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

from pydantic import PlainValidator, ValidationError

from models.core.errors import InputRejected, Problem

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def normalize_email(value: str) -> str:
    """Return the email trimmed and lower-cased, or raise ValueError if it is not one."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError(f"{value!r} is not a valid email address")
    return email


def problems_from(exc: ValidationError, *, where: str = "", columns: Iterable[str] = ()) -> list[Problem]:
    """Turn a pydantic ValidationError into Problems naming the field (as a column if it is one)."""
    known = set(columns)
    out: list[Problem] = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "?"
        message = error["msg"].removeprefix("Value error, ")
        label = f"column {field}" if field in known else field
        out.append(Problem(f"{where}, {label}" if where else label, message))
    return out


# The comparison operators content files may use in conditions (no eval anywhere).
COMPARISONS: dict[str, Callable[[object, object], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


def currency_code(value: str) -> str:
    """Return an ISO 4217 code upper-cased, or raise ValueError."""
    if len(value) != 3 or not value.isalpha():
        raise ValueError(f"currency must be a three-letter ISO code, not {value!r}")
    return value.upper()


def read_upload(path: Path) -> bytes:
    """Read an input file whole, or raise InputRejected naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputRejected([Problem(str(path), f"cannot read file: {exc.strerror}")]) from exc


def both_languages(value: object) -> dict[str, str]:
    """Return text given in exactly en and zh-CN, both non-empty strings, or raise ValueError."""
    if not isinstance(value, dict) or not all(isinstance(t, str) for t in value.values()):
        raise ValueError("needs text in en and zh-CN, e.g. {en: ..., zh-CN: ...}")
    missing = {"en", "zh-CN"} - set(value)
    if missing or any(not str(text).strip() for text in value.values()):
        raise ValueError("needs non-empty text in en and zh-CN")
    if set(value) - {"en", "zh-CN"}:
        raise ValueError("only en and zh-CN are supported")
    return value


# User-facing text in content files: one string per language, both languages required.
Text = Annotated[dict[str, str], PlainValidator(both_languages)]
