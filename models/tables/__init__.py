"""Every table Tandem stores; importing this package registers them all on one metadata."""

from sqlmodel import SQLModel

from models.tables.checklist import ChecklistGeneration, ChecklistItem, ItemStatus
from models.tables.core import AuditEvent, Contact, Partner, Relationship
from models.tables.governance import Approval, Document, ExitPlan, Risk

metadata = SQLModel.metadata

__all__ = [
    "Approval",
    "Document",
    "ExitPlan",
    "Risk",
    "AuditEvent",
    "ChecklistGeneration",
    "ChecklistItem",
    "Contact",
    "ItemStatus",
    "Partner",
    "Relationship",
    "metadata",
]
