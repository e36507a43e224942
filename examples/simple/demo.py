"""``make demo``: the emulator, the worker and tasks really executed, with no Google account.

Starts ``cloudtasks-kit emulator`` and the simple example's worker on free loopback ports,
points the kit at them with environment variables (as a deployment would), fires tasks
(one now, one with a countdown, one named twice) and shows the worker running them; then
syncs the app's declared Cloud Scheduler job and moves the emulator's clock to its next run.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import httpx
from google.cloud import tasks_v2

from cloudtasks_kit import TaskAlreadyExists, delayer
from cloudtasks_kit.ops import plan_schedules
from cloudtasks_kit.testing import BackgroundServer, EmulatorProcess

from .app import Recipe, app, container, kitchen, make_dinner

COUNTDOWN = 2.0


def say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _emulator_now(emulator: EmulatorProcess) -> float:
    now: float = httpx.get(f"{emulator.http_url}/admin/clock", trust_env=False).json()["now"]
    return now


def _advance(emulator: EmulatorProcess, seconds: float) -> None:
    response = httpx.post(
        f"{emulator.http_url}/admin/clock/advance", json={"seconds": seconds}, trust_env=False
    )
    response.raise_for_status()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="[worker] %(message)s", stream=sys.stdout)
    with EmulatorProcess() as emulator:
        worker = BackgroundServer(app)  # binds a free port now, serves from start()
        # What a deployment sets; config/base.yaml + config/dev.yaml give the rest. Before the
        # worker starts: its start-up loads (and checks) the settings.
        os.environ.update(
            CLOUDTASKS_ENV="dev",
            CLOUDTASKS_EMULATOR_HOST=emulator.grpc_target,
            CLOUDTASKS_BASE_URL=worker.url,
            CLOUDTASKS_AUTH__ISSUER=emulator.http_url,
        )
        with worker:
            return _run(emulator, worker)


def _run(emulator: EmulatorProcess, worker: BackgroundServer) -> int:
    say(f"emulator: gRPC {emulator.grpc_target}, OIDC issuer {emulator.http_url}")
    say(f"worker:   {worker.url}")
    # The app's own container; wired, it also serves the .delay() calls of this script.
    container.wire()
    try:
        return _tasks_and_a_job(emulator, worker)
    finally:
        container.unwire()
        container.shutdown_resources()
        say("stopped the worker and the emulator")


def _tasks_and_a_job(emulator: EmulatorProcess, worker: BackgroundServer) -> int:
    settings = container.settings()
    client = container.tasks_client()
    for queue in (settings.queue_path(), settings.queue_path("kitchen")):
        client.update_queue(queue=tasks_v2.Queue(name=queue))
        say(f"queue ready: {queue}")

    response = httpx.get(f"{worker.url}/trigger", trust_env=False)
    say(f"GET /trigger -> {response.status_code} {response.json()}")

    now = make_dinner.delay(  # type: ignore[attr-defined]
        restaurant="Taj", recipe=Recipe(ingredients=["Pav", "Bhaji"]), x_request_id="r-1"
    )
    say(f"make_dinner.delay() -> {now.name}")
    started = time.monotonic()
    later = (
        delayer(make_dinner)
        .options(countdown=COUNTDOWN)
        .delay(restaurant="Dosa Corner", recipe=Recipe(ingredients=["Dosa"]), x_request_id="r-2")
    )
    say(f"make_dinner.options(countdown={COUNTDOWN:g}).delay() -> due {later.schedule_time}")
    named = delayer(make_dinner).options(task_id="dinner-42")
    first = named.delay(
        restaurant="Taj", recipe=Recipe(ingredients=["Biryani"]), x_request_id="r-3"
    )
    say(f"named task created: {first.task_id}")
    try:
        named.delay(restaurant="Taj", recipe=Recipe(ingredients=["Biryani"]), x_request_id="r-3")
    except TaskAlreadyExists as exc:
        say(f"same task_id again -> TaskAlreadyExists: {exc}")

    if not kitchen.wait_for(4, timeout=30):
        say(f"only {len(kitchen.served)} of 4 tasks ran within 30 s")
        return 1
    waited = time.monotonic() - started
    say(f"all 4 tasks ran; the countdown task ran {waited:.1f} s after it was created")

    plan = plan_schedules(container.job_scheduler(), app)
    say("schedules sync:")
    plan.apply(report=say)
    job = container.scheduler_client().get_job(name=plan.changes[0].name)
    say(f"next run of {job.name.rsplit('/', 1)[1]}: {job.schedule_time} (07:00 Asia/Kolkata)")
    ahead = job.schedule_time.timestamp() - _emulator_now(emulator)
    _advance(emulator, ahead + 1)
    say(f"moved the emulator's clock {ahead / 3600:.1f} h forward")
    if not kitchen.wait_for(5, timeout=30):
        say("the scheduled job did not run within 30 s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
