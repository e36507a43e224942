"""``cloudtasks-kit queues list|describe|pause|resume|purge`` and ``cloudtasks-kit tasks
list|describe|run|delete`` against the emulator, with tasks created through the official client
and run by a recording worker."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2

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
        "inspect",
        "queues:\n"
        "  kitchen: {id: kitchen-orders, rate_limits: {max_dispatches_per_second: 5},"
        " retry: {max_attempts: 3, min_backoff: 1h, max_backoff: 1h}}\n",
        location=LOCATION,
    )


@pytest.fixture
def client(cloudtasks_emulator: EmulatorProcess) -> Any:
    return cloudtasks_emulator.tasks_client()


def _queue(project: str, queue: str = "kitchen-orders") -> str:
    return f"projects/{project}/locations/{LOCATION}/queues/{queue}"


def _later(url: str, **fields: Any) -> tasks_v2.Task:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    stamp.FromNanoseconds(stamp.ToNanoseconds() + 3600 * 10**9)
    return tasks_v2.Task(schedule_time=stamp, http_request=tasks_v2.HttpRequest(url=url, **fields))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


class Terminal(io.StringIO):
    """Typed answers, on what the command takes for a terminal."""

    def isatty(self) -> bool:
        return True


def test_queues_list_and_describe(
    project: str, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client.create_queue(
        parent=f"projects/{project}/locations/{LOCATION}",
        queue=tasks_v2.Queue(name=_queue(project, "made-elsewhere")),
    )

    listed = run(capsys, "queues", "list")
    as_json = run(capsys, "queues", "list", "--json")
    described = run(capsys, "queues", "describe", "kitchen")
    described_json = run(capsys, "queues", "describe", "kitchen-orders", "--json")

    assert listed[0] == 0
    lines = listed[1].splitlines()
    assert lines[0].split() == ["QUEUE", "STATE", "RATE", "CONCURRENT", "ATTEMPTS", "BACKOFF"]
    assert lines[1].split() == ["kitchen-orders", "RUNNING", "5/s", "1000", "3", "1h..1h"]
    assert lines[2].split()[:2] == ["made-elsewhere", "RUNNING"]
    assert lines[3] == f"2 queues in projects/{project}/locations/{LOCATION}"
    assert [queue["name"] for queue in json.loads(as_json[1])] == [
        _queue(project),
        _queue(project, "made-elsewhere"),
    ]
    assert "max attempts:       3\n" in described[1]
    assert f"name:               {_queue(project)}\n" in described[1]
    assert json.loads(described_json[1])["retryConfig"]["maxAttempts"] == 3


def test_pause_resume_and_purge_with_confirmation(
    project: str,
    client: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    queue = _queue(project)
    client.create_task(parent=queue, task=_later(url))

    paused = run(capsys, "queues", "pause", "kitchen")
    state_paused = client.get_queue(name=queue).state
    resumed = run(capsys, "queues", "resume", "kitchen", "--json")
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    declined = run(capsys, "queues", "purge", "kitchen")
    kept = list(client.list_tasks(parent=queue))
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    purged = run(capsys, "queues", "purge", "kitchen")

    assert paused == (0, f"paused {queue} (state PAUSED)\n", "")
    assert state_paused == tasks_v2.Queue.State.PAUSED
    assert json.loads(resumed[1])["state"] == "RUNNING"
    assert declined[0] == 1
    assert declined[2] == "error: cancelled: nothing was changed\n"
    assert f"purge every task of {queue}? [y/N] " in declined[1]
    assert len(kept) == 1
    assert purged[0] == 0
    assert list(client.list_tasks(parent=queue)) == []


def test_without_a_terminal_a_purge_needs_yes(
    project: str, client: Any, cloudtasks_emulator: EmulatorProcess, url: str
) -> None:
    queue = _queue(project)
    client.create_task(parent=queue, task=_later(url))
    environment = {**os.environ, "CLOUDTASKS_EMULATOR_HOST": cloudtasks_emulator.grpc_target}

    def purge(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cloudtasks_kit.cli", "queues", "purge", "kitchen", *extra],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )

    refused = purge()
    kept = len(list(client.list_tasks(parent=queue)))
    done = purge("--yes")

    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        f"error: purge every task of {queue}: not without confirmation, and there is no "
        "terminal to ask; pass --yes"
    ]
    assert kept == 1
    assert done.returncode == 0, done.stderr
    assert list(client.list_tasks(parent=queue)) == []


def test_tasks_list_describe_run_and_delete(
    project: str,
    client: Any,
    capsys: pytest.CaptureFixture[str],
    recorder: RecordingWorker,
    url: str,
    path: str,
) -> None:
    queue = _queue(project)
    token = tasks_v2.OidcToken(service_account_email=f"tasks@{project}.iam.gserviceaccount.com")
    for task_id in ("a-first", "b-second", "c-third"):
        task = (
            _later(
                url,
                body=b'{"dish": "dal", "portions": 2}',
                headers={"Content-Type": "application/json"},
                oidc_token=token,
            )
            if task_id == "a-first"
            else _later(url)
        )
        task.name = f"{queue}/tasks/{task_id}"
        client.create_task(parent=queue, task=task)
    names = [task.name for task in client.list_tasks(parent=queue)]
    first = "a-first"

    listed = run(capsys, "tasks", "list", "kitchen")
    limited = run(capsys, "tasks", "list", "kitchen", "--limit", "2")
    as_json = run(capsys, "tasks", "list", "kitchen-orders", "--json")
    described = run(capsys, "tasks", "describe", "kitchen", first)
    sent = run(capsys, "tasks", "run", "kitchen", first)
    recorder.wait_for(path, 1)
    deleted = run(capsys, "tasks", "delete", "kitchen", names[1], "--yes")
    missing = run(capsys, "tasks", "describe", "kitchen", names[1].rsplit("/", 1)[1])

    rows = listed[1].splitlines()
    assert rows[0].split() == ["TASK", "SCHEDULED", "ATTEMPTS", "RESPONSES", "LAST", "TARGET"]
    assert [row.split()[0] for row in rows[1:4]] == ["a-first", "b-second", "c-third"]
    assert "(in 59m)" in rows[1]
    assert rows[1].endswith(f"POST {url}")
    assert rows[4] == f"3 tasks in {queue}"
    assert limited[1].splitlines()[-1] == (
        f"2 tasks in {queue} (--limit reached; --limit 0 lists them all)"
    )
    assert [task["name"] for task in json.loads(as_json[1])] == names
    described_text = described[1]
    assert f"OIDC token:        for tasks@{project}.iam.gserviceaccount.com, audience {url}" in (
        described_text
    )
    assert '  "dish": "dal",\n' in described_text
    assert "  Content-Type: application/json\n" in described_text
    assert sent == (0, f"sent {names[0]} (attempt 1)\n", "")
    assert deleted == (0, f"deleted {names[1]}\n", "")
    assert missing[0] == 1
    assert missing[2].startswith(f"error: NotFound: task {names[1]} does not exist")
    assert len(missing[2].splitlines()) == 1


def test_a_long_listing_shows_progress_on_a_terminal(
    project: str,
    client: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    queue = _queue(project)
    for _ in range(1005):  # more than one page of 1000
        client.create_task(parent=queue, task=_later(url))

    quiet = run(capsys, "tasks", "list", "kitchen", "--limit", "0")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    shown = run(capsys, "tasks", "list", "kitchen", "--limit", "0", "--json")

    assert quiet[1].splitlines()[-1] == f"1005 tasks in {queue}"
    assert quiet[2] == ""
    assert "listing tasks: 1000" in shown[2]
    assert "listing tasks: 1005" in shown[2]
    assert len(json.loads(shown[1])) == 1005


def test_a_task_is_named_by_id_or_full_name(
    project: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "tasks", "run", "kitchen", "not a task!")
    assert code == 2
    assert "is neither a task id" in err


def test_retry_backoff_shows_as_the_settings_write_it(
    project: str, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    client.update_queue(
        queue=tasks_v2.Queue(
            name=_queue(project),
            retry_config=tasks_v2.RetryConfig(
                min_backoff=timedelta(milliseconds=100), max_backoff=timedelta(minutes=5)
            ),
        ),
        update_mask={"paths": ["retry_config.min_backoff", "retry_config.max_backoff"]},
    )
    _, out, _ = run(capsys, "queues", "describe", "kitchen")
    assert "backoff:            0.1s to 5m, 16 doublings\n" in out
