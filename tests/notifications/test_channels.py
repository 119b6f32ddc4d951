"""Channels keep what the Apprise notes (shared/notes/apprise.md) ask: no built-in sleep, vendor limits."""

from __future__ import annotations

import pytest

from notifications.channels import CHECKED, RateLimiter, SmtpConfig, email_target, plugin_for, url_target

SMTP = SmtpConfig(host="127.0.0.1", port=2525, tls="none", user=None, sender="tandem@example.org")


@pytest.mark.parametrize(
    ("url", "per_minute"),
    [
        ("wecombot://KEY1234", 20),
        ("dingtalk://SECRET1@TOKEN1/", 20),
        ("feishu://TOKEN1", 100),
        ("lark://TOKEN1", 100),
        ("json://127.0.0.1:9/hook", 0),
    ],
)
def test_chat_plugins_never_sleep_and_tandem_holds_the_vendor_limit(url: str, per_minute: int) -> None:
    target = url_target(url)
    plugin = plugin_for(target)
    assert plugin.request_rate_per_sec == 0  # Apprise's 5.5 s between sends is off
    if per_minute:
        assert type(plugin) in CHECKED.values()  # HTTP 200 with an error code is read as a failure
    assert RateLimiter().limit_for(target) == per_minute
    assert RateLimiter(per_minute=0).limit_for(target) == 0  # the flow's override


def test_email_plugin_never_sleeps_and_is_not_limited_per_target() -> None:
    target = email_target("ann@example.org", SMTP)
    assert plugin_for(target, SMTP).request_rate_per_sec == 0
    assert RateLimiter().limit_for(target) == 0
