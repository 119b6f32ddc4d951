"""Two-way scorecards: each side scores the twelve principles 1 to 5; we compare them side by side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete
from sqlmodel import Session, col, select

from models.core import audit
from models.core.base import id_of, utcnow
from models.core.data import load_yaml
from models.core.errors import InputRejected, Problem
from models.core.periods import parse_period
from models.core.vocabulary import Side
from models.tables import Relationship, ScorecardEntry

PRINCIPLES: tuple[str, ...] = tuple(f"5.{n}" for n in range(1, 13))
SIDES = tuple(side.value for side in Side)
COMMENT_MAX = 2000


@dataclass(frozen=True)
class Score:
    """One principle's score and optional comment."""

    principle: str
    score: int
    comment: str | None = None


def _principle_key(key: Any, where: str, problems: list[Problem]) -> str | None:
    # YAML reads an unquoted 5.10 as the number 5.1: refuse numbers rather than guess.
    if not isinstance(key, str):
        problems.append(Problem(where, f"principle {key!r} must be quoted, like '5.10'"))
        return None
    if key.strip() not in PRINCIPLES:
        problems.append(Problem(where, f"unknown principle {key!r}; use 5.1 to 5.12"))
        return None
    return key.strip()


def _score(value: Any, where: str, problems: list[Problem]) -> tuple[int, str | None] | None:
    comment = None
    if isinstance(value, dict):
        unknown = set(value) - {"score", "comment"}
        if unknown:
            problems.append(Problem(where, f"unknown field(s) {', '.join(sorted(map(str, unknown)))}"))
            return None
        comment, value = value.get("comment"), value.get("score")
        if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_MAX):
            problems.append(Problem(where, f"comment must be text of at most {COMMENT_MAX} characters"))
            return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        problems.append(Problem(where, f"score must be a whole number from 1 to 5, not {value!r}"))
        return None
    return value, (comment.strip() or None) if comment else None


def parse_scores(text: str, *, source: str = "scores") -> list[Score]:
    """Parse a scores YAML (`scores: {'5.1': 4, '5.7': {score: 2, comment: ...}}`), listing every problem."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise InputRejected([Problem(source, f"not valid YAML: {exc}")], summary="scores rejected") from exc
    if not isinstance(data, dict) or set(data) != {"scores"} or not isinstance(data["scores"], dict):
        raise InputRejected(
            [Problem(source, "expected one top-level key `scores` mapping principles to scores")],
            summary="scores rejected",
        )
    problems: list[Problem] = []
    scores: list[Score] = []
    for key, value in data["scores"].items():
        where = f"{source}, principle {key}"
        principle = _principle_key(key, where, problems)
        parsed = _score(value, where, problems)
        if principle is not None and parsed is not None:
            scores.append(Score(principle, *parsed))
    if not scores and not problems:
        problems.append(Problem(source, "no scores given"))
    if problems:
        raise InputRejected(problems, summary="scores rejected: nothing stored")
    return sorted(scores, key=lambda s: PRINCIPLES.index(s.principle))


def record_scores(
    session: Session, rel: Relationship, *, period: str, side: str, scores: list[Score], actor: str
) -> int:
    """Store one side's scores for a period, replacing that side's earlier scores for it."""
    if side not in SIDES:
        raise InputRejected([Problem("side", f"side must be {' or '.join(SIDES)}, not {side!r}")])
    name = parse_period(period).name
    session.execute(
        delete(ScorecardEntry).where(
            col(ScorecardEntry.relationship_id) == id_of(rel),
            col(ScorecardEntry.period) == name,
            col(ScorecardEntry.side) == side,
        )
    )
    now = utcnow()
    for s in scores:
        session.add(
            ScorecardEntry(
                relationship_id=id_of(rel),
                period=name,
                side=side,
                principle=s.principle,
                score=s.score,
                comment=s.comment,
                scored_by=actor,
                created_at=now,
                updated_at=now,
            )
        )
    audit.record(
        session,
        actor=actor,
        action="scorecard.recorded",
        entity="relationship",
        entity_id=rel.id,
        relationship_id=rel.id,
        data={"period": name, "side": side, "principles": [s.principle for s in scores]},
    )
    return len(scores)


def import_scores(
    session: Session, rel: Relationship, path: Path, *, period: str, side: str, actor: str
) -> int:
    """Read a scores YAML file and store it for one side and period."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputRejected([Problem(str(path), f"cannot read file: {exc}")]) from exc
    return record_scores(
        session, rel, period=period, side=side, scores=parse_scores(text, source=path.name), actor=actor
    )


def scores_of(session: Session, relationship_id: int, period: str) -> dict[str, dict[str, int]]:
    """Return a period's scores as {side: {principle: score}}."""
    query = select(ScorecardEntry.side, ScorecardEntry.principle, ScorecardEntry.score).where(
        ScorecardEntry.relationship_id == relationship_id, ScorecardEntry.period == period
    )
    out: dict[str, dict[str, int]] = {"ours": {}, "partner": {}}
    for side, principle, score in session.exec(query):
        out.setdefault(side, {})[principle] = score
    return out


def _average(scores: Mapping[str, int]) -> float | None:
    return round(sum(scores.values()) / len(scores), 2) if scores else None


def compare(ours: Mapping[str, int], partner: Mapping[str, int], *, gap_points: int = 1) -> dict[str, Any]:
    """Put both scorecards side by side; a partner scoring us `gap_points` lower than we do is a finding."""
    rows = []
    for principle in PRINCIPLES:
        a, b = ours.get(principle), partner.get(principle)
        gap = b - a if a is not None and b is not None else None
        rows.append(
            {
                "principle": principle,
                "ours": a,
                "partner": b,
                "gap": gap,
                "partner_lower": gap is not None and gap <= -gap_points,
            }
        )
    return {
        "rows": rows,
        "ours_avg": _average(ours),
        "partner_avg": _average(partner),
        "missing_ours": [p for p in PRINCIPLES if p not in ours],
        "missing_partner": [p for p in PRINCIPLES if p not in partner],
        "partner_rates_us_lower": [r["principle"] for r in rows if r["partner_lower"]],
    }
