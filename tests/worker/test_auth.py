"""OIDC verification of task callers: real tasks signed by the emulator and sent to a real
uvicorn worker, tokens crafted with PyJWT, and the key cache against a counting JWKS server."""

import asyncio
import base64
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dependency_injector import providers
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from google.cloud import tasks_v2
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudtasks_kit import ConfigurationError, Container, ContainerNotWired, DelayedRoute
from cloudtasks_kit.emulator._store import Database
from cloudtasks_kit.settings import KitSettings, load_settings
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess
from cloudtasks_kit.worker._auth import (
    JwksCache,
    OidcVerifier,
    TaskCaller,
    oidc_verifier,
    verify_task_caller,
)
from tests.support import Inbox, TestClient

ACCOUNT = "tasks@test-project.iam.gserviceaccount.com"
PARENT = "projects/test-project/locations/us-central1"
CONFIGURED_AUDIENCE = "https://worker.example/tasks"
inbox = Inbox()


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def _token(key: rsa.RSAPrivateKey, kid: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "aud": "https://unused.example",
        "email": ACCOUNT,
        "email_verified": True,
        "sub": "1234",
        "iat": now,
        "exp": now + 3600,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


# --- an emulator whose signing key the tests know, and a worker trusting it --------------------


@dataclass
class Setup:
    emulator: EmulatorProcess
    worker_url: str
    key: rsa.RSAPrivateKey
    kid: str
    client: Any
    queue: str
    statuses: Inbox = field(default_factory=Inbox)

    def craft(self, **claims: Any) -> str:
        return _token(self.key, self.kid, iss=self.emulator.http_url, **claims)


class RecordStatus:
    """Records each response's status by request path as sent (the handler may never run)."""

    def __init__(self, app: ASGIApp, statuses: Inbox) -> None:
        self.app = app
        self.statuses = statuses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watch(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.start":
                self.statuses.put(scope["raw_path"].decode(), message["status"])

        await self.app(scope, receive, watch)


def _settings(
    tmp_path: Path, issuer: str, base_url: str = "http://worker.local", **auth: Any
) -> KitSettings:
    return load_settings(
        env="dev",
        config_dir=tmp_path,
        base_url=base_url,
        auth={"issuer": issuer, "allowed_emails": [ACCOUNT], **auth},
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    directory = tmp_path_factory.mktemp("auth")
    key = _new_key()
    # The emulator keeps its signing key in its state file; seeding one lets the tests sign
    # tokens it could have signed (expired ones, say).
    store = Database(directory / "state.db")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    store.set_meta("oidc_signing_key", pem)
    store.close()
    with EmulatorProcess(data=directory / "state.db") as emulator:
        [served] = httpx.get(f"{emulator.http_url}/oauth2/v3/certs").json()["keys"]
        assert served["n"] == _jwk(key, "")["n"], "the emulator did not use the seeded key"
        app = FastAPI()
        # Bound before the routes exist: the worker's URL is its configured base URL.
        worker = BackgroundServer(app)
        settings = _settings(directory, emulator.http_url, worker.url)
        audience_settings = _settings(
            directory, emulator.http_url, worker.url, audience=CONFIGURED_AUDIENCE
        )
        statuses = Inbox()
        router = APIRouter(route_class=DelayedRoute)

        @router.post("/guarded/{case}")
        def guarded(
            case: str, caller: Annotated[TaskCaller | None, Depends(oidc_verifier(settings))]
        ) -> None:
            inbox.put(case, caller)

        @router.post("/audience/{case}", dependencies=[Depends(oidc_verifier(audience_settings))])
        def audience(case: str) -> None:
            inbox.put(case, None)

        prefixed = APIRouter(route_class=DelayedRoute, prefix="/v1/prefixed")

        @prefixed.post("/{case}")
        def under_a_prefix(
            case: str, caller: Annotated[TaskCaller | None, Depends(oidc_verifier(settings))]
        ) -> None:
            inbox.put(case, caller)

        app.include_router(router)
        app.include_router(prefixed)
        app.add_middleware(RecordStatus, statuses=statuses)
        client = emulator.tasks_client()
        queue = f"{PARENT}/queues/auth-{uuid.uuid4().hex[:8]}"
        # One attempt per task: a rejected task is not retried into later tests.
        client.create_queue(
            parent=PARENT, queue={"name": queue, "retry_config": {"max_attempts": 1}}
        )
        with worker:
            yield Setup(emulator, worker.url, key, served["kid"], client, queue, statuses)


@pytest.fixture(autouse=True)
def _empty_inbox() -> None:
    inbox.clear()


def _dispatch(setup: Setup, path: str, oidc: tasks_v2.OidcToken | None) -> int:
    """Create a task for ``path`` in the emulator; the status the worker answered."""
    url = setup.worker_url + path
    task = tasks_v2.Task(http_request=tasks_v2.HttpRequest(url=url, oidc_token=oidc))
    setup.client.create_task(parent=setup.queue, task=task)
    [status] = setup.statuses.wait_for(path.split("?")[0], 1)
    result: int = status
    return result


# --- the accept / reject matrix: real tasks from the emulator ----------------------------------


def test_a_task_signed_by_the_emulator_is_accepted(setup: Setup) -> None:
    # Percent-encoding and a query string: the default audience is the URL exactly as sent.
    path = f"/guarded/valid%20{uuid.uuid4().hex[:6]}?page=1&next=%2Fa"
    status = _dispatch(setup, path, tasks_v2.OidcToken(service_account_email=ACCOUNT))

    assert status == 200
    case = path.split("?")[0].removeprefix("/guarded/").replace("%20", " ")
    [caller] = inbox.get(case)
    assert isinstance(caller, TaskCaller)
    assert caller.email == ACCOUNT
    assert caller.issuer == setup.emulator.http_url
    assert caller.audience == setup.worker_url + path


def test_a_configured_audience_replaces_the_url(setup: Setup) -> None:
    case = uuid.uuid4().hex[:8]
    oidc = tasks_v2.OidcToken(service_account_email=ACCOUNT, audience=CONFIGURED_AUDIENCE)

    assert _dispatch(setup, f"/audience/{case}", oidc) == 200
    assert len(inbox.get(case)) == 1
    # The same route refuses a token whose audience is the URL.
    other = uuid.uuid4().hex[:8]
    url_audience = tasks_v2.OidcToken(service_account_email=ACCOUNT)
    assert _dispatch(setup, f"/audience/{other}", url_audience) == 403
    assert inbox.get(other) == []


@pytest.mark.parametrize(
    ("oidc", "status"),
    [
        pytest.param(None, 401, id="no-token"),
        pytest.param(
            tasks_v2.OidcToken(service_account_email=ACCOUNT, audience="https://else.example"),
            403,
            id="wrong-audience",
        ),
        pytest.param(
            tasks_v2.OidcToken(service_account_email="intruder@evil.iam.gserviceaccount.com"),
            403,
            id="wrong-account",
        ),
    ],
)
def test_emulator_tasks_that_must_be_refused(
    setup: Setup, oidc: tasks_v2.OidcToken | None, status: int
) -> None:
    case = uuid.uuid4().hex[:8]

    assert _dispatch(setup, f"/guarded/{case}", oidc) == status
    assert inbox.get(case) == []


# --- the audience comes from configuration, never from the request's Host ----------------------

STAGING = "http://staging.example"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Host": "staging.example"}, id="host"),
        pytest.param(
            {"X-Forwarded-Host": "staging.example", "X-Forwarded-Proto": "http"},
            id="x-forwarded",
        ),
        pytest.param(
            {"Host": "staging.example", "X-Forwarded-Proto": "http", "Forwarded": "host=staging"},
            id="all-of-them",
        ),
    ],
)
def test_a_token_for_another_deployment_is_refused_whatever_host_it_claims(
    setup: Setup, headers: dict[str, str]
) -> None:
    # A token Google minted for staging's URL, replayed here with staging's host.
    case = uuid.uuid4().hex[:8]
    path = f"/guarded/{case}"
    token = setup.craft(aud=STAGING + path)

    response = httpx.post(
        setup.worker_url + path, headers={"Authorization": f"Bearer {token}", **headers}
    )

    assert response.status_code == 403, response.text
    assert setup.worker_url + path in response.json()["detail"]
    assert inbox.get(case) == []


def test_a_token_for_the_configured_url_is_accepted_whatever_host_arrives(setup: Setup) -> None:
    # Behind a proxy the worker may see an internal Host: the configured base URL decides.
    case = uuid.uuid4().hex[:8]
    path = f"/guarded/{case}?page=2"
    token = setup.craft(aud=setup.worker_url + path)

    response = httpx.post(
        setup.worker_url + path,
        headers={"Authorization": f"Bearer {token}", "Host": "internal.svc.cluster.local"},
    )

    assert response.status_code == 200, response.text
    [caller] = inbox.get(case)
    assert caller.audience == setup.worker_url + path


def test_the_audience_carries_the_routes_prefix_as_task_urls_do(setup: Setup) -> None:
    case = uuid.uuid4().hex[:8]
    path = f"/v1/prefixed/{case}"
    assert _dispatch(setup, path, tasks_v2.OidcToken(service_account_email=ACCOUNT)) == 200
    [caller] = inbox.get(case)
    assert caller.audience == setup.worker_url + path

    unprefixed = setup.craft(aud=f"{setup.worker_url}/{case}")
    response = httpx.post(
        setup.worker_url + path, headers={"Authorization": f"Bearer {unprefixed}"}
    )
    assert response.status_code == 403


def test_a_queues_own_base_url_is_an_audience_too(setup: Setup, tmp_path: Path) -> None:
    settings = load_settings(
        env="dev",
        config_dir=tmp_path,
        base_url="http://worker.local",
        queues={"remote": {"id": "remote", "base_url": "http://other.local"}},
        auth={"issuer": setup.emulator.http_url, "allowed_emails": [ACCOUNT]},
    )
    client = TestClient(_app_with(oidc_verifier(settings)), base_url="http://third.local")
    for audience, status in [
        ("http://worker.local/task", 200),
        ("http://other.local/task", 200),
        ("http://third.local/task", 403),
    ]:
        token = setup.craft(aud=audience)
        response = client.post("/task", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == status, (audience, response.text)


def test_checks_on_without_an_audience_or_a_base_url_fail_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"base_url .* auth\.audience"):
        oidc_verifier(load_settings(env="dev", config_dir=tmp_path, base_url=None))
    assert oidc_verifier(
        load_settings(
            env="dev", config_dir=tmp_path, base_url=None, auth={"audience": "https://a.example"}
        )
    )


# --- the matrix: crafted tokens sent straight to the worker ------------------------------------


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "intruder@evil.iam.gserviceaccount.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


CRAFTED: dict[str, tuple[Callable[[Setup, str], str], int, str]] = {
    "valid": (lambda s, url: s.craft(aud=url), 200, ""),
    "bad-signature": (lambda s, url: _tamper(s.craft(aud=url)), 401, "bad token signature"),
    "other-key-same-kid": (
        lambda s, url: _token(_new_key(), s.kid, iss=s.emulator.http_url, aud=url),
        401,
        "bad token signature",
    ),
    "other-key-unknown-kid": (
        lambda s, url: _token(_new_key(), "not-published", iss=s.emulator.http_url, aud=url),
        401,
        "does not publish",
    ),
    "expired": (
        lambda s, url: s.craft(aud=url, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        401,
        "token expired",
    ),
    "wrong-issuer": (
        lambda s, url: _token(s.key, s.kid, iss="https://accounts.google.com", aud=url),
        401,
        "invalid token",
    ),
    "symmetric-alg": (
        lambda s, url: jwt.encode(
            {"iss": s.emulator.http_url, "aud": url, "exp": int(time.time()) + 60},
            "secret-guessed-by-an-attacker-long-enough",
            algorithm="HS256",
            headers={"kid": s.kid},
        ),
        401,
        "invalid token",
    ),
    "wrong-audience": (lambda s, url: s.craft(aud="https://else.example"), 403, "audience"),
    "wrong-account": (
        lambda s, url: s.craft(aud=url, email="intruder@evil.iam.gserviceaccount.com"),
        403,
        "not an allowed service account",
    ),
    "unverified-email": (lambda s, url: s.craft(aud=url, email_verified=False), 403, "allowed"),
    "malformed": (lambda s, url: "not.a.jwt", 401, "malformed token"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_tokens(setup: Setup, case: str) -> None:
    make, status, detail = CRAFTED[case]
    url = f"{setup.worker_url}/guarded/{case}"

    response = httpx.post(url, headers={"Authorization": f"Bearer {make(setup, url)}"})

    assert response.status_code == status, response.text
    if detail:
        assert detail in response.json()["detail"]
    assert len(inbox.get(case)) == (1 if status == 200 else 0)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwdw==", "Bearer", "Token abc"])
def test_requests_without_a_bearer_token_are_401(setup: Setup, authorization: str | None) -> None:
    case = uuid.uuid4().hex[:8]
    headers = {} if authorization is None else {"Authorization": authorization}

    response = httpx.post(f"{setup.worker_url}/guarded/{case}", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"detail": "missing bearer token"}
    assert inbox.get(case) == []


# --- turning it off ----------------------------------------------------------------------------


def _app_with(dependency: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/task", dependencies=[Depends(dependency)])
    def task() -> None:
        inbox.put("task", None)

    return app


def test_a_rejected_call_is_logged_with_its_task_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        env="test", config_dir=tmp_path, base_url="http://worker.local", auth={"enabled": True}
    )
    verifier = oidc_verifier(settings)
    headers = {"X-CloudTasks-TaskName": "order-7"}

    with caplog.at_level(logging.WARNING, logger="cloudtasks_kit.auth"):
        response = TestClient(_app_with(verifier)).post("/task", headers=headers)

    assert response.status_code == 401
    assert [record.getMessage() for record in caplog.records] == [
        "rejected POST /task (task order-7): missing bearer token"
    ]


def test_disabled_checks_nothing_and_warns_outside_test(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    off = {"enabled": False}
    with caplog.at_level(logging.WARNING, logger="cloudtasks_kit.auth"):
        quiet = oidc_verifier(load_settings(env="test", config_dir=tmp_path, auth=off))
        assert caplog.records == []
        loud = oidc_verifier(load_settings(env="prod", config_dir=tmp_path, auth=off))

    [warning] = caplog.records
    assert "authentication is OFF" in warning.getMessage()
    assert "'prod'" in warning.getMessage()
    for verifier in (quiet, loud):
        assert TestClient(_app_with(verifier)).post("/task").status_code == 200
    assert len(inbox.get("task")) == 2


def test_the_repositorys_test_config_turns_it_off_and_others_do_not() -> None:
    config = Path(__file__).parents[2] / "config"
    for env, enabled in [("test", False), ("dev", True), ("prod", True)]:
        assert load_settings(env=env, config_dir=config).auth.enabled is enabled, env


# --- verify_task_caller: the verifier from the active container --------------------------------


def test_verify_task_caller_uses_the_wired_container(setup: Setup, tmp_path: Path) -> None:
    app = _app_with(verify_task_caller)
    settings = _settings(tmp_path, setup.emulator.http_url)
    container = Container(settings=providers.Object(settings))
    container.wire()
    try:
        client = TestClient(app, base_url="http://worker.local")
        assert client.post("/task").status_code == 401
        token = setup.craft(aud="http://worker.local/task")
        authorized = client.post("/task", headers={"Authorization": f"Bearer {token}"})
        assert authorized.status_code == 200
        off = settings.model_copy(
            update={"auth": settings.auth.model_copy(update={"enabled": False})}
        )
        with container.settings.override(off), container.task_caller_verifier.reset():
            assert client.post("/task").status_code == 200
    finally:
        container.unwire()
    assert len(inbox.get("task")) == 2


def test_verify_task_caller_without_a_container_fails_loudly() -> None:
    with pytest.raises(ContainerNotWired, match="verify_task_caller"):
        TestClient(_app_with(verify_task_caller)).post("/task")


# --- the key cache -----------------------------------------------------------------------------


class JwksServer:
    """An OIDC issuer's discovery document and key set, counting how often each is fetched."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {"a": _new_key()}
        self.fetches: Counter[str] = Counter()
        self.down = False
        self.url = ""

        async def discovery(_: Request) -> JSONResponse:
            self.fetches["discovery"] += 1
            return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/certs"})

        async def certs(_: Request) -> JSONResponse:
            self.fetches["certs"] += 1
            if self.down:
                return JSONResponse({"error": "down"}, status_code=500)
            return JSONResponse({"keys": [_jwk(key, kid) for kid, key in self.keys.items()]})

        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/certs", certs),
            ]
        )

    def token(self, kid: str, key: rsa.RSAPrivateKey | None = None) -> str:
        return _token(key or self.keys[kid], kid, iss=self.url, aud=AUDIENCE)


AUDIENCE = "https://worker.example/task"


@pytest.fixture
def issuer() -> Iterator[JwksServer]:
    server = JwksServer()
    with BackgroundServer(server.app) as background:
        server.url = background.url
        yield server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _verifier(
    tmp_path: Path, issuer: JwksServer, clock: FakeClock, jwks_url: str | None = None
) -> OidcVerifier:
    keys = JwksCache(
        issuer.url, jwks_url=jwks_url, cache_ttl=3600, min_refresh_interval=30, clock=clock
    )
    return oidc_verifier(_settings(tmp_path, issuer.url), keys=keys)


async def _status(verifier: OidcVerifier, token: str) -> int:
    try:
        await verifier.verify(token, AUDIENCE)
    except HTTPException as exc:
        return exc.status_code
    return 200


async def test_keys_are_fetched_once_and_cached(tmp_path: Path, issuer: JwksServer) -> None:
    verifier = _verifier(tmp_path, issuer, FakeClock())

    for _ in range(3):
        assert await _status(verifier, issuer.token("a")) == 200

    assert issuer.fetches == {"discovery": 1, "certs": 1}


async def test_an_unknown_kid_refreshes_the_keys_at_most_once_per_interval(
    tmp_path: Path, issuer: JwksServer
) -> None:
    clock = FakeClock()
    verifier = _verifier(tmp_path, issuer, clock)
    assert await _status(verifier, issuer.token("a")) == 200
    clock.now += 31

    issuer.keys["b"] = _new_key()  # the issuer rotates its keys
    assert await _status(verifier, issuer.token("b")) == 200
    assert issuer.fetches["certs"] == 2

    forged = issuer.token("forged", key=_new_key())
    assert await _status(verifier, forged) == 401  # within the interval: no fetch
    assert issuer.fetches["certs"] == 2
    clock.now += 31
    assert await _status(verifier, forged) == 401  # fetched again, still unknown
    assert issuer.fetches == {"discovery": 1, "certs": 3}
    assert await _status(verifier, issuer.token("a")) == 200  # known keys: no fetch
    assert issuer.fetches["certs"] == 3


async def test_concurrent_unknown_kids_cause_one_fetch(tmp_path: Path, issuer: JwksServer) -> None:
    clock = FakeClock()
    verifier = _verifier(tmp_path, issuer, clock)
    assert await _status(verifier, issuer.token("a")) == 200
    clock.now += 31
    issuer.keys["c"] = _new_key()

    statuses = await asyncio.gather(*(_status(verifier, issuer.token("c")) for _ in range(10)))

    assert statuses == [200] * 10
    assert issuer.fetches["certs"] == 2


async def test_stale_keys_are_fetched_again_and_dropped_keys_refused(
    tmp_path: Path, issuer: JwksServer
) -> None:
    clock = FakeClock()
    verifier = _verifier(tmp_path, issuer, clock)
    old = issuer.token("a")
    assert await _status(verifier, old) == 200

    issuer.keys = {"b": _new_key()}  # "a" revoked
    clock.now += 3601

    assert await _status(verifier, old) == 401
    assert await _status(verifier, issuer.token("b")) == 200
    assert issuer.fetches["certs"] == 2


async def test_jwks_url_skips_discovery(tmp_path: Path, issuer: JwksServer) -> None:
    verifier = _verifier(tmp_path, issuer, FakeClock(), jwks_url=f"{issuer.url}/certs")

    assert await _status(verifier, issuer.token("a")) == 200
    assert issuer.fetches == {"certs": 1}


async def test_an_unreachable_key_set_is_a_503_and_is_retried_after_the_interval(
    tmp_path: Path, issuer: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    verifier = _verifier(tmp_path, issuer, clock)
    issuer.down = True

    with caplog.at_level(logging.WARNING, logger="cloudtasks_kit.auth"):
        assert await _status(verifier, issuer.token("a")) == 503
        assert await _status(verifier, issuer.token("a")) == 503
    assert issuer.fetches["certs"] == 1
    assert "could not fetch the signing keys" in caplog.text

    issuer.down = False
    clock.now += 31
    assert await _status(verifier, issuer.token("a")) == 200
    assert issuer.fetches["certs"] == 2


async def test_a_token_seen_before_is_not_decoded_again(
    tmp_path: Path, issuer: JwksServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = _verifier(tmp_path, issuer, FakeClock())
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    token = issuer.token("a")
    assert [await _status(verifier, token) for _ in range(3)] == [200, 200, 200]
    assert len(decoded) == 1


@pytest.mark.parametrize("sent_path", ["/task", "/api/task"], ids=["prefix-stripped", "kept"])
async def test_behind_a_proxy_that_serves_the_app_under_a_prefix(
    setup: Setup, tmp_path: Path, sent_path: str
) -> None:
    # The public URL is https://public.example/api/task; the app runs with root_path=/api, and
    # the proxy strips the prefix or not. Either way the audience is the configured URL.
    settings = _settings(tmp_path, setup.emulator.http_url, "https://public.example/api")
    transport = httpx.ASGITransport(app=_app_with(oidc_verifier(settings)), root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7:8080") as client:
        for audience, status in [
            ("https://public.example/api/task", 200),
            ("http://10.0.0.7:8080/api/task", 403),
            ("http://10.0.0.7:8080/task", 403),
        ]:
            token = setup.craft(aud=audience)
            response = await client.post(sent_path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == status, (audience, response.text)
