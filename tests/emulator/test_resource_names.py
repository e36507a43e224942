"""Resource names as Google documents them (``Queue.name``, ``Task.name``, ``Job.name``): project
ids of letters in either case, digits, hyphens, colons and periods, project numbers among them;
location ids of letters, digits and hyphens, any of them (Google's list is not known here).

Suites moving from aertje's emulator use ``projects/TestProject/locations/TestLocation``, and
code on Google Cloud often builds paths from the numeric project id: both used to be
INVALID_ARGUMENT ("is not a location name") on every call.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import scheduler_v1, tasks_v2

from cloudtasks_kit.testing import EmulatorProcess
from tests.emulator.clients import api_error
from tests.emulator.scheduler.conftest import scheduler_client
from tests.support import RecordingWorker

LOCATIONS = [
    pytest.param("projects/TestProject/locations/TestLocation", id="mixed-case"),
    pytest.param("projects/123456789012/locations/us-central1", id="project-number"),
    pytest.param("projects/example.com:my-project/locations/europe-west1", id="domain-scoped"),
    pytest.param("projects/p/locations/somewhere-new-9", id="unknown-location"),
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@pytest.mark.parametrize("parent", LOCATIONS)
def test_queues_and_tasks_under_documented_names(
    emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str, parent: str
) -> None:
    client = emulator.tasks_client()
    queue = f"{parent}/queues/Q-{uuid.uuid4().hex[:8]}"

    created = client.create_queue(parent=parent, queue={"name": queue})
    assert created.name == queue
    assert client.get_queue(name=queue).name == queue
    assert queue in [q.name for q in client.list_queues(parent=parent)]
    client.pause_queue(name=queue)
    named = f"{queue}/tasks/Task_1"
    task = client.create_task(
        parent=queue,
        task=tasks_v2.Task(name=named, http_request=tasks_v2.HttpRequest(url=url)),
    )
    assert task.name == named
    assert client.get_task(name=named).name == named
    unnamed = client.create_task(
        parent=queue, task=tasks_v2.Task(http_request=tasks_v2.HttpRequest(url=url))
    )
    assert unnamed.name.startswith(f"{queue}/tasks/")
    assert sorted(t.name for t in client.list_tasks(parent=queue)) == sorted([named, unnamed.name])
    client.resume_queue(name=queue)
    recorder.wait_for(path, 2)
    [received, _] = recorder.wait_for(path, 2)
    assert received.headers["x-cloudtasks-queuename"] == queue.rsplit("/", 1)[1]


@pytest.mark.parametrize("parent", LOCATIONS)
def test_jobs_under_documented_names(
    emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str, parent: str
) -> None:
    client: Any = scheduler_client(emulator)
    name = f"{parent}/jobs/Job_{uuid.uuid4().hex[:8]}"
    job = scheduler_v1.Job(
        name=name, schedule="0 0 1 1 *", http_target=scheduler_v1.HttpTarget(uri=url)
    )

    assert client.create_job(parent=parent, job=job).name == name
    assert client.get_job(name=name).name == name
    assert [j.name for j in client.list_jobs(parent=parent)] == [name]
    unnamed = client.create_job(
        parent=parent,
        job=scheduler_v1.Job(schedule="0 0 1 1 *", http_target=scheduler_v1.HttpTarget(uri=url)),
    )
    assert unnamed.name.startswith(f"{parent}/jobs/")
    client.run_job(name=name)
    [received] = recorder.wait_for(path, 1)
    assert received.headers["x-cloudscheduler-jobname"] == name.rsplit("/", 1)[1]
    client.delete_job(name=name)
    client.delete_job(name=unnamed.name)


@pytest.mark.parametrize(
    "parent",
    [
        "projects/my_project/locations/us-central1",  # no underscore in a project id
        "projects/my project/locations/us-central1",
        "projects//locations/us-central1",
        "projects/p/locations/us_central1",  # nor in a location id
        "projects/p/locations/us.central1",
        "projects/p/locations/",
        "projects/p/locations/l/extra",
    ],
)
def test_names_outside_the_documented_forms_are_still_refused(
    emulator: EmulatorProcess, parent: str
) -> None:
    client = emulator.tasks_client()
    with api_error(exceptions.InvalidArgument, match="parent"):
        client.create_queue(parent=parent, queue={"name": f"{parent}/queues/q"})
    with api_error(exceptions.InvalidArgument, match="parent"):
        scheduler_client(emulator).create_job(
            parent=parent,
            job=scheduler_v1.Job(
                schedule="0 0 1 1 *", http_target=scheduler_v1.HttpTarget(uri="http://a.b/")
            ),
        )
