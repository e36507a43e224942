"""OIDC tokens the emulator signs verify against the JWKS it serves, as Google's do."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from google.cloud import tasks_v2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.tasks.conftest import QueueFactory, http_task
from tests.support import RecordingWorker


def _verify(emulator: EmulatorProcess, token: str, audience: str) -> dict[str, Any]:
    discovery = httpx.get(f"{emulator.http_url}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == emulator.http_url
    keys = jwt.PyJWKClient(discovery["jwks_uri"])
    key = keys.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=audience, issuer=discovery["issuer"]
    )
    return claims


@pytest.mark.parametrize("audience", ["https://my-worker.example", None])
def test_oidc_token_verifies_against_served_jwks(
    emulator: EmulatorProcess,
    client: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
    audience: str | None,
) -> None:
    account = "tasks@test-project.iam.gserviceaccount.com"
    oidc = tasks_v2.OidcToken(service_account_email=account, audience=audience or "")
    client.create_task(parent=make_queue(), task=http_task(url, oidc=oidc))
    [received] = recorder.wait_for(path, 1)
    scheme, token = received.headers["authorization"].split(" ", 1)
    assert scheme == "Bearer"
    claims = _verify(emulator, token, audience or url)
    assert claims["email"] == account
    assert claims["email_verified"] is True
    assert claims["iat"] <= time.time() + 1 < claims["exp"]


def test_token_with_wrong_audience_fails_verification(
    emulator: EmulatorProcess,
    client: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    oidc = tasks_v2.OidcToken(service_account_email="a@b.iam.gserviceaccount.com")
    client.create_task(parent=make_queue(), task=http_task(url, oidc=oidc))
    [received] = recorder.wait_for(path, 1)
    token = received.headers["authorization"].removeprefix("Bearer ")
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(emulator, token, "https://someone-else.example")
