"""Who may change the emulator over HTTP: a client (no browser involved), or a page the
emulator served itself; never another site's page in the user's browser.

The emulator listens on loopback without credentials, so any page a developer opens could
post to it (a purge, a reset, a task with a payload of its choosing): a "simple" cross-site
POST needs no CORS preflight. Browsers name the page a request comes from in ``Origin``;
the official clients, gcloud and scripts send none.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

__all__ = ["from_another_site"]

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def from_another_site(request: Request) -> bool:
    """A request that would change something, from a page of another site (or an opaque
    origin, ``null``: sandboxed frames, ``file:`` pages)."""
    if request.method in _READS:
        return False  # and a read's answer is the browser's to withhold (no CORS headers)
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != request.headers.get("host")
