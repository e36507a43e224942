"""Replaying dead letters when the delete after the re-create fails: nothing runs twice."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from cloudtasks_kit import KitSettings, ensure_queues, load_settings, replay_dead_letters
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import RecordingWorker


class DeleteFailsOnce:
    """The emulator's client, but the first DeleteTask fails as a network error would (the
    emulator cannot be made to fail one call)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_task(self, **kwargs: Any) -> None:
        if not self.failed:
            self.failed = True
            raise exceptions.ServiceUnavailable("connection reset")
        self._client.delete_task(**kwargs)


@pytest.fixture
def settings(cloudtasks_emulator: EmulatorProcess, tmp_path: Path) -> KitSettings:
    suffix = uuid.uuid4().hex[:8]
    return load_settings(
        env="test",
        config_dir=tmp_path,
        project="test-project",
        location="us-central1",
        emulator_host=cloudtasks_emulator.grpc_target,
        queues={
            "work": {"id": f"work-{suffix}", "dead_letter": "dead", "retry": {"max_attempts": 2}},
            "dead": {"id": f"dead-{suffix}"},
        },
    )


def test_a_replay_whose_delete_failed_is_not_created_twice(
    settings: KitSettings,
    cloudtasks_emulator: EmulatorProcess,
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    client = cloudtasks_emulator.tasks_client()
    ensure_queues(settings, client)
    # Held back: the replayed task is not dispatched until the test has replayed twice.
    client.pause_queue(name=settings.queue_path("work"))
    letter = client.create_task(
        parent=settings.queue_path("dead"),
        task=tasks_v2.Task(
            http_request=tasks_v2.HttpRequest(
                url=url,
                headers={"X-CloudTasksKit-DeadLetter-Queue": settings.queue_path("work")},
                body=b"payload",
            )
        ),
    )
    flaky = DeleteFailsOnce(client)

    [first] = replay_dead_letters(settings, flaky, (), "dead")  # type: ignore[arg-type]
    [second] = replay_dead_letters(settings, flaky, (), "dead")  # type: ignore[arg-type]

    assert first.task is not None
    assert first.error == "re-created but not deleted: ServiceUnavailable: connection reset"
    assert not first.deleted
    assert (second.task, second.deleted, second.error) == (first.task, True, None)
    assert [t.name for t in client.list_tasks(parent=settings.queue_path("work"))] == [first.task]
    with pytest.raises(exceptions.NotFound):
        client.get_task(name=letter.name)
    client.resume_queue(name=settings.queue_path("work"))
    [received] = recorder.wait_for(path, 1)
    assert received.body == b"payload"
