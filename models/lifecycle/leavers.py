"""A person leaves: refused while they hold a role a relationship cannot do without, else their optional
roles are cleared, their portal links revoked and their open items handed back to the role that owns them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.errors import Conflict, InputRejected, NotFound, Problem
from models.core.vocabulary import RelationshipRole
from models.lifecycle.machine import change_contact
from models.partners.registry import find_contact
from models.portal.links import revoke_links_of
from models.tables import ChecklistItem, Contact, ItemStatus, Relationship

REQUIRED_ROLES = (RelationshipRole.manager, RelationshipRole.sponsor, RelationshipRole.partner_contact)
OPTIONAL_ROLES = (RelationshipRole.deputy, RelationshipRole.backup_contact)


@dataclass(frozen=True)
class Removal:
    """What removing one person changed."""

    contact: Contact
    cleared: list[tuple[int, str]]  # (relationship id, role) no longer held
    links_revoked: int
    items_released: int


def _held(session: Session, contact_id: int) -> list[tuple[Relationship, RelationshipRole]]:
    roles = REQUIRED_ROLES + OPTIONAL_ROLES
    columns = [getattr(Relationship, role.column) for role in roles]
    query = select(Relationship).where(or_(*(c == contact_id for c in columns)))
    rels = session.exec(query.order_by(col(Relationship.id)))
    return [(rel, role) for rel in rels for role in roles if getattr(rel, role.column) == contact_id]


def remove_contact(session: Session, email: str, *, reason: str, actor: str) -> Removal:
    """Record that a person has left: their links stop, optional roles clear, open items go to the role."""
    contact = find_contact(session, email)
    if contact is None:
        raise NotFound(f"no contact {email!r}")
    if contact.removed_at is not None:
        raise Conflict(f"{contact.email} was already removed on {contact.removed_at:%Y-%m-%d}")
    held = _held(session, id_of(contact))
    problems = [Problem("reason", "a reason is required")] if not reason.strip() else []
    problems += [
        Problem(
            role.value,
            f"{contact.email} is still the {role.value.replace('_', ' ')} of relationship {rel.id} "
            f"({rel.key}): hand it to someone else first (tandem relationship set-contact)",
        )
        for rel, role in held
        if role in REQUIRED_ROLES
    ]
    if problems:
        raise InputRejected(problems, summary=f"{contact.email} not removed")
    links = revoke_links_of(session, id_of(contact), actor=actor, reason=reason)
    for rel, role in held:
        name = role.value.replace("_", "-")  # change_contact's spelling of the role
        change_contact(session, rel, role=name, contact=None, actor=actor, reason=reason)
    # Open items return to their owner role: reminders then go to whoever holds it (or the manager).
    released = session.exec(
        update(ChecklistItem)
        .where(col(ChecklistItem.owner_contact_id) == contact.id)
        .where(col(ChecklistItem.status) == ItemStatus.open.value)
        .values(owner_contact_id=None)
    ).rowcount
    contact.removed_at = utcnow()
    session.add(contact)
    cleared = [(id_of(rel), role.value) for rel, role in held]
    audit.record(
        session,
        actor=actor,
        action="contact.removed",
        entity="contact",
        entity_id=contact.id,
        reason=reason.strip(),
        data={"email": contact.email, "cleared": cleared, "links_revoked": len(links), "items": released},
    )
    return Removal(contact, cleared, len(links), released)
