"""Checking that a request to the worker really comes from Cloud Tasks / Cloud Scheduler.

Both sign each request with an OIDC ID token (``Authorization: Bearer <JWT>``) for a service
account. :class:`OidcVerifier` checks, as Google documents: the signature against the
issuer's key set (Google's in production, the emulator's in development, chosen by
``settings.auth.issuer``), ``iss``, ``exp``, ``aud`` and the service account's ``email``
against ``settings.auth.allowed_emails``.

The audience expected is ``settings.auth.audience``; unset, it is the URL the kit itself builds
for a task of the route (what Cloud Tasks uses when the task names no audience): the configured
``base_url`` (or a queue's own ``base_url``), the route's path with every mount prefix, the
request's query. It is never taken from the request's ``Host`` or ``X-Forwarded-*`` headers,
which the caller controls: a token Google minted for another deployment's URL (staging's,
say), replayed here with ``Host`` set to that deployment's host, is refused. Behind a proxy
this means ``--proxy-headers`` changes nothing about what is accepted; a proxy that rewrites
paths needs ``auth.audience`` (and the same audience on the tasks, ``oidc.audience``).

Missing or invalid token: 401; valid token for another audience or account: 403; the key
set cannot be fetched: 503 (so Cloud Tasks retries later). The handler never runs.

Two ways to use it on a route or router:

- ``dependencies=[Depends(verify_task_caller)]``: resolves the verifier from the active kit
  container (provider ``task_caller_verifier``; see ``Container``) per request, so routers can
  be declared at import time without reading settings;
- ``dependencies=[Depends(oidc_verifier(settings))]``: explicit, for apps that build their
  routers inside ``create_app()``.

Keys are fetched with ``httpx.AsyncClient`` (the event loop is never blocked), cached for
``cache_ttl`` seconds, and fetched again when a token names an unknown ``kid`` (Google rotates
its keys), at most once per ``min_refresh_interval`` so forged ``kid`` values cannot make the
worker hammer the issuer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from fastapi import HTTPException, Request

from .._active import active_container
from .._errors import ConfigurationError
from .._marks import mark_worker_dependency
from .._protocol import SCHEDULER_JOB_NAME, TASK_NAME
from ..settings import KitSettings, WorkerAuthSettings

__all__ = [
    "JwksCache",
    "JwksUnavailable",
    "OidcVerifier",
    "TaskCaller",
    "oidc_verifier",
    "verify_task_caller",
]

log = logging.getLogger("cloudtasks_kit.auth")

GOOGLE_ISSUER = "https://accounts.google.com"
# Google's ID tokens carry either form of its issuer.
_ISSUER_ALIASES = {GOOGLE_ISSUER: (GOOGLE_ISSUER, "accounts.google.com")}
# Asymmetric algorithms only: a key set never holds a shared secret, and "none" / HS256 tokens
# must not pass as signed by a public key.
_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud"]
_VERIFIED_TOKENS = 1024


class JwksUnavailable(Exception):
    """The issuer's key set could not be fetched (and none is cached)."""


@dataclass(frozen=True, slots=True)
class TaskCaller:
    """Who signed the request: the verified token's claims."""

    issuer: str
    subject: str
    email: str | None
    audience: str
    claims: Mapping[str, Any]


class JwksCache:
    """An issuer's signing keys by ``kid``, fetched on first use and refreshed when stale or
    when a token names a key not seen yet (rate-limited).

    :param issuer: the OIDC issuer; its key set is found through
        ``{issuer}/.well-known/openid-configuration`` unless ``jwks_url`` is given.
    :param jwks_url: the key set's URL, skipping discovery.
    :param cache_ttl: seconds a fetched key set is used before it is fetched again.
    :param min_refresh_interval: seconds between fetches caused by unknown ``kid`` values.
    :param timeout: seconds allowed for each HTTP request.
    :param clock: monotonic seconds; tests pass a fake one.
    """

    def __init__(
        self,
        issuer: str,
        *,
        jwks_url: str | None = None,
        cache_ttl: float = 3600.0,
        min_refresh_interval: float = 30.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._cache_ttl = cache_ttl
        self._min_refresh_interval = min_refresh_interval
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0  # last successful fetch
        self._tried_at: float | None = None  # last fetch attempt, successful or not
        self._last_error = "not fetched yet"
        # One lock per event loop: an asyncio.Lock must not be shared between loops.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def key(self, kid: str) -> jwt.PyJWK | None:
        """The key with this id, or ``None`` if the issuer does not (or no longer) publish it.

        :raises JwksUnavailable: no key set is cached and fetching one failed.
        """
        if self._wants(kid):
            await self._refresh(kid)
        if self._keys is None:
            raise JwksUnavailable(
                f"could not fetch the signing keys of {self.issuer}: {self._last_error}"
            )
        return self._keys.get(kid)

    def _wants(self, kid: str) -> bool:
        """No keys yet, stale keys, or not this one."""
        keys = self._keys
        return (
            keys is None or kid not in keys or self._clock() - self._fetched_at >= self._cache_ttl
        )

    async def _refresh(self, kid: str) -> None:
        # Under the lock, so that requests arriving during a fetch wait for its result.
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            now = self._clock()
            if not self._wants(kid):
                return  # fetched while this request waited for the lock
            # Every fetch, even the first after a failure, waits min_refresh_interval after
            # the last attempt: an outage of the issuer or a stream of forged kids costs one.
            if self._tried_at is not None and now - self._tried_at < self._min_refresh_interval:
                return
            self._tried_at = now
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                # Keys fetched before stay in use; with none, requests get 503 until a retry.
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.warning("could not fetch the signing keys of %s: %s", self.issuer, exc)
                return
            self._keys = keys
            self._fetched_at = now

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=True) as client:
            if self._jwks_url is None:
                response = await client.get(f"{self.issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                discovery = response.json()
                if discovery.get("issuer") != self.issuer:
                    raise ValueError(
                        f"the discovery document names issuer {discovery.get('issuer')!r}"
                    )
                jwks_uri = discovery["jwks_uri"]
                if not isinstance(jwks_uri, str):
                    raise TypeError(f"jwks_uri is not a URL: {jwks_uri!r}")
                self._jwks_url = jwks_uri
            response = await client.get(self._jwks_url)
            response.raise_for_status()
            document = response.json()
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document["keys"]:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[kid] = jwt.PyJWK(entry)
            except (jwt.PyJWTError, ValueError, TypeError, KeyError):
                continue  # a key type this worker cannot use; tokens signed by it fail
        return keys


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: dict[str, Any]
    kid: str
    key: object


class OidcVerifier:
    """FastAPI dependency checking the request's OIDC token; returns the :class:`TaskCaller`
    (``None`` when ``settings.enabled`` is false). Build it with :func:`oidc_verifier`.

    :param settings: the worker's ``auth`` settings.
    :param base_urls: the worker's base URLs as configured (``base_url``, and the queues' own):
        with ``settings.audience`` unset, the audience is one of them followed by the route's
        path and the request's query.
    :param keys: the key cache; by default one for ``settings.issuer`` / ``jwks_url``.
    :param leeway: seconds of clock skew allowed on ``exp`` and ``iat``.
    :raises ConfigurationError: checks are on, and neither an audience nor a base URL is set.
    """

    # The route binder must not look inside (``Request``): see binding.WORKER_DEPENDENCY_ATTRIBUTE.
    __cloudtasks_worker_dependency__ = True

    def __init__(
        self,
        settings: WorkerAuthSettings,
        *,
        base_urls: Sequence[str] = (),
        keys: JwksCache | None = None,
        leeway: float = 30.0,
    ) -> None:
        if settings.enabled and settings.audience is None and not base_urls:
            raise ConfigurationError(
                "the worker cannot know which token audience to expect: set base_url (the URL "
                "tasks are sent to; with auth.audience unset the audience is that URL) or "
                "auth.audience"
            )
        self.settings = settings
        self.base_urls = tuple(dict.fromkeys(url.rstrip("/") for url in base_urls))
        self.keys = keys or JwksCache(settings.issuer, jwks_url=settings.jwks_url)
        self._issuers = _ISSUER_ALIASES.get(settings.issuer, (settings.issuer,))
        self._allowed = frozenset(settings.allowed_emails)
        self._leeway = leeway
        # Tokens whose signature and issuer were checked: Cloud Tasks sends the same token
        # with many tasks (it caches them for about an hour), and checking an RSA signature
        # costs more than the rest of the request. Audience, expiry and account are still
        # checked on every request. Bounded: the oldest entries go first.
        # The key is kept with the claims: a cached token stands only while the key set still
        # publishes that very key.
        self._verified: dict[str, _Verified] = {}

    async def __call__(self, request: Request) -> TaskCaller | None:
        if not self.settings.enabled:
            return None
        scheme, _, token = _authorization(request).partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise _rejected(401, "missing bearer token")
            return await self.verify(token.strip(), self.expected_audiences(request))
        except HTTPException as exc:
            task = request.headers.get(TASK_NAME)
            job = request.headers.get(SCHEDULER_JOB_NAME)
            which = f" (task {task})" if task else f" (job {job})" if job else ""
            log.warning("rejected %s %s%s: %s", request.method, request.url.path, which, exc.detail)
            raise

    def expected_audiences(self, request: Request) -> tuple[str, ...]:
        """The audiences a token for this request may have: ``auth.audience``, else the URL
        the kit builds for a task of the request's route on each configured base URL."""
        if self.settings.audience is not None:
            return (self.settings.audience,)
        return tuple(task_url(request, base_url) for base_url in self.base_urls)

    async def verify(self, token: str, url: str | Sequence[str]) -> TaskCaller:
        """Check one token as sent to ``url``.

        :param url: the audience (or audiences, any one of them) expected when
            ``auth.audience`` is not configured: the URL the task was created for.
        :raises HTTPException: 401 invalid, 403 wrong audience or account, 503 no key set.
        """
        if self.settings.audience is not None:
            audiences: tuple[str, ...] = (self.settings.audience,)
        else:
            audiences = (url,) if isinstance(url, str) else tuple(url)
        cached = self._verified.get(token)
        if cached is not None and await self._still_published(cached):
            claims = cached.claims
            audience = self._check_cached(claims, audiences)
        else:
            self._verified.pop(token, None)
            verified = await self._decode(token, audiences)
            if len(self._verified) >= _VERIFIED_TOKENS:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = verified
            claims = verified.claims
            audience = _matched(claims["aud"], audiences)
        email = claims.get("email")
        if self._allowed and (
            email not in self._allowed or claims.get("email_verified") is not True
        ):
            raise _rejected(403, f"caller {email!r} is not an allowed service account")
        return TaskCaller(
            issuer=claims["iss"],
            subject=str(claims.get("sub", "")),
            email=email if isinstance(email, str) else None,
            audience=audience,
            claims=MappingProxyType(claims),
        )

    async def _still_published(self, verified: _Verified) -> bool:
        keys = self.keys
        if not keys._wants(verified.kid):  # cached and fresh: no await needed
            return keys._keys is not None and keys._keys.get(verified.kid) is verified.key
        try:
            return await self.keys.key(verified.kid) is verified.key
        except JwksUnavailable:
            return False

    async def _decode(self, token: str, audiences: tuple[str, ...]) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _rejected(401, "malformed token") from None
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise _rejected(401, "token names no signing key (kid)")
        try:
            key = await self.keys.key(kid)
        except JwksUnavailable as exc:
            raise HTTPException(503, detail=str(exc)) from None
        if key is None:
            raise _rejected(401, f"token signed by a key {self.keys.issuer} does not publish")
        if key.algorithm_name not in _ALGORITHMS:
            raise _rejected(401, f"unsupported signing algorithm {key.algorithm_name}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=list(audiences),
                issuer=self._issuers,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.InvalidAudienceError:
            raise _rejected(403, f"token is not for this audience ({_shown(audiences)})") from None
        except jwt.ExpiredSignatureError:
            raise _rejected(401, "token expired") from None
        except jwt.InvalidSignatureError:
            raise _rejected(401, "bad token signature") from None
        except jwt.PyJWTError as exc:
            raise _rejected(401, f"invalid token: {exc}") from None
        return _Verified(claims, kid, key)

    def _check_cached(self, claims: dict[str, Any], audiences: tuple[str, ...]) -> str:
        """What ``jwt.decode`` checks that can change for a token already verified; the
        audience it is for."""
        if claims["exp"] + self._leeway < time.time():
            raise _rejected(401, "token expired")
        audience = _matched(claims["aud"], audiences)
        if not audience:
            raise _rejected(403, f"token is not for this audience ({_shown(audiences)})")
        return audience


def oidc_verifier(
    settings: KitSettings, *, keys: JwksCache | None = None, leeway: float = 30.0
) -> OidcVerifier:
    """The verifier ``settings.auth`` describes; warns when checks are off outside ``env=test``.

    Build one per app (its key cache is shared by all requests), e.g. as the container's
    ``task_caller_verifier`` singleton.
    """
    if not settings.auth.enabled and settings.env != "test":
        log.warning(
            "worker authentication is OFF (auth.enabled=false) in env %r: task routes accept "
            "requests from anyone; only config/test.yaml should turn it off",
            settings.env,
        )
    base_urls = [settings.base_url] if settings.base_url is not None else []
    base_urls += [q.base_url for q in settings.queues.values() if q.base_url is not None]
    return OidcVerifier(settings.auth, base_urls=base_urls, keys=keys, leeway=leeway)


@mark_worker_dependency
async def verify_task_caller(request: Request) -> TaskCaller | None:
    """FastAPI dependency: check the request's OIDC token with the active container's verifier.

    ``APIRouter(route_class=DelayedRoute, dependencies=[Depends(verify_task_caller)])``.

    :raises ContainerNotWired: no kit container is wired or bound (a 500:
        a worker must not run unchecked because wiring was forgotten).
    """
    container = active_container(request.app, what="verify_task_caller")
    verifier: OidcVerifier = container.task_caller_verifier()
    return await verifier(request)


def task_url(request: Request, base_url: str) -> str:
    """The URL the kit builds for a task of the request's route (``_routing.route_url``):
    ``base_url``, the route's mount prefixes and path, the request's query string.

    That path is the one that routed the request here (the app's prefixes, then the route's
    path with its values), so it is read from the request: its path as sent (percent-encoding
    kept, below the app's ``root_path``) and its query. ``Host`` and ``X-Forwarded-*`` are not
    read: a caller sets them at will.
    """
    scope = request.scope
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
    root = scope.get("root_path", "")
    if root and (path == root or path.startswith(root.rstrip("/") + "/")):
        path = path[len(root.rstrip("/")) :]  # sent with the prefix a proxy did not strip
    query = scope.get("query_string", b"").decode("latin-1")
    return base_url.rstrip("/") + path + (f"?{query}" if query else "")


def _authorization(request: Request) -> str:
    """The ``Authorization`` header (the first one), read from the raw ASGI headers as
    Starlette's ``request.headers.get`` reads it, without building its header object."""
    for name, value in request.scope["headers"]:
        if name.lower() == b"authorization":
            return str(value.decode("latin-1"))
    return ""


def _matched(token_audience: object, audiences: tuple[str, ...]) -> str:
    """The first of ``audiences`` a token's ``aud`` claim names ("" if none)."""
    allowed = token_audience if isinstance(token_audience, list) else [token_audience]
    return next((audience for audience in audiences if audience in allowed), "")


def _shown(audiences: tuple[str, ...]) -> str:
    return " or ".join(audiences) or "no audience configured"


def _rejected(status: int, reason: str) -> HTTPException:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return HTTPException(status, detail=reason, headers=headers)
