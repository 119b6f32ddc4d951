"""Load the checklist content library from YAML, validate all of it, and report every problem."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from models.checklists.library.schema import (
    CRITICALITIES,
    PARTNER_ROLES,
    SIZE_CLASSES,
    STAGES,
    TIERS,
    BudgetsSpec,
    FileHeader,
    Item,
    ItemSpec,
)
from models.core.data import load_yaml
from models.core.errors import InputRejected, Problem
from models.core.glossary import glossary
from models.core.settings import LANGUAGES, get_settings

BUDGETS_FILE = "budgets.yaml"
TEXT_FIELDS = ("title", "guidance", "evidence")


@dataclass(frozen=True)
class LibraryFile:
    """One validated library file."""

    name: str
    id: str
    clause: str
    version: int
    locales: tuple[str, ...]
    title: Mapping[str, str]
    item_ids: tuple[str, ...]
    overlay: bool = False


@dataclass(frozen=True, eq=False)
class Library:
    """The validated checklist library: items, the files they came from, and the budgets."""

    files: tuple[LibraryFile, ...]
    items: tuple[Item, ...]
    budgets: Mapping[str, Mapping[str, int]]
    review_cadence_months: Mapping[str, int]
    year_minutes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    messages_per_month: Mapping[str, int] = field(default_factory=dict)
    by_id: Mapping[str, Item] = field(init=False)

    def __post_init__(self) -> None:
        by_id = MappingProxyType({item.id: item for item in self.items})
        object.__setattr__(self, "by_id", by_id)

    def version_of(self, item_id: str) -> int:
        """Return the version of the file that holds the item (KeyError if unknown)."""
        return self.by_id[item_id].file_version

    def items_for(self, stage: str | None = None, clause: str | None = None) -> tuple[Item, ...]:
        """Return the items of a stage and/or clause, in library order."""
        return tuple(
            item
            for item in self.items
            if (stage is None or stage in item.stages) and (clause is None or item.clause == clause)
        )

    def budget(self, tier: str, stage: str) -> int:
        """Return the partner-effort budget in minutes for a tier and stage."""
        return self.budgets[tier][stage]

    def year_budget(self, tier: str, year: int) -> int:
        """Return the partner minutes a tier allows in relationship year `year` (0 is the first)."""
        return self.year_minutes[tier]["first" if year == 0 else "later"]


@dataclass
class _Source:
    """One YAML file to read, and whether it follows the shipped-file rules."""

    name: str
    path: Traversable
    shipped: bool


# ---------------------------------------------------------------- public API


def load_library(path: Path | None = None, *, overlay: Path | None = None) -> Library:
    """Load and validate the library (default: shipped content plus the configured overlay)."""
    if overlay is None:
        overlay = get_settings().library_overlay
    if path is None:
        return _load_shipped(overlay)
    library, problems = _collect(path, overlay)
    if problems or library is None:
        raise InputRejected(problems, summary="checklist library rejected")
    return library


def validate_library(path: Path | None = None, *, overlay: Path | None = None) -> list[Problem]:
    """Return every problem of a library (empty list = valid) without raising.

    With no path, checks shipped content plus the overlay (default: the configured one); with a
    path, checks that folder as a custom library plus only an overlay passed explicitly.
    """
    if overlay is None and path is None:
        overlay = get_settings().library_overlay
    return check_library(path, overlay=overlay)[1]


def check_library(
    path: Path | None = None, *, overlay: Path | None = None
) -> tuple[Library | None, list[Problem]]:
    """Return the library (None if invalid) and its problems; no defaults from settings."""
    return _collect(path, overlay)


def clear_library_cache() -> None:
    """Forget the cached shipped library (after the overlay changed on disk)."""
    _load_shipped.cache_clear()


@lru_cache(maxsize=8)
def _load_shipped(overlay: Path | None) -> Library:
    """Load shipped content plus an overlay once per overlay path."""
    library, problems = _collect(None, overlay)
    if problems or library is None:
        raise InputRejected(problems, summary="checklist library rejected")
    return library


# ---------------------------------------------------------------- collection


def _collect(path: Path | None, overlay: Path | None) -> tuple[Library | None, list[Problem]]:
    """Read, validate and assemble a library; return it (None if broken) and all problems."""
    problems: list[Problem] = []
    sources = _content_sources(path, problems)
    if overlay is not None:
        sources += _folder_sources(Path(overlay), shipped=False, problems=problems, label="overlay")
    files: list[LibraryFile] = []
    items: list[Item] = []
    for source in sources:
        loaded = _load_file(source, problems)
        if loaded is not None:
            files.append(loaded[0])
            items.extend(loaded[1])
    problems += _duplicate_ids(items)
    budgets = _load_budgets(path, problems)
    if budgets is not None:
        problems += _budget_problems(items, budgets)
    if problems or budgets is None:
        return None, problems
    library = Library(
        files=tuple(files),
        items=tuple(items),
        budgets=MappingProxyType(budgets.budgets.model_dump()),
        review_cadence_months=MappingProxyType(budgets.review_cadence_months.model_dump()),
        year_minutes=MappingProxyType(budgets.year_minutes.model_dump()),
        messages_per_month=MappingProxyType(budgets.messages_per_month.model_dump()),
    )
    return library, []


def _content_sources(path: Path | None, problems: list[Problem]) -> list[_Source]:
    """Return the main library files: shipped content, or a custom folder."""
    if path is None:
        folder = resources.files("models.checklists.library") / "content"
        return sorted(
            (_Source(entry.name, entry, True) for entry in folder.iterdir() if _is_yaml(entry)),
            key=lambda s: s.name,
        )
    sources = _folder_sources(Path(path), shipped=True, problems=problems, label="library")
    if not sources and not problems:
        problems.append(Problem(str(path), "no YAML files found"))
    return sources


def _folder_sources(folder: Path, *, shipped: bool, problems: list[Problem], label: str) -> list[_Source]:
    """Return the YAML files of a folder, sorted by name (budgets.yaml excluded)."""
    if not folder.is_dir():
        problems.append(Problem(str(folder), f"{label} folder does not exist"))
        return []
    return [
        _Source(entry.name, entry, shipped)
        for entry in sorted(folder.iterdir(), key=lambda p: p.name)
        if _is_yaml(entry) and entry.name != BUDGETS_FILE
    ]


def _is_yaml(entry: Traversable) -> bool:
    return entry.is_file() and entry.name.endswith((".yaml", ".yml"))


def _read_yaml(name: str, path: Traversable, problems: list[Problem]) -> Any:
    """Parse one YAML file; on failure or an empty file record a problem and return None."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        problems.append(Problem(name, f"YAML syntax error: {' '.join(str(exc).split())}"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, f"cannot read file: {exc}"))
        return None
    if data is None:
        problems.append(Problem(name, "file is empty"))
    return data


# ---------------------------------------------------------------- one file


def _load_file(source: _Source, problems: list[Problem]) -> tuple[LibraryFile, list[Item]] | None:
    """Validate one file; return it and its valid items, or None if anything at its top is wrong.

    Items are checked even when the top of the file is broken, so one run reports everything.
    """
    raw = _read_yaml(source.name, source.path, problems)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(source.name, "top level must be a mapping with id, clause, items"))
        return None
    header: FileHeader | None = None
    try:
        header = FileHeader.model_validate(raw)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, source.name, raw)
    else:
        problems += _header_problems(header, source)
    raw_items = raw.get("items")
    items: list[Item] = []
    for index, raw_item in enumerate(raw_items if isinstance(raw_items, list) else []):
        item = _load_item(raw_item, index, header, source, problems)
        if item is not None:
            items.append(item)
    if header is None:
        return None
    library_file = LibraryFile(
        name=source.name,
        id=header.id,
        clause=header.clause,
        version=header.version,
        locales=header.locales,
        title=MappingProxyType(dict(header.title)),
        item_ids=tuple(item.id for item in items),
        overlay=not source.shipped,
    )
    return library_file, items


def _header_problems(header: FileHeader, source: _Source) -> list[Problem]:
    """Check the file-level rules pydantic cannot see."""
    found: list[Problem] = []
    missing = [lang for lang in LANGUAGES if lang not in header.locales]
    if missing:
        found.append(Problem(source.name, f"locales must include {', '.join(missing)}"))
    if len(set(header.locales)) != len(header.locales):
        found.append(Problem(source.name, "locales are listed twice"))
    found += [Problem(source.name, m) for m in _text_problems("title", header.title, header.locales)]
    expected = f"tandem.{header.clause}"
    if source.shipped and header.id != expected:
        found.append(Problem(source.name, f"file id {header.id!r} should be {expected!r}"))
    if source.shipped:
        # Clause titles are the standard's own words, kept once in the glossary.
        standard = glossary().clauses[header.clause]
        found += [
            Problem(source.name, f"title {lang} must be the standard's {standard.get(lang)!r}")
            for lang in header.locales
            if header.title.get(lang) != standard.get(lang)
        ]
    return found


def _load_item(
    raw: Any, index: int, header: FileHeader | None, source: _Source, problems: list[Problem]
) -> Item | None:
    """Validate one item of a file; record its problems and return it only if clean."""
    where = _item_where(source.name, raw, index)
    if not isinstance(raw, dict):
        problems.append(Problem(where, "item must be a mapping"))
        return None
    try:
        spec = ItemSpec.model_validate(raw)
    except ValidationError as exc:
        problems += [Problem(where, msg) for msg in _error_messages(exc, raw)]
        return None
    found = [Problem(where, msg) for msg in _item_rule_problems(spec, header, source)]
    problems += found
    if found or header is None:
        return None
    return Item(**spec.model_dump(), source_file=source.name, file_version=header.version)


def _item_where(file_name: str, raw: Any, index: int) -> str:
    """Name an item by its id, or by its position when it has no usable id."""
    item_id = raw.get("id") if isinstance(raw, dict) else None
    return f"{file_name}: {item_id if isinstance(item_id, str) else f'items[{index}]'}"


def _item_rule_problems(spec: ItemSpec, header: FileHeader | None, source: _Source) -> list[str]:
    """Check the cross-field rules of one item (file rules only if the file's top is valid)."""
    locales = header.locales if header is not None else LANGUAGES
    found: list[str] = []
    for name in TEXT_FIELDS:
        found += _text_problems(name, getattr(spec, name), locales)
    if header is not None and source.shipped:
        if spec.clause != header.clause:
            found.append(f"item clause {spec.clause} differs from file clause {header.clause}")
        if not spec.id.startswith(f"{header.id}."):
            found.append(f"item id must start with the file id '{header.id}.'")
    if spec.owner_side == "partner" and spec.owner_role not in PARTNER_ROLES:
        found.append(f"owner_role {spec.owner_role} is ours, but owner_side is partner")
    if spec.owner_side == "ours" and spec.owner_role in PARTNER_ROLES:
        found.append(f"owner_role {spec.owner_role} is the partner's, but owner_side is ours")
    if spec.owner_side == "ours" and spec.effort_minutes:
        found.append("effort_minutes counts the partner's effort, so it must be 0 for ours items")
    found += _partner_text_problems(spec, locales)
    if spec.every == "year" and "review" not in spec.stages:
        found.append("every: year is a review cadence, so the item's stages must include review")
    return found


def _partner_text_problems(spec: ItemSpec, locales: Iterable[str]) -> list[str]:
    """Check that what the partner reads is there: what to send, what happens next, its own title."""
    found: list[str] = []
    if spec.burdens_partner:
        for name in ("send", "next"):
            text = getattr(spec, name)
            if text is None:
                found.append(f"{name}: a {spec.owner_side} item says, in the partner's voice, {_SAYS[name]}")
            else:
                found += _text_problems(name, text, locales)
    elif spec.send is not None or spec.next is not None:
        found.append("send and next are for partner and joint items only")
    if spec.owner_side == "joint" and spec.partner_title is None:
        found.append("partner_title: a joint item needs a title in the partner's voice")
    elif spec.partner_title is not None:
        if spec.owner_side != "joint":
            found.append("partner_title is for joint items (a partner item's title is already the partner's)")
        found += _text_problems("partner_title", spec.partner_title, locales)
    return found


_SAYS = {"send": "what to send or bring", "next": "what happens next"}


def _text_problems(name: str, text: Mapping[str, str], locales: Iterable[str]) -> list[str]:
    """Check that a localized text has every declared locale, non-empty, and nothing else."""
    declared = tuple(locales)
    found = [
        f"{name}: missing {lang} translation" for lang in declared if not str(text.get(lang) or "").strip()
    ]
    found += [f"{name}: locale {lang!r} is not declared in locales" for lang in text if lang not in declared]
    return found


# ---------------------------------------------------------------- pydantic errors


def _pydantic_problems(exc: ValidationError, file_name: str, raw: dict[str, Any]) -> list[Problem]:
    """Turn a file-header validation error into problems naming the file."""
    return [Problem(file_name, msg) for msg in _error_messages(exc, raw)]


def _error_messages(exc: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    """Render each pydantic error as `<field path>: <plain message>`."""
    errors = exc.errors(include_url=False)
    # A bad element also fails the list's length check; report only the element.
    parents = {error["loc"][:-1] for error in errors}
    messages = []
    for error in errors:
        if error["type"] == "too_short" and error["loc"] in parents:
            continue
        loc = ".".join(str(part) for part in error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            messages.append(f"unknown field {loc!r}")
        elif kind == "missing":
            messages.append(f"missing field {loc!r}")
        elif error["loc"][-1:] == ("clause",) and isinstance(error.get("input"), float):
            messages.append(f'{loc}: write the clause as a quoted string, e.g. "5.10"')
        else:
            msg = error["msg"].removeprefix("Value error, ")
            messages.append(f"{loc}: {msg}")
    return messages


# ---------------------------------------------------------------- whole-library checks


def _duplicate_ids(items: Iterable[Item]) -> list[Problem]:
    """Report every item id used more than once, naming both files."""
    first_seen: dict[str, str] = {}
    found: list[Problem] = []
    for item in items:
        if item.id in first_seen:
            where = f"{item.source_file}: {item.id}"
            found.append(Problem(where, f"duplicate item id, also in {first_seen[item.id]}"))
        else:
            first_seen[item.id] = item.source_file
    return found


def _load_budgets(path: Path | None, problems: list[Problem]) -> BudgetsSpec | None:
    """Read budgets.yaml from a custom folder if it has one, else the shipped one."""
    custom = Path(path) / BUDGETS_FILE if path is not None else None
    source: Traversable
    if custom is not None and custom.is_file():
        source = custom
    else:
        source = resources.files("models.checklists.library") / BUDGETS_FILE
    raw = _read_yaml(BUDGETS_FILE, source, problems)
    if not isinstance(raw, dict):
        if raw is not None:
            problems.append(Problem(BUDGETS_FILE, "top level must be a mapping"))
        return None
    try:
        return BudgetsSpec.model_validate(raw)
    except ValidationError as exc:
        problems += _pydantic_problems(exc, BUDGETS_FILE, raw)
        return None


def partner_must_minutes(
    items: Iterable[Item], *, tier: str, stage: str, size_class: str, criticality: str
) -> tuple[int, list[str]]:
    """Return the worst-case partner minutes of must items for a profile, and the items counted."""
    counted = [
        item
        for item in items
        if item.priority == "must"
        and item.burdens_partner
        and stage in item.stages
        and item.applies_to(tier=tier, size_class=size_class, criticality=criticality)
    ]
    return sum(item.effort_minutes for item in counted), [item.id for item in counted]


def _budget_problems(items: list[Item], budgets: BudgetsSpec) -> list[Problem]:
    """Check partner must-effort against the stage and year budgets of every tier and profile."""
    return _stage_problems(items, budgets) + _year_problems(items, budgets)


def _year_problems(items: list[Item], budgets: BudgetsSpec) -> list[Problem]:
    """Check that onboarding, governance and exit musts fit year 1, and the exit's a later year."""
    found: list[Problem] = []
    years = budgets.year_minutes.model_dump()
    for tier in TIERS:
        worst = {"first": (0, ""), "later": (0, "")}
        for size, crit in itertools.product(SIZE_CLASSES, CRITICALITIES):
            must = {
                stage: partner_must_minutes(items, tier=tier, stage=stage, size_class=size, criticality=crit)[
                    0
                ]
                for stage in ("onboarding", "governance", "exit")
            }
            profile = f"size {size}, criticality {crit}"
            worst["first"] = max(worst["first"], (sum(must.values()), profile))
            worst["later"] = max(worst["later"], (must["exit"], profile))
        for year, what in (("first", "onboarding, governance and exit"), ("later", "exit")):
            minutes, profile = worst[year]
            if minutes > years[tier][year]:
                found.append(
                    Problem(
                        BUDGETS_FILE,
                        f"tier {tier} ({profile}): {what} must-items take {minutes} min but the "
                        f"{year} year allows {years[tier][year]} min",
                    )
                )
    return found


def _stage_problems(items: list[Item], budgets: BudgetsSpec) -> list[Problem]:
    """Check partner must-effort against the budget for every tier, stage, size and criticality."""
    found: list[Problem] = []
    limits = budgets.budgets.model_dump()
    for tier, stage in itertools.product(TIERS, STAGES):
        worst = max(
            (
                (
                    *partner_must_minutes(items, tier=tier, stage=stage, size_class=s, criticality=c),
                    s,
                    c,
                )
                for s, c in itertools.product(SIZE_CLASSES, CRITICALITIES)
            ),
            key=lambda row: row[0],
        )
        minutes, ids, size_class, criticality = worst
        if minutes > limits[tier][stage]:
            found.append(
                Problem(
                    BUDGETS_FILE,
                    f"tier {tier}, stage {stage}: partner must-items take {minutes} min "
                    f"(size {size_class}, criticality {criticality}) but the budget is "
                    f"{limits[tier][stage]} min: {', '.join(ids)}",
                )
            )
    return found
