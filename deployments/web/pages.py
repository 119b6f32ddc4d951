"""Server-rendered pages: the web's Jinja environment, its words per language, and the language choice."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from models.core.data import load_words
from models.core.settings import LANGUAGES, get_settings
from notifications.render import add_glossary

LANG_COOKIE = "tandem_lang"


def _autoescape(name: str | None) -> bool:
    # Every page is HTML; the notifications loader also serves its chart macros, all `.html.j2`.
    return bool(name) and str(name).removesuffix(".j2").endswith((".html", ".svg"))


@lru_cache(maxsize=1)
def strings() -> dict[str, dict[str, Any]]:
    """Load the pages' words per language, refusing a language that lacks a key another has."""
    return load_words("strings.yaml", package="deployments.web")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """Return the web's Jinja environment: autoescaped, strict, with the report's chart macros."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("deployments.web", "templates"),
                jinja2.PackageLoader("notifications", "templates"),  # same charts as the report
            ]
        ),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fill"] = lambda text, **values: str(text).format(**values)
    add_glossary(env)  # the same clause titles, tier names and warnings as the documents
    return env


def language_of(request: Request, preferred: str | None = None) -> str:
    """Pick the page language: `?lang=`, then the cookie, then the reader's own, then the browser's."""
    for choice in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE), preferred):
        if choice in LANGUAGES:
            return choice
    accept = request.headers.get("accept-language", "").lower()
    if accept.startswith("zh"):
        return "zh-CN"
    if accept.startswith("en"):
        return "en"
    return get_settings().default_language


def _switch_url(request: Request, code: str) -> str:
    # Relative: behind a reverse proxy the app may not know its public host.
    url = request.url.include_query_params(lang=code)
    return f"{url.path}?{url.query}"


def page(
    request: Request, template: str, context: dict[str, Any], *, lang: str, status: int = 200
) -> HTMLResponse:
    """Render one page in one language; remember a language chosen with `?lang=` in a cookie."""
    switch = [
        {
            "code": code,
            "name": strings()[code]["lang_name"],
            "url": _switch_url(request, code),
        }
        for code in LANGUAGES
    ]
    full = {"t": strings()[lang], "lang": lang, "languages": switch, "org": get_settings().organization_name}
    html = environment().get_template(template).render(**full, **context)
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax", secure=_https(request)
        )
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"
