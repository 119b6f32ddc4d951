"""The database this test run targets, read once before conftest clears the TANDEM_* variables."""

from __future__ import annotations

import os

BASE_DATABASE_URL = os.environ.get("TANDEM_DATABASE_URL", "")
ON_POSTGRES = BASE_DATABASE_URL.startswith("postgresql")
