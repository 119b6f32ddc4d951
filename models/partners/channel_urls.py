"""Apprise channel URLs: validation and the privacy form shown to people."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apprise import NotifyBase

# Apprise logs credentials at DEBUG and below; Tandem never lets it.
logging.getLogger("apprise").setLevel(logging.INFO)


_PATH_IS_SECRET = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


# Large enough that validating, masking and storing one import's URLs instantiates each only once.
@lru_cache(maxsize=65536)
def _instantiate(url: str) -> NotifyBase | None:
    # Imported here: Apprise costs about 0.1 s, and listings that never check a URL skip it.
    from apprise import Apprise

    return Apprise.instantiate(url, suppress_exceptions=True)


def is_valid(url: str) -> bool:
    """Return whether Apprise understands the URL."""
    return bool(url.strip()) and _instantiate(url.strip()) is not None


def masked(url: str) -> str:
    """Return the URL with every token hidden (Apprise's privacy form)."""
    plugin = _instantiate(url.strip())
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://****"
    private = plugin.url(privacy=True)  # type: ignore[no-untyped-call]  # Apprise's plugins have no hints
    shown = str(private).split("?", 1)[0].rstrip("/")
    scheme, _, rest = shown.partition("://")
    if scheme in _PATH_IS_SECRET:
        # Generic webhooks often carry their token in the path, which Apprise leaves visible.
        return f"{scheme}://{rest.split('/', 1)[0]}/****"
    return shown


def split_urls(raw: str | None) -> list[str]:
    """Split a cell or flag holding several URLs separated by spaces, commas or semicolons."""
    if not raw:
        return []
    for sep in (";", ","):
        raw = raw.replace(sep, " ")
    return [part for part in raw.split() if part]
