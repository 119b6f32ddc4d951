"""Checklist content library: one YAML file per principle (clauses 5.1-5.12), validated on load."""

from models.checklists.library.loader import (
    Library,
    LibraryFile,
    check_library,
    clear_library_cache,
    load_library,
    partner_must_minutes,
    validate_library,
)
from models.checklists.library.schema import (
    CLAUSES,
    CRITICALITIES,
    EVENT_TEXT,
    SIZE_CLASSES,
    STAGES,
    TIERS,
    Applies,
    Condition,
    Item,
    ItemSpec,
    parse_condition,
)

__all__ = [
    "CLAUSES",
    "CRITICALITIES",
    "EVENT_TEXT",
    "SIZE_CLASSES",
    "STAGES",
    "TIERS",
    "Applies",
    "Condition",
    "Item",
    "ItemSpec",
    "Library",
    "LibraryFile",
    "check_library",
    "clear_library_cache",
    "load_library",
    "parse_condition",
    "partner_must_minutes",
    "validate_library",
]
