"""Page sizes and page tokens of the List methods.

A token names the last resource of the page it follows and is signed (HMAC-SHA256) with the
emulator's own secret, for the list it was issued for (method, parent, filter): a token the
emulator did not issue, or issued for another list, is INVALID_ARGUMENT, as Google's opaque
tokens are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from ._errors import invalid_argument, shown

__all__ = ["PageTokens", "page_size"]

_MAC_BYTES = 16


def page_size(requested: int, *, default: int, maximum: int) -> int:
    if requested < 0:
        raise invalid_argument("page_size: must not be negative")
    return min(requested or default, maximum)


class PageTokens:
    """Issues and checks the page tokens of one emulator.

    :param secret: the signing key; by default a random one, so that tokens from another
        emulator (or an earlier run) are refused.
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def encode(self, scope: str, last: str) -> str:
        """The token of the page after ``last``, for the list ``scope`` names."""
        payload = last.encode()
        return f"{_b64(payload)}.{_b64(self._mac(scope, payload))}"

    def decode(self, scope: str, token: str) -> str:
        """The name after which the page starts ("" for the first page)."""
        if not token:
            return ""
        data, dot, mac = token.partition(".")
        try:
            payload, signature = _unb64(data), _unb64(mac)
            last = payload.decode()
        except (binascii.Error, UnicodeError, ValueError):
            payload, signature, last = b"", b"", ""
        if not dot or not hmac.compare_digest(signature, self._mac(scope, payload)):
            raise invalid_argument(
                f"page_token: {shown(token)} is not a token this server issued for this list"
            )
        return last

    def page(
        self,
        scope: str,
        names: list[str],
        requested: int,
        token: str,
        *,
        default: int,
        maximum: int,
    ) -> tuple[list[str], str]:
        """The page of ``names`` (sorted) that ``token`` asks for, and the next page's token
        ("" after the last page)."""
        size = page_size(requested, default=default, maximum=maximum)
        after = self.decode(scope, token)
        remaining = [n for n in names if n > after]
        page = remaining[:size]
        return page, (self.encode(scope, page[-1]) if len(remaining) > size else "")

    def _mac(self, scope: str, payload: bytes) -> bytes:
        message = scope.encode() + b"\x00" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
