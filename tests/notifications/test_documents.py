"""Generated documents show user text as text: no link, image or heading smuggled in through a note."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from deployments.cli import app
from models.checklists.generation import generate_checklist, items_of, mark_done
from models.tables import Contact
from notifications.documents import DOCUMENT_CSP, markdown_to_html
from notifications.render import markdown_text, render
from tests.support import factories as f

HOSTILE = (
    "[x](javascript:alert(1)) ![t](https://tracker.example/p.png)\n"
    "# Injected heading\n| a | b |\n<script>alert(2)</script> <img src=https://tracker.example/q.png>"
)
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{DOCUMENT_CSP.replace(chr(39), "&#39;")}">'


@pytest.fixture
def rel_id(session: Session) -> int:
    """Store a relationship whose partner name needs escaping and an item done with a hostile note."""
    rel = f.relationship(session, partner_name="Acme & Co <b>", tier=None, stage="onboarding")
    generate_checklist(session, rel.id, "onboarding", actor="test")  # type: ignore[arg-type]
    item = items_of(session, rel.id)[0]  # type: ignore[arg-type]
    contact = session.get(Contact, rel.manager_id)
    assert contact is not None
    mark_done(session, item.id, by=contact.email, evidence=HOSTILE, link="https://evidence.example/a?b=1&c=2")  # type: ignore[arg-type]
    session.commit()
    return rel.id  # type: ignore[return-value]


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _assert_inert(html: str) -> None:
    assert "javascript:alert(1)" in html and 'href="javascript' not in html  # shown as text only
    assert "<img" not in html and "<script" not in html and "tracker.example/p.png)" in html
    assert not re.search(r"<h\d[^>]*>\s*Injected heading", html)
    assert "Injected heading" in html  # still shown, as text
    assert 'href="' not in html  # user text never becomes a link
    assert CSP_META in html and html.index(CSP_META) < html.index("<title>")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_evidence_map_html_shows_a_hostile_note_as_text(rel_id: int, lang: str) -> None:
    html = _cli("relationship", "evidence", str(rel_id), "--format", "html", "--lang", lang)
    _assert_inert(html)
    assert "https://evidence.example/a?b=1&amp;c=2" in html
    title = re.search(r"<title>(.*)</title>", html)
    assert title and title.group(1).endswith("Acme &amp; Co &lt;b&gt;")  # escaped once, not twice


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_checklist_html_and_markdown_show_a_hostile_note_as_text(rel_id: int, lang: str) -> None:
    html = _cli("checklist", "show", str(rel_id), "--format", "html", "--lang", lang)
    _assert_inert(html)
    md = _cli("checklist", "show", str(rel_id), "--format", "md", "--lang", lang)
    assert "\\[x\\](javascript:alert(1))" in md and "\n# Injected" not in md  # Markdown viewers too
    assert md.count("\n## ") == html.count("<h2>")  # no heading beyond the template's


def test_only_http_links_and_no_images_survive_the_cleaner() -> None:
    md = "# T\n\n[ok](https://a.example/x) [plain](http://b.example) [bad](javascript:alert(1)) ![i](https://c/i.png)"
    html, title = markdown_to_html(md + " [d](data:text/html,x) <b>raw</b>")
    assert title == "T"
    assert 'href="https://a.example/x"' in html and 'href="http://b.example"' in html
    assert 'href="javascript' not in html and 'href="data:' not in html and "<img" not in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html  # raw HTML in Markdown is shown, never run


@pytest.mark.parametrize(
    "value",
    ["# h", "1. x", "- x", "+ x", "---", "> q", "| a |", "```", "a\n\n## b",
     "*a* _b_ `c` ~d~ [e](f) <g> &amp;"],
)
def test_markdown_text_keeps_any_value_literal_on_one_line(value: str) -> None:
    html, _ = markdown_to_html(f"- {markdown_text(value)}\n\n{markdown_text(value)}\n")
    shown = " ".join(value.split())
    assert html.count(f"<li>{_html(shown)}</li>") == 1 and f"<p>{_html(shown)}</p>" in html


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_review_pack_and_portfolio_pages_carry_the_csp() -> None:
    for template in ("documents/page.html.j2",):
        assert CSP_META in render(template, {"lang": "en", "title": "t", "body": ""})
    for name in ("_review_pack.html.j2", "_portfolio.html.j2"):
        source = render.__globals__["environment"]().loader.get_source(  # type: ignore[attr-defined]
            render.__globals__["environment"](), f"documents/{name}"
        )[0]
        assert '<meta http-equiv="Content-Security-Policy" content="{{ document_csp }}">' in source
