"""The secret in a rating sheet link: 32 random bytes, of which only a hash is kept."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def token_new() -> str:
    """A fresh token for a link (URL-safe, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What the database stores and looks a token up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
