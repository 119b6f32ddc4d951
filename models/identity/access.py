"""Authorization: `can(principal, action, target)`, used by the CLI and the web alike.

A principal may do an action on a relationship or a checklist item when one of their roles
(roles.yaml) lists the action and the target is in that role's scope: all, the relationships they
manage (as manager or deputy), the ones they sponsor, or the items their team owns.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, or_, select

from models.core.audit import record
from models.core.db import session_scope
from models.core.errors import NotAllowed
from models.core.principal import Principal
from models.identity.roles import Role, roles
from models.tables import ChecklistItem, Contact, Relationship

Target = Relationship | ChecklistItem | None


def _email(session: Session, contact_id: int | None) -> str | None:
    contact = session.get(Contact, contact_id) if contact_id else None
    return contact.email.lower() if contact else None


def _in_scope(session: Session, role: Role, principal: Principal, target: Target) -> bool:
    if target is None or role.scope == "all":
        return True
    me = principal.acting_for.lower()
    item = target if isinstance(target, ChecklistItem) else None
    rel = target if isinstance(target, Relationship) else session.get(Relationship, target.relationship_id)
    if rel is None:
        return False
    if role.scope == "managed":
        return me in (_email(session, rel.manager_id), _email(session, rel.deputy_id))
    if role.scope == "sponsored":
        return me == _email(session, rel.sponsor_id)
    # team: an item owned by me or by one of my teams; a relationship with such an item.
    if item is not None:
        return _email(session, item.owner_contact_id) == me or (
            item.owner_side == "ours" and item.owner_role in principal.teams
        )
    return False


def can(principal: Principal, action: str, target: Target = None, *, session: Session) -> bool:
    """Say whether the principal may do the action on the relationship or item (or at all)."""
    known = roles()
    for name in principal.roles:
        role = known.get(name)
        if role is not None and role.allows(action) and _in_scope(session, role, principal, target):
            return True
    return False


def require(principal: Principal, action: str, target: Target = None, *, session: Session) -> None:
    """Refuse (NotAllowed) unless the principal can; the refusal alone is audited, in its own transaction."""
    if can(principal, action, target, session=session):
        return
    rel_id = target.relationship_id if isinstance(target, ChecklistItem) else getattr(target, "id", None)
    entity = "checklist_item" if isinstance(target, ChecklistItem) else "relationship" if target else "-"
    with session_scope() as own:
        record(
            own,
            actor=principal,
            action="access.refused",
            entity=entity,
            entity_id=getattr(target, "id", None),
            relationship_id=rel_id,
            data={"wanted": action},
        )
    who = principal.acting_for
    where = f" on {entity} {target.id}" if target is not None else ""
    raise NotAllowed(f"{who} may not {action}{where} (roles: {', '.join(sorted(principal.roles)) or 'none'})")


def require_onboard(principal: Principal, *, manager: str, deputy: str | None, session: Session) -> None:
    """Refuse an onboarding unless the principal may onboard for everyone, or is its manager or deputy."""
    require(principal, "relationship.onboard", session=session)
    everywhere = any(
        roles()[r].scope == "all" and roles()[r].allows("relationship.onboard")
        for r in principal.roles
        if r in roles()
    )
    if everywhere or principal.acting_for.lower() in {manager.lower(), (deputy or "").lower()}:
        return
    with session_scope() as own:
        record(
            own,
            actor=principal,
            action="access.refused",
            entity="relationship",
            entity_id=None,
            data={"wanted": "relationship.onboard", "manager": manager},
        )
    raise NotAllowed(f"{principal.acting_for} may onboard only as the relationship's manager or deputy")


def managed_filter(principal: Principal) -> ColumnElement[bool] | None:
    """Return a WHERE clause keeping the relationships a principal may read (None: all of them)."""
    names = {roles()[r].scope for r in principal.roles if r in roles()}
    if "all" in names:
        return None
    me = select(Contact.id).where(Contact.email == principal.acting_for.lower()).scalar_subquery()
    clauses = []
    if "managed" in names:
        clauses += [col(Relationship.manager_id) == me, col(Relationship.deputy_id) == me]
    if "sponsored" in names:
        clauses.append(col(Relationship.sponsor_id) == me)
    if "team" in names:
        owned = select(ChecklistItem.relationship_id).where(
            or_(
                col(ChecklistItem.owner_contact_id) == me,
                col(ChecklistItem.owner_role).in_(sorted(principal.teams))
                & (col(ChecklistItem.owner_side) == "ours"),
            )
        )
        clauses.append(col(Relationship.id).in_(owned))
    return or_(*clauses) if clauses else col(Relationship.id) == -1
