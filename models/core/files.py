"""Tandem's own files (database, keys, uploads): created readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path


def private_folder(path: Path) -> Path:
    """Create a folder and any missing parents as 0700 (folders Tandem creates hold its data); return it."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)  # mkdir(parents=True) would ignore the mode for parents
    return missing[0] if missing else path


def create_private(path: Path) -> int | None:
    """Create a file as 0600 in a private folder and return it open for writing (None if it exists)."""
    private_folder(path.parent)
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
