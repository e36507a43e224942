"""Property-based: whatever a caller sends, the emulator answers with a status Google uses for
bad input (never INTERNAL), never crashes, never logs a traceback, and still delivers a valid
task created after it.

Inputs go through the official clients over gRPC, built as protobuf messages so that anything
the wire can carry is possible: hostile strings (control characters, CR/LF, NUL, right-to-left
marks, emoji, path tricks), numbers at and past every limit, NaN and infinities, timestamps and
durations outside their ranges, unknown enum values.

``make test`` runs the ``ci`` profile (few examples, derandomized); ``make fuzz`` the ``fuzz``
profile (many, random). Profiles are registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1, tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2
from hypothesis import event, given
from hypothesis import strategies as st

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.scheduler.conftest import scheduler_client
from tests.support import RecordingWorker

PARENT = "projects/fuzz-project/locations/us-central1"
CANARY = f"{PARENT}/queues/canary"
PAUSED = f"{PARENT}/queues/paused"  # anything accepted here is stored, never sent
LIVE = f"{PARENT}/queues/live"  # loopback targets only: sent, retried once, dropped
QUEUES = [PAUSED, LIVE, *(f"{PARENT}/queues/fuzz-{n}" for n in range(3))]
# UpdateQueue's targets: not the live queue, whose tasks must stay deliverable at once.
UPDATED = [PAUSED, *QUEUES[2:]]
# Stands for the first path segment of a live task's URL: replaced by a new id per example, so
# that the recorder tells which example a request belongs to.
MARKER = "fuzz-marker"
# Fixed when the module loads: a strategy must draw the same way each time it replays an example.
_NOW = int(time.time())
# Status codes that would mean the emulator failed rather than the input: a bug (INTERNAL,
# UNKNOWN) or a process gone (UNAVAILABLE, DEADLINE_EXCEEDED).
FAILURES = (
    exceptions.InternalServerError,
    exceptions.Unknown,
    exceptions.ServiceUnavailable,
    exceptions.DeadlineExceeded,
)

# --- strategies ----------------------------------------------------------------------------------

INT32 = st.integers(-(2**31), 2**31 - 1)
INT64 = st.integers(-(2**63), 2**63 - 1)
# Around every limit the emulator knows, and past them.
EDGE_INT = st.one_of(
    INT32,
    st.sampled_from(
        [0, 1, -1, 5, 6, 15, 100, 101, 500, 501, 1000, 1001, 5000, 5001, 2**31 - 1, -(2**31)]
    ),
)
DOUBLE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 500.0, 500.0000001, 1e308, float("nan")]),
)
SPECIAL = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\r\n",
        "\n",
        "\t",
        "\x7f",
        "\u202e",  # right-to-left override
        "\ufeff",
        "\u0085",
        "\u2028",
        "😀",
        "é",
        "../..",
        "%00",
        "%0d%0a",
        "/",
        "//",
        ":",
        "@",
        "[",
        "]",
        "?",
        "#",
        "*",
        "projects/p/locations/l/queues/q",
        "http://127.0.0.1:9/x",
        "a" * 2000,
    ]
)
# Any code point a protobuf string can hold (no lone surrogates).
TEXT = st.one_of(
    SPECIAL,
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.lists(SPECIAL, max_size=4).map("".join),
)
ASCII = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=30)


def _timestamp() -> st.SearchStrategy[Any]:
    return st.builds(
        timestamp_pb2.Timestamp,
        seconds=st.one_of(
            INT64, st.sampled_from([253402300799, 253402300800, -62135596800, -62135596801, 0])
        ),
        nanos=st.one_of(INT32, st.sampled_from([0, 999_999_999, 1_000_000_000, -1])),
    )


def _duration() -> st.SearchStrategy[Any]:
    return st.builds(
        duration_pb2.Duration,
        seconds=st.one_of(
            INT64, st.sampled_from([0, 14, 15, 1800, 1801, 315576000000, 315576000001, -1])
        ),
        nanos=st.one_of(INT32, st.sampled_from([0, 999_999_999, -999_999_999, 1_000_000_000])),
    )


def _url(host: st.SearchStrategy[str], *, ports: bool = True) -> st.SearchStrategy[str]:
    port = st.one_of(
        st.just(""),
        st.integers(-10, 70000).map(lambda p: f":{p}"),
        TEXT.map(lambda p: f":{p}"),
    )
    if not ports:  # the host names its port
        port = st.just("")
    scheme = st.sampled_from(["http://", "https://", "ftp://", "", "HTTP://", "http:/"])
    return st.builds(
        lambda s, h, p, path, query: f"{s}{h}{p}/{path}{query}",
        scheme,
        host,
        port,
        TEXT,
        st.one_of(st.just(""), TEXT.map(lambda q: f"?{q}")),
    )


HOSTILE_URL = st.one_of(
    TEXT, _url(st.one_of(TEXT, st.sampled_from(["127.0.0.1", "[::1]", "[::1", "[", "a b"])))
)
HEADERS = st.one_of(
    st.dictionaries(TEXT, TEXT, max_size=6),
    st.dictionaries(ASCII, ASCII, max_size=6),
    st.integers(0, 3).map(lambda n: {f"X-Big-{i}": "v" * 30_000 for i in range(n)}),
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _or(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value, one time in four a hostile one: a request with a single bad
    field gets past the checks of the others, so every check (and what is behind it) runs."""
    return st.integers(0, 3).flatmap(lambda n: hostile if n == 0 else valid)


# Valid, but odd: what a careful caller may still send.
PRINTABLE = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30)
# An RFC 9110 header name, among them the ones HTTP itself gives a meaning.
TOKEN = st.one_of(
    st.text(st.sampled_from("abcXYZ019!#$%&'*+-.^_`|~"), min_size=1, max_size=20),
    st.sampled_from(
        [
            "Content-Type",
            "Transfer-Encoding",
            "Connection",
            "Keep-Alive",
            "Expect",
            "Upgrade",
            "TE",
            "Trailer",
            "Content-Encoding",
            "Cookie",
            "Authorization",
            "Range",
            "Host",
            "Content-Length",
        ]
    ),
)
VALID_HEADERS = st.dictionaries(TOKEN, PRINTABLE, max_size=5).filter(
    lambda h: len({k.lower() for k in h}) == len(h)
)
ID = st.text(st.sampled_from("abcXYZ019_-"), min_size=1, max_size=40)
PATH = st.lists(PRINTABLE.map(lambda t: quote(t, safe="")), max_size=3).map("/".join)
QUERY = st.one_of(
    st.just(""), st.dictionaries(PRINTABLE, PRINTABLE, max_size=3).map(lambda q: "?" + urlencode(q))
)
VALID_DURATION = st.floats(0, 3600).map(
    lambda seconds: duration_pb2.Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9))
)
CRON = st.sampled_from(
    ["* * * * *", "0 0 1 1 *", "*/5 * * * *", "0 9-17 * * 1-5", "30 2 * * *", "0 0 29 2 *"]
)
ZONES = st.sampled_from(["", "UTC", "utc", "Europe/Paris", "Asia/Kolkata", "America/New_York"])
EMAIL = st.just("tasks@fuzz-project.iam.gserviceaccount.com")


@st.composite
def task_requests(draw: st.DrawFn, live_port: int) -> Any:
    """A CreateTaskRequest: to the live queue with a loopback target (the recorder, or a closed
    port), so that whatever is accepted is sent; a hostile URL only into the paused queue."""
    hostile_target = draw(st.integers(0, 3)) == 0
    queue = draw(
        _or(st.just(PAUSED if hostile_target else LIVE), st.sampled_from(["", "x", *QUEUES]))
    )
    if hostile_target:
        url = draw(HOSTILE_URL)
    else:
        port = draw(st.sampled_from([live_port, 9]))
        host = draw(st.sampled_from([f"127.0.0.1:{port}", f"localhost:{port}"]))
        url = f"http://{host}/{MARKER}/{draw(PATH)}{draw(QUERY)}"
    method = draw(_or(st.sampled_from([1, 2, 3, 4, 5, 6, 7]), st.integers(-3, 12)))
    http = tasks_v2.HttpRequest.pb()(
        url=url,
        http_method=method,
        headers=draw(_or(VALID_HEADERS, HEADERS)),
        body=draw(
            _or(st.binary(max_size=200) if method in (1, 4, 6) else st.just(b""), st.binary())
        ),
    )
    token = draw(st.sampled_from([None, "oidc", "oauth"]))
    if token == "oidc":
        http.oidc_token.service_account_email = draw(_or(EMAIL, TEXT))
        http.oidc_token.audience = draw(_or(PRINTABLE, TEXT))
    elif token == "oauth":
        http.oauth_token.service_account_email = draw(_or(EMAIL, TEXT))
        http.oauth_token.scope = draw(TEXT)
    task = tasks_v2.Task.pb()(http_request=http)
    name = draw(_maybe(_or(ID.map(lambda t: f"{queue}/tasks/{t}"), TEXT)))
    if name is not None:
        task.name = name
    stamp = draw(_maybe(_or(st.integers(0, _NOW + 86400).map(_stamp), _timestamp())))
    if stamp is not None:
        task.schedule_time.CopyFrom(stamp)
    if (deadline := draw(_maybe(_or(VALID_DURATION, _duration())))) is not None:
        task.dispatch_deadline.CopyFrom(deadline)
    task.dispatch_count = draw(EDGE_INT)  # output only: must be ignored
    return tasks_v2.CreateTaskRequest.pb()(parent=queue, task=task)


def _stamp(seconds: int) -> Any:
    return timestamp_pb2.Timestamp(seconds=seconds)


@st.composite
def queue_updates(draw: st.DrawFn) -> Any:
    queue = tasks_v2.Queue.pb()(name=draw(_or(st.sampled_from(UPDATED), TEXT)))
    if draw(st.booleans()):
        rate = queue.rate_limits
        rate.max_dispatches_per_second = draw(_or(st.floats(0.001, 500), DOUBLE))
        rate.max_burst_size = draw(_or(st.integers(0, 1000), EDGE_INT))
        rate.max_concurrent_dispatches = draw(_or(st.integers(0, 5000), EDGE_INT))
    if draw(st.booleans()):
        retry = queue.retry_config
        retry.max_attempts = draw(_or(st.integers(-1, 100), EDGE_INT))
        retry.max_doublings = draw(_or(st.integers(0, 20), EDGE_INT))
        for field in ("min_backoff", "max_backoff", "max_retry_duration"):
            if (duration := draw(_maybe(_or(VALID_DURATION, _duration())))) is not None:
                getattr(retry, field).CopyFrom(duration)
    if draw(st.booleans()):
        queue.stackdriver_logging_config.sampling_ratio = draw(_or(st.floats(0, 1), DOUBLE))
    queue.state = draw(st.integers(-2, 5))  # output only
    if (stamp := draw(_maybe(_timestamp()))) is not None:
        queue.purge_time.CopyFrom(stamp)  # output only
    paths = draw(
        st.lists(
            _or(
                st.sampled_from(
                    [
                        "rate_limits",
                        "rate_limits.max_dispatches_per_second",
                        "rate_limits.max_concurrent_dispatches",
                        "retry_config",
                        "retry_config.max_attempts",
                        "retry_config.min_backoff",
                        "stackdriver_logging_config",
                    ]
                ),
                st.one_of(st.sampled_from(["state", "name", "rate_limits.nope", ""]), TEXT),
            ),
            max_size=3,
        )
    )
    return tasks_v2.UpdateQueueRequest.pb()(queue=queue, update_mask={"paths": paths})


@st.composite
def list_requests(draw: st.DrawFn) -> Any:
    return tasks_v2.ListTasksRequest.pb()(
        parent=draw(_or(st.sampled_from([*QUEUES, CANARY]), TEXT)),
        page_size=draw(_or(st.integers(0, 2000), EDGE_INT)),
        page_token=draw(
            _or(st.just(""), st.one_of(TEXT, st.sampled_from(["YQ==", "a.b", "AAAA.AAAA", "."])))
        ),
        response_view=draw(_or(st.integers(0, 2), st.integers(-2, 5))),
    )


CRON_PART = st.one_of(
    st.sampled_from(["*", "*/0", "*/1", "0", "59", "60", "0-99999", "L", "W", "#", "?", "1,2"]),
    st.integers(-5, 10**6).map(str),
    TEXT,
)


@st.composite
def job_requests(draw: st.DrawFn) -> Any:
    loopback = st.sampled_from(["127.0.0.1:9", "[::1]:9", "localhost:9"]).map(
        lambda host: f"http://{host}/"
    )
    method = draw(_or(st.sampled_from([1, 2, 3, 4, 5, 6, 7]), st.integers(-3, 12)))
    target = scheduler_v1.HttpTarget.pb()(
        uri=draw(_or(st.builds(str.__add__, loopback, PATH), HOSTILE_URL)),
        http_method=method,
        headers=draw(_or(VALID_HEADERS, HEADERS)),
        body=draw(
            _or(st.binary(max_size=200) if method in (1, 4, 6) else st.just(b""), st.binary())
        ),
    )
    if draw(st.booleans()):
        target.oidc_token.service_account_email = draw(_or(EMAIL, TEXT))
    job = scheduler_v1.Job.pb()(
        http_target=target,
        description=draw(_or(PRINTABLE, TEXT)),
        schedule=draw(
            _or(CRON, st.one_of(TEXT, st.lists(CRON_PART, min_size=4, max_size=6).map(" ".join)))
        ),
        time_zone=draw(
            _or(ZONES, st.one_of(TEXT, st.sampled_from(["Etc/GMT+14", "Mars", "UTC+1"])))
        ),
    )
    name = draw(_maybe(_or(ID.map(lambda t: f"{PARENT}/jobs/{t}"), TEXT)))
    if name is not None:
        job.name = name
    if draw(st.booleans()):
        retry = job.retry_config
        retry.retry_count = draw(_or(st.integers(0, 5), EDGE_INT))
        retry.max_doublings = draw(_or(st.integers(0, 20), EDGE_INT))
        for field in ("min_backoff_duration", "max_backoff_duration", "max_retry_duration"):
            if (duration := draw(_maybe(_or(VALID_DURATION, _duration())))) is not None:
                getattr(retry, field).CopyFrom(duration)
    if (deadline := draw(_maybe(_or(VALID_DURATION, _duration())))) is not None:
        job.attempt_deadline.CopyFrom(deadline)
    parent = draw(_or(st.just(PARENT), TEXT))
    return scheduler_v1.CreateJobRequest.pb()(parent=parent, job=job)


# --- the emulator under test and the property ----------------------------------------------------


class Target:
    """One emulator for the whole module, and the check run after every example."""

    def __init__(self, emulator: EmulatorProcess, recorder: RecordingWorker, base: str) -> None:
        self.emulator = emulator
        self.recorder = recorder
        self.base = base
        self.tasks = emulator.tasks_client()
        self.jobs = scheduler_client(emulator)
        self.live_port = int(base.rsplit(":", 1)[1])

    def call(self, method: Callable[..., Any], request: Any) -> Any:
        """The answer, or None for an error Google gives for bad input; fails on a failure."""
        try:
            answer = method(request=request, retry=None, timeout=20)
        except FAILURES as exc:
            pytest.fail(f"{type(exc).__name__}: {exc.message}\n{self.log_tail()}")
        except exceptions.GoogleAPICallError as exc:
            event(f"refused: {type(exc).__name__}")  # --hypothesis-show-statistics
            return None
        event("accepted")
        return answer

    def still_healthy(self) -> None:
        """The process is up, logged no traceback, and delivers a valid task at once."""
        assert self.emulator.returncode is None, self.log_tail()
        path = f"/canary/{uuid.uuid4().hex}"
        task = tasks_v2.Task(http_request=tasks_v2.HttpRequest(url=self.base + path))
        self.tasks.create_task(parent=CANARY, task=task, retry=None, timeout=20)
        self.recorder.wait_for(path, 1, timeout=20)
        logged = "".join(self.emulator.log_lines)
        assert "Traceback" not in logged, self.log_tail()

    def log_tail(self) -> str:
        return "".join(self.emulator.log_lines)[-4000:]


@pytest.fixture(scope="module")
def target(recorder: RecordingWorker) -> Iterator[Target]:
    args = ["--log-level", "WARNING", "--min-dispatch-deadline", "0.5"]
    with EmulatorProcess(args=args) as emulator:
        client = emulator.tasks_client()
        client.create_queue(parent=PARENT, queue={"name": CANARY})
        client.create_queue(parent=PARENT, queue={"name": PAUSED})
        client.pause_queue(name=PAUSED)
        retry = tasks_v2.RetryConfig(
            max_attempts=2, min_backoff=timedelta(seconds=0.01), max_backoff=timedelta(seconds=0.1)
        )
        client.create_queue(parent=PARENT, queue={"name": LIVE, "retry_config": retry})
        yield Target(emulator, recorder, recorder.base_url)  # type: ignore[attr-defined]


@given(data=st.data())
def test_create_task(target: Target, data: st.DataObject) -> None:
    request = data.draw(task_requests(target.live_port))
    http = request.task.http_request
    marker = f"fuzz-{uuid.uuid4().hex}"
    http.url = http.url.replace(MARKER, marker, 1)
    created = target.call(target.tasks.create_task, request)
    due_now = created is not None and created.schedule_time.timestamp() <= time.time()
    if due_now and request.parent == LIVE and f":{target.live_port}/" in http.url:
        # Accepted means deliverable: the worker gets it, whatever odd headers it carries.
        [received, *_] = target.recorder.wait_for_prefix(f"/{marker}/")
        assert received.method == created.http_request.http_method.name
    target.still_healthy()


@given(request=queue_updates())
def test_update_queue(target: Target, request: Any) -> None:
    queue = target.call(target.tasks.update_queue, request)
    if queue is not None:
        # The dispatcher runs a task under whatever configuration was accepted.
        task = tasks_v2.Task(http_request=tasks_v2.HttpRequest(url="http://127.0.0.1:9/"))
        target.call(target.tasks.create_task, {"parent": queue.name, "task": task})
    target.still_healthy()


@given(request=list_requests())
def test_list_tasks(target: Target, request: Any) -> None:
    answer = target.call(target.tasks.list_tasks, request)
    if answer is not None and answer.next_page_token:
        # A token it issued is accepted for the same list.
        follow = tasks_v2.ListTasksRequest.pb()(
            parent=request.parent, page_token=answer.next_page_token
        )
        assert target.call(target.tasks.list_tasks, follow) is not None
    target.still_healthy()


@given(request=job_requests())
def test_create_job(target: Target, request: Any) -> None:
    job = target.call(target.jobs.create_job, request)
    if job is not None:
        target.jobs.delete_job(name=job.name)  # never fires: its target may be anything
    target.still_healthy()


@given(name=TEXT, method=st.integers(0, 9))
def test_any_method_with_a_hostile_name(target: Target, name: str, method: int) -> None:
    tasks, jobs = target.tasks, target.jobs
    call, request = [
        (tasks.get_queue, {"name": name}),
        (tasks.purge_queue, {"name": name}),
        (tasks.pause_queue, {"name": name}),
        (tasks.delete_queue, {"name": name}),
        (tasks.get_task, {"name": name}),
        (tasks.delete_task, {"name": name}),
        (tasks.run_task, {"name": name}),
        (tasks.list_queues, {"parent": name, "filter": name}),
        (jobs.get_job, {"name": name}),
        (jobs.list_jobs, {"parent": name, "page_token": name}),
    ][method]
    target.call(call, request)
    target.still_healthy()


@given(data=st.data())
def test_batch_create_answers_each_request_as_create_task_does(
    target: Target, data: st.DataObject
) -> None:
    # Differential: the same requests, one CreateTask each into one paused queue, and one
    # BatchCreateTasks into another; each request must fare the same both ways.
    drawn = data.draw(st.lists(task_requests(target.live_port), min_size=1, max_size=8))
    # Some sent twice: a named one is then taken (ALREADY_EXISTS) the second time, both ways.
    drawn += [drawn[i] for i in data.draw(st.lists(st.integers(0, len(drawn) - 1), max_size=3))]
    single, batched = (f"{PARENT}/queues/batch-{side}-{uuid.uuid4().hex[:12]}" for side in "ab")
    for queue in (single, batched):
        target.tasks.create_queue(parent=PARENT, queue={"name": queue}, retry=None, timeout=20)
        target.tasks.pause_queue(name=queue, retry=None, timeout=20)

    def into(queue: str, request: Any) -> Any:
        moved = tasks_v2.CreateTaskRequest.pb()()
        moved.CopyFrom(request)
        moved.parent = queue
        if request.task.name.startswith(f"{request.parent}/tasks/"):
            moved.task.name = queue + request.task.name[len(request.parent) :]
        return moved

    one_by_one: dict[int, int] = {}  # index -> status code of a refused request
    created: list[tuple[int, Any]] = []
    for index, request in enumerate(drawn):
        try:
            task = target.tasks.create_task(request=into(single, request), retry=None, timeout=20)
        except FAILURES as exc:
            pytest.fail(f"{type(exc).__name__}: {exc.message}\n{target.log_tail()}")
        except exceptions.GoogleAPICallError as exc:
            one_by_one[index] = exc.grpc_status_code.value[0] if exc.grpc_status_code else -1
        else:
            created.append((index, task))
    batch = tasks_v2.BatchCreateTasksRequest.pb()(
        parent=batched, requests=[into(batched, request) for request in drawn]
    )
    try:
        operation = target.tasks.batch_create_tasks(request=batch, retry=None, timeout=20)
    except exceptions.GoogleAPICallError as exc:
        pytest.fail(f"the batch itself was refused: {exc}\n{target.log_tail()}")

    answer = operation.operation
    metadata = tasks_v2.BatchCreateTasksMetadata.pb()()
    assert answer.done
    assert answer.metadata.Unpack(metadata)
    assert {index: status.code for index, status in metadata.failed_requests.items()} == (
        one_by_one
    )
    event(f"batch: {len(one_by_one)} of {len(drawn)} refused")
    if len(one_by_one) == len(drawn):
        assert answer.error.code == 10  # ABORTED: none succeeded
        return
    response = tasks_v2.BatchCreateTasksResponse.pb()()
    assert answer.response.Unpack(response)
    assert len(response.tasks) == len(created)
    for (index, alone), in_batch in zip(created, response.tasks, strict=True):
        # The same task, stored the same way, each in its own queue; a caller's id kept.
        assert tasks_v2.Task.pb(alone).http_request == in_batch.http_request
        if drawn[index].task.name:
            assert alone.name.rsplit("/", 1)[1] == in_batch.name.rsplit("/", 1)[1]
    target.still_healthy()
