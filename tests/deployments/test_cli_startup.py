"""The command line answers at once: commands that run no flow never import Prefect (imports, not time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deployments.cli import COMMANDS, app
from deployments.cli.lazy import load_command

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("prefect", "apprise", "fastapi", "uvicorn")

# Each command runs in one fresh interpreter, in order, on an empty database; then we look at what
# was imported. A refusal (no partner 1) still walks the command's whole import path.
PROBE = """
import json, sys
from deployments.cli import app
import typer.main
command = typer.main.get_command(app)
for argv in json.loads(sys.argv[1]):
    try:
        command.main(argv, prog_name="tandem", standalone_mode=False)
    except SystemExit:
        pass
    except Exception as exc:  # a usage error or a refusal: the imports happened all the same
        if not hasattr(exc, "exit_code"):
            raise
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""

FAST = [
    ["--help"],
    ["partner", "list"],
    ["partner", "list", "--json", "--country", "CN"],
    ["partner", "show", "1"],
    ["partner", "classify", "1"],
    ["relationship", "list"],
    ["relationship", "show", "1"],
    ["checklist", "show", "1"],
    ["library", "list"],
    ["config", "show"],
    ["server", "status", "--json"],
]


def test_listing_commands_import_no_prefect_apprise_or_web(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["TANDEM_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(FAST)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "sqlmodel" in loaded  # the probe did run the commands
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert not (tmp_path / "home" / "prefect-server.pid").exists()  # nothing was started


def test_help_lists_every_command_with_its_help() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, entry in COMMANDS.items():
        assert name in result.output and entry.help[:40] in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_table_entry_loads_with_the_same_help(name: str) -> None:
    entry = COMMANDS[name]
    command = load_command(name, entry.target)
    assert command.name == name
    assert (command.help or "").split("\n")[0].strip() == entry.help


def test_a_command_keeps_its_options_when_loaded_lazily() -> None:
    result = CliRunner().invoke(app, ["partner", "list", "--json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"total": 0, "limit": 5, "offset": 0, "items": []}
    typo = CliRunner().invoke(app, ["partnr", "list"], env={"COLUMNS": "200"})
    assert typo.exit_code == 2 and "Did you mean 'partner'" in typo.output
