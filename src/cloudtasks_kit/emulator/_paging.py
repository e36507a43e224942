"""Page sizes and page tokens of the List methods: a token is the last name of the page."""

from __future__ import annotations

import base64
import binascii

from ._errors import invalid_argument

__all__ = ["decode_token", "encode_token", "page_of", "page_size"]


def page_size(requested: int, *, default: int, maximum: int) -> int:
    if requested < 0:
        raise invalid_argument("page_size: must not be negative")
    return min(requested or default, maximum)


def page_of(
    names: list[str], requested: int, token: str, *, default: int, maximum: int
) -> tuple[list[str], str]:
    """The page of ``names`` (sorted) that ``token`` asks for, and the next page's token
    ("" after the last page)."""
    size = page_size(requested, default=default, maximum=maximum)
    after = decode_token(token)
    remaining = [n for n in names if n > after]
    page = remaining[:size]
    return page, (encode_token(page[-1]) if len(remaining) > size else "")


def encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def decode_token(token: str) -> str:
    """The name after which the page starts ("" for the first page)."""
    if not token:
        return ""
    try:
        return base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_argument(f"page_token: {token!r} is not a token this server issued") from None
