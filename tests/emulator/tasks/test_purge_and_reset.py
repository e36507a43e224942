"""PurgeQueue keeps the purged tasks' names taken, as deletion does; a reset empties the
emulator (or one queue) without a restart, for test suites that share one."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1

from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess
from tests.emulator.clients import api_error
from tests.emulator.scheduler.conftest import scheduler_client
from tests.emulator.tasks.conftest import EMULATOR_ARGS, PARENT, http_task
from tests.emulator.tasks.test_names import _advance
from tests.support import RecordingWorker, Reply, wait_until

URL = "http://127.0.0.1:9/never"


@pytest.fixture(scope="module")
def declared() -> str:
    return f"{PARENT}/queues/declared-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def own_emulator(
    tmp_path_factory: pytest.TempPathFactory, declared: str
) -> Iterator[EmulatorProcess]:
    # Its clock gets advanced and it gets reset: it must not be the session's emulator.
    config = tmp_path_factory.mktemp("purge") / "queues.yaml"
    config.write_text(
        json.dumps({"queues": [{"name": declared, "rateLimits": {"maxBurstSize": 7}}]})
    )
    with EmulatorProcess(args=[*EMULATOR_ARGS, "--config", str(config)]) as process:
        yield process


@pytest.fixture
def own_client(own_emulator: EmulatorProcess) -> Any:
    return own_emulator.tasks_client()


def _queue(client: Any, *, paused: bool = True) -> str:
    queue = f"{PARENT}/queues/p-{uuid.uuid4().hex[:8]}"
    client.create_queue(parent=PARENT, queue={"name": queue})
    if paused:
        client.pause_queue(name=queue)
    return queue


# --- purge ----------------------------------------------------------------------------------------


def test_a_purged_name_is_taken_until_its_tombstone_expires(
    own_emulator: EmulatorProcess, own_client: Any
) -> None:
    queue = _queue(own_client)
    named = [f"{queue}/tasks/purged-{index}" for index in range(3)]
    for name in named:
        own_client.create_task(parent=queue, task=http_task(URL, name=name))
    unnamed = own_client.create_task(parent=queue, task=http_task(URL)).name

    own_client.purge_queue(name=queue)

    assert list(own_client.list_tasks(parent=queue)) == []
    for name in [*named, unnamed]:
        with api_error(exceptions.AlreadyExists, match="purged recently"):
            own_client.create_task(parent=queue, task=http_task(URL, name=name))
        with api_error(exceptions.NotFound, match="purged recently"):
            own_client.get_task(name=name)
    _advance(own_emulator, 3600 - 60)  # not yet
    with api_error(exceptions.AlreadyExists):
        own_client.create_task(parent=queue, task=http_task(URL, name=named[0]))
    _advance(own_emulator, 61)  # the tombstones' hour is over (on the emulator's clock)
    for name in named:
        own_client.create_task(parent=queue, task=http_task(URL, name=name))
    assert len(list(own_client.list_tasks(parent=queue))) == 3


def test_hard_reset_on_purge_releases_the_names_at_once() -> None:
    with EmulatorProcess(args=["--hard-reset-on-purge"]) as emulator:
        client = emulator.tasks_client()
        queue = _queue(client)
        name = f"{queue}/tasks/again"
        client.create_task(parent=queue, task=http_task(URL, name=name))
        deleted = f"{queue}/tasks/deleted-before"
        client.create_task(parent=queue, task=http_task(URL, name=deleted))
        client.delete_task(name=deleted)

        client.purge_queue(name=queue)

        assert list(client.list_tasks(parent=queue)) == []
        # The purged name, and the names the queue's earlier tasks left taken, are free.
        client.create_task(parent=queue, task=http_task(URL, name=name))
        client.create_task(parent=queue, task=http_task(URL, name=deleted))
        with api_error(exceptions.NotFound, match=r"does not exist$"):
            client.get_task(name=f"{queue}/tasks/never")


# --- reset ----------------------------------------------------------------------------------------


def test_reset_of_one_queue_forgets_its_tasks_and_their_names_only(
    own_emulator: EmulatorProcess, own_client: Any
) -> None:
    queue, other = _queue(own_client), _queue(own_client)
    own_client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/pending"))
    own_client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/deleted"))
    own_client.delete_task(name=f"{queue}/tasks/deleted")
    own_client.create_task(parent=other, task=http_task(URL, name=f"{other}/tasks/deleted"))
    own_client.delete_task(name=f"{other}/tasks/deleted")
    own_client.create_task(parent=other, task=http_task(URL, name=f"{other}/tasks/kept"))

    assert own_emulator.reset(queue) == {"reset": queue, "tasks": 1}

    assert list(own_client.list_tasks(parent=queue)) == []
    assert own_client.get_queue(name=queue).state == own_client.get_queue(name=other).state
    for name in ("pending", "deleted"):
        own_client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/{name}"))
    assert [t.name for t in own_client.list_tasks(parent=other)] == [f"{other}/tasks/kept"]
    with api_error(exceptions.AlreadyExists, match="deleted recently"):
        own_client.create_task(parent=other, task=http_task(URL, name=f"{other}/tasks/deleted"))


def test_reset_forgets_queues_tasks_tombstones_and_jobs(
    own_emulator: EmulatorProcess, own_client: Any, declared: str
) -> None:
    queue = _queue(own_client)
    own_client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/t"))
    own_client.delete_task(name=f"{queue}/tasks/t")
    gone = _queue(own_client)
    own_client.delete_queue(name=gone)
    jobs = scheduler_client(own_emulator)
    job = jobs.create_job(
        parent=PARENT,
        job=scheduler_v1.Job(schedule="* * * * *", http_target=scheduler_v1.HttpTarget(uri=URL)),
    )

    assert own_emulator.reset() == {"reset": "all"}

    # Only the queue of --config is there again, as declared.
    [only] = own_client.list_queues(parent=PARENT)
    assert only.name == declared
    assert only.rate_limits.max_burst_size == 7
    assert list(jobs.list_jobs(parent=PARENT)) == []
    with api_error(exceptions.NotFound):
        jobs.get_job(name=job.name)
    # No tombstone is left: the deleted queue's and task's names are free at once.
    own_client.create_queue(parent=PARENT, queue={"name": gone})
    own_client.create_queue(parent=PARENT, queue={"name": queue})
    own_client.pause_queue(name=queue)
    own_client.create_task(parent=queue, task=http_task(URL, name=f"{queue}/tasks/t"))


def test_an_attempt_in_flight_during_a_reset_never_touches_the_new_task_of_its_name(
    own_emulator: EmulatorProcess, own_client: Any
) -> None:
    recorder = RecordingWorker()
    gate = threading.Event()
    recorder.script("/slow", Reply(gate=gate))
    with BackgroundServer(recorder.app) as worker:
        queue = _queue(own_client, paused=False)
        name = f"{queue}/tasks/same-name"
        own_client.create_task(parent=queue, task=http_task(f"{worker.url}/slow", name=name))
        recorder.wait_for("/slow", 1)  # the first attempt is in flight

        own_emulator.reset(queue)
        own_client.pause_queue(name=queue)
        own_client.create_task(parent=queue, task=http_task(f"{worker.url}/slow", name=name))
        gate.set()  # the old attempt gets its 200 now, after the reset

        wait_until(lambda: recorder.in_flight["/slow"] == 0)
        assert [t.name for t in own_client.list_tasks(parent=queue)] == [name]
        own_client.resume_queue(name=queue)
        recorder.wait_for("/slow", 2)
        wait_until(lambda: list(own_client.list_tasks(parent=queue)) == [])


def test_reset_needs_a_known_queue(own_emulator: EmulatorProcess) -> None:
    with pytest.raises(ValueError, match="not a queue name"):
        own_emulator.reset("queues/q")
    with pytest.raises(ValueError, match="does not exist"):
        own_emulator.reset(f"{PARENT}/queues/not-there")
