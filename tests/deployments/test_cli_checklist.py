"""`tandem checklist` and `tandem relationship evidence`, driven as a manager would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col
from typer.testing import CliRunner

from deployments.cli import app

runner = CliRunner()


def tandem(*args: str) -> tuple[int, str]:
    """Run the CLI and return exit code and output."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _setup() -> None:
    assert (
        tandem(
            "partner",
            "add",
            "--name",
            "巧手包装",
            "--registration-id",
            "91510100MA6QT1111Y",
            "--country",
            "CN",
            "--industry",
            "industry",
            "--employees",
            "18",
            "--revenue",
            "4000000",
            "--currency",
            "CNY",
            "--language",
            "zh-CN",
        )[0]
        == 0
    )
    assert (
        tandem(
            "relationship",
            "open",
            "91510100MA6QT1111Y",
            "--manager",
            "rm@ours.example",
            "--deputy",
            "dep@ours.example",
            "--sponsor",
            "vp@ours.example",
            "--partner-contact",
            "liu@qs.example",
            "--criticality",
            "low",
        )[0]
        == 0
    )


def test_generate_show_done_waive_and_evidence(tandem_env: str) -> None:
    _setup()
    code, out = tandem("checklist", "generate", "1", "--stage", "onboarding")
    assert code == 0 and "light tier" in out and "left out" in out
    again = json.loads(tandem("checklist", "generate", "1", "--stage", "onboarding", "--json")[1])
    assert again["added"] == 0 and again["used_minutes"] <= again["budget_minutes"] == 60
    items = json.loads(tandem("checklist", "show", "1", "--json")[1])["items"]
    partner_item = next(i for i in items if i["owner_side"] == "partner")
    code, out = tandem(
        "checklist",
        "done",
        str(partner_item["id"]),
        "--on-behalf-of",
        "liu@qs.example",
        "--reason",
        "t",
        "--evidence",
        "已上传营业执照",
    )
    assert code == 0, out
    ours = next(i for i in items if i["owner_side"] == "ours")
    assert (
        tandem("checklist", "waive", str(ours["id"]), "--on-behalf-of", "liu@qs.example", "--reason", "x")[0]
        == 1
    )
    assert tandem("checklist", "waive", str(ours["id"]), "--on-behalf-of", "rm@ours.example")[0] == 2
    assert (
        tandem(
            "checklist", "waive", str(ours["id"]), "--on-behalf-of", "rm@ours.example", "--reason", "n/a here"
        )[0]
        == 0
    )
    code, out = tandem("checklist", "show", "1", "--lang", "zh-CN", "--format", "md")
    assert code == 0 and "事项清单" in out and "已完成" in out and "已豁免" in out
    code, out = tandem("checklist", "show", "1", "--format", "html")
    assert code == 0 and out.lstrip().startswith("<!doctype html>")
    evidence = json.loads(tandem("relationship", "evidence", "1", "--format", "json")[1])
    done = [i for c in evidence["clauses"] for i in c["items"] if i["status"] == "done"]
    assert done[0]["evidence"] == "已上传营业执照"
    code, out = tandem("relationship", "evidence", "1", "--lang", "zh-CN")
    assert code == 0 and "证据索引" in out
    timeline = json.loads(tandem("relationship", "timeline", "1", "--json")[1])
    actions = [e["action"] for e in timeline]
    assert actions[0] == "relationship.opened" and "checklist.item.waived" in actions


def test_bad_stage_and_unknown_item(tandem_env: str) -> None:
    _setup()
    assert tandem("checklist", "generate", "1", "--stage", "forever")[0] == 2
    code, out = tandem("checklist", "done", "999", "--on-behalf-of", "rm@ours.example", "--reason", "t")
    assert code == 1 and "no checklist item 999" in out


def test_set_contact_reruns_key_person_check(tandem_env: str) -> None:
    _setup()
    shown = json.loads(tandem("relationship", "show", "1", "--json")[1])
    assert shown["key_person_flags"] == ["partner: no backup contact"]
    contact = ("contact", "add", "wang@qs.example", "--side", "partner", "--partner", "91510100ma6qt1111y")
    assert tandem(*contact)[0] == 0
    code, out = tandem(
        "relationship", "set-contact", "1", "--role", "backup-contact", "--email", "wang@qs.example"
    )
    assert code == 0 and "key-person warning" not in out
    code, out = tandem("relationship", "set-contact", "1", "--role", "deputy")
    assert code == 0 and "no deputy manager" in out
    code, out = tandem("relationship", "set-contact", "1", "--role", "deputy", "--email", "wang@qs.example")
    assert code == 1 and "wang@qs.example is the partner's contact, not one of ours" in out


def test_a_new_manager_is_asked_for_the_handover_once_not_at_every_review(tandem_env: str) -> None:
    from sqlmodel import Session, select

    from models.core.db import get_engine
    from models.core.periods import period_of
    from models.tables import ChecklistItem

    handover = {"tandem.5.1.handover-on-key-person-change", "tandem.5.6.successor-trained"}
    _setup()
    code, out = tandem("checklist", "generate", "1", "--stage", "review", "--period", "2026Q3", "--json")
    left_out = {entry["item"]: entry["reason"] for entry in json.loads(out)["left_out"]}
    assert code == 0
    assert left_out["tandem.5.6.successor-trained"] == "asked when our manager or deputy changes"
    with Session(get_engine()) as s:
        assert not s.exec(select(ChecklistItem).where(col(ChecklistItem.item_key).in_(handover))).all()
    assert tandem("contact", "add", "new@ours.example", "--side", "ours")[0] == 0
    change = ("relationship", "set-contact", "1", "--role", "manager", "--email", "new@ours.example")
    code, out = tandem(*change)
    assert code == 0 and "asked now for the handover: tandem.5.1.handover-on-key-person-change" in out
    assert "asked now" not in tandem(*change)[1]  # the same change again asks nothing more
    with Session(get_engine()) as s:
        asked = s.exec(select(ChecklistItem).where(col(ChecklistItem.item_key).in_(handover))).all()
    quarter = period_of(asked[0].created_at.date()).name
    assert sorted(i.item_key for i in asked) == sorted(handover)
    assert {(i.stage, i.period, i.status) for i in asked} == {("review", quarter, "open")}
    new_manager = next(i for i in asked if i.owner_role == "manager")
    with Session(get_engine()) as s:
        from models.tables import Contact

        assert s.get(Contact, new_manager.owner_contact_id).email == "new@ours.example"  # type: ignore[union-attr]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch, prefect_server: None) -> Iterator[Any]:
    """Capture the events Tandem emits, with Prefect's own asserting events client."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    yield worker
    worker.drain()


def test_closing_the_last_onboarding_item_announces_completion(tandem_env: str, events: Any) -> None:
    from models.checklists.generation import open_required
    from models.core.db import session_scope
    from models.tables import Relationship

    _setup()
    tandem("checklist", "generate", "1", "--stage", "onboarding")
    with session_scope() as s:
        s.get(Relationship, 1).stage = "onboarding"  # type: ignore[union-attr]
        required = [i.id for i in open_required(s, 1, "onboarding")]
    for item in required[:-1]:
        code, out = tandem(
            "checklist", "done", str(item), "--on-behalf-of", "rm@ours.example", "--reason", "t"
        )
        assert code == 0 and "is complete" not in out
    code, out = tandem(
        "checklist", "done", str(required[-1]), "--on-behalf-of", "rm@ours.example", "--reason", "t"
    )
    assert code == 0 and "onboarding of relationship 1 is complete" in out
    announced = [e for e in _emitted(events) if e.event == "tandem.relationship.onboarding-complete"]
    assert len(announced) == 1 and announced[0].payload["relationship_id"] == 1  # not before the last


def _emitted(worker: Any) -> list[Any]:
    worker.drain()
    return list(worker._client.events)
