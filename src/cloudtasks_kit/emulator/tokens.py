"""Old import path of :mod:`._tokens`, for ``bench/kit_worker.py`` until it imports ``_tokens``."""

from ._tokens import TokenSigner

__all__ = ["TokenSigner"]
