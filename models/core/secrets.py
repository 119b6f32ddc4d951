"""Encryption of stored secrets (contact channel URLs) and masking for display."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from models.core.errors import TandemError
from models.core.files import create_private
from models.core.settings import get_settings

MASK = "****"


@lru_cache(maxsize=4)
def _fernet_for(key_material: str) -> Fernet:
    digest = hashlib.sha256(key_material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def secret_key() -> str:
    """Return the installation's secret key, creating a private key file in home if none is set."""
    settings = get_settings()
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.home / "secret.key"
    if not path.exists():
        # O_EXCL: two processes starting together must not write two different keys.
        fd = create_private(path)
        if fd is not None:
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
    return path.read_text().strip()


def encrypt_json(value: object) -> str:
    """Encrypt a JSON-serializable value for storage."""
    return _fernet_for(secret_key()).encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str) -> object:
    """Decrypt a value stored by `encrypt_json`."""
    try:
        return json.loads(_fernet_for(secret_key()).decrypt(token.encode()))
    except InvalidToken as exc:
        raise TandemError("stored secret cannot be decrypted: TANDEM_SECRET_KEY changed?") from exc


def mask(secret: str | None) -> str | None:
    """Return a display form of a secret that shows nothing of it."""
    return None if secret is None else MASK
