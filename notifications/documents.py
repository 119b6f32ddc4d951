"""Documents (checklists, evidence maps, charters): Markdown from a Jinja template per language,
and HTML made from that same Markdown so the two never drift apart.

User text is Markdown-escaped as the template prints it (see `render.markdown_text`), the Markdown is
turned into HTML with raw HTML off, and the result is cleaned to a small allowed subset (no images,
links only to http(s)); the page carries a Content-Security-Policy so a file opened from disk runs no
script and loads nothing remote.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Literal

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, RootModel, model_validator

from models.core.data import load_data
from models.core.glossary import tier_label
from models.core.vocabulary import LANGUAGES, ChecklistStage, Language, OwnerSide, Priority
from models.tables.checklist import ItemStatus
from notifications.render import DOCUMENT_CSP, render

__all__ = ["DOCUMENT_CSP", "Format", "markdown_to_html", "render_document"]

Format = Literal["md", "html"]
ALLOWED_TAGS = frozenset(
    {"h1", "h2", "h3", "h4", "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "a"}
    | {"ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td"}
)


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # CommonMark with tables; raw HTML off, and no images even from our own templates.
    return MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")


def markdown_to_html(text: str) -> tuple[str, str]:
    """Turn a document's Markdown into clean HTML; return it with the plain text of its first heading."""
    tokens = _markdown().parse(text)
    title = next(
        (
            "".join(c.content for c in (tokens[i + 1].children or []) if c.type in ("text", "code_inline"))
            for i, t in enumerate(tokens)
            if t.type == "heading_open"
        ),
        "",
    )
    html = _markdown().renderer.render(tokens, _markdown().options, {})
    clean = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer",
    )
    return clean, title


class _Words(BaseModel):
    """One language's words for the values documents show."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: dict[ChecklistStage, str]
    status: dict[ItemStatus, str]
    side: dict[OwnerSide, str]
    priority: dict[Priority, str]
    invitation: dict[Literal["summary", "description"], str]
    legal_basis: dict[Literal["agreed", "law"], str]

    @model_validator(mode="after")
    def _every_value(self) -> _Words:
        missing = set(ItemStatus) - set(self.status)
        if missing:
            raise ValueError(f"status lacks {', '.join(sorted(missing))}")
        if len(self.stage) != 4 or len(self.side) != 3 or len(self.priority) != 3:
            raise ValueError("stage, side and priority must name every value")
        return self


class _DocumentLabels(RootModel[dict[Language, _Words]]):
    """The documents' words, per language (document_labels.yaml)."""


@lru_cache(maxsize=1)
def _words() -> dict[Language, _Words]:
    labels = load_data("document_labels.yaml", _DocumentLabels).root
    if set(labels) != set(LANGUAGES):
        raise ValueError(f"document_labels.yaml must have exactly {', '.join(LANGUAGES)}")
    return labels


def invitation_words(lang: str) -> tuple[str, str]:
    """Return the review invitation's summary and description patterns (`{org}`, `{period}`, `{id}`)."""
    words = _words()["zh-CN" if lang == "zh-CN" else "en"].invitation
    return words["summary"], words["description"]


def legal_basis_words(lang: str) -> tuple[str, str]:
    """Return the exit notice's legal-basis patterns: the agreed term's and a payment law's."""
    words = _words()["zh-CN" if lang == "zh-CN" else "en"].legal_basis
    return words["agreed"], words["law"]


def _labels(lang: str) -> dict[str, Any]:
    words = _words()["zh-CN" if lang == "zh-CN" else "en"]
    return {
        "stage_labels": dict(words.stage),
        "status_labels": {k.value: v for k, v in words.status.items()},
        "side_labels": dict(words.side),
        "priority_labels": dict(words.priority),
    }


def render_document(kind: str, lang: str, fmt: Format, context: Mapping[str, Any]) -> str:
    """Render a document kind in one language as Markdown or as a standalone HTML page."""
    full = {**_labels(lang), **context, "lang": lang}
    if "stage" in full:
        full.setdefault("stage_label", full["stage_labels"].get(full["stage"], full["stage"]))
    if "tier" in full:
        full.setdefault("tier_label", tier_label(full["tier"], lang))
    text = render(f"documents/{kind}.{lang}.md.j2", full)
    if fmt == "md":
        return text
    body, title = markdown_to_html(text)
    # The body is cleaned HTML; the title is plain text, escaped once by the page template.
    return render("documents/page.html.j2", {"lang": lang, "title": title or kind, "body": Markup(body)})  # noqa: S704


def render_pack(context: Mapping[str, Any], *, language: str, fmt: str) -> str:
    """Render one review pack in one language as HTML (with inline SVG charts) or Markdown."""
    return render(f"documents/review_pack.{language}.{fmt}.j2", {**context, "lang": language})
