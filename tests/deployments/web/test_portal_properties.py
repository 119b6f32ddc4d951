"""Properties of the portal's forms, over any text, numbers and files (Hypothesis): never a 500, the
security headers on every answer, and a refusal writes nothing (no item closed, no score, no file)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from deployments.web.security import SECURITY_HEADERS, csrf_for
from models.core.settings import get_settings
from models.reviews.scorecards import PRINCIPLES
from models.tables import ChecklistItem, ScorecardEntry
from tests.deployments.web.support import MAX_UPLOAD, World, audit_count

WEB = settings.get_profile("web")
MAGIC = [b"%PDF-", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"<html>", b""]
FILES = st.one_of(
    st.none(),
    st.tuples(
        st.text(max_size=80),  # any name: the type comes from the bytes
        st.tuples(st.sampled_from(MAGIC), st.binary(max_size=512)).map(lambda t: t[0] + t[1]),
    ),
    st.tuples(st.just("big.pdf"), st.integers(MAX_UPLOAD - 64, MAX_UPLOAD + 64).map(lambda n: b"%" * n)),
)
PRINTABLE = st.characters(blacklist_categories=("Cc", "Cs"))
LINKS = st.one_of(
    st.just(""),
    st.just(""),
    st.text(max_size=60),
    st.sampled_from(["https://example.cn/proof", "http://example.cn", "https://", "javascript:alert(1)"]),
    st.text(max_size=30).map(lambda t: f"https://{t}"),
)
SCORE_VALUES = st.one_of(
    st.sampled_from(["", "1", "3", "5", "0", "6", "²", "٣", " 3", "03", "3.0", "-1", "\x00"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=8),
)


def _uploads() -> list[Path]:
    folder = get_settings().home / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


def _headers_ok(response: object) -> bool:
    return all(response.headers.get(k) == v for k, v in SECURITY_HEADERS.items())  # type: ignore[attr-defined]


def _reopen(session: Session, item_id: int) -> None:
    """Open the item again, so the next example starts from the same state."""
    item = session.get(ChecklistItem, item_id)
    assert item is not None
    item.status, item.done_by, item.done_at = "open", None, None
    session.add(item)
    session.commit()
    for path in _uploads():
        path.unlink()


def test_mark_done_form_with_any_input(client: TestClient, world: World, session: Session) -> None:
    token_id = world.token.split(".")[0]

    @settings(WEB)
    @given(
        item=st.integers(0, 9).flatmap(  # mostly the partner's own item: the form is under test
            lambda n: st.just(str(world.item.id))
            if n < 8
            else st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), st.text(min_size=1))
        ),
        note=st.one_of(st.text(max_size=2100), st.text(PRINTABLE, max_size=300)),
        link=LINKS,
        upload=FILES,
        lang=st.sampled_from(["en", "zh-CN", "fr", ""]),
    )
    def post(item: str, note: str, link: str, upload: tuple[str, bytes] | None, lang: str) -> None:
        session.expire_all()
        before = (audit_count(session), _uploads())
        files = {"file": (upload[0], upload[1], "application/octet-stream")} if upload else None
        response = client.post(
            f"/portal/{world.token}/items/{quote(item, safe='')}/done?lang={quote(lang)}",
            data={"csrf": csrf_for(f"portal:{token_id}"), "note": note, "link": link},
            files=files,
        )
        assert response.status_code in (303, 400, 404, 409, 413), response.status_code
        assert _headers_ok(response)
        session.expire_all()
        stored = session.get(ChecklistItem, world.item.id)
        assert stored is not None
        if response.status_code == 303:
            assert stored.status == "done" and stored.done_by == world.contact.email
            assert len(_uploads()) == (1 if upload else 0)
            _reopen(session, world.item.id)  # type: ignore[arg-type]
        else:
            assert stored.status == "open" and (audit_count(session), _uploads()) == before

    post()


def test_scores_form_with_any_input(client: TestClient, world: World, session: Session) -> None:
    token_id = world.token.split(".")[0]
    fields = st.one_of(st.sampled_from([f"score-{p}" for p in PRINCIPLES]), st.text(max_size=12))

    @settings(WEB)
    @given(form=st.dictionaries(fields, SCORE_VALUES, max_size=14))
    def post(form: dict[str, str]) -> None:
        before = (audit_count(session), _entries(session))
        response = client.post(
            f"/portal/{world.token}/scores", data={**form, "csrf": csrf_for(f"portal:{token_id}")}
        )
        assert response.status_code in (303, 400), response.status_code
        assert _headers_ok(response)
        given_scores = {k.removeprefix("score-"): v for k, v in form.items() if k.startswith("score-") and v}
        valid = bool(given_scores) and all(
            p in PRINCIPLES and v in ("1", "2", "3", "4", "5") for p, v in given_scores.items()
        )
        assert (response.status_code == 303) == valid, (form, response.status_code)
        if response.status_code != 303:
            assert (audit_count(session), _entries(session)) == before

    post()


def _entries(session: Session) -> int:
    session.expire_all()
    return int(session.exec(select(func.count()).select_from(ScorecardEntry)).one())
