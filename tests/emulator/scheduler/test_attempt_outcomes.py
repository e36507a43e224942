"""A job's run follows its retry config whatever the HTTP sender raises: the emulator's parts
run in this process, so that the sender can raise what no real target could make it raise."""

from __future__ import annotations

from datetime import timedelta

import httpx
from google.cloud import scheduler_v1

from cloudtasks_kit.emulator import Clock, EmulatorConfig
from cloudtasks_kit.emulator._stats import Stats
from cloudtasks_kit.emulator._store import Database
from cloudtasks_kit.emulator._tokens import TokenSigner
from cloudtasks_kit.emulator.scheduler import CloudSchedulerApi, JobRunner, JobStore
from tests.emulator.tasks.test_attempt_outcomes import PARENT, URL, Sender, _until


async def test_a_job_run_follows_its_retry_config_whatever_the_sender_raises() -> None:
    sender = Sender([RuntimeError("boom"), UnicodeEncodeError("ascii", "é", 0, 1, "no")])
    database = Database(None)
    store, clock, stats = JobStore(database), Clock(), Stats()
    client = httpx.AsyncClient(transport=httpx.MockTransport(sender))
    runner = JobRunner(store, clock, TokenSigner("http://issuer.local"), stats, client)
    api = CloudSchedulerApi(store, runner, clock, stats, EmulatorConfig())
    runner.start()
    try:
        job = scheduler_v1.Job(
            name=f"{PARENT}/jobs/j",
            schedule="0 0 1 1 *",
            http_target=scheduler_v1.HttpTarget(uri=URL),
            retry_config=scheduler_v1.RetryConfig(
                retry_count=3,
                min_backoff_duration=timedelta(seconds=0.05),
                max_backoff_duration=timedelta(seconds=1),
            ),
        )
        api.create_job(scheduler_v1.CreateJobRequest.pb()(parent=PARENT, job=job._pb))
        api.run_job(scheduler_v1.RunJobRequest.pb()(name=job.name))
        await _until(lambda: stats.job_attempts["succeeded"] == 1)

        assert len(sender.times) == 3
        assert stats.job_attempts == {"failed": 2, "succeeded": 1}
        assert api.get_job(scheduler_v1.GetJobRequest.pb()(name=job.name)).status.code == 0
    finally:
        await runner.stop()
        database.close()
