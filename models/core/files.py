"""Tandem's own files (database, keys, uploads): created readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

from models.core.settings import get_settings


def private_folder(path: Path) -> Path:
    """Create a folder, and TANDEM_HOME when it holds it, as 0700; return it."""
    home = get_settings().home
    for folder in (home, path) if path.is_relative_to(home) else (path,):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # the mode applies only when created
    return path


def create_private(path: Path) -> int | None:
    """Create a file as 0600 in a private folder and return it open for writing (None if it exists)."""
    private_folder(path.parent)
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None
