"""Lifecycle commands as a manager and a sponsor type them, under a real Prefect server."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from deployments.cli import app
from models.core.settings import get_settings
from models.lifecycle.exits import plan_of
from tests.support import factories as f

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("prefect_server")


@pytest.fixture(autouse=True)
def smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    """Email is a channel, so approval requests and welcomes are queued."""
    monkeypatch.setenv("TANDEM_SMTP_HOST", "127.0.0.1")
    get_settings.cache_clear()


def tandem(*args: str) -> tuple[int, str]:
    """Run the CLI and return exit code and output."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def _partner() -> None:
    assert tandem("partner", "add", "--name", "Atelier Lumière SARL", "--registration-id", "AL1",
                  "--country", "FR", "--industry", "other", "--employees", "6", "--revenue", "900000",
                  "--currency", "EUR")[0] == 0


ONBOARD = ("onboard", "AL1", "--manager", "rm@ours.example", "--deputy", "dep@ours.example",
           "--sponsor", "vp@ours.example", "--partner-contact", "claire@al.example", "--dependency", "0.2",
           "--objective", "lighting for 3 stores", "--partner-objective", "steady orders")


def test_onboard_then_approve_then_governance_refused_until_done(tandem_env: str) -> None:
    _partner()
    code, out = tandem(*ONBOARD, "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["outcome"] == "awaiting-approval" and result["proposed_tier"] == "light"
    code, out = tandem("approve", "1", "--on-behalf-of", "rm@ours.example", "--reason", "t")
    assert code == 1 and "not the executive sponsor" in out
    code, out = tandem("approve", "1", "--on-behalf-of", "vp@ours.example", "--reason", "t", "--json")
    assert code == 0, out
    assert json.loads(out)["stage"] == "onboarding"
    code, out = tandem("governance", "1")
    assert code == 1 and "onboarding is not complete" in out
    shown = json.loads(tandem("relationship", "show", "1", "--json")[1])
    assert shown["objectives"] == {"ours": ["lighting for 3 stores"], "partner": ["steady orders"]}
    timeline = [e["action"] for e in json.loads(tandem("relationship", "timeline", "1", "--json")[1])]
    assert timeline.index("onboarding.approved") < timeline.index("relationship.stage")


def test_onboard_with_approve_as_and_reject(tandem_env: str) -> None:
    _partner()
    code, out = tandem(
        *ONBOARD,
        "--approve",
        "--on-behalf-of",
        "vp@ours.example",
        "--reason",
        "t",
        "--tier",
        "standard",
        "--json",
    )
    assert code == 1 and "--comment" in out  # an override needs a reason
    code, out = tandem(
        *ONBOARD,
        "--approve",
        "--on-behalf-of",
        "vp@ours.example",
        "--reason",
        "t",
        "--tier",
        "standard",
        "--comment",
        "key design partner",
        "--json",
    )
    assert code == 0, out
    assert json.loads(out)["tier"] == "standard"
    code, out = tandem("reject", "1", "--on-behalf-of", "vp@ours.example", "--reason", "changed my mind")
    assert code == 1 and "already approved" in out


def test_bad_input_is_rejected_with_flags(tandem_env: str) -> None:
    _partner()
    code, out = tandem(
        "onboard",
        "AL1",
        "--manager",
        "nope",
        "--sponsor",
        "vp@ours.example",
        "--partner-contact",
        "c@al.example",
        "--dependency",
        "2",
    )
    assert code == 1 and "--manager" in out and "--dependency" in out
    code, out = tandem("exit", "1", "--reason", "x", "--trigger", "whim", "--on-behalf-of", "rm@ours.example")
    assert code == 1 and "--trigger" in out
    assert tandem("governance", "99")[0] == 1


def test_exit_proposed_then_approved_refusals_listed(session: Session) -> None:
    """`exit-propose` and `exit-approve` call the workspace's functions; a refusal lists each reason."""
    rel = f.relationship(session, stage="proposed")
    session.commit()
    ref = str(rel.id)
    manager, sponsor = (rel.key.replace("rel-", w) + "@example.org" for w in ("manager", "sponsor"))
    code, out = tandem("exit-approve", ref, "--on-behalf-of", sponsor, "--reason", "t")
    assert code == 1 and "the relationship is proposed: an exit starts from" in out, out
    assert "no exit has been proposed yet" in out
    rel.stage = "active"
    session.add(rel)
    session.commit()
    propose = ("exit-propose", ref, "--reason", "contract ends", "--trigger", "planned-end")
    assert tandem(*propose, "--on-behalf-of", manager)[0] == 0
    code, out = tandem("exit-approve", ref, "--on-behalf-of", sponsor, "--reason", "t")
    assert code == 0, out
    session.expire_all()
    plan = plan_of(session, rel)
    assert plan is not None and (plan.exit_proposed_by, plan.exit_approved_by) == (manager, sponsor)


def test_approving_a_relationship_nothing_waits_on_is_refused(tandem_env: str) -> None:
    _partner()
    code, out = tandem("relationship", "open", "AL1", "--manager", "rm@ours.example",
                       "--sponsor", "vp@ours.example", "--partner-contact", "claire@al.example")
    assert code == 0, out
    code, out = tandem("approve", "1", "--on-behalf-of", "vp@ours.example", "--reason", "t")
    assert code == 1 and "not waiting for a sponsor's decision" in out
    assert "Traceback" not in out
