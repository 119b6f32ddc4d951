"""`tandem server status|start|stop`: the local Prefect server Tandem starts once and reuses."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from deployments import local_server, warm
from deployments.cli.common import console, handle_errors, print_json

app = typer.Typer(help="The local Prefect server Tandem starts once and reuses.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("status")
@handle_errors
def status(as_json: JsonFlag = False) -> None:
    """Say whether the local server runs, where, and where its log is."""
    info = local_server.status()
    if as_json:
        print_json(info)
        return
    if info["configured_api_url"]:
        console.print(f"PREFECT_API_URL is set ({info['configured_api_url']}): no local server is used")
    elif info["running"]:
        console.print(f"running at {info['url']} (pid {info['pid']}, Prefect {info['version']})")
    elif info["stale"]:
        console.print(f"not running (a stale record of pid {info['pid']} will be replaced on next use)")
    else:
        console.print("not running: the first command that runs a flow starts it")
    runner = info["runner"]
    if runner["running"]:
        console.print(
            f"warm command runner: pid {runner['pid']}, {runner['commands_run']} commands run "
            "(commands answer without loading Python's libraries again)"
        )
    console.print(f"home: {info['home']}\nlog: {info['log']}")


@app.command("start")
@handle_errors
def start() -> None:
    """Start the local server now (commands that run flows otherwise start it on first use)."""
    configured = local_server.status()["configured_api_url"]
    if configured:
        console.print(f"PREFECT_API_URL is set ({configured}): nothing to start")
        return
    environ = dict(os.environ)
    info, started = local_server.ensure_server(announce=local_server.spinner)
    console.print(f"{'started' if started else 'already running'} at {info.url} (pid {info.pid})")
    warm.start_if_needed(environ)  # later commands answer at once


@app.command("stop")
@handle_errors
def stop() -> None:
    """Stop the local server; the next command that runs a flow starts it again."""
    runner = warm.status(local_server.home())["pid"]
    info = local_server.stop_server()  # and the warm runner
    console.print(f"stopped the server at {info.url} (pid {info.pid})" if info else "not running")
    if runner is not None:
        console.print(f"stopped the warm command runner (pid {runner})")
