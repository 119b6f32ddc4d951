"""`tandem webhook add|list|test|retry|remove`, driven as an operator would, against a real receiver."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from tests.support.servers import HttpReceiver
from tests.support.webhooks import SECRET, checking

runner = CliRunner()
outputs: list[str] = []


def tandem(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    outputs.append(result.output)
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERP_WEBHOOK_SECRET", SECRET)
    outputs.clear()


def test_add_refuses_every_problem_at_once_without_echoing_the_secret(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHORT", "tiny-Secret-77")
    code, out = tandem(
        "webhook",
        "add",
        "http://erp.example.com/in",
        "--events",
        "stage_changed",
        "--secret-from-env",
        "NOT_SET",
    )
    assert code == 1 and "webhook not added" in out
    assert "plain http is allowed only to this machine" in out and "unknown event type 'stage_changed'" in out
    assert "environment variable NOT_SET is not set" in out
    code, out = tandem(
        "webhook", "add", "https://erp.example.com/in", "--events", "all", "--secret-from-env", "SHORT"
    )
    assert code == 1 and "SHORT must hold 24 to 512 characters" in out and "tiny-Secret-77" not in out
    code, out = tandem("webhook", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_add_list_test_and_remove_against_a_real_receiver(schema: str, http_receiver: HttpReceiver) -> None:
    http_receiver.verify = checking()
    url = f"{http_receiver.base}/hooks/erp-TOKEN-4417"
    code, out = tandem(
        "webhook",
        "add",
        url,
        "--events",
        "com.tandem.relationship.stage_changed,com.tandem.approval.approved",
        "--events",
        "com.tandem.payment.overdue",
        "--secret-from-env",
        "ERP_WEBHOOK_SECRET",
        "--json",
    )
    added = json.loads(out)
    assert code == 0 and added["url"] == f"{http_receiver.base}/****" and len(added["events"]) == 3
    code, out = tandem("webhook", "add", url, "--events", "all", "--secret-from-env", "ERP_WEBHOOK_SECRET")
    assert code == 1 and "already sends to" in out
    code, out = tandem("webhook", "test", "1")
    assert code == 0 and "sent" in out
    (delivery,) = http_receiver.received
    assert delivery.json()["type"] == "com.tandem.webhook.test" and http_receiver.unverified == 0
    code, out = tandem("webhook", "list", "--json")
    (row,) = json.loads(out)
    assert code == 0 and row["deliveries"]["sent"] == 1 and row["url"].endswith("/****")
    code, out = tandem("webhook", "list")
    assert code == 0 and "127.0.0.1" in out
    code, out = tandem("outbox", "list")
    assert code == 0 and "webhook 1" in out  # the "to" column names the webhook
    http_receiver.fail_share = 1.0
    code, out = tandem("webhook", "test", "1", "--json")
    assert code == 1 and json.loads(out)["deliveries"][0]["result"].endswith("HTTP 503")
    code, out = tandem("webhook", "retry", "1")
    assert code == 0 and "0 dead delivery(ies)" in out  # a failed test is not retried: it was a test
    code, out = tandem("webhook", "remove", "1")
    assert code == 0 and "webhook 1 removed" in out
    code, out = tandem("webhook", "test", "1")
    assert code == 1 and "webhook 1 was removed" in out
    code, out = tandem("webhook", "list", "--all", "--json")
    assert json.loads(out)[0]["removed_at"] is not None
    assert tandem("webhook", "remove", "7")[0] == 1
    everything = "\n".join(outputs)
    assert SECRET not in everything and "TOKEN-4417" not in everything
