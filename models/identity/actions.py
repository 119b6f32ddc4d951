"""Action links: a signed, single-purpose, expiring link a message carries, e.g. the sponsor's approval.

The link names one decision for one person on one relationship. Opening it shows a confirmation page
(after sign-in); only the POST of that page decides, and only once.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from models.core.settings import get_settings
from models.identity.sessions import issue_link

APPROVE_ONBOARDING = "approve-onboarding"
ACKNOWLEDGE_ESCALATION = "acknowledge-escalation"
# Each purpose and the action (roles.yaml) the person who uses the link must be allowed.
ACTION_OF = {APPROVE_ONBOARDING: "approval.decide", ACKNOWLEDGE_ESCALATION: "escalation.acknowledge"}
PURPOSES = tuple(ACTION_OF)


def action_link(session: Session, *, purpose: str, email: str, relationship_id: int) -> str:
    """Store a single-use action link for a person and return its URL (`/act/<token>`)."""
    settings = get_settings()
    token = issue_link(
        session,
        purpose=purpose,
        email=email,
        relationship_id=relationship_id,
        lifetime=timedelta(hours=settings.action_link_hours),
    )
    return f"{settings.portal_base_url}/act/{token}"
