"""``cloudtasks-kit dead-letters list|replay`` against the emulator, with a recording worker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2

from cloudtasks_kit.cli import main
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import RecordingWorker, synced_project

LOCATION = "us-central1"


@pytest.fixture
def project(
    cloudtasks_emulator: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    return synced_project(
        cloudtasks_emulator,
        tmp_path,
        monkeypatch,
        "letters",
        """
queues:
  kitchen: {id: kitchen-orders, dead_letter: dead, retry: {max_attempts: 3}}
  bar: {id: bar-orders, dead_letter: dead, retry: {max_attempts: 3}}
  dead: {id: graveyard}
""",
        location=LOCATION,
    )


def _path(project: str, queue: str) -> str:
    return f"projects/{project}/locations/{LOCATION}/queues/{queue}"


def _park(client: Any, project: str, queue: str | None, url: str, reason: str) -> str:
    """A letter as the worker parks it (tests/worker/test_dead_letters.py parks real ones)."""
    headers = {"Content-Type": "application/json", "X-Request-Id": "r-1"}
    if queue is not None:
        headers |= {
            "X-CloudTasksKit-DeadLetter-Queue": _path(project, queue),
            "X-CloudTasksKit-DeadLetter-Task": "original-1",
            "X-CloudTasksKit-DeadLetter-Attempts": "3",
            "X-CloudTasksKit-DeadLetter-Status": "500",
            "X-CloudTasksKit-DeadLetter-Reason": reason,
        }
    task = client.create_task(
        parent=_path(project, "graveyard"),
        task=tasks_v2.Task(
            http_request=tasks_v2.HttpRequest(
                url=url, http_method=tasks_v2.HttpMethod.POST, headers=headers, body=b'{"n": 1}'
            )
        ),
    )
    return str(task.name).rsplit("/", 1)[1]


def _letters(client: Any, project: str) -> set[str]:
    tasks = client.list_tasks(parent=_path(project, "graveyard"))
    return {str(task.name).rsplit("/", 1)[1] for task in tasks}


def test_list_then_replay_one_letter(
    project: str,
    cloudtasks_emulator: EmulatorProcess,
    recorder: RecordingWorker,
    url: str,
    path: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = cloudtasks_emulator.tasks_client()
    kitchen = _park(client, project, "kitchen-orders", url, "RuntimeError: oven on fire")
    bar = _park(client, project, "bar-orders", url, "HTTP 503: retry later")
    stray = _park(client, project, None, url, "")

    assert main(["dead-letters", "list", "dead"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "dead", "letter", "queue", "task", "attempts", "status", "parked", "expires", "reason",
    ]  # fmt: skip
    assert re.search(
        rf"{kitchen}\s+kitchen-orders\s+original-1\s+3\s+500\s+\S+Z\s+\S+Z\s+"
        r"RuntimeError: oven on fire\n",
        out,
    )
    assert re.search(rf"{stray}\s+-\s+-\s+-\s+-", out)
    assert out.endswith("3 dead letters\n")

    assert main(["dead-letters", "list", "kitchen"]) == 0  # a queue that parks there: its own
    out = capsys.readouterr().out
    assert kitchen in out
    assert bar not in out
    assert out.endswith("1 dead letter\n")

    assert main(["dead-letters", "replay", "dead", kitchen, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would replay {kitchen} into {_path(project, 'kitchen-orders')}: POST {url}" in out
    assert "1 would be replayed, 0 failed" in out
    assert _letters(client, project) == {kitchen, bar, stray}

    assert main(["dead-letters", "replay", "dead", kitchen]) == 0
    assert re.search(
        rf"replayed {kitchen} as {_path(project, 'kitchen-orders')}/tasks/\S+\n",
        capsys.readouterr().out,
    )
    [received] = recorder.wait_for(path, 1)
    assert received.body == b'{"n": 1}'
    assert received.headers["content-type"] == "application/json"
    assert received.headers["x-request-id"] == "r-1"
    assert received.headers["x-cloudtasks-queuename"] == "kitchen-orders"
    assert not [h for h in received.headers if h.startswith("x-cloudtaskskit-")]
    assert _letters(client, project) == {bar, stray}


def test_replay_all_reports_each_failure_and_keeps_those_letters(
    project: str,
    cloudtasks_emulator: EmulatorProcess,
    recorder: RecordingWorker,
    url: str,
    path: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = cloudtasks_emulator.tasks_client()
    kitchen = _park(client, project, "kitchen-orders", url, "boom")
    bar = _park(client, project, "bar-orders", url, "boom")
    stray = _park(client, project, None, url, "")
    client.delete_queue(name=_path(project, "bar-orders"))

    assert main(["dead-letters", "replay", "dead", "--all"]) == 1

    out = capsys.readouterr().out
    assert f"failed: {bar}: not re-created: NotFound" in out
    assert f"failed: {stray}: not parked by the kit" in out
    assert f"replayed {kitchen} as" in out
    assert "1 replayed, 2 failed" in out
    recorder.wait_for(path, 1)
    assert _letters(client, project) == {bar, stray}


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["dead"], "name the dead letters to replay, or pass --all"),
        (["dead", "x", "--all"], "name the dead letters to replay, or pass --all"),
        (["dead", "no-such-letter"], "no dead letter 'no-such-letter' in projects/"),
        (["bad queue", "--all"], "is neither a key of queues"),
    ],
)
def test_replay_refuses_bad_arguments_before_changing_anything(
    project: str,
    cloudtasks_emulator: EmulatorProcess,
    url: str,
    arguments: list[str],
    error: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = cloudtasks_emulator.tasks_client()
    letter = _park(client, project, "kitchen-orders", url, "boom")

    assert main(["dead-letters", "replay", *arguments]) == 2

    assert error in capsys.readouterr().err
    assert _letters(client, project) == {letter}
