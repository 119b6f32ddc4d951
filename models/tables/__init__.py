"""Every table Tandem stores; importing this package registers them all on one metadata."""

from sqlmodel import SQLModel

from models.tables.core import AuditEvent, Contact, Partner, Relationship

metadata = SQLModel.metadata

__all__ = ["AuditEvent", "Contact", "Partner", "Relationship", "metadata"]
