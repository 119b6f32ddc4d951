"""Tests for `tandem library validate` and `tandem library list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from deployments.cli.library import app
from models.checklists.library import CLAUSES
from models.core.settings import get_settings

runner = CliRunner()


def _write_file(folder: Path, name: str, item: dict[str, object]) -> None:
    """Write a one-item library file for clause 5.5."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "id": "tandem.5.5",
        "clause": "5.5",
        "version": 1,
        "locales": ["en", "zh-CN"],
        "title": {"en": "Governance and process", "zh-CN": "治理和过程"},
        "items": [item],
    }
    (folder / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _item(**changes: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "tandem.5.5.charter",
        "clause": "5.5",
        "stages": ["governance"],
        "owner_side": "joint",
        "owner_role": "manager",
        "title": {"en": "Agree a charter", "zh-CN": "商定章程"},
        "partner_title": {"en": "Confirm our charter", "zh-CN": "确认章程"},
        "guidance": {"en": "Keep it short.", "zh-CN": "保持简短。"},
        "evidence": {"en": "Charter stored.", "zh-CN": "章程已存档。"},
        "send": {"en": "A reply.", "zh-CN": "回复即可。"},
        "next": {"en": "We store it.", "zh-CN": "我们会存档。"},
        "effort_minutes": 5,
        "effort_basis": "Read one page and reply.",
        "priority": "should",
        "due_offset_days": 10,
    }
    item.update(changes)
    return item


def test_validate_shipped_library_is_ok() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 12 files, ")


def test_validate_custom_folder_ok(tmp_path: Path) -> None:
    _write_file(tmp_path, "a.yaml", _item())
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "ok: 1 files, 1 items" in result.output


def test_validate_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    _write_file(tmp_path, "a.yaml", _item(stages=["kickoff"]))
    _write_file(tmp_path, "b.yaml", _item(id="tandem.5.5.other", colour="red"))
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("a.yaml: tandem.5.5.charter: stages.0")
    assert lines[1] == "b.yaml: tandem.5.5.other: unknown field 'colour'"


def test_validate_includes_configured_overlay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_file(tmp_path / "overlay", "acme.yaml", _item(id="acme.broken", clause="5.13"))
    monkeypatch.setenv("TANDEM_LIBRARY_OVERLAY", str(tmp_path / "overlay"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 1
    assert "acme.yaml: acme.broken: clause" in result.stdout


def test_list_json_filters_by_clause_and_stage() -> None:
    result = runner.invoke(app, ["list", "--clause", "5.12", "--stage", "exit", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows
    assert all(row["clause"] == "5.12" and "exit" in row["stages"] for row in rows)
    assert "tandem.5.12.final-payment-on-time" in {row["id"] for row in rows}


def test_list_json_in_chinese_keeps_characters() -> None:
    result = runner.invoke(app, ["list", "--clause", "5.7", "--lang", "zh-CN", "--json"])
    assert result.exit_code == 0, result.output
    assert "\\u" not in result.stdout
    rows = json.loads(result.stdout)
    titles = {row["id"]: row["title"] for row in rows}
    assert titles["tandem.5.7.payment-within-legal-limit"] == "付款期限自交付起不超过60天"


def test_list_json_without_filters_lists_all_clauses() -> None:
    rows = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert {row["clause"] for row in rows} == set(CLAUSES)


def test_list_table_shows_titles() -> None:
    result = runner.invoke(app, ["list", "--clause", "5.4", "--stage", "exit"])
    assert result.exit_code == 0, result.output
    assert "tandem.5.4.sponsor-approves-exit" in result.output


@pytest.mark.parametrize(
    "args",
    [["--clause", "5.13"], ["--stage", "kickoff"], ["--lang", "fr"]],
)
def test_list_rejects_bad_filters_with_exit_2(args: list[str]) -> None:
    result = runner.invoke(app, ["list", *args])
    assert result.exit_code == 2
    assert "is not a" in result.output


def test_list_table_on_a_wide_terminal_shows_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    result = runner.invoke(app, ["list", "--clause", "5.7", "--stage", "onboarding"])
    assert result.exit_code == 0, result.output
    assert "ours/team:finance" in result.output
    assert "tandem.5.7.no-pay-when-paid" in result.output
