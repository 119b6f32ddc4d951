"""Tandem's vocabulary, defined once: sides, stages, tiers, criticality, languages, size classes,
checklist stages, priorities and clauses, people's roles and outbound event types.

Plain enums with no database imports, so the command line can offer them as choices without loading
SQLModel. The words shown to people live in per-language data files; these are the names.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

Language = Literal["en", "zh-CN"]
LANGUAGES: tuple[Language, ...] = get_args(Language)

# Legal size classes, smallest first as both sizing schemes rank them; the first three are SMEs.
SmeClass = Literal["micro", "small", "medium"]
SizeClass = Literal[SmeClass, "large"]
SME_CLASSES: tuple[SmeClass, ...] = get_args(SmeClass)
SIZE_CLASSES: tuple[SizeClass, ...] = get_args(SizeClass)

# A checklist item: the stage that asks it, the side that owes it, how much it matters, and the
# clause of GB/T 43834-2024 it serves.
ChecklistStage = Literal["onboarding", "governance", "review", "exit"]
CHECKLIST_STAGES: tuple[ChecklistStage, ...] = get_args(ChecklistStage)
OwnerSide = Literal["ours", "partner", "joint"]
OWNER_SIDES: tuple[OwnerSide, ...] = get_args(OwnerSide)
Priority = Literal["must", "should", "could"]  # most pressing first
PRIORITIES: tuple[Priority, ...] = get_args(Priority)
Clause = Literal["5.1", "5.2", "5.3", "5.4", "5.5", "5.6", "5.7", "5.8", "5.9", "5.10", "5.11", "5.12"]
CLAUSES: tuple[Clause, ...] = get_args(Clause)


class Side(StrEnum):
    """Which side of the relationship a person or item belongs to."""

    ours = "ours"
    partner = "partner"


class Criticality(StrEnum):
    """How much the partner's supply matters to us."""

    low = "low"
    medium = "medium"
    high = "high"


class Stage(StrEnum):
    """Lifecycle stage of one relationship."""

    proposed = "proposed"
    onboarding = "onboarding"
    governance = "governance"
    active = "active"
    exiting = "exiting"
    exited = "exited"


class Tier(StrEnum):
    """Governance tier chosen by the proportionality engine."""

    light = "light"
    standard = "standard"
    enhanced = "enhanced"


# The same names as Literals, for fields and options that hold a plain string (pydantic models,
# typer options, API filters): mypy reads only Literals written out, so they are written here once
# more, beside their enums, and checked against them when this module loads.
CriticalityName = Literal["low", "medium", "high"]
StageName = Literal["proposed", "onboarding", "governance", "active", "exiting", "exited"]
TierName = Literal["light", "standard", "enhanced"]
CRITICALITIES: tuple[CriticalityName, ...] = get_args(CriticalityName)
STAGES: tuple[StageName, ...] = get_args(StageName)
TIERS: tuple[TierName, ...] = get_args(TierName)


def _same_names(names: tuple[str, ...], members: tuple[StrEnum, ...]) -> None:
    if names != tuple(member.value for member in members):
        raise ImportError(f"a Literal names other values than its enum: {names}")


_same_names(CRITICALITIES, tuple(Criticality))
_same_names(STAGES, tuple(Stage))
_same_names(TIERS, tuple(Tier))


class RelationshipRole(StrEnum):
    """A person's place in one relationship; each names the relationship column that holds it."""

    manager = "manager"
    deputy = "deputy"
    sponsor = "sponsor"
    partner_contact = "partner_contact"
    backup_contact = "backup_contact"

    @property
    def column(self) -> str:
        """Return the relationship column holding this person's contact id."""
        return f"{self.value}_id"


OUR_ROLES: tuple[RelationshipRole, ...] = (
    RelationshipRole.manager,
    RelationshipRole.deputy,
    RelationshipRole.sponsor,
)
PARTNER_ROLES: tuple[RelationshipRole, ...] = (
    RelationshipRole.partner_contact,
    RelationshipRole.backup_contact,
)
OurRoleName = Literal["manager", "deputy", "sponsor"]  # OUR_ROLES as a Literal, for pydantic fields
_same_names(get_args(OurRoleName), OUR_ROLES)


# A new relationship's contract payment term unless one is given: the payment laws' default for a
# large buyer (what each law requires of a term is in models/payments/payment_law.yaml).
DEFAULT_PAYMENT_TERM_DAYS = 60


class BuyerType(StrEnum):
    """Who pays under a contract: the payment laws set different terms for each."""

    enterprise = "enterprise"
    public_body = "public_body"  # 机关、事业单位; a public authority under Directive 2011/7/EU


class ClockBasis(StrEnum):
    """What the contract makes payment depend on, and so which event starts the payment clock."""

    delivery = "delivery"
    acceptance = "acceptance"  # inspection or acceptance agreed, within an agreed period
    settlement = "settlement"  # progress or periodic settlement: the confirmed settlement amount


class PaymentMethod(StrEnum):
    """How an invoice was paid."""

    cash = "cash"  # bank transfer or cash: the money is the partner's on the paid date
    bill = "bill"  # commercial bill (商业汇票): cash at maturity
    e_voucher = "e_voucher"  # receivable e-voucher (应收账款电子凭证): cash at maturity


class RequestKind(StrEnum):
    """What a partner asks of us about an invoice (both protected: Art. 20, no retaliation)."""

    payment = "payment"
    confirmation = "confirmation"  # 确权: confirm the receivable


class EventType(StrEnum):
    """Outbound event types (CloudEvents `type`), one list: subscriptions are checked against it."""

    stage_changed = "com.tandem.relationship.stage_changed"
    approved = "com.tandem.approval.approved"
    rejected = "com.tandem.approval.rejected"
    review_completed = "com.tandem.review.completed"
    payment_overdue = "com.tandem.payment.overdue"
    exit_completed = "com.tandem.relationship.exit_completed"
    webhook_test = "com.tandem.webhook.test"


# What a subscription may ask for: every type but the test event, which `tandem webhook test` sends to
# the one subscription it tests whatever that subscription's events are.
SUBSCRIBABLE_EVENTS: tuple[EventType, ...] = tuple(e for e in EventType if e is not EventType.webhook_test)
