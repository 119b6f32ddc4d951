"""Render the size-class explanations from the threshold checks, with the templates in `templates/`.

Plain text, not markup: autoescape is off, and a name the template misses fails loudly.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

import jinja2

from models.core.vocabulary import LANGUAGES


def num(value: Decimal | int) -> str:
    """Format a number with thousands separators and no trailing zeros."""
    return format(Decimal(value).normalize(), ",f")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Return the Jinja environment of the sizing templates (plain text, strict)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("models.partners", "templates"),
        autoescape=False,  # noqa: S701 - plain text for the database and the terminal, never HTML
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates ship in the package and do not change while running
        keep_trailing_newline=False,
    )
    env.filters["num"] = num
    return env


def render_explanation(context: dict[str, Any]) -> dict[str, str]:
    """Return the explanation in every language, rendered from `context` (the checks and notes)."""
    env = environment()
    return {lang: env.get_template(f"explanation.{lang}.j2").render(context) for lang in LANGUAGES}
