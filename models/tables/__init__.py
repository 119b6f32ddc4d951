"""Every table Tandem stores; importing this package registers them all on one metadata."""

from sqlmodel import SQLModel

from models.tables.checklist import ChecklistGeneration, ChecklistItem, ItemStatus
from models.tables.core import AuditEvent, Contact, Partner, Relationship

metadata = SQLModel.metadata

__all__ = [
    "AuditEvent",
    "ChecklistGeneration",
    "ChecklistItem",
    "Contact",
    "ItemStatus",
    "Partner",
    "Relationship",
    "metadata",
]
