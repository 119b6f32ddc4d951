"""YAML reading for every content file: the C parser when present (about 20x faster), safe either way."""

from __future__ import annotations

from typing import Any

import yaml

# Both loaders only build plain data (no arbitrary objects); CSafeLoader is libyaml's SafeLoader.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse YAML text into plain data; raise yaml.YAMLError with the line on bad syntax."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
