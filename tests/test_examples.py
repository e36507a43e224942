"""The examples run as documented."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_simple_demo_runs_every_task() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.simple.demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "[worker] hello ran with payload: Triggered task" in out
    assert "[worker] make_dinner at Taj with Pav, Bhaji (request r-1, task " in out
    assert "[worker] make_dinner at Dosa Corner with Dosa (request r-2, task " in out
    assert out.count("make_dinner at Taj with Biryani") == 1
    assert "same task_id again -> TaskAlreadyExists" in out
    assert "all 4 tasks ran" in out
    assert re.search(r"\] created\s+projects/local-dev/locations/europe-west1/jobs/home-cook", out)
    assert "[worker] home_cook with Milk, Cereal (job home-cook, scheduled for 01:30 UTC)" in out


def test_full_example_checks_tokens_retries_and_connects_the_trace() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "examples.full.run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "2 create, 0 update, 0 delete, 0 unchanged" in out
    assert "a call without a token -> 401" in out
    account = "tasks@full-example-dev.iam.gserviceaccount.com"
    assert f"send_email ran: to=ada@example.com, caller={account}, attempt=1" in out
    assert f"build_report sales 2026-11-27 ran: caller={account}, attempt=2, previous=503" in out
    assert "on nightly-reports" in out
    assert "linked=True, same trace=True" in out
