"""Field checks shared by every input boundary (CLI flags, CSV rows, flow parameters, forms)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, PlainValidator, ValidationError

from models.core.errors import InputRejected, Problem
from models.core.vocabulary import LANGUAGES

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
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


# Bounds of every number Tandem stores, checked where input arrives, so no value can overflow a column
# (BIGINT holds 9.2e18) or a sum of many of them later. Ten million persons is four times the world's
# largest employer; 10^15 whole units is 40 billion dollars even in dong.
MAX_PERSONS = 10_000_000
MAX_AMOUNT = 10**15

# Control characters (Unicode category Cc: NUL, tab, newline, escape...) and the bidirectional
# overrides and isolates, which make a name display as other text than it is.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def currency_code(value: str) -> str:
    """Return an ISO 4217 code upper-cased, or raise ValueError."""
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha() or code not in _currencies():
        raise ValueError(f"currency must be an ISO 4217 code such as EUR or CNY, not {value!r}")
    return code


def country_code(value: str) -> str:
    """Return an ISO 3166-1 alpha-2 country code upper-cased, or raise ValueError."""
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or code not in _countries():
        raise ValueError(f"country must be an ISO 3166 two-letter code such as CN or DE, not {value!r}")
    return code


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    import pycountry  # 60 ms to load its tables: only when a country is checked

    return frozenset(c.alpha_2 for c in pycountry.countries)


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    import pycountry

    # XXX ("no currency") and XTS (testing) are codes, not currencies anyone invoices in.
    return frozenset(c.alpha_3 for c in pycountry.currencies) - {"XXX", "XTS"}


MAX_RECORD_ID = 10**18 - 1  # ids, offsets and limits fit a BIGINT (9.2e18) with room to spare


def record_id(text: str) -> int | None:
    """Return text as a record id if it is one (ASCII digits that fit a BIGINT), else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def single_line(value: str) -> str:
    """Return text that holds no control character (NUL, newline, tab, escape) or bidi override."""
    if found := _CONTROL.search(value):
        raise ValueError(f"must not contain the control character U+{ord(found.group()):04X}")
    return value


# A name, an id, a code: text on one line, as every boundary model declares it.
SingleLine = Annotated[str, AfterValidator(single_line)]


def read_upload(path: Path) -> bytes:
    """Read an input file whole, or raise InputRejected naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputRejected([Problem(str(path), f"cannot read file: {exc.strerror}")]) from exc


def both_languages(value: object) -> dict[str, str]:
    """Return text given in exactly en and zh-CN, both non-empty strings, or raise ValueError."""
    names = " and ".join(LANGUAGES)
    if not isinstance(value, dict) or not all(isinstance(t, str) for t in value.values()):
        example = ", ".join(f"{lang}: ..." for lang in LANGUAGES)
        raise ValueError(f"needs text in {names}, e.g. {{{example}}}")
    missing = set(LANGUAGES) - set(value)
    if missing or any(not str(text).strip() for text in value.values()):
        raise ValueError(f"needs non-empty text in {names}")
    if set(value) - set(LANGUAGES):
        raise ValueError(f"only {names} are supported")
    return value


# User-facing text in content files: one string per language, both languages required.
Text = Annotated[dict[str, str], PlainValidator(both_languages)]
