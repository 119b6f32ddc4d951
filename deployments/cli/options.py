"""Flags shared by `relationship open` and `onboard` (onboarding takes the same ones, plus its own)."""

from __future__ import annotations

from typing import Annotated

import typer

from models.core.vocabulary import RelationshipRole
from models.tables.core import Criticality

PartnerRef = Annotated[str, typer.Argument(help="Partner id, registration id or COUNTRY:REGID.")]
Manager = Annotated[str, typer.Option(help="Our relationship manager's email.")]
Sponsor = Annotated[str, typer.Option(help="Our executive sponsor's email.")]
PartnerContact = Annotated[str, typer.Option(help="The partner's primary contact email.")]
Deputy = Annotated[str | None, typer.Option(help="Our deputy manager's email.")]
BackupContact = Annotated[str | None, typer.Option(help="The partner's backup contact email.")]
CriticalityOpt = Annotated[Criticality, typer.Option(help="low, medium or high.")]
Dependency = Annotated[float, typer.Option(help="Share of the partner's revenue from us, 0..1.")]
PaymentDays = Annotated[int, typer.Option(help="Contract payment term in days.")]
Key = Annotated[str | None, typer.Option(help="Idempotency key of the relationship.")]

# A refusal names the role it is about ("partner_contact"); the command line calls it by its flag.
ROLE_FLAGS = {role.value: f"--{role.value.replace('_', '-')}" for role in RelationshipRole}
