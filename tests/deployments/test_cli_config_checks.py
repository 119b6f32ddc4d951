"""`tandem config show` checks the Apprise team config: a broken or missing file is reported, never silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deployments.cli import app
from models.core.settings import get_settings

runner = CliRunner()
TOKEN = "TEAMsecretTOKEN4410"


def config_show(monkeypatch: pytest.MonkeyPatch, path: Path | None) -> tuple[int, str, dict]:
    if path is not None:
        monkeypatch.setenv("TANDEM_APPRISE_CONFIG", str(path))
    get_settings.cache_clear()
    shown = runner.invoke(app, ["config", "show"])
    as_json = runner.invoke(app, ["config", "show", "--json"])
    assert shown.exit_code == as_json.exit_code
    return shown.exit_code, shown.output, json.loads(as_json.stdout)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("urls:\n  - json://localhost/hook/{t}:\n    tag: [finance\n", "not valid YAML at line"),
        ("urls:\n  - bogus://{t}@host/path:\n      tag: finance\n", "no usable URL"),
        ("urls:\n  - json://localhost/hook/{t}\n", "no URL has a tag"),
        ("", "no usable URL"),
    ],
)
def test_a_broken_team_config_is_reported_with_exit_1(
    tandem_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    content: str | None,
    expected: str,
) -> None:
    path = tmp_path / "teams.yml"
    if content is not None:
        path.write_text(content.format(t=TOKEN), encoding="utf-8")
    code, out, data = config_show(monkeypatch, path)
    assert code == 1 and f"problem: TANDEM_APPRISE_CONFIG {path}: {expected}" in out, out
    assert len(data["problems"]) == 1 and expected in data["problems"][0]
    assert TOKEN not in out + json.dumps(data) + caplog.text  # Apprise's own log lines are masked too
    if "bogus" in (content or ""):
        assert "bogus://****" in caplog.text  # Apprise logged the URL it could not parse: masked


def test_a_good_team_config_or_none_is_no_problem(
    tandem_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, data = config_show(monkeypatch, None)
    assert code == 0 and data["problems"] == []
    path = tmp_path / "teams.yml"
    path.write_text(f"urls:\n  - json://localhost/hook/{TOKEN}:\n      tag: finance\n", encoding="utf-8")
    code, out, data = config_show(monkeypatch, path)
    assert code == 0 and data["problems"] == [] and "problem" not in out
