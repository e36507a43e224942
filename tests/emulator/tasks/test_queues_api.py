"""Queue and task resources through the official clients, sync and async."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport
from google.protobuf import field_mask_pb2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.tasks.conftest import PARENT, QueueFactory, http_task


def test_created_queue_has_google_defaults(client: Any) -> None:
    name = f"{PARENT}/queues/defaults-{uuid.uuid4().hex[:8]}"
    queue = client.create_queue(parent=PARENT, queue=tasks_v2.Queue(name=name))
    assert queue.state == tasks_v2.Queue.State.RUNNING
    assert queue.rate_limits.max_dispatches_per_second == 500
    assert queue.rate_limits.max_burst_size == 100
    assert queue.rate_limits.max_concurrent_dispatches == 1000
    assert queue.retry_config.max_attempts == 100
    assert queue.retry_config.min_backoff == timedelta(seconds=0.1)
    assert queue.retry_config.max_backoff == timedelta(hours=1)
    assert queue.retry_config.max_doublings == 16
    assert client.get_queue(name=name) == queue


def test_update_queue_with_mask_changes_only_the_masked_field(
    client: Any, make_queue: QueueFactory
) -> None:
    name = make_queue(max_attempts=7)
    updated = client.update_queue(
        queue=tasks_v2.Queue(
            name=name,
            rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=3),
            retry_config=tasks_v2.RetryConfig(max_attempts=1),
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    assert updated.rate_limits.max_dispatches_per_second == 3
    assert updated.retry_config.max_attempts == 7
    assert client.get_queue(name=name) == updated


def test_update_queue_creates_a_missing_queue(client: Any) -> None:
    name = f"{PARENT}/queues/upsert-{uuid.uuid4().hex[:8]}"
    client.update_queue(
        queue=tasks_v2.Queue(name=name, retry_config=tasks_v2.RetryConfig(max_attempts=3))
    )
    assert client.get_queue(name=name).retry_config.max_attempts == 3


def test_pause_resume_states(client: Any, make_queue: QueueFactory) -> None:
    name = make_queue()
    assert client.pause_queue(name=name).state == tasks_v2.Queue.State.PAUSED
    paused = {
        q.name for q in client.list_queues(request={"parent": PARENT, "filter": "state: PAUSED"})
    }
    assert name in paused
    assert client.resume_queue(name=name).state == tasks_v2.Queue.State.RUNNING


def test_list_queues_pages(client: Any) -> None:
    location = f"projects/paging-{uuid.uuid4().hex[:6]}/locations/europe-west1"
    names = sorted(f"{location}/queues/q{i}" for i in range(7))
    for name in names:
        client.create_queue(parent=location, queue=tasks_v2.Queue(name=name))
    pager = client.list_queues(request={"parent": location, "page_size": 3})
    pages = [[q.name for q in page.queues] for page in pager.pages]
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [name for page in pages for name in page] == names


def test_list_tasks_pages_and_delete(client: Any, make_queue: QueueFactory) -> None:
    queue = make_queue(paused=True)
    created = {
        client.create_task(parent=queue, task=http_task("http://127.0.0.1:9/x")).name
        for _ in range(12)
    }
    pager = client.list_tasks(request={"parent": queue, "page_size": 5})
    pages = [[t.name for t in page.tasks] for page in pager.pages]
    assert [len(page) for page in pages] == [5, 5, 2]
    assert {name for page in pages for name in page} == created
    victim = sorted(created)[0]
    client.delete_task(name=victim)
    assert victim not in {t.name for t in client.list_tasks(parent=queue)}


def test_get_task_reports_what_was_created(client: Any, make_queue: QueueFactory) -> None:
    queue = make_queue(paused=True)
    task = client.create_task(
        parent=queue,
        task=http_task(
            "https://worker.example/run", body=b"{}", headers={"Content-Type": "application/json"}
        ),
    )
    assert task.name.startswith(queue + "/tasks/")
    assert task.dispatch_deadline == timedelta(minutes=10)
    assert task.http_request.headers["User-Agent"] == "Google-Cloud-Tasks"
    assert task.http_request.headers["Content-Type"] == "application/json"
    assert task.http_request.http_method == tasks_v2.HttpMethod.POST
    fetched = client.get_task(name=task.name)
    assert fetched.http_request.body == b"{}"
    assert fetched.schedule_time == task.schedule_time
    assert fetched.dispatch_count == 0


async def test_async_client_works_unchanged(
    emulator: EmulatorProcess, make_queue: QueueFactory
) -> None:
    queue = make_queue(paused=True)
    channel = grpc.aio.insecure_channel(emulator.grpc_target)
    client = tasks_v2.CloudTasksAsyncClient(
        transport=CloudTasksGrpcAsyncIOTransport(channel=channel)
    )
    try:
        task = await client.create_task(parent=queue, task=http_task("http://127.0.0.1:9/x"))
        assert (await client.get_task(name=task.name)).name == task.name
        listed = [t.name async for t in await client.list_tasks(parent=queue)]
        assert listed == [task.name]
        await client.delete_task(name=task.name)
    finally:
        await channel.close()
