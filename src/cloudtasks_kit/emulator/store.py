"""Old import path of the state file, for ``tests/test_auth.py`` (which seeds the signing key)
until it imports ``_store``."""

from ._store import Database as Store

__all__ = ["Store"]
