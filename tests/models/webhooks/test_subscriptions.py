"""Webhook subscriptions: each bad URL, event list and secret refused with its reason, nothing written."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from models.core.errors import Conflict, InputRejected
from models.core.vocabulary import SUBSCRIBABLE_EVENTS, EventType
from models.tables import AuditEvent, WebhookSubscription
from models.webhooks.subscriptions import (
    add_subscription,
    list_subscriptions,
    masked_url,
    parse_events,
    remove_subscription,
    signing_secret,
    subscription_url,
    url_problems,
)

GOOD_SECRET = "x7Hk2pQ9vR4mT8wZ1nB5cL3jF6dS0aYe"
ENV = {"HOOK_SECRET": GOOD_SECRET}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://erp.example.com/hook", "plain http is allowed only to this machine"),
        ("ftp://erp.example.com/hook", "must start with https://"),
        ("https:///hook", "has no host"),
        ("https://erp.example.com:99999/hook", "port"),
        ("https://erp.example.com/hook#frag", "#fragment"),
        ("https://erp.example.com/a b", "without spaces"),
        ("erp.example.com/hook", "must start with https://"),
        ("https://erp.example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    problems = url_problems(url)
    assert problems and reason in str(problems[0])


@pytest.mark.parametrize(
    "url",
    [
        "https://erp.example.com/hooks/tandem?token=abc",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
        "http://127.5.5.5/hook",  # all of 127.0.0.0/8 is loopback
    ],
)
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert url_problems(url) == []


def test_the_privacy_form_shows_scheme_host_and_port_only() -> None:
    assert masked_url("https://user:pw@erp.example.com:8443/hooks/T0KEN?sig=S3CRET") == (
        "https://erp.example.com:8443/****"
    )
    assert masked_url("https://erp.example.com/") == "https://erp.example.com/"


def test_event_types_are_checked_against_the_one_list() -> None:
    assert parse_events(["com.tandem.review.completed,com.tandem.payment.overdue"]) == (
        ["com.tandem.review.completed", "com.tandem.payment.overdue"],
        [],
    )
    assert parse_events(["all"]) == (["*"], [])
    types, problems = parse_events(
        ["com.tandem.review.completed", "review.completed", EventType.webhook_test]
    )
    assert types == [] and [p.message.split(";")[0] for p in problems] == [
        "unknown event type 'review.completed'",
        "unknown event type 'com.tandem.webhook.test'",  # sent by `webhook test` only, never subscribed
    ]
    assert all(e.value in str(problems[0]) for e in SUBSCRIBABLE_EVENTS)
    assert parse_events([" , "])[1][0].message == "give at least one event type, or `all`"


def _add(
    session: Session, url: str = "https://erp.example.com/hooks/T0KEN", **kw: object
) -> WebhookSubscription:
    options: dict[str, object] = {
        "events": ["all"],
        "secret_env": "HOOK_SECRET",
        "environ": ENV,
        "actor": "t",
    }
    options.update(kw)
    return add_subscription(session, url=url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("environ", "reason"),
    [
        ({}, "environment variable HOOK_SECRET is not set or empty"),
        ({"HOOK_SECRET": "  "}, "not set or empty"),
        ({"HOOK_SECRET": "short-secret"}, "must hold 24 to 512 characters"),
        ({"HOOK_SECRET": "changeme"}, "placeholder"),
        ({"HOOK_SECRET": GOOD_SECRET + "\n"}, "whitespace"),
    ],
)
def test_bad_secrets_are_refused_without_showing_them(
    session: Session, environ: dict[str, str], reason: str
) -> None:
    with pytest.raises(InputRejected) as refused:
        _add(session, environ=environ)
    assert reason in str(refused.value) and refused.value.problems[0].where == "secret_from_env"
    for value in environ.values():
        if value.strip():
            assert value.strip() not in str(refused.value)
    assert session.exec(select(WebhookSubscription)).first() is None


def test_every_problem_is_listed_at_once_and_nothing_is_written(session: Session) -> None:
    with pytest.raises(InputRejected) as refused:
        _add(session, url="http://erp.example.com/x", events=["nope"], secret_env="MISSING")
    assert [p.where for p in refused.value.problems] == ["URL", "events", "secret_from_env"]
    assert session.exec(select(WebhookSubscription)).first() is None
    assert session.exec(select(AuditEvent)).first() is None


def test_url_and_secret_are_stored_encrypted_and_shown_masked(session: Session) -> None:
    subscription = _add(session)
    session.commit()
    stored = session.exec(select(WebhookSubscription)).one()
    assert GOOD_SECRET not in stored.secret_encrypted and "T0KEN" not in stored.url_encrypted
    assert signing_secret(stored) == GOOD_SECRET
    assert subscription_url(stored) == "https://erp.example.com/hooks/T0KEN"
    (listed,) = list_subscriptions(session)
    assert listed["url"] == "https://erp.example.com/****" and "secret" not in str(listed).lower()
    audit = session.exec(select(AuditEvent).where(AuditEvent.action == "webhook.added")).one()
    assert audit.data["secret_from_env"] == "HOOK_SECRET" and GOOD_SECRET not in str(audit.data)
    assert subscription.events == ["*"]


def test_one_active_subscription_per_url(session: Session) -> None:
    first = _add(session)
    with pytest.raises(Conflict, match=f"webhook {first.id} already sends"):
        _add(session)
    remove_subscription(session, first.id, actor="t")  # type: ignore[arg-type]
    assert _add(session).id != first.id
    assert [s["id"] for s in list_subscriptions(session, include_removed=True)] == [first.id, first.id + 1]  # type: ignore[operator]
    with pytest.raises(Conflict, match="was removed"):
        remove_subscription(session, first.id, actor="t")  # type: ignore[arg-type]
