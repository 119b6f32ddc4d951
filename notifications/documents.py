"""Documents (checklists, evidence maps, charters): Markdown from a Jinja template per language,
and HTML made from that same Markdown so the two never drift apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import markdown
from markupsafe import Markup

from models.core.glossary import tier_label
from notifications.render import render

Format = Literal["md", "html"]
STAGE_LABELS = {"onboarding": "准入", "governance": "治理设置", "review": "评审", "exit": "退出"}
STATUS_LABELS = {
    "open": "待办",
    "done": "已完成",
    "waived": "已豁免",
    "not_applicable": "不适用",
    "cancelled": "已撤回",
}
SIDE_LABELS = {"ours": "我方", "partner": "伙伴方", "joint": "双方"}
PRIORITY_LABELS = {"must": "必做", "should": "应做", "could": "可选"}


def _labels() -> dict[str, Any]:
    return {"status_labels": STATUS_LABELS, "side_labels": SIDE_LABELS, "priority_labels": PRIORITY_LABELS}


def render_document(kind: str, lang: str, fmt: Format, context: Mapping[str, Any]) -> str:
    """Render a document kind in one language as Markdown or as a standalone HTML page."""
    full = {**_labels(), **context, "lang": lang}
    if "stage" in full:
        full.setdefault("stage_label", STAGE_LABELS.get(full["stage"], full["stage"]))
    if "tier" in full:
        full.setdefault("tier_label", tier_label(full["tier"], lang))
    text = render(f"documents/{kind}.{lang}.md.j2", full)
    if fmt == "md":
        return text
    # The Markdown was autoescaped while rendering, so what markdown emits holds no raw partner HTML.
    body = Markup(markdown.markdown(text, extensions=["tables"]))  # noqa: S704
    title = text.splitlines()[0].lstrip("# ") if text else kind
    return render("documents/page.html.j2", {"lang": lang, "title": title, "body": body})
