"""The database this test run targets, read once before conftest clears the TANDEM_* variables.

pytest-xdist workers start after conftest ran in the controller, so the URL is passed on to them in
a variable of its own that the clean-up leaves alone.
"""

from __future__ import annotations

import os

_HANDOVER = "PYTEST_TANDEM_DATABASE_URL"
BASE_DATABASE_URL = os.environ.get(_HANDOVER) or os.environ.get("TANDEM_DATABASE_URL", "")
os.environ[_HANDOVER] = BASE_DATABASE_URL
ON_POSTGRES = BASE_DATABASE_URL.startswith("postgresql")
