"""Prefect events and artifacts for lifecycle changes (the only place Tandem talks to Prefect's event bus)."""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext, TaskRunContext
from prefect.events import emit_event
from prefect.events.worker import EventsWorker

from models.lifecycle.machine import StageChange


def emit_stage_change(change: StageChange | None, **payload: Any) -> None:
    """Emit `tandem.relationship.<stage>` for a stage change, so automations can react."""
    if change is None:
        return
    emit_event(
        event=change.event,
        resource={
            "prefect.resource.id": f"tandem.relationship.{change.relationship_id}",
            "prefect.resource.name": f"relationship {change.relationship_id}",
        },
        payload={
            "relationship_id": change.relationship_id,
            "from": change.from_stage,
            "to": change.to_stage,
            **payload,
        },
    )


def emit_relationship_event(event: str, relationship_id: int, *, flush: bool = False, **payload: Any) -> None:
    """Emit a named Tandem event about one relationship (flush: wait until sent, for short processes)."""
    emit_event(
        event=event,
        resource={"prefect.resource.id": f"tandem.relationship.{relationship_id}"},
        payload={"relationship_id": relationship_id, **payload},
    )
    if flush:
        EventsWorker.drain_all()


def artifact_key(*parts: object) -> str:
    """Build a Prefect artifact key (lowercase letters, digits and dashes only)."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower()).strip("-")


def publish_markdown(markdown: str, *, key: str, description: str) -> None:
    """Publish a Markdown artifact when running inside a flow or task (no-op outside Prefect)."""
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return
    create_markdown_artifact(markdown=markdown, key=artifact_key(key), description=description)
