"""Every shipped condition (library items, tier rules, review rules) evaluates as it did before issue 17.

`conditions_golden.json` was made from main before the three condition mini-languages became one:
for each rule, a digest of its truth over a grid of facts that straddles every threshold in the
files. Regenerate only for a deliberate change of meaning: `WRITE_CONDITIONS_GOLDEN=1 pytest <this>`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from pathlib import Path
from typing import Any

from models.checklists.library import load_library
from models.checklists.proportionality import Profile, propose_tier, tier_rules
from models.reviews.rules import evaluate, load_rules

GOLDEN = Path(__file__).with_name("conditions_golden.json")
SIZES = ("micro", "small", "medium", "large")
LEVELS = ("low", "medium", "high")
RATIOS = (0.0, 0.29, 0.3, 0.31, 0.49, 0.5, 0.8)  # every threshold in the files, both sides
PROFILES = [
    Profile(size, crit, ratio, term, country, staff)
    for size, crit, ratio, term, country, staff in itertools.product(
        SIZES, LEVELS, RATIOS, (30, 60, 61), ("CN", "cn", "DE", ""), (10,)
    )
]
REVIEW_VALUES = (None, -1, 0, 0.5, 1, 1.01, 2, 3, 11, 12, 13, 14, 15, 16, 100)


def _digest(bits: list[Any]) -> str:
    return hashlib.sha256(json.dumps(bits).encode()).hexdigest()[:20]


def _library() -> dict[str, str]:
    out = {}
    for item in load_library().items:
        bits = [
            item.applies.matches(
                tier=tier, size_class=p.size_class, criticality=p.criticality, facts=p.facts()
            )
            for tier in ("light", "standard", "enhanced")
            for p in PROFILES
        ]
        out[f"{item.id}@{item.file_version}"] = _digest(bits)
    return out


def _tiers() -> dict[str, str]:
    out = {rule.id: _digest([rule.matches(p) for p in PROFILES]) for rule in tier_rules().rules}
    out["propose_tier"] = _digest([propose_tier(p).to_dict() for p in PROFILES])
    return out


def _review() -> dict[str, str]:
    out = {}
    for rule in load_rules().rules:
        names = sorted({str(c).split()[0] for c in rule.when})
        fired = []
        for values in itertools.product(REVIEW_VALUES, repeat=len(names)):
            found = evaluate(dict(zip(names, values, strict=True)))
            fired.append(sorted(f.rule_id for f in found if f.rule_id == rule.id))
        out[rule.id] = _digest([[str(c) for c in rule.when], fired])
    return out


def test_every_condition_evaluates_as_before() -> None:
    found = {"library": _library(), "tier_rules": _tiers(), "review_rules": _review()}
    if os.environ.get("WRITE_CONDITIONS_GOLDEN"):
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    assert found == json.loads(GOLDEN.read_text(encoding="utf-8"))
