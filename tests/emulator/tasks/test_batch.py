"""BatchCreateTasks and BatchDeleteTasks through the official client, over gRPC and REST: each
request checked as CreateTask / DeleteTask check it, per-request failures in the operation's
metadata while the others go through, Google's limits, and the long-running operation read
back with GetOperation."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.longrunning import operations_pb2

from cloudtasks_kit.emulator import Clock, EmulatorConfig
from cloudtasks_kit.emulator._errors import ApiError
from cloudtasks_kit.emulator._operations import OperationsApi
from cloudtasks_kit.emulator._stats import Stats
from cloudtasks_kit.emulator._store import Database
from cloudtasks_kit.emulator._tokens import TokenSigner
from cloudtasks_kit.emulator.tasks import CloudTasksApi, Dispatcher, TaskStore
from tests.emulator.clients import api_error, refused
from tests.emulator.tasks.conftest import PARENT, QueueFactory, http_task
from tests.support import RecordingWorker

URL = "http://127.0.0.1:9/never"
CreateState = tasks_v2.BatchCreateTasksMetadata.State
DeleteState = tasks_v2.BatchDeleteTasksMetadata.State


def create(queue: str, task_id: str | None = None, url: str = URL) -> tasks_v2.CreateTaskRequest:
    name = f"{queue}/tasks/{task_id}" if task_id is not None else None
    return tasks_v2.CreateTaskRequest(parent=queue, task=http_task(url, name=name))


def task_ids(client: Any, queue: str) -> set[str]:
    return {task.name.rsplit("/", 1)[1] for task in client.list_tasks(parent=queue)}


def failures(metadata: Any) -> dict[int, grpc.StatusCode]:
    codes = {code.value[0]: code for code in grpc.StatusCode}
    return {index: codes[status.code] for index, status in metadata.failed_requests.items()}


# -- BatchCreateTasks ---------------------------------------------------------------------------


def test_a_batch_creates_every_task_in_order_and_the_operation_is_done(
    client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue(paused=True)
    requests = [create(queue, f"t{n}") for n in range(3)] + [create(queue)]
    operation = client.batch_create_tasks(parent=queue, requests=requests)

    assert operation.done()
    response = operation.result()
    names = [task.name for task in response.tasks]
    assert names[:3] == [f"{queue}/tasks/t{n}" for n in range(3)]
    assert names[3].startswith(f"{queue}/tasks/")  # a generated id
    assert {task.http_request.url for task in response.tasks} == {URL}
    metadata = operation.metadata
    assert metadata.state == CreateState.SUCCEEDED
    assert dict(metadata.failed_requests) == {}
    assert metadata.start_time <= metadata.end_time
    assert task_ids(client, queue) == {name.rsplit("/", 1)[1] for name in names}
    # What the batch answered is what GetTask reads.
    assert client.get_task(name=names[0]).schedule_time == response.tasks[0].schedule_time


def test_failed_requests_are_reported_by_index_while_the_others_are_created(
    client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue(paused=True)
    client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/taken"))
    requests = [
        create(queue, "a"),
        create(queue, "taken"),  # exists already
        tasks_v2.CreateTaskRequest(parent=queue, task=http_task("ftp://example.com/x")),
        create(queue, "b"),
        create(queue, "a"),  # the same name earlier in this batch
        tasks_v2.CreateTaskRequest(
            parent=queue, task=http_task(URL, name=f"{PARENT}/queues/elsewhere/tasks/c")
        ),
        create(queue, "bad id!"),
    ]
    operation = client.batch_create_tasks(parent=queue, requests=requests)

    assert failures(operation.metadata) == {
        1: grpc.StatusCode.ALREADY_EXISTS,
        2: grpc.StatusCode.INVALID_ARGUMENT,
        4: grpc.StatusCode.ALREADY_EXISTS,
        5: grpc.StatusCode.INVALID_ARGUMENT,
        6: grpc.StatusCode.INVALID_ARGUMENT,
    }
    messages = operation.metadata.failed_requests
    # The same messages as CreateTask's, from the same checks.
    assert "task.http_request.url" in messages[2].message
    assert "belongs to queue" in messages[5].message
    assert "task.name" in messages[6].message
    assert operation.metadata.state == CreateState.PARTIALLY_SUCCEEDED
    assert [task.name for task in operation.result().tasks] == [
        f"{queue}/tasks/a",
        f"{queue}/tasks/b",
    ]
    assert task_ids(client, queue) == {"taken", "a", "b"}


def test_a_batch_whose_every_request_failed_is_an_aborted_operation(
    client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue(paused=True)
    client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/once"))
    operation = client.batch_create_tasks(parent=queue, requests=[create(queue, "once")] * 2)

    with pytest.raises(exceptions.GoogleAPICallError, match="None of the requests succeeded"):
        operation.result()
    assert operation.operation.error.code == grpc.StatusCode.ABORTED.value[0]
    assert failures(operation.metadata) == {
        0: grpc.StatusCode.ALREADY_EXISTS,
        1: grpc.StatusCode.ALREADY_EXISTS,
    }


def test_a_named_task_of_a_batch_can_be_sent_again_in_a_batch_without_a_duplicate(
    client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue(paused=True)
    first = client.batch_create_tasks(parent=queue, requests=[create(queue, "r1")])
    again = client.batch_create_tasks(
        parent=queue, requests=[create(queue, "r1"), create(queue, "r2")]
    )
    assert [task.name for task in first.result().tasks] == [f"{queue}/tasks/r1"]
    assert failures(again.metadata) == {0: grpc.StatusCode.ALREADY_EXISTS}
    assert task_ids(client, queue) == {"r1", "r2"}


def test_tasks_of_a_batch_are_dispatched(
    client: Any, make_queue: QueueFactory, recorder: RecordingWorker, url: str, path: str
) -> None:
    queue = make_queue()
    client.batch_create_tasks(parent=queue, requests=[create(queue, url=url) for _ in range(5)])
    received = recorder.wait_for(path, 5)
    assert len({each.headers["x-cloudtasks-taskname"] for each in received}) == 5


def test_at_most_100_requests_all_for_the_batchs_queue(
    client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue(paused=True)
    other = make_queue(paused=True)
    hundred = client.batch_create_tasks(parent=queue, requests=[create(queue)] * 100)
    assert len(hundred.result().tasks) == 100

    with api_error(exceptions.InvalidArgument, "100"):
        client.batch_create_tasks(parent=queue, requests=[create(queue)] * 101)
    with api_error(exceptions.InvalidArgument, "requests"):
        client.batch_create_tasks(parent=queue, requests=[])
    with api_error(exceptions.InvalidArgument, r"requests\[1\].parent"):
        client.batch_create_tasks(parent=queue, requests=[create(queue, "x1"), create(other)])
    with api_error(exceptions.NotFound, "does not exist"):
        missing = f"{PARENT}/queues/missing-{uuid.uuid4().hex[:8]}"
        client.batch_create_tasks(parent=missing, requests=[create(missing)])
    # A refused batch created nothing, not even its valid first task.
    assert "x1" not in task_ids(client, queue)
    assert task_ids(client, other) == set()


# -- the operation ---------------------------------------------------------------------------


def test_get_operation_reads_a_finished_batch(client: Any, make_queue: QueueFactory) -> None:
    queue = make_queue(paused=True)
    operation = client.batch_create_tasks(parent=queue, requests=[create(queue, "polled")])
    name = operation.operation.name
    assert name.startswith(f"{PARENT}/operations/")

    # The client's own GetOperation, and the operations client that result() polls with.
    read = client.get_operation(request={"name": name})
    polled = client.transport.operations_client.get_operation(name)
    for each in (read, polled):
        assert each.done
        assert each == operation.operation
    response = tasks_v2.BatchCreateTasksResponse.pb()()
    assert read.response.Unpack(response)
    assert [task.name for task in response.tasks] == [f"{queue}/tasks/polled"]

    with api_error(exceptions.NotFound, "operation"):
        client.get_operation(request={"name": f"{PARENT}/operations/4242"})


def test_get_operation_refuses_what_is_not_an_operation_name(client: Any, transport: str) -> None:
    with refused(transport, exceptions.InvalidArgument, "operation name", fits_the_url=False):
        client.get_operation(request={"name": "operations/4242"})


# -- BatchDeleteTasks ---------------------------------------------------------------------------


def test_a_batch_delete_deletes_each_and_reports_what_it_could_not(
    client: Any, make_queue: QueueFactory
) -> None:
    queue = make_queue(paused=True)
    other = make_queue(paused=True)
    for task_id in ("d1", "d2", "kept"):
        client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/{task_id}"))
    client.create_task(parent=other, task=http_task(URL, name=f"{other}/tasks/o1"))
    names = [
        f"{queue}/tasks/d1",
        f"{queue}/tasks/missing",
        f"{other}/tasks/o1",  # another queue's
        f"{queue}/tasks/d2",
        f"{queue}/tasks/bad id!",
        f"{queue}/tasks/d1",  # deleted earlier in this batch
    ]
    operation = client.batch_delete_tasks(parent=queue, names=names)

    operation.result()
    assert operation.metadata.state == DeleteState.PARTIALLY_SUCCEEDED
    assert failures(operation.metadata) == {
        1: grpc.StatusCode.NOT_FOUND,
        2: grpc.StatusCode.INVALID_ARGUMENT,
        4: grpc.StatusCode.INVALID_ARGUMENT,
        5: grpc.StatusCode.NOT_FOUND,
    }
    assert "deleted recently" in operation.metadata.failed_requests[5].message
    assert task_ids(client, queue) == {"kept"}
    assert task_ids(client, other) == {"o1"}
    # Deleted as DeleteTask deletes: the name stays taken for a while.
    with api_error(exceptions.AlreadyExists):
        client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/d1"))


def test_batch_delete_limits_and_an_all_failed_batch(client: Any, make_queue: QueueFactory) -> None:
    queue = make_queue(paused=True)
    done = client.batch_delete_tasks(parent=queue, names=[f"{queue}/tasks/none"])
    with pytest.raises(exceptions.GoogleAPICallError, match="None of the requests succeeded"):
        done.result()
    assert done.operation.error.code == grpc.StatusCode.ABORTED.value[0]
    assert failures(done.metadata) == {0: grpc.StatusCode.NOT_FOUND}

    with api_error(exceptions.InvalidArgument, "1000"):
        client.batch_delete_tasks(parent=queue, names=[f"{queue}/tasks/t{n}" for n in range(1001)])
    with api_error(exceptions.InvalidArgument, "names"):
        client.batch_delete_tasks(parent=queue, names=[])
    thousand = client.batch_delete_tasks(
        parent=queue, names=[f"{queue}/tasks/t{n}" for n in range(1000)]
    )
    assert len(thousand.metadata.failed_requests) == 1000


# -- in this process: the transaction, and how long operations are kept ------------------------


def test_one_batch_is_one_transaction(tmp_path: Path) -> None:
    database = Database(tmp_path / "state.db")
    store, clock, stats = TaskStore(database), Clock(), Stats()
    # Never started: the tasks are stored and scheduled, nothing is sent.
    sender = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))
    signer = TokenSigner("http://issuer.local")
    dispatcher = Dispatcher(store, clock, signer, stats, sender, tombstone_ttl=3600)
    api = CloudTasksApi(store, dispatcher, clock, stats, EmulatorConfig())
    queue = f"{PARENT}/queues/q"
    api.create_queue(tasks_v2.CreateQueueRequest.pb()(parent=PARENT, queue={"name": queue}))
    api.pause_queue(tasks_v2.PauseQueueRequest.pb()(name=queue))
    statements: list[str] = []
    database._db.set_trace_callback(statements.append)

    batch = tasks_v2.BatchCreateTasksRequest(
        parent=queue, requests=[create(queue, f"t{n}") for n in range(20)] + [create(queue, "t0")]
    )
    operation = api.batch_create_tasks(tasks_v2.BatchCreateTasksRequest.pb(batch))

    metadata = tasks_v2.BatchCreateTasksMetadata.pb()()
    operation.metadata.Unpack(metadata)
    assert list(metadata.failed_requests) == [20]
    inserts = [s for s in statements if s.startswith("INSERT INTO tasks")]
    assert len(inserts) == 21  # every request tried, the duplicate refused by the table
    opened = [s for s in statements if s.startswith(("BEGIN", "SAVEPOINT"))]
    closed = [s for s in statements if s.startswith(("COMMIT", "RELEASE"))]
    assert (len(opened), len(closed)) == (1, 1)
    assert statements.index(opened[0]) < statements.index(inserts[0])
    assert statements.index(closed[0]) > statements.index(inserts[-1])
    database.close()


def test_finished_operations_are_kept_for_a_while_and_not_without_bound() -> None:
    clock = Clock()
    operations = OperationsApi(Database(None), clock, CloudTasksApi.rest_transport, ttl=60, limit=3)
    metadata = tasks_v2.BatchCreateTasksMetadata.pb()()

    def read(name: str) -> bool:
        try:
            operations.get_operation(operations_pb2.GetOperationRequest(name=name))
        except ApiError as error:
            if error.code != grpc.StatusCode.NOT_FOUND:
                raise
            return False
        return True

    first = operations.finished(PARENT, metadata).name
    clock.advance(30)
    later = [operations.finished(PARENT, metadata).name for _ in range(3)]
    assert [read(name) for name in (first, *later)] == [False, True, True, True]  # limit 3
    clock.advance(31)
    assert all(read(name) for name in later)  # 61 s after the first, 31 s after these
    clock.advance(30)
    assert not any(read(name) for name in later)
