"""Channel URLs are shown in Apprise's privacy form, without their query string."""

from __future__ import annotations

from models.partners.channel_urls import masked


def test_masked_url_hides_tokens_and_drops_the_query() -> None:
    shown = masked("tgram://123456789:abcdefg_hijklmnop/12315544/?format=markdown")
    assert "abcdefg" not in shown and "?" not in shown and not shown.endswith("/")
