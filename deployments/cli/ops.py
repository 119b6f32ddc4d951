"""Operations: `tandem serve` runs every deployment here; `tandem deploy` registers them on a pool."""

from __future__ import annotations

from typing import Annotated

import typer

from deployments.cli.common import console, handle_errors, print_json
from deployments.local_server import point_prefect_here

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


EmailRate = Annotated[
    int, typer.Option(min=1, help="The SMTP provider's rate: emails a minute, across all workers.")
]


def serve(
    limit: Annotated[int | None, typer.Option(help="Most flow runs at once in this process.")] = None,
    email_per_minute: EmailRate = 60,
    name: Annotated[str, typer.Option(help="Deployment name under each flow.")] = "tandem-local",
) -> None:
    """Serve every deployment in this process against the configured Prefect API (Ctrl-C stops)."""
    point_prefect_here()  # none configured: the local server under TANDEM_HOME
    from deployments.serve import api_description, serve_all

    console.print(f"serving Tandem's deployments as <flow>/{name} on {api_description()}", highlight=False)
    serve_all(email_per_minute=email_per_minute, name=name, limit=limit)


def deploy(
    pool: Annotated[str, typer.Option(help="Work pool; a process pool is created if missing.")],
    email_per_minute: EmailRate = 60,
    image: Annotated[
        str | None, typer.Option(help="Image with Tandem installed (Docker/Kubernetes pools).")
    ] = None,
    name: Annotated[str, typer.Option(help="Deployment name under each flow.")] = "tandem",
    as_json: JsonFlag = False,
) -> None:
    """Register every deployment on a work pool, with the governance automation and concurrency limits."""
    point_prefect_here()
    from deployments.deploy import deploy_all

    report = deploy_all(pool, email_per_minute=email_per_minute, name=name, image=image)
    if as_json:
        print_json(report.as_dict())
        return
    console.print(f"work pool {pool}{' (created)' if report.pool_created else ''}", highlight=False)
    for deployment in report.deployments:
        console.print(f"  deployment {deployment}", highlight=False)
    for automation in report.automations:
        console.print(f"  automation {automation}", highlight=False)
    rate = report.email_rate_limit
    console.print(f"  rate limit {rate['name']}: {rate['limit']} emails a minute", highlight=False)
    console.print(f"start workers with: prefect worker start --pool {pool}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the operations commands to the top-level app."""
    app.command("serve")(handle_errors(serve))
    app.command("deploy")(handle_errors(deploy))
