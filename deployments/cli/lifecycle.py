"""Lifecycle commands: `tandem onboard`, `approve`, `reject`, `governance` and `exit` run the flows."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, cast

import typer

from deployments.cli.common import (
    OnBehalfOf,
    OverrideReason,
    authorize,
    console,
    db,
    fields_as_flags,
    handle_errors,
    person,
    principal,
    print_json,
    validated,
)
from deployments.cli.options import (
    ROLE_FLAGS,
    BackupContact,
    CriticalityOpt,
    Dependency,
    Deputy,
    Key,
    Manager,
    PartnerContact,
    PartnerRef,
    PaymentDays,
    Sponsor,
)
from deployments.local_server import configure_prefect, prefect_runtime
from models.core.errors import InputRejected, Problem
from models.core.vocabulary import DEFAULT_PAYMENT_TERM_DAYS
from models.lifecycle.machine import EXIT_TRIGGERS, ApprovalDecision, ExitTrigger
from models.tables.core import Criticality, Tier

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
FLAGS = {
    "dependency_ratio": "--dependency",
    "payment_term_days": "--payment-days",
    "partner_ref": "PARTNER_REF",
    "approval_tier": "--tier",
    "approval_comment": "--comment",
    "approval_timeout_hours": "--timeout-hours",
    "by": "acting as",  # the signed-in person, or whom --on-behalf-of names
}


def _validated(model: Any, data: dict[str, Any], summary: str) -> Any:
    return validated(model, data, summary=summary, flags=FLAGS)


def _show(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    for key, value in result.items():
        console.print(f"{key}: {value}", highlight=False)


def onboard(
    partner: PartnerRef,
    manager: Manager,
    sponsor: Sponsor,
    partner_contact: PartnerContact,
    deputy: Deputy = None,
    backup_contact: BackupContact = None,
    criticality: CriticalityOpt = Criticality.medium,
    dependency: Dependency = 0.0,
    payment_days: PaymentDays = DEFAULT_PAYMENT_TERM_DAYS,
    objective: Annotated[list[str] | None, typer.Option(help="Our objective (repeatable).")] = None,
    partner_objective: Annotated[
        list[str] | None, typer.Option(help="The partner's objective (repeatable).")
    ] = None,
    key: Key = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the run to its end, waiting for the sponsor.")
    ] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="You are the sponsor (or act for them): approve at once.")
    ] = False,
    tier: Annotated[Tier | None, typer.Option(help="With --approve: override the proposed tier.")] = None,
    comment: Annotated[str | None, typer.Option(help="With --approve: reason for an override.")] = None,
    timeout_hours: Annotated[float, typer.Option(help="With --wait: tell the manager after this long.")] = 72,
    on_behalf_of: OnBehalfOf = None,
    reason: OverrideReason = None,
    as_json: JsonFlag = False,
) -> None:
    """Run `onboard-partner`: open the relationship, get the sponsor's approval, generate the checklist."""
    configure_prefect()  # before the flow's import reads Prefect's settings
    from flows.onboard_partner import OnboardingRequest, onboard_partner
    from models.identity.access import require_onboard

    approve_as = person() if approve else None

    request = _validated(
        OnboardingRequest,
        {
            "partner_ref": partner,
            "manager": manager,
            "deputy": deputy,
            "sponsor": sponsor,
            "partner_contact": partner_contact,
            "backup_contact": backup_contact,
            "criticality": criticality,
            "dependency_ratio": dependency,
            "payment_term_days": payment_days,
            "key": key,
            "objectives": {"ours": objective or [], "partner": partner_objective or []},
            "approve_as": approve_as,
            "approval_tier": tier,
            "approval_comment": comment,
            "wait_for_approval": wait,
            "approval_timeout_hours": timeout_hours,
        },
        "onboarding rejected",
    )
    with db() as session:
        require_onboard(principal(), manager=request.manager, deputy=request.deputy, session=session)
        if approve:
            authorize("approval.decide", session=session)
    with fields_as_flags(ROLE_FLAGS), prefect_runtime():
        result = onboard_partner(request)
    _show(result, as_json)
    if result["outcome"] == "awaiting-approval" and not as_json:
        console.print(
            f"the sponsor approves from their message, or: tandem approve {result['relationship_id']}"
        )


def approve(
    ref: Annotated[str, typer.Argument(help="Relationship id or key, or the waiting flow run's id.")],
    tier: Annotated[Tier | None, typer.Option(help="Override the proposed tier (needs --comment).")] = None,
    comment: Annotated[str | None, typer.Option(help="Why (required to override the tier).")] = None,
    on_behalf_of: OnBehalfOf = None,
    reason: OverrideReason = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve an onboarding as its sponsor: resume the waiting run, or continue the onboarding."""
    configure_prefect()
    from deployments.approvals import decide_onboarding

    decision = _validated(
        ApprovalDecision,
        {"decision": "approve", "by": person(), "tier": tier, "comment": comment},
        "approval rejected",
    )
    with prefect_runtime():
        result = decide_onboarding(ref, decision)
    _show(result, as_json)


def reject(
    ref: Annotated[str, typer.Argument(help="Relationship id or key, or the waiting flow run's id.")],
    reason: Annotated[str, typer.Option(help="Why the onboarding is rejected.")],
    on_behalf_of: OnBehalfOf = None,
    as_json: JsonFlag = False,
) -> None:
    """Reject an onboarding as its sponsor; the relationship stays proposed with the reason recorded."""
    configure_prefect()
    from deployments.approvals import decide_onboarding

    decision = _validated(
        ApprovalDecision, {"decision": "reject", "by": person(), "comment": reason}, "rejection rejected"
    )
    with prefect_runtime():
        result = decide_onboarding(ref, decision)
    _show(result, as_json)


def governance(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    as_of: Annotated[str | None, typer.Option(help="Stage start date, YYYY-MM-DD.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run `setup-governance` once onboarding is done; run it again to activate when governance is done."""
    configure_prefect()
    from flows.setup_governance import setup_governance

    _authorize_on(ref, "governance.start")
    day = _date(as_of)
    with prefect_runtime():
        result = setup_governance(ref, day)
    _show(result, as_json)


def exit_(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    reason: Annotated[str, typer.Option(help="Why the relationship ends.")],
    trigger: Annotated[str, typer.Option(help=f"One of: {', '.join(EXIT_TRIGGERS)}.")],
    as_of: Annotated[str | None, typer.Option(help="Exit start date, YYYY-MM-DD.")] = None,
    on_behalf_of: OnBehalfOf = None,
    as_json: JsonFlag = False,
) -> None:
    """Run `exit-relationship`: start the planned exit, or close it when the exit checklist is done."""
    configure_prefect()
    from flows.exit_relationship import exit_relationship

    if trigger not in EXIT_TRIGGERS:
        raise InputRejected(
            [Problem("--trigger", f"use one of {', '.join(EXIT_TRIGGERS)}")], summary="exit rejected"
        )
    by = person()
    _authorize_on(ref, "exit.run", "exit.approve")
    day = _date(as_of)
    with prefect_runtime():
        result = exit_relationship(ref, reason, cast(ExitTrigger, trigger), by, day)  # checked above
    _show(result, as_json)


def exit_propose(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    reason: Annotated[str, typer.Option(help="Why the relationship ends.")],
    trigger: Annotated[str, typer.Option(help=f"One of: {', '.join(EXIT_TRIGGERS)}.")],
    on_behalf_of: OnBehalfOf = None,
) -> None:
    """Propose an exit as the manager; the sponsor approves it before `tandem exit` runs it."""
    from models.lifecycle.exits import propose_exit
    from models.lifecycle.relationships import find_relationship

    by = person()
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("exit.propose", rel, session=session)
        propose_exit(session, rel, reason=reason, trigger=trigger, by=by)
    console.print(f"relationship {ref}: exit proposed; its sponsor approves with: tandem exit-approve {ref}")


def exit_approve(
    ref: Annotated[str, typer.Argument(help="Relationship id or key.")],
    on_behalf_of: OnBehalfOf = None,
    reason: OverrideReason = None,
) -> None:
    """Approve a proposed exit as the relationship's executive sponsor."""
    from models.lifecycle.exits import approve_exit
    from models.lifecycle.relationships import find_relationship

    by = person()
    with db() as session:
        rel = find_relationship(session, ref)
        authorize("exit.approve", rel, session=session)
        approve_exit(session, rel, by=by)
    console.print(f"relationship {ref}: exit approved; the manager runs it with: tandem exit {ref}")


def _authorize_on(ref: str, action: str, *alternatives: str) -> None:
    """Refuse unless the acting person may do the action (or one of the alternatives) on the relationship."""
    from models.identity.access import can
    from models.lifecycle.relationships import find_relationship

    with db() as session:
        rel = find_relationship(session, ref)
        if any(can(principal(), other, rel, session=session) for other in alternatives):
            return
        authorize(action, rel, session=session)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InputRejected([Problem("--as-of", f"{text!r} is not a date YYYY-MM-DD")]) from exc


COMMANDS: dict[str, Any] = {
    "onboard": onboard,
    "approve": approve,
    "reject": reject,
    "governance": governance,
    "exit": exit_,
    "exit-propose": exit_propose,
    "exit-approve": exit_approve,
}


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to the top-level app."""
    for name, command in COMMANDS.items():
        app.command(name)(handle_errors(command))
