"""The roles of roles.yaml: each role's actions and scope, validated once at load."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml

Scope = Literal["all", "managed", "sponsored", "team"]
SCOPES: tuple[str, ...] = ("all", "managed", "sponsored", "team")

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


@lru_cache(maxsize=1)
def roles() -> dict[str, Role]:
    """Load and check roles.yaml (packaged beside this module)."""
    text = resources.files("models.identity").joinpath("roles.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    out: dict[str, Role] = {}
    for name, spec in raw.items():
        unknown = set(spec["can"]) - ACTIONS - {"*"}
        if unknown or spec["scope"] not in SCOPES:
            raise ValueError(f"roles.yaml: role {name}: unknown {sorted(unknown) or spec['scope']}")
        out[name] = Role(name, spec["scope"], frozenset(spec["can"]))
    return out


def role_names() -> list[str]:
    """Return the configured role names, in file order."""
    return list(roles())
