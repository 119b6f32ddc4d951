"""Message templates: every kind in both languages, escaped HTML, strict variables, optional keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jinja2
import pytest

from notifications.render import MESSAGE_KINDS, SYSTEM_KINDS, environment, render, render_message

HOSTILE = "<script>alert(1)</script> {{ 7*7 }}"


def full_context(side: str = "ours") -> dict[str, Any]:
    """Return a context with every key any kind uses (for a partner reader or one of our staff)."""
    entry = {
        "item_id": 1,
        "title": "Sign the NDA",
        "due_on": "2026-03-01",
        "days": 2,
        "state": "overdue",
        "owner_name": "Li",
    }
    return {
        "partner_name": HOSTILE,
        "relationship_id": 7,
        "recipient_name": "王伟",
        "manager_name": "Ann Lee",
        "manager_email": "ann@example.org",
        "tier": "light",
        "tier_reason": "small partner, low criticality",
        "action_url": "https://tandem.example/act/abc",
        "url": "https://tandem.example/signin/link?token=abc",
        "minutes": 15,
        "notice_days": 90,
        "notice_ends_on": "2026-06-01",
        "final_payment_due_on": "2026-07-31",
        "final_payment_days": 60,
        "legal_basis": "Late Payment Directive 2011/7/EU: payment within 60 days",
        "exit_reason": "product discontinued",
        "side": side,
        "organization_name": HOSTILE,
        "year_minutes": 120,
        "messages_per_month": 4,
        "asks": [{"ask": HOSTILE, "send": "a reply", "due_on": "2026-03-10", "effort_minutes": 5}],
        "portal_url": "https://portal.example.org/r/7",
        "period": "2026Q1",
        "meeting_start": datetime(2026, 3, 5, 2, 0, tzinfo=UTC),
        "pack_url": "https://portal.example.org/pack/7",
        "as_of": "2026-03-03",
        "total": 1,
        "groups": [{"relationship_id": 7, "partner_name": HOSTILE, "entries": [entry]}],
        "failed_kind": "digest",
        "failed_to": "email:x@example.org",
        "failed_subject": "s",
        "attempts": 6,
        "last_error": "e",
        "message_id": 3,
        "sent_at": "now",
        "role": "manager",
        "reviewed": 1,
        "escalated": 1,
        "rows": [
            {
                "relationship_id": 7,
                "partner_name": HOSTILE,
                "health": 41,
                "trend": "down",
                "escalated": True,
                "actions": ["Escalate"],
                "url": "https://portal.example.org/dashboard/relationships/7",
            }
        ],
        "more": 0,
        "dashboard_url": "https://portal.example.org/dashboard",
    }


@pytest.mark.parametrize("side", ["ours", "partner"])
@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("kind", MESSAGE_KINDS + SYSTEM_KINDS)
def test_every_kind_renders_subject_text_and_html_with_hostile_names_as_text(
    kind: str, language: str, side: str
) -> None:
    message = render_message(kind, language, full_context(side))
    assert message.subject and "\n" not in message.subject
    assert message.text.strip() and message.html.startswith("<!DOCTYPE html>")
    assert "<script>" not in message.html and "49" not in message.html
    if kind not in SYSTEM_KINDS:
        assert "&lt;script&gt;" in message.html and "{{ 7*7 }}" in message.html
        assert "<script>alert(1)</script> {{ 7*7 }}" in message.text  # plain text is not HTML
    expected_script = "您好" if language == "zh-CN" else "Dear"
    assert expected_script in message.text


def test_chinese_templates_are_chinese_and_dates_are_shown() -> None:
    message = render_message("review_invitation", "zh-CN", full_context())
    assert message.subject.startswith("邀请") and "2026-03-05 02:00 (UTC)" in message.text


def test_the_same_instant_is_shown_in_each_readers_zone() -> None:
    # Formatting is cached; an aware time equals the same instant in any zone, so the cache must
    # still tell Shanghai's reader 10:00 and Berlin's reader 03:00.
    from zoneinfo import ZoneInfo

    start = datetime(2027, 1, 14, 2, tzinfo=UTC)
    shown = [
        render_message("review_invitation", "en", {**full_context(), "meeting_start": start.astimezone(tz)})
        for tz in (ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin"), UTC)
    ]
    assert "2027-01-14 10:00 (UTC+0800)" in shown[0].text
    assert "2027-01-14 03:00 (UTC+0100)" in shown[1].text
    assert "2027-01-14 02:00 (UTC)" in shown[2].text


def test_optional_keys_may_be_missing_or_none_but_required_ones_may_not() -> None:
    context = full_context()
    for key in ("portal_url", "pack_url", "tier"):
        context.pop(key)
    message = render_message("welcome", "en", context)
    assert "Answer here" not in message.text
    assert "Answer here" not in render_message("welcome", "en", {**context, "portal_url": None}).text
    assert "Answer here" in render_message("welcome", "en", {**context, "portal_url": "https://p.example"}).text
    context.pop("manager_email")
    with pytest.raises(jinja2.UndefinedError):
        render_message("welcome", "en", context)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown message kind"):
        render_message("spam", "en", {})


def test_environment_is_cached_strict_and_escapes_by_output_type() -> None:
    env = environment()
    assert env is environment() and env.undefined is jinja2.StrictUndefined
    assert env.autoescape("x.html.j2") and not env.autoescape("x.txt.j2")  # type: ignore[operator]
    assert not env.autoescape("x.md.j2")  # type: ignore[operator]  # Markdown-escaped instead (documents)
    assert "<script>" in render("messages/en/welcome.txt.j2", full_context())
    assert "&lt;script&gt;" in render("messages/en/welcome.html.j2", full_context())
    # A plain-text macro called from HTML returns safe markup: the shared macros escape what people typed.
    assert "&lt;script&gt;" in render("messages/en/digest.html.j2", full_context())
