"""The foundation CLI, driven as a user would: exit codes, JSON output, nothing written on bad input."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deployments.cli import app

runner = CliRunner()
SAMPLE = Path(str(resources.files("deployments.samples") / "partners.csv"))


def tandem(*args: str) -> tuple[int, str]:
    """Run `tandem ARGS` and return the exit code and combined output."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def tandem_json(*args: str) -> object:
    code, out = tandem(*args, "--json")
    assert code == 0, out
    return json.loads(out)


@pytest.mark.empty_database
def test_first_use_creates_the_schema_and_db_upgrade_is_idempotent(tandem_env: str) -> None:
    assert tandem_json("partner", "list")["items"] == []
    code, out = tandem("db", "upgrade")
    assert code == 0 and "already at revision" in out
    status = tandem_json("db", "status")
    assert status["up_to_date"] is True


def test_partner_add_show_classify(tandem_env: str) -> None:
    code, out = tandem(
        "partner",
        "add",
        "--name",
        "杭州云栈软件科技有限公司",
        "--registration-id",
        "91330100MA2YY0099K",
        "--country",
        "cn",
        "--industry",
        "software_it",
        "--employees",
        "35",
        "--revenue",
        "6000000",
        "--currency",
        "CNY",
        "--language",
        "zh-CN",
    )
    assert code == 0, out
    assert "small" in out
    shown = tandem_json("partner", "show", "cn:91330100ma2yy0099k")
    assert shown["legal_name"] == "杭州云栈软件科技有限公司" and shown["size_class"] == "small"
    size = tandem_json("partner", "classify", "91330100MA2YY0099K")
    assert size["size_class"] == "small" and size["scheme"] == "CN-2011-300"
    code, out = tandem("partner", "classify", "91330100MA2YY0099K")
    assert code == 0 and "small" in out and ("software_it" in out or "软件" in out)


def test_partner_add_rejects_bad_flags_with_every_reason(tandem_env: str) -> None:
    code, out = tandem(
        "partner",
        "add",
        "--name",
        "X",
        "--registration-id",
        "R1",
        "--country",
        "CHN",
        "--industry",
        "nope",
        "--employees",
        "-1",
        "--revenue",
        "5",
        "--currency",
        "EUR",
        "--language",
        "fr",
    )
    assert code == 1
    for flag in ("--country", "--industry", "--employees", "--language"):  # every reason, by its flag
        assert flag in out
    assert tandem_json("partner", "list")["items"] == []


def test_duplicate_partner_is_refused(tandem_env: str) -> None:
    args = (
        "partner",
        "add",
        "--name",
        "A",
        "--registration-id",
        "R1",
        "--country",
        "DE",
        "--industry",
        "other",
        "--employees",
        "3",
        "--revenue",
        "10",
        "--currency",
        "EUR",
    )
    assert tandem(*args)[0] == 0
    code, out = tandem(*args)
    assert code == 1 and "already exists" in out


def test_usage_error_exits_2(tandem_env: str) -> None:
    assert tandem("partner", "add", "--name")[0] == 2
    assert tandem("relationship", "open")[0] == 2


def test_import_sample_then_open_relationship_freezes_size(tandem_env: str) -> None:
    code, out = tandem("partner", "import", str(SAMPLE))
    assert code == 0, out
    listing = tandem_json("partner", "list")
    partners = listing["items"]
    assert listing["total"] == len(partners) == 24 and (listing["limit"], listing["offset"]) == (50, 0)
    classes = {p["size_class"] for p in partners}
    assert len(partners) >= 20 and classes == {"micro", "small", "medium", "large"}
    assert {p["size_scheme"] for p in partners} == {"CN-2011-300", "EU-2003-361"}
    code, out = tandem(
        "relationship",
        "open",
        "CN:91330100MA2YY0002L",
        "--manager",
        "rm@ours.example",
        "--sponsor",
        "vp@ours.example",
        "--partner-contact",
        "li.xiaoyan@yunzhan.example.cn",
        "--criticality",
        "high",
        "--dependency",
        "0.4",
        "--payment-days",
        "45",
    )
    assert code == 0, out
    assert "key-person warning" in out  # no deputy, no backup
    rels = tandem_json("relationship", "list")["items"]
    assert len(rels) == 1 and rels[0]["size_class"] == "small" and rels[0]["stage"] == "proposed"
    shown = tandem_json("relationship", "show", str(rels[0]["id"]))
    assert shown["manager"]["side"] == "ours" and shown["partner_contact"]["side"] == "partner"
    assert "ours: no deputy manager" in shown["key_person_flags"]


def test_frozen_size_class_survives_later_growth(tandem_env: str) -> None:
    tandem(
        "partner",
        "add",
        "--name",
        "Tiny",
        "--registration-id",
        "T1",
        "--country",
        "DE",
        "--industry",
        "other",
        "--employees",
        "5",
        "--revenue",
        "100000",
        "--currency",
        "EUR",
    )
    tandem(
        "relationship",
        "open",
        "T1",
        "--manager",
        "rm@ours.example",
        "--sponsor",
        "vp@ours.example",
        "--partner-contact",
        "boss@tiny.example",
        "--deputy",
        "dep@ours.example",
    )
    from sqlmodel import select

    from models.core.db import session_scope
    from models.tables import Partner

    with session_scope() as s:
        s.exec(select(Partner)).one().employees = 400  # the partner grows later
    assert tandem_json("partner", "classify", "T1")["size_class"] == "large"
    assert tandem_json("relationship", "list")["items"][0]["size_class"] == "micro"
    assert tandem_json("partner", "list")["items"][0]["size_class"] == "large"  # today's class


def test_relationship_open_rejects_bad_input_and_writes_nothing(tandem_env: str) -> None:
    tandem(
        "partner",
        "add",
        "--name",
        "A",
        "--registration-id",
        "R1",
        "--country",
        "DE",
        "--industry",
        "other",
        "--employees",
        "3",
        "--revenue",
        "10",
        "--currency",
        "EUR",
    )
    code, out = tandem(
        "relationship",
        "open",
        "R1",
        "--manager",
        "not-an-email",
        "--sponsor",
        "vp@o.example",
        "--partner-contact",
        "p@a.example",
        "--dependency",
        "1.5",
    )
    assert code == 1
    assert "--manager" in out and "--dependency" in out
    assert tandem_json("contact", "list") == []
    code, out = tandem(
        "relationship",
        "open",
        "NOPE",
        "--manager",
        "rm@o.example",
        "--sponsor",
        "vp@o.example",
        "--partner-contact",
        "p@a.example",
    )
    assert code == 1 and "no partner" in out


def test_contact_channels_are_never_printed(tandem_env: str) -> None:
    code, out = tandem(
        "contact",
        "add",
        "rm@ours.example",
        "--side",
        "ours",
        "--channel",
        "wecombot://SUPERSECRETKEY99",
    )
    assert code == 0, out
    listing = json.dumps(tandem_json("contact", "list"))
    assert "SUPERSECRETKEY99" not in out + listing
    assert "wecombot://" in listing


def test_config_show_masks_secrets(tandem_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.core.settings import get_settings

    monkeypatch.setenv("TANDEM_SMTP_PASSWORD", "hunter2-smtp")
    monkeypatch.setenv("TANDEM_TIMEZONE", "Asia/Shanghai")
    get_settings.cache_clear()
    code, out = tandem("config", "show")
    data = tandem_json("config", "show")
    assert code == 0 and "hunter2-smtp" not in out + json.dumps(data)
    assert data["smtp_password"] == "****" and data["timezone"] == "Asia/Shanghai"


def test_placeholder_secret_is_refused(tandem_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.core.settings import get_settings

    monkeypatch.setenv("TANDEM_SECRET_KEY", "changeme")
    get_settings.cache_clear()
    code, out = tandem("config", "show")
    assert code != 0
