"""Every malformed or impossible request gets Google's status code and a message naming the
field, and leaves nothing behind."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import field_mask_pb2

from tests.emulator.clients import api_error, refused
from tests.emulator.tasks.conftest import PARENT, QueueFactory, http_task

URL = "http://127.0.0.1:9/never"


INVALID_TASKS: list[tuple[str, Callable[[str], Any], str]] = [
    ("malformed task id", lambda q: http_task(URL, name=f"{q}/tasks/bad id!"), "task.name"),
    (
        "task name in another queue",
        lambda q: http_task(URL, name=f"{PARENT}/queues/elsewhere/tasks/t1"),
        "task.name",
    ),
    ("relative url", lambda q: http_task("/relative/path"), "task.http_request.url"),
    ("ftp url", lambda q: http_task("ftp://example.com/file"), "task.http_request.url"),
    ("schedule too far ahead", lambda q: http_task(URL, schedule_in=31 * 86400), "schedule_time"),
    ("deadline below floor", lambda q: http_task(URL, deadline=0.1), "dispatch_deadline"),
    ("deadline above 30 min", lambda q: http_task(URL, deadline=1801), "dispatch_deadline"),
    ("over 1 MB", lambda q: http_task(URL, body=b"x" * (1024 * 1024 + 1)), "size limit"),
    (
        "body on GET",
        lambda q: http_task(URL, body=b"{}", method="GET"),
        "task.http_request.body",
    ),
    (
        "oauth token to a non-Google host",
        lambda q: tasks_v2.Task(
            http_request=tasks_v2.HttpRequest(
                url=URL, oauth_token=tasks_v2.OAuthToken(service_account_email="a@b.c")
            )
        ),
        "oauth_token",
    ),
    (
        "oidc token without account",
        lambda q: http_task(URL, oidc=tasks_v2.OidcToken(audience="x")),
        "service_account_email",
    ),
    (
        "App Engine task",
        lambda q: tasks_v2.Task(
            app_engine_http_request=tasks_v2.AppEngineHttpRequest(relative_uri="/x")
        ),
        "task.http_request",
    ),
    (
        "header with line break",
        lambda q: http_task(URL, headers={"X-Evil": "a\r\nInjected: 1"}),
        "headers",
    ),
]


@pytest.mark.parametrize(
    ("build", "field"),
    [pytest.param(build, field, id=case) for case, build, field in INVALID_TASKS],
)
def test_invalid_task_is_rejected_and_nothing_is_stored(
    client: Any, make_queue: QueueFactory, build: Callable[[str], Any], field: str
) -> None:
    queue = make_queue(paused=True)
    with api_error(exceptions.InvalidArgument) as error:
        client.create_task(parent=queue, task=build(queue))
    assert field in str(error.value.message)
    assert list(client.list_tasks(parent=queue)) == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(
            lambda c: c.create_queue(parent=PARENT, queue={"name": "queues/q"}),
            "queue.name",
            id="create queue with malformed name",
        ),
        pytest.param(
            lambda c: c.create_queue(
                parent="projects/other-project/locations/us-central1",
                queue={"name": f"{PARENT}/queues/q"},
            ),
            "queue.name",
            id="create queue outside its parent",
        ),
        pytest.param(
            lambda c: c.create_queue(
                parent=PARENT,
                queue=tasks_v2.Queue(
                    name=f"{PARENT}/queues/fast-{uuid.uuid4().hex[:6]}",
                    rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=501),
                ),
            ),
            "max_dispatches_per_second",
            id="rate over 500",
        ),
        pytest.param(
            lambda c: c.create_queue(
                parent=PARENT,
                queue=tasks_v2.Queue(
                    name=f"{PARENT}/queues/b-{uuid.uuid4().hex[:6]}",
                    retry_config=tasks_v2.RetryConfig(
                        min_backoff=timedelta(seconds=10), max_backoff=timedelta(seconds=1)
                    ),
                ),
            ),
            "min_backoff",
            id="min backoff over max",
        ),
        pytest.param(
            lambda c: c.list_queues(request={"parent": PARENT, "filter": "name: x"}),
            "filter",
            id="unsupported filter",
        ),
        pytest.param(
            lambda c: list(c.list_queues(request={"parent": PARENT, "page_token": "@@"})),
            "page_token",
            id="bad page token",
        ),
    ],
)
def test_invalid_argument(client: Any, call: Callable[[Any], Any], field: str) -> None:
    with api_error(exceptions.InvalidArgument) as error:
        call(client)
    assert field in str(error.value.message)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(
            lambda c: c.create_queue(parent="projects/p", queue={"name": f"{PARENT}/queues/q"}),
            "parent",
            id="create queue with malformed parent",
        ),
        pytest.param(
            lambda c: c.create_task(parent="projects/p/queues/q", task=http_task(URL)),
            "parent",
            id="create task with malformed parent",
        ),
        pytest.param(lambda c: c.get_task(name=f"{PARENT}/queues/q"), "name", id="get task name"),
    ],
)
def test_malformed_name_in_the_url(
    client: Any, transport: str, call: Callable[[Any], Any], field: str
) -> None:
    with refused(transport, exceptions.InvalidArgument, field, fits_the_url=False):
        call(client)


def test_update_mask_with_output_only_field(client: Any, make_queue: QueueFactory) -> None:
    name = make_queue()
    with api_error(exceptions.InvalidArgument, match="update_mask"):
        client.update_queue(
            queue={"name": name}, update_mask=field_mask_pb2.FieldMask(paths=["state"])
        )


MISSING_QUEUE = f"{PARENT}/queues/does-not-exist"
MISSING_TASK = f"{MISSING_QUEUE}/tasks/nope"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get_queue(name=MISSING_QUEUE), id="get queue"),
        pytest.param(lambda c: c.pause_queue(name=MISSING_QUEUE), id="pause queue"),
        pytest.param(lambda c: c.resume_queue(name=MISSING_QUEUE), id="resume queue"),
        pytest.param(lambda c: c.purge_queue(name=MISSING_QUEUE), id="purge queue"),
        pytest.param(lambda c: c.delete_queue(name=MISSING_QUEUE), id="delete queue"),
        pytest.param(lambda c: list(c.list_tasks(parent=MISSING_QUEUE)), id="list tasks"),
        pytest.param(
            lambda c: c.create_task(parent=MISSING_QUEUE, task=http_task(URL)), id="create task"
        ),
        pytest.param(lambda c: c.get_task(name=MISSING_TASK), id="get task"),
        pytest.param(lambda c: c.delete_task(name=MISSING_TASK), id="delete task"),
        pytest.param(lambda c: c.run_task(name=MISSING_TASK), id="run task"),
    ],
)
def test_not_found(client: Any, call: Callable[[Any], Any]) -> None:
    with api_error(exceptions.NotFound, match="does not exist"):
        call(client)


def test_existing_queue(client: Any, make_queue: QueueFactory) -> None:
    name = make_queue()
    with api_error(exceptions.AlreadyExists, match="already exists"):
        client.create_queue(parent=PARENT, queue={"name": name})


def test_methods_not_emulated_are_unimplemented(client: Any) -> None:
    with api_error(exceptions.MethodNotImplemented):
        client.get_iam_policy(request={"resource": MISSING_QUEUE})
