"""The API's request and response bodies, as its OpenAPI schema shows them.

Batch rows carry the same columns as the CSV imports (models/partners/importer.py,
models/payments/ledger.py) and are checked by the same functions: the schema here only bounds the
shape (known columns, scalar values, 1 to 1,000 rows); every rule about the values is the import's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from models.lifecycle.machine import ExitTrigger
from models.lifecycle.relationships import RelationshipTerms
from models.partners.importer import COLUMNS as PARTNER_COLUMNS
from models.partners.importer import REQUIRED_COLUMNS as PARTNER_REQUIRED
from models.partners.registry import PartnerCreate
from models.payments.ledger import COLUMNS as PAYMENT_COLUMNS
from models.payments.ledger import REQUIRED_COLUMNS as PAYMENT_REQUIRED
from models.payments.ledger import PaymentCreate

MAX_ROWS = 1000
Scalar = str | int | float | None
_CONTACT_HELP = {
    "contact_name": "The partner contact's name.",
    "contact_email": "The partner contact's email (adds or updates the contact).",
    "contact_language": "en or zh-CN.",
    "contact_channels": "Apprise URLs of the contact's channels, separated by spaces.",
}


def _row_model(
    name: str, columns: tuple[str, ...], required: tuple[str, ...], source: type[BaseModel]
) -> Any:
    """Build a row model whose fields are an import's columns (required ones required), each a scalar."""
    fields: dict[str, Any] = {}
    for column in columns:
        known = source.model_fields.get(column)
        help_text = (known.description if known else None) or _CONTACT_HELP.get(column) or column
        default = ... if column in required else None
        fields[column] = (Scalar, Field(default, description=help_text))
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


# Built at run time from the import's columns; mypy cannot see such a model, so it sees their base.
if TYPE_CHECKING:
    PartnerRow = BaseModel
    PaymentRow = BaseModel
else:
    PartnerRow = _row_model("PartnerRow", PARTNER_COLUMNS, PARTNER_REQUIRED, PartnerCreate)
    PaymentRow = _row_model("PaymentRow", PAYMENT_COLUMNS, PAYMENT_REQUIRED, PaymentCreate)


class PartnerBatch(BaseModel):
    """Partners to add or update, keyed by country and registration id (all or nothing)."""

    model_config = ConfigDict(extra="forbid")
    rows: list[PartnerRow] = Field(min_length=1, max_length=MAX_ROWS)


class PaymentBatch(BaseModel):
    """Invoices and their payments, keyed by relationship and invoice id (all or nothing)."""

    model_config = ConfigDict(extra="forbid")
    rows: list[PaymentRow] = Field(min_length=1, max_length=MAX_ROWS)


class PartnerOutcome(BaseModel):
    """What the batch did with one row."""

    row: int
    key: str = Field(description="COUNTRY:REGISTRATION_ID")
    partner_id: int | None
    outcome: Literal["new", "updated", "unchanged"]


class PartnerResult(BaseModel):
    """What a partner batch wrote."""

    new: int
    updated: int
    unchanged: int
    rows: list[PartnerOutcome]


class PaymentResult(BaseModel):
    """What a payment batch wrote; `paid` counts stored invoices it recorded as paid."""

    new: int
    updated: int
    paid: int
    unchanged: int


class PartnerRef(BaseModel):
    """The partner of a relationship."""

    id: int
    legal_name: str
    country: str
    registration_id: str


class DaysToPay(BaseModel):
    """Days-to-pay by the payment clock of each invoice, over the trailing year (`since`)."""

    avg: float | None = Field(description="Mean days from each paid invoice's clock start to payment.")
    worst: int | None = Field(description="The longest, counting invoices still unpaid past due.")
    invoices: int
    late: int
    due_days: int | None = Field(description="The contract's term under the payment law.")
    since: date


class RelationshipOut(BaseModel):
    """A relationship with its stage, tier, latest health and live days-to-pay."""

    id: int
    key: str
    partner: PartnerRef
    stage: str
    tier: str | None
    size_class: str
    health: int | None
    trend: str | None
    review_period: str | None
    days_to_pay: DaysToPay


class Page(BaseModel):
    """One page of a listing: `total` matches, from `offset`."""

    total: int
    limit: int
    offset: int


class RelationshipPage(Page):
    """A page of relationships."""

    items: list[RelationshipOut]


class ChecklistItemOut(BaseModel):
    """One checklist item."""

    id: int
    relationship_id: int
    stage: str
    period: str
    item_key: str
    clause: str
    owner_side: str
    owner_role: str
    required: bool
    status: str
    due_on: date
    title: dict[str, str]
    done_by: str | None
    done_at: datetime | None
    evidence: str | None


class ChecklistPage(Page):
    """A page of checklist items."""

    items: list[ChecklistItemOut]


class ReviewOut(BaseModel):
    """One periodic review with its KPIs, health and trend."""

    id: int
    relationship_id: int
    period: str
    as_of: date
    status: str
    tier: str
    health: int | None
    health_delta: int | None
    trend: str
    escalated: bool
    kpis: dict[str, Any]
    health_components: dict[str, Any]
    completed_at: datetime | None


class ReviewPage(Page):
    """A page of reviews."""

    items: list[ReviewOut]


class AuditEventOut(BaseModel):
    """One audit event: who (`api:NAME` for an integration) did what, when, and by which way in."""

    id: int
    at: datetime
    actor: str
    method: str | None = Field(
        description="How the actor proved who they are: cli-token, local-admin, web, sso, action-link, "
        "cli-override, api or system (docs/IDENTITY.md)."
    )
    action: str
    entity: str
    entity_id: str
    relationship_id: int | None
    reason: str | None
    data: dict[str, Any]


class AuditPage(BaseModel):
    """Audit events after the cursor; pass `next_after` as `after` for the next page."""

    items: list[AuditEventOut]
    next_after: int


class OnboardingIn(RelationshipTerms):
    """Start `onboard-partner` for a registered partner; the sponsor approves it as for any onboarding.

    The people and terms are the domain's `RelationshipTerms`, declared once: the API validates them
    exactly as onboarding will read them (emails normalized, a bad one refused before anything runs).
    """

    partner: str = Field(min_length=1, max_length=100, description="Partner id, registration id or CC:ID.")


class ExitIn(BaseModel):
    """Start `exit-relationship`, or close the exit when its checklist is done."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    relationship: str = Field(min_length=1, max_length=120, description="Relationship id or key.")
    reason: str = Field(min_length=1, max_length=500)
    trigger: ExitTrigger
    by: str = Field(min_length=3, max_length=254, description="Manager, deputy or sponsor email.")


class WorkStarted(BaseModel):
    """A flow started in the background: follow it in Prefect, or in the relationship and audit trail."""

    flow: str
    flow_run_id: str | None = Field(description="Prefect's id of the run (null if it had not started yet).")
    relationship_id: int | None
    relationship_key: str | None


