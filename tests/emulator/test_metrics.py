"""``/metrics``: scraped before and after tasks, a dead letter and a job went through a real
emulator to a real worker; every family the emulator promises moves as it should."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from google.cloud import scheduler_v1, tasks_v2
from prometheus_client.parser import text_string_to_metric_families

from cloudtasks_kit._protocol import DEAD_LETTER_QUEUE
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import RecordingWorker, Reply, wait_until

PARENT = "projects/metrics-project/locations/us-central1"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


def scrape(emulator: EmulatorProcess) -> Samples:
    answer = httpx.get(emulator.http_url + "/metrics", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def queue(client: Any, *, max_attempts: int = 2, paused: bool = False) -> str:
    name = f"{PARENT}/queues/m-{uuid.uuid4().hex[:8]}"
    client.create_queue(
        parent=PARENT,
        queue=tasks_v2.Queue(
            name=name,
            retry_config=tasks_v2.RetryConfig(
                max_attempts=max_attempts,
                min_backoff=timedelta(seconds=0.05),
                max_backoff=timedelta(seconds=0.05),
            ),
        ),
    )
    if paused:
        client.pause_queue(name=name)
    return name


def test_metrics_move_with_tasks_dead_letters_and_jobs(
    emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str
) -> None:
    client = emulator.tasks_client()
    jobs = emulator.scheduler_client()
    work, parked = queue(client), queue(client, paused=True)
    job = jobs.create_job(
        parent=PARENT,
        job=scheduler_v1.Job(
            name=f"{PARENT}/jobs/m-{uuid.uuid4().hex[:8]}",
            schedule="0 0 1 1 *",
            http_target=scheduler_v1.HttpTarget(uri=url + "/job"),
        ),
    )
    before = scrape(emulator)

    # One task succeeds; one fails twice (a 503, then a 404) and is given up.
    recorder.script(path + "/bad", Reply(status=503), Reply(status=404))
    client.create_task(parent=work, task={"http_request": {"url": url}})
    client.create_task(parent=work, task={"http_request": {"url": url + "/bad"}})
    # The kit parks a dead letter by creating a copy with its header in a paused queue.
    client.create_task(
        parent=parked,
        task={"http_request": {"url": url, "headers": {DEAD_LETTER_QUEUE: work}}},
    )
    jobs.run_job(name=job.name)
    recorder.wait_for(path, 1)
    recorder.wait_for(path + "/bad", 2)
    recorder.wait_for(path + "/job", 1)

    def settled() -> bool:
        now = scrape(emulator)
        return (
            value(now, "cloudtasks_task_dispatches_total", queue=work) == 3
            and value(now, "cloudtasks_scheduler_runs_total", job=job.name, outcome="succeeded")
            == 1
        )

    wait_until(settled)
    after = scrape(emulator)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("cloudtasks_tasks_created_total", queue=work) == 2
    assert moved("cloudtasks_tasks_created_total", queue=parked) == 1
    assert moved("cloudtasks_tasks_dead_lettered_total", queue=parked, from_queue=work) == 1
    assert moved("cloudtasks_task_dispatches_total", queue=work) == 3
    assert moved("cloudtasks_task_successes_total", queue=work, status_class="2xx") == 1
    assert moved("cloudtasks_task_failures_total", queue=work, status_class="5xx") == 1
    assert moved("cloudtasks_task_failures_total", queue=work, status_class="4xx") == 1
    assert moved("cloudtasks_task_retries_total", queue=work) == 1
    assert moved("cloudtasks_task_dispatch_latency_seconds_count", queue=work) == 3
    assert moved("cloudtasks_task_dispatch_lateness_seconds_count", queue=work) == 3
    assert value(after, "cloudtasks_task_dispatch_latency_seconds_sum", queue=work) > 0
    assert value(after, "cloudtasks_queue_tasks", queue=parked, state="waiting") == 1
    assert value(after, "cloudtasks_queue_tasks", queue=work, state="waiting") == 0
    assert value(after, "cloudtasks_queue_tasks", queue=work, state="retrying") == 0
    assert moved("cloudtasks_scheduler_attempts_total", job=job.name, status_class="2xx") == 1
    assert moved("cloudtasks_scheduler_runs_total", job=job.name, outcome="succeeded") == 1
    client.transport.close()
    jobs.transport.close()


def test_queue_depth_counts_retrying_tasks(
    emulator: EmulatorProcess, recorder: RecordingWorker, url: str, path: str
) -> None:
    client = emulator.tasks_client()
    work = queue(client, max_attempts=100)
    # The first attempt fails; the retry then waits an hour.
    client.update_queue(
        queue=tasks_v2.Queue(
            name=work,
            retry_config=tasks_v2.RetryConfig(
                max_attempts=100,
                min_backoff=timedelta(hours=1),
                max_backoff=timedelta(hours=1),
            ),
        )
    )
    recorder.script(path, Reply(status=500))
    client.create_task(parent=work, task={"http_request": {"url": url}})
    recorder.wait_for(path, 1)

    wait_until(
        lambda: value(scrape(emulator), "cloudtasks_queue_tasks", queue=work, state="retrying") == 1
    )
    client.purge_queue(name=work)
    after = scrape(emulator)

    assert value(after, "cloudtasks_queue_tasks", queue=work, state="retrying") == 0
    assert value(after, "cloudtasks_queue_tasks", queue=work, state="waiting") == 0
    client.transport.close()


def test_each_emulator_has_its_own_registry(emulator: EmulatorProcess) -> None:
    from cloudtasks_kit.emulator._metrics import Metrics

    first, second = Metrics(), Metrics()
    first.task_created("q", None)

    assert b'cloudtasks_tasks_created_total{queue="q"} 1.0' in first.exposition()
    assert b"cloudtasks_tasks_created_total{" not in second.exposition()
