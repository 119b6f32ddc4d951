"""`tandem user` and acting as oneself: personal tokens, role checks, refusals and overrides."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from deployments.cli import app
from models.core.db import get_engine
from models.core.settings import get_settings
from models.tables import AuditEvent

runner = CliRunner()


def tandem(*args: str) -> tuple[int, str]:
    """Run the CLI and return exit code and output."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def as_token(monkeypatch: pytest.MonkeyPatch, token: str | None) -> None:
    """Act as a token's user from now on (None: the local administrator again)."""
    if token is None:
        monkeypatch.delenv("TANDEM_TOKEN", raising=False)
    else:
        monkeypatch.setenv("TANDEM_TOKEN", token)
    get_settings.cache_clear()


def _token(email: str) -> str:
    code, out = tandem("user", "token", email)
    assert code == 0, out
    return out.strip().splitlines()[-1]


def test_users_tokens_and_every_refusal(tandem_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local administrator manages users; a manager's token may not, and the refusal is audited."""
    assert tandem("user", "add", "RM@ours.example", "--role", "manager", "--name", "Rita")[0] == 0
    assert tandem("user", "add", "rm@OURS.example", "--role", "manager")[0] == 1  # same email, other case
    code, out = tandem("user", "add", "x", "--role", "wizard")
    assert code == 1 and "email" in out and "unknown role" in out
    assert tandem("user", "add", "au@ours.example", "--role", "auditor")[0] == 0
    users = json.loads(tandem("user", "list", "--json")[1])
    assert [(u["email"], u["roles"]) for u in users] == [
        ("au@ours.example", ["auditor"]),
        ("rm@ours.example", ["manager"]),
    ]
    manager = _token("rm@ours.example")
    assert manager.startswith("tdm_") and manager not in json.dumps(users)

    as_token(monkeypatch, manager)
    code, out = tandem("user", "add", "evil@ours.example", "--role", "administrator")
    assert code == 1 and "rm@ours.example may not user.manage" in out and "Traceback" not in out
    code, out = tandem("approve", "1", "--on-behalf-of", "vp@ours.example", "--reason", "x")
    assert code == 1 and "only an administrator" in out
    as_token(monkeypatch, "tdm_not-a-token")
    assert tandem("user", "list")[0] == 1

    as_token(monkeypatch, None)
    assert tandem("user", "set-role", "rm@ours.example", "--role", "manager,sponsor")[0] == 0
    assert tandem("user", "disable", "rm@ours.example")[0] == 0
    as_token(monkeypatch, manager)
    code, out = tandem("partner", "list")
    assert code == 1 and "disabled" in out
    as_token(monkeypatch, None)
    with Session(get_engine()) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    refused = [e for e in events if e.action == "access.refused"]
    assert [(e.actor, e.method, e.data["wanted"]) for e in refused] == [
        ("rm@ours.example", "cli-token", "user.manage")
    ]
    assert {e.method for e in events if e.action.startswith("user.") and e.action != "user.added"} == {
        "local-admin"
    }
    assert not any(e.action == "user.added" and "evil" in json.dumps(e.data) for e in events)


def test_an_override_needs_a_reason_and_records_both(tandem_env: str) -> None:
    """An administrator acts for a person only with a reason; the audit keeps operator and person."""
    assert (
        tandem(
            "partner",
            "add",
            "--name",
            "Atelier",
            "--registration-id",
            "AL1",
            "--country",
            "FR",
            "--industry",
            "other",
            "--employees",
            "6",
            "--revenue",
            "900000",
            "--currency",
            "EUR",
        )[0]
        == 0
    )
    code, out = tandem(
        "relationship",
        "open",
        "AL1",
        "--manager",
        "rm@ours.example",
        "--sponsor",
        "vp@ours.example",
        "--partner-contact",
        "c@al.example",
        "--key",
        "al",
    )
    assert code == 0, out
    code, out = tandem("payment", "answer", "1", "--answer", "x", "--on-behalf-of", "rm@ours.example")
    assert code == 1 and "--reason" in out
    code, out = tandem("checklist", "generate", "al", "--stage", "onboarding", "--json")
    assert code == 0, out
    code, out = tandem("checklist", "show", "al", "--json")
    item = next(i for i in json.loads(out)["items"] if i["owner_side"] == "ours")
    code, out = tandem("checklist", "done", str(item["id"]), "--evidence", "x")
    assert code == 1 and "--on-behalf-of" in out
    code, out = tandem(
        "checklist",
        "done",
        str(item["id"]),
        "--evidence",
        "signed",
        "--on-behalf-of",
        "RM@ours.example",
        "--reason",
        "Rita is on leave",
    )
    assert code == 0, out
    with Session(get_engine()) as session:
        done = session.exec(select(AuditEvent).where(AuditEvent.action == "checklist.item.done")).one()
    assert done.actor.startswith("cli:") and (done.method, done.on_behalf_of, done.reason) == (
        "cli-override",
        "rm@ours.example",
        "Rita is on leave",
    )


def test_handover_moves_only_what_the_person_may_hand_over(
    tandem_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manager hands over their own relationships; another manager's token is refused, nothing moved."""
    add = ("--industry", "other", "--employees", "6", "--revenue", "900000", "--currency", "EUR")
    for reg in ("AL1", "AL2"):
        assert (
            tandem("partner", "add", "--name", reg, "--registration-id", reg, "--country", "FR", *add)[0] == 0
        )
    for reg, manager in (("AL1", "rm@ours.example"), ("AL2", "new@ours.example")):
        code, out = tandem(
            "relationship",
            "open",
            reg,
            "--manager",
            manager,
            "--sponsor",
            "vp@ours.example",
            "--partner-contact",
            f"c@{reg.lower()}.example",
        )
        assert code == 0, out
    assert tandem("user", "add", "new@ours.example", "--role", "manager")[0] == 0
    as_token(monkeypatch, _token("new@ours.example"))
    code, out = tandem("relationship", "handover", "rm@ours.example", "new@ours.example", "--reason", "x")
    assert code == 1 and "may not relationship.handover" in out
    as_token(monkeypatch, None)
    code, out = tandem(
        "relationship", "handover", "rm@ours.example", "new@ours.example", "--reason", "leaving"
    )
    assert code == 0 and "1 relationship(s)" in out, out
    shown = json.loads(tandem("relationship", "show", "1", "--json")[1])
    assert "new@ours.example" in json.dumps(shown)
