"""``cloudtasks-kit emulator``: declared queues, the ready line, clean stop on SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from cloudtasks_kit.cli import main
from cloudtasks_kit.emulator._config import load_declared_queues
from cloudtasks_kit.testing import EmulatorProcess
from tests.support import RecordingWorker, wait_until

QUEUES_YAML = """
queues:
  - name: projects/cli-project/locations/us-central1/queues/declared
    rateLimits: {maxDispatchesPerSecond: 7}
    retryConfig: {maxAttempts: 3, minBackoff: 0.2s}
"""


def test_emulator_command_declares_queues_and_stops_on_sigint(tmp_path: Path) -> None:
    config = tmp_path / "queues.yaml"
    config.write_text(QUEUES_YAML)
    data = tmp_path / "state.sqlite"
    command = ["emulator", "--port", "0", "--config", str(config), "--data", str(data)]
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudtasks_kit.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"ready grpc=(\S+) http=(\S+) data=(\S+)", line)
        assert match, line
        assert match[3] == str(data)
        channel = grpc.insecure_channel(match[1])
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        queue = client.get_queue(name="projects/cli-project/locations/us-central1/queues/declared")
        assert queue.rate_limits.max_dispatches_per_second == 7
        assert queue.retry_config.max_attempts == 3
        assert queue.retry_config.min_backoff.total_seconds() == pytest.approx(0.2)
        channel.close()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert "emulator stopped" in stderr
    assert data.exists()


def test_bad_queue_file_names_the_entry(tmp_path: Path) -> None:
    config = tmp_path / "queues.yaml"
    config.write_text("queues:\n  - name: x\n    rateLimits: {noSuchField: 1}\n")
    with pytest.raises(ValueError, match=r"queues\[0\]"):
        load_declared_queues(config)


def test_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([])
    assert "emulator" in capsys.readouterr().err


def test_one_log_line_per_dispatch_attempt(recorder: RecordingWorker, url: str, path: str) -> None:
    queue = "projects/cli-project/locations/us-central1/queues/logged"
    with EmulatorProcess() as emulator:
        client = emulator.tasks_client()
        client.create_queue(parent=queue.rsplit("/queues/", 1)[0], queue={"name": queue})
        task = client.create_task(parent=queue, task={"http_request": {"url": url}})
        recorder.wait_for(path, 1)
        wait_until(lambda: any("dispatch task=" in line for line in emulator.log_lines))
        client.transport.close()
        logged = [line for line in emulator.log_lines if task.name in line or url in line]

    assert len(logged) == 1, logged  # the dispatcher's line; httpx's own is silenced
    assert "status=200" in logged[0]
