"""The glossary: Tandem's Chinese terms aligned with GB/T 43834-2024, and the check that finds others.

`glossary.yaml` names each term in English and Chinese, the variants allowed, and the words to
avoid. Clause titles and tier names shown to people come from here, so they are written once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.core.data import load_data
from models.core.vocabulary import CLAUSES, LANGUAGES, SIZE_CLASSES, Criticality, Tier


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Words(_Strict):
    """One text in every language."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1, alias="zh-CN")

    def get(self, lang: str) -> str:
        """Return the text in a language (English for an unknown one)."""
        return self.zh if lang == "zh-CN" else self.en


class Term(_Strict):
    """One term: its English counterpart, the Chinese term, allowed variants and words to avoid."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1, alias="zh-CN")
    variants: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()


class Glossary(_Strict):
    """The whole glossary file."""

    version: int = Field(ge=1)
    clauses: dict[str, Words]
    tiers: dict[Tier, Words]
    terms: tuple[Term, ...] = Field(min_length=1)
    key_person_flags: dict[str, Words]
    size_classes: dict[str, Words]
    criticality: dict[Criticality, Words]

    @model_validator(mode="after")
    def _complete(self) -> Glossary:
        if tuple(self.clauses) != CLAUSES:
            raise ValueError(f"clauses must be exactly {', '.join(CLAUSES)} in order")
        if set(self.tiers) != set(Tier):
            raise ValueError("tiers must name every tier")
        if tuple(self.size_classes) != SIZE_CLASSES:
            raise ValueError(f"size_classes must be exactly {', '.join(SIZE_CLASSES)} in order")
        if set(self.criticality) != set(Criticality):
            raise ValueError("criticality must name every level")
        allowed = {t.zh for t in self.terms} | {v for t in self.terms for v in t.variants}
        clash = sorted(a for t in self.terms for a in t.avoid if a in allowed)
        if clash:
            raise ValueError(f"words both allowed and avoided: {', '.join(clash)}")
        return self


@lru_cache(maxsize=1)
def glossary() -> Glossary:
    """Load and validate the shipped glossary."""
    return load_data("glossary.yaml", Glossary)


def clause_title(clause: str, lang: str) -> str:
    """Return a clause's title as the standard names it, in a language."""
    return glossary().clauses[clause].get(lang)


def tier_label(tier: str | None, lang: str) -> str:
    """Return a tier's name in the reader's language (the raw value if it is not a tier)."""
    words = glossary().tiers.get(Tier[tier]) if tier is not None and tier in Tier.__members__ else None
    return words.get(lang) if words is not None else str(tier or "")


def size_label(size_class: str, lang: str) -> str:
    """Return a size class's name in the reader's language."""
    return glossary().size_classes[size_class].get(lang)


def criticality_label(level: str, lang: str) -> str:
    """Return a criticality level's name in the reader's language."""
    return glossary().criticality[Criticality(level)].get(lang)


def flag_text(flag: str, lang: str) -> str:
    """Return a stored key-person warning in the reader's language."""
    words = glossary().key_person_flags.get(flag)
    return words.get(lang) if words is not None else flag


def words_for(lang: str) -> dict[str, Any]:
    """Return the glossary's shown words in one language, for templates (`g.clauses['5.4']`)."""
    lang = lang if lang in LANGUAGES else LANGUAGES[0]
    g = glossary()
    return {
        "clauses": {c: w.get(lang) for c, w in g.clauses.items()},
        "tiers": {t.value: w.get(lang) for t, w in g.tiers.items()},
        "flags": {f: w.get(lang) for f, w in g.key_person_flags.items()},
    }


@dataclass(frozen=True)
class Finding:
    """A word to avoid, found in a text: the word, the glossary's term, and a little context."""

    word: str
    use: str
    context: str


@lru_cache(maxsize=1)
def _checker() -> tuple[re.Pattern[str], dict[str, str]]:
    g = glossary()
    allowed = {t.zh for t in g.terms} | {v for t in g.terms for v in t.variants}
    avoid = {a: t.zh for t in g.terms for a in t.avoid}
    # One pass, longest first: an allowed term is consumed whole, so 合作伙伴 never reads as 合作.
    words = sorted(allowed | set(avoid), key=len, reverse=True)
    return re.compile("|".join(re.escape(w) for w in words)), avoid


def check_text(text: str) -> list[Finding]:
    """Return every avoided word in a text that is not part of an allowed term."""
    pattern, avoid = _checker()
    found = []
    for match in pattern.finditer(text):
        word = match.group()
        if word in avoid:
            start, end = max(match.start() - 8, 0), match.end() + 8
            found.append(Finding(word, avoid[word], text[start:end].replace("\n", " ")))
    return found
