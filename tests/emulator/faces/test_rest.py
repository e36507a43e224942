"""The REST face, spoken raw: Google's routes (those of the official clients' REST transports),
the proto3 JSON mapping, query parameters, and Google's error shape, over the same methods as
gRPC (each call counted under its RPC)."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import httpx
import pytest
from google.api_core import exceptions
from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
    CloudSchedulerRestTransport,
)
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksRestTransport

from cloudtasks_kit.emulator._errors import HTTP_STATUS
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import emulator_rpcs

PARENT = "projects/test-project/locations/us-central1"
# What the gRPC face serves; the REST face must serve exactly these, and refuse the rest.
EMULATED = {
    "CreateQueue",
    "GetQueue",
    "ListQueues",
    "UpdateQueue",
    "DeleteQueue",
    "PurgeQueue",
    "PauseQueue",
    "ResumeQueue",
    "CreateTask",
    "GetTask",
    "ListTasks",
    "DeleteTask",
    "RunTask",
    "BatchCreateTasks",
    "BatchDeleteTasks",
    "GetOperation",  # google.longrunning.Operations, at the path of Cloud Tasks' transport
    "CreateJob",
    "GetJob",
    "ListJobs",
    "UpdateJob",
    "DeleteJob",
    "PauseJob",
    "ResumeJob",
    "RunJob",
}
ENUMS_AS_NUMBERS = {"$alt": "json;enum-encoding=int"}


def _http_rules() -> list[tuple[str, str, str]]:
    """(RPC, verb, URI template) of every method of both official REST transports."""
    rules = []
    for transport in (CloudTasksRestTransport, CloudSchedulerRestTransport):
        for attribute in dir(transport):
            options = getattr(getattr(transport, attribute), "_get_http_options", None)
            if attribute.startswith("_Base") and options is not None:
                rpc = attribute.removeprefix("_Base")
                rules += [(rpc, option["method"].upper(), option["uri"]) for option in options()]
    return rules


def _concrete(uri: str) -> str:
    """A path the template matches: every ``*`` segment becomes ``x-1``."""
    return re.sub(r"\{[^}=]+(?:=([^}]+))?\}", lambda m: (m[1] or "*").replace("*", "x-1"), uri)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@pytest.fixture
def http(emulator: EmulatorProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.http_url, timeout=10) as client:
        yield client


@pytest.fixture
def queue(http: httpx.Client) -> str:
    name = f"{PARENT}/queues/rest-{uuid.uuid4().hex[:10]}"
    answer = http.post(f"/v2/{PARENT}/queues", json={"name": name})
    assert answer.status_code == 200, answer.text
    return name


@pytest.mark.parametrize(("rpc", "verb", "uri"), _http_rules())
def test_every_route_of_the_official_transports_is_served(
    emulator: EmulatorProcess, http: httpx.Client, rpc: str, verb: str, uri: str
) -> None:
    before = emulator_rpcs(emulator.http_url).get(rpc, 0)
    body: dict[str, Any] | None = {} if verb in ("POST", "PATCH") else None
    answer = http.request(verb, _concrete(uri), json=body)
    if rpc in EMULATED:
        # The call reached the method (counted), whatever it made of a resource named x-1.
        assert emulator_rpcs(emulator.http_url).get(rpc, 0) == before + 1, answer.text
    else:
        assert answer.status_code == 501, answer.text
        assert answer.json()["error"]["status"] == "UNIMPLEMENTED"


def test_json_mapping_of_requests_and_answers(http: httpx.Client, queue: str) -> None:
    due = datetime.now(UTC) + timedelta(hours=1)
    task = {
        "name": f"{queue}/tasks/mapped",
        "httpRequest": {
            "url": "http://127.0.0.1:9/x",
            "httpMethod": 4,  # PUT: enums are taken as numbers or names
            "headers": {"X-A": "b"},
            "body": base64.b64encode(b"hi").decode(),
        },
        "scheduleTime": due.strftime("%Y-%m-%dT%H:%M:%S.250Z"),
        "dispatchDeadline": "20.500s",
    }
    created = http.post(f"/v2/{queue}/tasks", json={"task": task, "responseView": "FULL"})
    assert created.status_code == 200, created.text
    answer = created.json()
    assert answer["httpRequest"] == {
        "url": "http://127.0.0.1:9/x",
        "httpMethod": "PUT",
        "headers": {"X-A": "b", "User-Agent": "Google-Cloud-Tasks"},
        "body": "aGk=",
    }
    assert answer["scheduleTime"] == due.strftime("%Y-%m-%dT%H:%M:%S.250Z")
    assert answer["dispatchDeadline"] == "20.500s"

    full = http.get(f"/v2/{task['name']}", params={"responseView": "FULL", "alt": "json"})
    assert full.json()["view"] == "FULL"
    numbers = http.get(f"/v2/{task['name']}", params={"responseView": 2, **ENUMS_AS_NUMBERS})
    assert (numbers.json()["view"], numbers.json()["httpRequest"]["httpMethod"]) == (2, 4)


def test_query_parameters_fill_the_request(http: httpx.Client, queue: str) -> None:
    for index in range(3):
        task = {"name": f"{queue}/tasks/t{index}", "httpRequest": {"url": "http://127.0.0.1:9"}}
        assert http.post(f"/v2/{queue}/tasks", json={"task": task}).status_code == 200
    first = http.get(f"/v2/{queue}/tasks", params={"pageSize": "2"}).json()
    rest = http.get(f"/v2/{queue}/tasks", params={"pageToken": first["nextPageToken"]}).json()
    assert [t["name"].rsplit("/", 1)[1] for t in first["tasks"] + rest["tasks"]] == [
        "t0",
        "t1",
        "t2",
    ]
    assert "nextPageToken" not in rest

    patch = {"name": queue, "rateLimits": {"maxDispatchesPerSecond": 7}, "state": "PAUSED"}
    updated = http.patch(
        f"/v2/{queue}",
        params={"updateMask": "rateLimits.maxDispatchesPerSecond"},
        json=patch,
    ).json()
    # Only the masked field changed: state is not in the mask.
    assert (updated["rateLimits"]["maxDispatchesPerSecond"], updated["state"]) == (7, "RUNNING")

    unknown = http.get(f"/v2/{queue}/tasks", params={"colour": "blue"})
    assert unknown.status_code == 400
    assert 'Unknown name "colour"' in unknown.json()["error"]["message"]


def test_the_url_names_the_resource(http: httpx.Client, queue: str) -> None:
    # The path's variable wins over a name in the body: the URL is what was asked for.
    other = f"{PARENT}/queues/elsewhere"
    answer = http.patch(f"/v2/{queue}", json={"name": other, "rateLimits": {}})
    assert answer.json()["name"] == queue


@pytest.mark.parametrize(
    ("verb", "path", "body", "status", "code"),
    [
        ("GET", f"/v2/{PARENT}/queues/missing", None, 404, "NOT_FOUND"),
        ("POST", f"/v2/{PARENT}/queues", {"name": "QUEUE"}, 400, "INVALID_ARGUMENT"),
        ("POST", f"/v2/{PARENT}/queues", {"colour": "blue"}, 400, "INVALID_ARGUMENT"),
        ("POST", f"/v2/{PARENT}/queues", "{not json", 400, "INVALID_ARGUMENT"),
        ("POST", f"/v2/{PARENT}/queues", "5", 400, "INVALID_ARGUMENT"),
        ("GET", f"/v2/{PARENT}/queues?pageSize=many", None, 400, "INVALID_ARGUMENT"),
        ("GET", f"/v2/{PARENT}/queues?parent.x=1", None, 400, "INVALID_ARGUMENT"),
        ("GET", f"/v2/{PARENT}/elsewhere", None, 404, "NOT_FOUND"),
        ("PUT", f"/v2/{PARENT}/queues/q", None, 404, "NOT_FOUND"),
        ("POST", f"/v1/{PARENT}/jobs/missing:pause", {}, 404, "NOT_FOUND"),
        ("GET", f"/v2/{PARENT}", None, 501, "UNIMPLEMENTED"),  # GetLocation
    ],
)
def test_errors_have_googles_shape(
    http: httpx.Client, verb: str, path: str, body: Any, status: int, code: str
) -> None:
    content = body if isinstance(body, str) else None
    answer = http.request(verb, path, json=None if content else body, content=content)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert (error["code"], error["status"], error["details"]) == (status, code, [])
    assert error["message"]


def test_a_taken_name_is_a_conflict(http: httpx.Client, queue: str) -> None:
    answer = http.post(f"/v2/{PARENT}/queues", json={"name": queue})
    assert answer.status_code == 409
    assert answer.json()["error"]["status"] == "ALREADY_EXISTS"


@pytest.mark.parametrize("code", [code for code in grpc.StatusCode if code != grpc.StatusCode.OK])
def test_http_status_of_each_code_is_the_one_google_clients_expect(code: grpc.StatusCode) -> None:
    # api_core gives UNKNOWN and DATA_LOSS no HTTP status; google/rpc/code.proto says 500.
    assert HTTP_STATUS[code] == (exceptions.from_grpc_status(code, "").code or 500)


@pytest.mark.parametrize("origin", ["https://elsewhere.example", "null"])
def test_another_sites_page_cannot_change_anything(
    emulator: EmulatorProcess, http: httpx.Client, queue: str, origin: str
) -> None:
    # A "simple" cross-site POST (text/plain: no CORS preflight) from a page in the browser.
    created = http.post(f"/v2/{queue}/tasks", json={"task": {"httpRequest": {"url": "http://w/"}}})
    assert created.status_code == 200, created.text
    before = emulator_rpcs(emulator.http_url).get("PurgeQueue", 0)

    refused = http.post(
        f"/v2/{queue}:purge",
        content="{}",
        headers={"Origin": origin, "Content-Type": "text/plain"},
    )

    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["status"], error["code"]) == ("PERMISSION_DENIED", 403)
    assert "another site" in error["message"]
    assert emulator_rpcs(emulator.http_url).get("PurgeQueue", 0) == before  # never reached
    assert len(http.get(f"/v2/{queue}/tasks").json()["tasks"]) == 1


def test_reads_and_the_emulators_own_origin_are_served(
    emulator: EmulatorProcess, http: httpx.Client, queue: str
) -> None:
    elsewhere = {"Origin": "https://elsewhere.example"}
    own = {"Origin": emulator.http_url}

    read = http.get(f"/v2/{queue}", headers=elsewhere)
    paused = http.post(f"/v2/{queue}:pause", json={}, headers=own)

    assert read.status_code == 200, read.text
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "PAUSED"
