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
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.clients import api_error, invalid_argument, refused
from tests.emulator.tasks.conftest import PARENT, QueueFactory, http_task

URL = "http://127.0.0.1:9/never"
TaskPb = tasks_v2.Task.pb()
HttpRequestPb = tasks_v2.HttpRequest.pb()


def raw_task(url: str = URL, headers: dict[str, str] | None = None, **fields: Any) -> Any:
    """A Task message built below proto-plus, which refuses some of what a caller can send."""
    return TaskPb(http_request=HttpRequestPb(url=url, headers=headers or {}), **fields)


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
    # Hardening: each of these was answered INTERNAL, or stored and never delivered.
    (
        "schedule_time past the year 9999",
        lambda q: raw_task(schedule_time=timestamp_pb2.Timestamp(seconds=253402300800 + 10)),
        "task.schedule_time",
    ),
    (
        "schedule_time before the year 1",
        lambda q: raw_task(schedule_time=timestamp_pb2.Timestamp(seconds=-(10**15))),
        "task.schedule_time",
    ),
    (
        "schedule_time with negative nanos",
        lambda q: raw_task(schedule_time=timestamp_pb2.Timestamp(seconds=10, nanos=-5)),
        "task.schedule_time",
    ),
    (
        "dispatch_deadline beyond a Duration",
        lambda q: raw_task(dispatch_deadline=duration_pb2.Duration(seconds=10**15)),
        "task.dispatch_deadline",
    ),
    ("unparsable IPv6 host", lambda q: raw_task("http://[::1/x"), "task.http_request.url"),
    ("port above 65535", lambda q: raw_task("http://127.0.0.1:70000/x"), "port"),
    ("port 0", lambda q: raw_task("http://127.0.0.1:0/x"), "port"),
    ("port not a number", lambda q: raw_task("http://127.0.0.1:http/x"), "task.http_request.url"),
    ("CR/LF in the URL", lambda q: raw_task(f"{URL}\r\nX-Injected: 1"), "task.http_request.url"),
    ("NUL in the URL", lambda q: raw_task(f"{URL}\x00"), "task.http_request.url"),
    ("space in the URL", lambda q: raw_task("http://127.0.0.1:9/a b"), "task.http_request.url"),
    ("NUL in a header value", lambda q: raw_task(headers={"X-A": "a\x00b"}), "NUL"),
    ("LF in a header value", lambda q: raw_task(headers={"X-A": "a\nb"}), "LF"),
    ("control char in a header value", lambda q: raw_task(headers={"X-A": "\x1b[0m"}), "U+001B"),
    ("control char in a header name", lambda q: raw_task(headers={"X\x01A": "a"}), "header name"),
    ("space in a header name", lambda q: raw_task(headers={"X A": "a"}), "header name"),
    ("empty header name", lambda q: raw_task(headers={"": "a"}), "header name"),
    (
        "one header in two cases",
        lambda q: raw_task(headers={"X-Tenant": "a", "x-tenant": "b"}),
        "case-insensitive",
    ),
    ("90 KB of headers", lambda q: raw_task(headers={"X-Big": "a" * 90 * 1024}), "80 KB"),
    (
        "80 KB of headers in many",
        lambda q: raw_task(headers={f"X-H{i}": "v" * 1000 for i in range(82)}),
        "80 KB",
    ),
    (
        "an HttpMethod that does not exist",
        lambda q: TaskPb(http_request=HttpRequestPb(url=URL, http_method=42)),
        "http_method",
    ),
]


@pytest.mark.parametrize(
    ("build", "field"),
    [pytest.param(build, field, id=case) for case, build, field in INVALID_TASKS],
)
def test_invalid_task_is_rejected_and_nothing_is_stored(
    client: Any,
    transport: str,
    make_queue: QueueFactory,
    build: Callable[[str], Any],
    field: str,
) -> None:
    queue = make_queue(paused=True)
    with invalid_argument(transport) as refusal:
        client.create_task(parent=queue, task=build(queue))
    assert refusal.names(field), refusal.message
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
        # Hardening: page tokens the emulator never issued (this one is the base64 of a name,
        # what the emulator's own tokens used to be), values that broke the queue or answered
        # INTERNAL.
        pytest.param(
            lambda c: list(c.list_queues(request={"parent": PARENT, "page_token": "YQ=="})),
            "page_token",
            id="forged page token",
        ),
        pytest.param(
            lambda c: c.update_queue(
                queue=tasks_v2.Queue.pb()(
                    name=f"{PARENT}/queues/nan-{uuid.uuid4().hex[:6]}",
                    rate_limits=tasks_v2.RateLimits.pb()(max_dispatches_per_second=float("nan")),
                )
            ),
            "max_dispatches_per_second",
            id="NaN rate",
        ),
        pytest.param(
            lambda c: c.update_queue(
                queue=tasks_v2.Queue.pb()(
                    name=f"{PARENT}/queues/inf-{uuid.uuid4().hex[:6]}",
                    rate_limits=tasks_v2.RateLimits.pb()(max_dispatches_per_second=float("inf")),
                )
            ),
            "max_dispatches_per_second",
            id="infinite rate",
        ),
        pytest.param(
            lambda c: c.update_queue(
                queue=tasks_v2.Queue.pb()(
                    name=f"{PARENT}/queues/bo-{uuid.uuid4().hex[:6]}",
                    retry_config=tasks_v2.RetryConfig.pb()(
                        max_backoff=duration_pb2.Duration(seconds=10**15)
                    ),
                )
            ),
            "queue.retry_config.max_backoff",
            id="max_backoff beyond a Duration",
        ),
        pytest.param(
            lambda c: c.update_queue(
                request={
                    "queue": {"name": f"{PARENT}/queues/m-{uuid.uuid4().hex[:6]}"},
                    "update_mask": {"paths": ["rate_limits.no_such_field"]},
                }
            ),
            "update_mask",
            id="mask naming no field",
        ),
        pytest.param(
            lambda c: c.update_queue(
                queue=tasks_v2.Queue.pb()(
                    name=f"{PARENT}/queues/s-{uuid.uuid4().hex[:6]}",
                    stackdriver_logging_config={"sampling_ratio": float("nan")},
                )
            ),
            "sampling_ratio",
            id="NaN sampling ratio",
        ),
    ],
)
def test_invalid_argument(
    client: Any, transport: str, call: Callable[[Any], Any], field: str
) -> None:
    with invalid_argument(transport) as refusal:
        call(client)
    assert refusal.names(field), refusal.message


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


def test_page_tokens_are_only_those_issued_for_the_same_list(
    client: Any, make_queue: QueueFactory
) -> None:
    queue, other = make_queue(paused=True), make_queue(paused=True)
    for index in range(3):
        client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/t{index}"))
    first = client.list_tasks(request={"parent": queue, "page_size": 2})
    token = first.next_page_token
    assert token

    second = client.list_tasks(request={"parent": queue, "page_size": 2, "page_token": token})
    assert [t.name for t in second.tasks] == [f"{queue}/tasks/t2"]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for parent, page_token in [(other, token), (queue, forged), (queue, token.split(".")[0])]:
        with api_error(exceptions.InvalidArgument, match="page_token"):
            client.list_tasks(request={"parent": parent, "page_token": page_token})


def test_a_page_token_of_another_emulator_is_refused(client: Any, make_queue: QueueFactory) -> None:
    queue = make_queue(paused=True)
    for index in range(2):
        client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/t{index}"))
    with EmulatorProcess() as other:
        elsewhere = other.tasks_client()
        elsewhere.create_queue(parent=PARENT, queue={"name": queue})
        for index in range(2):
            task = http_task(URL, name=f"{queue}/tasks/t{index}")
            elsewhere.create_task(parent=queue, task=task)
        token = elsewhere.list_tasks(request={"parent": queue, "page_size": 1}).next_page_token
    with api_error(exceptions.InvalidArgument, match="not a token this server issued"):
        client.list_tasks(request={"parent": queue, "page_token": token})


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
