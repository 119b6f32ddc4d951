"""The roles of roles.yaml: each role's actions and scope, validated once at load."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, RootModel, field_validator

from models.core.data import load_data

Scope = Literal["all", "managed", "sponsored", "team"]
SCOPES: tuple[str, ...] = get_args(Scope)

# Every action a route or a command checks; roles.yaml may name only these (or "*").
ACTIONS: frozenset[str] = frozenset(
    {
        "user.manage",
        "settings.manage",
        "partner.read",
        "partner.write",
        "relationship.read",
        "relationship.onboard",
        "relationship.write",
        "relationship.handover",
        "checklist.write",
        "item.close",
        "item.waive",
        "governance.start",
        "approval.decide",
        "exit.propose",
        "exit.approve",
        "escalation.acknowledge",
        "exit.run",
        "review.write",
        "payment.write",
        "portal.link",
        "report.read",
        "audit.read",
        "notify.manage",
        "webhook.manage",
    }
)
# Actions that change nothing: an auditor's whole world.
READ_ACTIONS: frozenset[str] = frozenset({"partner.read", "relationship.read", "report.read", "audit.read"})


@dataclass(frozen=True)
class Role:
    """One role: where it applies and what it may do there."""

    name: str
    scope: Scope
    can: frozenset[str]

    def allows(self, action: str) -> bool:
        """Say whether the role lists the action."""
        return "*" in self.can or action in self.can


class _RoleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope
    can: frozenset[str]

    @field_validator("can")
    @classmethod
    def _known(cls, can: frozenset[str]) -> frozenset[str]:
        if unknown := can - ACTIONS - {"*"}:
            raise ValueError(f"unknown action(s) {', '.join(sorted(unknown))}")
        return can


class _RolesFile(RootModel[dict[str, _RoleSpec]]):
    """roles.yaml: each role's scope and actions, in file order."""


@lru_cache(maxsize=1)
def roles() -> dict[str, Role]:
    """Load and check roles.yaml (packaged beside this module)."""
    specs = load_data("roles.yaml", _RolesFile).root
    return {name: Role(name, spec.scope, spec.can) for name, spec in specs.items()}


def role_names() -> list[str]:
    """Return the configured role names, in file order."""
    return list(roles())
