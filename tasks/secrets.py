"""Secrets resolved inside a run, never passed as parameters: Prefect is imported only when a block is named.

Kept free of module-level Prefect imports so that CLI commands which run no flow (`tandem outbox
deliver`, `tandem notify test`) start without importing Prefect.
"""

from __future__ import annotations

from typing import cast

from models.core.settings import get_settings


def smtp_password() -> str | None:
    """Resolve the SMTP password: the Prefect Secret block if one is named, else settings (or none)."""
    settings = get_settings()
    if settings.smtp_password_block:
        from prefect.blocks.system import Secret

        # Resolved here, inside the run, so the secret is never a task or flow parameter.
        # Called synchronously: Prefect's sync_compatible decorator types the result as maybe a coroutine.
        secret = cast(Secret[str], Secret.load(settings.smtp_password_block))
        return str(secret.get())
    return settings.smtp_password.get_secret_value() if settings.smtp_password else None
