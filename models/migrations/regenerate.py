"""Regenerate the initial migration from the tables (only while nothing has been released).

Run: python -m models.migrations.regenerate
"""

import tempfile
from importlib import resources
from pathlib import Path

from alembic import command

from models.core.db import alembic_config, engine_for


def main() -> None:
    """Write versions/0001_initial.py from the current table definitions."""
    versions = Path(str(resources.files("models") / "migrations" / "versions"))
    for old in versions.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/empty.db"
        config = alembic_config(url)
        with engine_for(url).begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
    for new in versions.glob("0001_*.py"):
        new.rename(versions / "0001_initial.py")


if __name__ == "__main__":
    main()
