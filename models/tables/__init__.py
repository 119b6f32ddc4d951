"""Every table Tandem stores; importing this package registers them all on one metadata."""

from sqlmodel import SQLModel

from models.tables.checklist import ChecklistGeneration, ChecklistItem, ItemStatus
from models.tables.core import AuditEvent, Contact, Partner, Relationship
from models.tables.governance import Approval, Document, ExitPlan, Risk
from models.tables.identity import OneTimeLink, PersonalToken, User, WebSession
from models.tables.integration import ApiToken, IdempotentResponse
from models.tables.outbox import DeliveryStatus, MessageStatus, OutboxDelivery, OutboxMessage
from models.tables.payments import PaymentRequest, PaymentTerms, SmeDeclaration, Statement, StatementLine
from models.tables.portal import PortalLink
from models.tables.review import Payment, Review, ReviewAction, ReviewStatus, ScorecardEntry
from models.tables.webhooks import WebhookSubscription

metadata = SQLModel.metadata

__all__ = [
    "ApiToken",
    "IdempotentResponse",
    "Approval",
    "Document",
    "ExitPlan",
    "Risk",
    "AuditEvent",
    "ChecklistGeneration",
    "ChecklistItem",
    "Contact",
    "DeliveryStatus",
    "ItemStatus",
    "MessageStatus",
    "OutboxDelivery",
    "OutboxMessage",
    "Partner",
    "PortalLink",
    "Relationship",
    "Payment",
    "PaymentRequest",
    "PaymentTerms",
    "SmeDeclaration",
    "Statement",
    "StatementLine",
    "Review",
    "ReviewAction",
    "ReviewStatus",
    "ScorecardEntry",
    "WebhookSubscription",
    "PersonalToken",
    "OneTimeLink",
    "User",
    "WebSession",
    "metadata",
]
