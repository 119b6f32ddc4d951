"""`tandem payment`, `tandem review` and `tandem report`, driven as a user would."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deployments.cli import app

runner = CliRunner()
SAMPLES = Path(str(resources.files("deployments.samples")))


def tandem(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def setup_relationship() -> str:
    code, out = tandem("partner", "import", str(SAMPLES / "partners.csv"))
    assert code == 0, out
    code, out = tandem(
        "relationship",
        "open",
        "CN:91320500MA1JG0001G",
        "--manager",
        "rm@ours.example.com",
        "--sponsor",
        "vp@ours.example.com",
        "--partner-contact",
        "wang.jianguo@jinggong.example.cn",
        "--dependency",
        "0.6",
        "--json",
    )
    assert code == 0, out
    rel = json.loads(out)
    from sqlmodel import Session

    from models.core.db import get_engine
    from models.tables import Relationship

    with Session(get_engine()) as s:  # activate directly: the lifecycle is tested elsewhere
        stored = s.get(Relationship, rel["id"])
        stored.stage, stored.tier = "active", "light"  # type: ignore[union-attr]
        s.add(stored)
        s.commit()
    return rel["key"]


def test_payment_import_add_and_errors(tandem_env: str, tmp_path: Path) -> None:
    key = setup_relationship()
    code, out = tandem("payment", "import", str(SAMPLES / "payments.csv"), "--dry-run")
    assert code == 1 and "no relationship 'cn-91330100ma2yy0002l'" in out  # the second partner has none yet
    ours = tmp_path / "mine.csv"
    ours.write_text(
        "\n".join(
            line
            for line in (SAMPLES / "payments.csv").read_text().splitlines()
            if "yy0002l" not in line and "hx00036" not in line
        )
    )
    code, out = tandem("payment", "import", str(ours))
    assert code == 0 and "imported 5 invoice(s)" in out, out
    code, out = tandem(
        "payment",
        "add",
        "--relationship",
        key,
        "--invoice",
        "X-1",
        "--delivered",
        "2026-10-01",
        "--invoiced",
        "2026-10-02",
        "--amount",
        "12.5",
        "--currency",
        "cny",
    )
    assert code == 0 and "12.50 CNY, unpaid" in out, out
    code, out = tandem(
        "payment",
        "add",
        "--relationship",
        key,
        "--invoice",
        "X-1",
        "--delivered",
        "2026-10-01",
        "--invoiced",
        "2026-10-02",
        "--amount",
        "12.5",
        "--currency",
        "CNY",
    )
    assert code == 1 and "already exists" in out
    code, out = tandem("payment", "list", key, "--json")
    assert code == 0 and len(json.loads(out)) == 6


@pytest.mark.usefixtures("prefect_server")
def test_score_run_show_and_portfolio_report(tandem_env: str, tmp_path: Path) -> None:
    key = setup_relationship()
    ours = tmp_path / "mine.csv"
    ours.write_text(
        "\n".join(
            line
            for line in (SAMPLES / "payments.csv").read_text().splitlines()
            if "yy0002l" not in line and "hx00036" not in line
        )
    )
    assert tandem("payment", "import", str(ours))[0] == 0
    for side in ("ours", "partner"):
        code, out = tandem(
            "review",
            "score",
            key,
            "--period",
            "2026Q4",
            "--side",
            side,
            "--file",
            str(SAMPLES / f"scores_{side}.yaml"),
        )
        assert code == 0 and "12 score(s)" in out, out
    bad = tmp_path / "bad.yaml"
    bad.write_text("scores:\n  5.10: 9\n")
    code, out = tandem("review", "score", key, "--period", "2026Q4", "--side", "partner", "--file", str(bad))
    assert code == 1 and "must be quoted" in out and "1 to 5" in out
    code, out = tandem("review", "run", "--period", "2026Q4", "--as-of", "2027-01-04", "--json")
    assert code == 0, out
    assert json.loads(out)["reviewed"] == 1
    code, out = tandem("review", "show", key, "--json")
    data = json.loads(out)
    assert data["period"] == "2026Q4" and data["scorecards"]["partner_rates_us_lower"] == [
        "5.3",
        "5.4",
        "5.7",
        "5.9",
    ]
    assert data["kpis"]["payments"]["late_by_law"] >= 1
    assert {a["rule_id"] for a in data["actions"]} >= {
        "escalate-late-by-law",
        "discuss-scorecard-gaps",
        "risk-dependency-key-person",
    }
    code, out = tandem("review", "show", key)
    assert code == 0 and "5.7" in out and "action" in out
    # The pack is rendered from the stored review, in either language and format.
    code, out = tandem("review", "pack", key, "--lang", "zh-CN", "--format", "md")
    assert code == 0 and out.startswith("# 评审资料: ") and "2026Q4" in out, out
    pack = tmp_path / "pack.html"
    code, out = tandem("review", "pack", key, "--period", "2026Q4", "--format", "html", "--out", str(pack))
    assert code == 0 and "<svg" in pack.read_text() and "<script" not in pack.read_text(), out
    code, out = tandem("review", "pack", key, "--lang", "fr")
    assert code == 1 and "en, zh-CN" in out and not (tmp_path / "fr").exists()
    report = tmp_path / "portfolio.html"
    code, out = tandem("report", "portfolio", "--out", str(report), "--as-of", "2027-01-04")
    assert code == 0 and report.exists(), out
    html = report.read_text()
    assert "<svg" in html and "苏州精工" in html and "<script" not in html
    code, out = tandem("report", "portfolio", "--json", "--as-of", "2027-01-04")
    rows = json.loads(out)["relationships"]
    assert rows[0]["health"] is not None and rows[0]["key_person_flags"]
    assert tandem("review", "show", key, "--period", "2025Q1")[0] == 1
    assert tandem("review", "run", "--period", "2026-Q4")[0] == 1
