"""Google's rules for ``HttpRequest.headers``: what the worker receives of a caller's headers.

"Some HTTP request headers will be ignored or replaced": Host and Content-Length are computed,
User-Agent is ``Google-Cloud-Tasks``, ``X-Google-*`` and ``X-AppEngine-*`` are for Google's use
only, the ``X-CloudTasks-*`` headers are the service's own, and with an OIDC or OAuth token the
token is *the* ``Authorization`` header. Names match case-insensitively and no header reaches
the worker twice.
"""

from __future__ import annotations

from typing import Any

from google.cloud import tasks_v2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.tasks.conftest import QueueFactory, http_task
from tests.emulator.tasks.test_oidc import _verify
from tests.support import RecordingWorker, Reply

HOSTILE = {
    "X-CloudTasks-TaskName": "forged-name",
    "x-cloudtasks-queuename": "forged-queue",
    "X-CLOUDTASKS-TASKEXECUTIONCOUNT": "99",
    "X-CloudTasks-TaskRetryCount": "7",
    "X-CloudTasks-TaskPreviousResponse": "200",
    "X-CloudTasks-TaskRetryReason": "forged",
    "X-CloudTasks-TaskETA": "0",
    "X-CloudTasks-Anything": "forged",
    "X-Google-Internal": "forged",
    "x-appengine-country": "forged",
    "Host": "forged.example",
    "content-length": "999",
    "user-agent": "curl/8",
    "X-Kept": "kept",
}


def test_headers_the_service_sets_or_reserves_never_come_from_the_caller(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue()
    task = client.create_task(parent=queue, task=http_task(url, headers=HOSTILE, body=b"{}"))

    [received] = recorder.wait_for(path, 1)
    task_id, queue_id = task.name.rsplit("/", 1)[1], queue.rsplit("/", 1)[1]
    for name, value in [
        ("X-CloudTasks-TaskName", task_id),
        ("X-CloudTasks-QueueName", queue_id),
        ("X-CloudTasks-TaskExecutionCount", "0"),
        ("X-CloudTasks-TaskRetryCount", "0"),
        ("User-Agent", "Google-Cloud-Tasks"),
        ("Content-Length", "2"),
        ("X-Kept", "kept"),
    ]:
        assert received.header_lines(name) == [value], name
    assert received.header_lines("Host") == [url.split("/")[2]]
    for name in (
        "X-CloudTasks-TaskPreviousResponse",  # none on a first attempt
        "X-CloudTasks-TaskRetryReason",
        "X-CloudTasks-Anything",
        "X-Google-Internal",
        "X-AppEngine-Country",
    ):
        assert received.header_lines(name) == [], name
    assert float(received.headers["x-cloudtasks-tasketa"]) > 0
    # The task as created shows what will be sent: the caller's reserved headers are gone.
    assert {name.lower() for name in task.http_request.headers} == {"x-kept", "user-agent"}


def test_on_a_retry_the_previous_response_is_the_real_one(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    recorder.script(path, Reply(503))
    headers = {"x-cloudtasks-taskpreviousresponse": "200", "X-CloudTasks-TaskRetryCount": "5"}
    client.create_task(parent=make_queue(), task=http_task(url, headers=headers))

    _, retry = recorder.wait_for(path, 2)
    assert retry.header_lines("X-CloudTasks-TaskPreviousResponse") == ["503"]
    assert retry.header_lines("X-CloudTasks-TaskRetryCount") == ["1"]


def test_with_an_oidc_token_the_authorization_header_is_the_tokens_alone(
    emulator: EmulatorProcess,
    client: Any,
    make_queue: QueueFactory,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    # A caller's own Authorization used to be sent too, first: the kit's verifier then read it
    # and refused the real token.
    oidc = tasks_v2.OidcToken(service_account_email="tasks@p.iam.gserviceaccount.com")
    headers = {"authorization": "Bearer caller-token"}
    client.create_task(parent=make_queue(), task=http_task(url, oidc=oidc, headers=headers))

    [received] = recorder.wait_for(path, 1)
    [authorization] = received.header_lines("Authorization")
    assert authorization != "Bearer caller-token"
    _verify(emulator, authorization.removeprefix("Bearer "), url)


def test_without_a_token_the_callers_authorization_is_sent(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    client.create_task(
        parent=make_queue(), task=http_task(url, headers={"Authorization": "Bearer mine"})
    )

    [received] = recorder.wait_for(path, 1)
    assert received.header_lines("Authorization") == ["Bearer mine"]


def test_header_names_keep_their_case_and_values_travel_as_utf8(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    headers = {"X-Request-Id": "r-1", "X-Note": "Gewürz ☕", "X-Tab": "a\tb"}
    task = client.create_task(parent=make_queue(paused=True), task=http_task(url, headers=headers))
    assert set(task.http_request.headers) == {*headers, "User-Agent"}
    client.resume_queue(name=task.name.rsplit("/tasks/", 1)[0])

    [received] = recorder.wait_for(path, 1)
    assert received.header_lines("X-Note") == ["Gewürz ☕"]
    assert received.header_lines("X-Tab") == ["a\tb"]


def test_headers_http_gives_to_the_sender_never_make_a_task_undeliverable(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    # Spaces around a value are not part of it in HTTP, and the body's framing and the
    # connection are the sender's: a task carrying them used to fail every attempt.
    headers = {
        "X-Padded": "  padded\t",
        "Transfer-Encoding": "gzip",
        "Connection": "upgrade",
        "Upgrade": "websocket",
        "X-Kept": "kept",
    }
    client.create_task(parent=make_queue(), task=http_task(url, headers=headers, body=b"{}"))

    [received] = recorder.wait_for(path, 1)
    assert received.header_lines("X-Padded") == ["padded"]
    assert received.header_lines("Transfer-Encoding") == []
    assert received.header_lines("Upgrade") == []
    assert received.header_lines("X-Kept") == ["kept"]
    assert received.body == b"{}"
