"""Message rendering: one Jinja environment (HTML autoescaped, Markdown escaped as Markdown, strict)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any

import jinja2

from models.core.glossary import clause_title, flag_text, tier_label, words_for
from models.core.settings import LANGUAGES, get_settings

MESSAGE_KINDS = (
    "welcome",
    "approval_request",
    "item_due_soon",
    "item_overdue",
    "escalation",
    "review_invitation",
    "review_summary",
    "exit_notice",
    "digest",
)
# Tandem's own operational messages: not part of the business vocabulary others queue.
SYSTEM_KINDS = ("delivery_failed", "channel_test", "sign_in_link")
ALL_KINDS = MESSAGE_KINDS + SYSTEM_KINDS
_ESCAPED_SUFFIXES = (".html", ".htm", ".xml")
# Generated HTML documents (packs, charters, checklists) may be opened from disk: no script, nothing
# remote, only their own inline style and data: images.
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
)
_MD_BREAKS = re.compile(r"\s*[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+\s*")
_MD_INLINE = re.compile(r"([\\`*_\[\]<>&|~])")
# Markdown that acts only at the start of a line: headings, lists, quotes, rules and setext underlines.
_MD_LINE_START = re.compile(r"^(?:#{1,6}(?=\s|$)|[-+=](?=[-+=\s]|$)|\d{1,9}[.)](?=\s|$))")


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready to send: subject, plain text for chat and HTML for email."""

    subject: str
    text: str
    html: str


def _autoescape(name: str | None) -> bool:
    # Names end in `.j2`; the extension before it says what the output is.
    return bool(name) and str(name).removesuffix(".j2").endswith(_ESCAPED_SUFFIXES)


def markdown_text(value: object) -> str:
    """Escape a value so Markdown shows it as the text it is, on one line (no link, image or heading)."""
    text = _MD_BREAKS.sub(" ", str(value)).replace("\t", " ").strip()
    text = _MD_INLINE.sub(r"\\\1", text)
    match = _MD_LINE_START.match(text)
    if match:  # the value may start a line (a list item's text): keep it from opening a block
        text = f"{match.group()[:-1]}\\{text[match.end() - 1 :]}"
    return text


@jinja2.pass_context
def _finalize(context: jinja2.runtime.Context, value: object) -> object:
    # Markdown templates are not HTML-escaped: every value they print is Markdown-escaped instead, so
    # user text (a partner's note, a name) is text in the .md file and in the HTML made from it.
    if (context.name or "").endswith(".md.j2"):
        return markdown_text(value)
    return value


def _when(value: datetime | date | str | None) -> str:
    """Format a date or an aware datetime (already in the reader's timezone) for people."""
    if isinstance(value, datetime):
        # Keyed by wall time and zone: aware datetimes at the same instant compare equal across zones.
        return _when_at(value.replace(tzinfo=None), value.tzinfo)
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


# Cached: a sweep's invitations share a few meeting times, and formatting an aware time is slow.
@lru_cache(maxsize=4096)
def _when_at(wall: datetime, tz: tzinfo | None) -> str:
    return wall.replace(tzinfo=tz).strftime("%Y-%m-%d %H:%M (UTC%z)").replace("UTC+0000", "UTC")


def _ics_text(value: object) -> str:
    """Escape a value for an iCalendar TEXT property (RFC 5545, 3.3.11)."""
    text = str(value)
    for raw, escaped in (("\\", "\\\\"), (";", "\\;"), (",", "\\,"), ("\r\n", "\\n"), ("\n", "\\n")):
        text = text.replace(raw, escaped)
    return text


@lru_cache(maxsize=4096)
def _ics_time(value: datetime) -> str:
    """Format an aware datetime as an iCalendar UTC date-time."""
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fold_ics_line(line: str, limit: int = 75) -> str:
    """Fold one iCalendar content line at 75 octets without splitting a UTF-8 character."""
    data = line.encode("utf-8")
    if len(data) <= limit:
        return line
    parts, start, width = [], 0, limit
    while start < len(data):
        end = min(start + width, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # back off to a character boundary
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start, width = end, limit - 1  # continuation lines start with one space
    return "\r\n ".join(parts)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Return the one Jinja environment for messages and documents."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("notifications", "templates"),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        # Templates ship inside the package and never change while running: skip the mtime checks.
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=_finalize,
    )
    env.globals["document_csp"] = DOCUMENT_CSP
    env.filters["when"] = _when
    env.filters["ics_text"] = _ics_text
    env.filters["ics_time"] = _ics_time
    add_glossary(env)
    return env


def add_glossary(env: jinja2.Environment) -> None:
    """Give templates the glossary's words: `tier | tier_name(lang)`, `flag | flag_text(lang)`, clauses."""
    env.filters["tier_name"] = lambda tier, lang: tier_label(tier, lang)
    env.filters["flag_text"] = lambda flag, lang: flag_text(flag, lang)
    env.filters["clause_title"] = lambda clause, lang: clause_title(clause, lang)
    env.globals["glossary"] = words_for


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render any packaged template by path, e.g. `documents/charter.en.md.j2`."""
    return environment().get_template(template).render(**context)


def _language(language: str) -> str:
    return language if language in LANGUAGES else LANGUAGES[0]


def render_message(kind: str, language: str, context: Mapping[str, Any]) -> RenderedMessage:
    """Render one message kind in one language: subject, plain text and HTML."""
    if kind not in ALL_KINDS:
        raise ValueError(f"unknown message kind {kind!r}; known: {', '.join(ALL_KINDS)}")
    base = f"messages/{_language(language)}/{kind}"
    # Every message may name the buyer: our organization, as the reader knows it.
    context = {"organization_name": get_settings().organization_name, **context}
    subject = " ".join(render(f"{base}.subject.txt.j2", context).split())
    return RenderedMessage(
        subject=subject,
        text=render(f"{base}.txt.j2", context).strip() + "\n",
        html=render(f"{base}.html.j2", context),
    )
