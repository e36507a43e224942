"""The ``google.cloud.scheduler.v1.CloudScheduler`` gRPC methods: validate, store, answer.

As for Cloud Tasks, a request is checked completely before anything is written, and each
answer is the job as committed. Only HTTP targets are emulated. What the service fills in is
filled in here too: ``state``, ``user_update_time``, ``schedule_time`` (the next run),
the RetryConfig defaults, ``attempt_deadline`` (3 min), the POST method, and the headers
Google adds to the stored target (``User-Agent: Google-Cloud-Scheduler``, and
``Content-Type: application/octet-stream`` for a body without one). ``last_attempt_time`` and
``status`` come from the :class:`JobRunner`.
"""

from __future__ import annotations

from typing import Any

from google.cloud import scheduler_v1
from google.cloud.scheduler_v1.services.cloud_scheduler.transports import (
    CloudSchedulerRestTransport,
)
from google.protobuf import empty_pb2, field_mask_pb2

from ..._protocol import (
    DEFAULT_ATTEMPT_DEADLINE,
    DEFAULT_JOB_MAX_BACKOFF,
    DEFAULT_JOB_MAX_DOUBLINGS,
    DEFAULT_JOB_MIN_BACKOFF,
    JOB_HEADER_RULES,
    MAX_JOB_RETRY_COUNT,
    MAX_JOB_SIZE,
)
from .._checks import check_duration, set_timestamp
from .._clock import Clock
from .._config import EmulatorConfig
from .._errors import already_exists, failed_precondition, invalid_argument, not_found, shown
from .._http_target import TargetRules, check_http_target
from .._methods import MethodTable
from .._names import location_of, new_resource_id, parse_job_name
from .._paging import PageTokens
from .._stats import Stats
from .._store import DuplicateName
from . import _cron as cron
from ._job_runner import JobRunner
from ._store import JobStore

__all__ = ["CloudSchedulerApi"]

SERVICE = "google.cloud.scheduler.v1.CloudScheduler"

JobPb = scheduler_v1.Job.pb()
# proto-plus enums type-check as plain ints; they are IntEnums at run time.
_State: Any = scheduler_v1.Job.State
# Job fields a client may set; UpdateJob ignores the output-only ones, as Google documents.
_UPDATABLE = (
    "description",
    "schedule",
    "time_zone",
    "http_target",
    "app_engine_http_target",
    "pubsub_target",
    "retry_config",
    "attempt_deadline",
)
_OUTPUT_ONLY = (
    "name",
    "user_update_time",
    "state",
    "status",
    "schedule_time",
    "last_attempt_time",
)
_TARGET_RULES = TargetRules("job.http_target", "uri", JOB_HEADER_RULES)
_MAX_PAGE = 500


class CloudSchedulerApi:
    # What the faces serve (_methods.Api): the gRPC service, and the client whose REST
    # transport's HTTP rules are the REST routes.
    service = SERVICE
    rest_transport = CloudSchedulerRestTransport

    def __init__(
        self,
        store: JobStore,
        runner: JobRunner,
        clock: Clock,
        stats: Stats,
        config: EmulatorConfig,
        tokens: PageTokens | None = None,
    ) -> None:
        self._store = store
        self._runner = runner
        self._clock = clock
        self._stats = stats
        self._config = config
        self._tokens = tokens or PageTokens()

    def methods(self) -> MethodTable:
        """What the gRPC and REST faces serve (see ``_server``)."""
        request = scheduler_v1
        methods: MethodTable = {
            "CreateJob": (self.create_job, request.CreateJobRequest.pb(), JobPb),
            "GetJob": (self.get_job, request.GetJobRequest.pb(), JobPb),
            "ListJobs": (
                self.list_jobs,
                request.ListJobsRequest.pb(),
                request.ListJobsResponse.pb(),
            ),
            "UpdateJob": (self.update_job, request.UpdateJobRequest.pb(), JobPb),
            "DeleteJob": (self.delete_job, request.DeleteJobRequest.pb(), empty_pb2.Empty),
            "PauseJob": (self.pause_job, request.PauseJobRequest.pb(), JobPb),
            "ResumeJob": (self.resume_job, request.ResumeJobRequest.pb(), JobPb),
            "RunJob": (self.run_job, request.RunJobRequest.pb(), JobPb),
        }
        return methods

    def reset(self) -> None:
        """Forget every job (the admin side's reset, for test suites)."""
        self._runner.reset()
        self._store.reset()

    # -- methods --------------------------------------------------------------------------

    def create_job(self, request: Any) -> Any:
        parent = location_of(request.parent)
        job = JobPb()
        job.CopyFrom(request.job)
        for field in _OUTPUT_ONLY[1:]:
            job.ClearField(field)
        if job.name:
            if parse_job_name(job.name, "job.name") != parent:
                raise invalid_argument(
                    f"job.name: {job.name!r} is not in the parent location {parent!r}"
                )
        else:
            job.name = f"{parent}/jobs/{new_resource_id()}"
        self._check(job)
        now = self._clock.now()
        job.state = _State.ENABLED.value
        set_timestamp(job.user_update_time, now)
        _reschedule(job, now)
        try:
            self._store.insert_job(job.name, job.SerializeToString())
        except DuplicateName:
            raise already_exists(f"job {job.name} already exists") from None
        self._runner.job_changed(job)
        return job

    def get_job(self, request: Any) -> Any:
        return self._job(request.name)

    def list_jobs(self, request: Any) -> Any:
        parent = location_of(request.parent)
        prefix = parent + "/jobs/"
        bodies = {name: body for name, body in self._store.jobs() if name.startswith(prefix)}
        page, token = self._tokens.page(
            f"ListJobs\n{parent}",
            list(bodies),
            request.page_size,
            request.page_token,
            default=_MAX_PAGE,
            maximum=_MAX_PAGE,
        )
        return scheduler_v1.ListJobsResponse.pb()(
            jobs=[JobPb.FromString(bodies[name]) for name in page], next_page_token=token
        )

    def update_job(self, request: Any) -> Any:
        source = request.job
        parse_job_name(source.name, "job.name")
        existing = self._job(source.name, "job.name")
        paths = []
        for path in request.update_mask.paths:
            top = path.split(".", 1)[0]
            if top in _OUTPUT_ONLY:
                continue  # "Any value specified for an output only field will be ignored."
            if top not in _UPDATABLE:
                raise invalid_argument(f"update_mask: {shown(path)} is not a field of Job")
            paths.append(path)
        if paths and not field_mask_pb2.FieldMask(paths=paths).IsValidForDescriptor(
            JobPb.DESCRIPTOR
        ):
            raise invalid_argument(f"update_mask: {shown(paths)} names a field Job does not have")
        job = JobPb()
        job.CopyFrom(existing)
        if paths:
            field_mask_pb2.FieldMask(paths=paths).MergeMessage(
                source, job, replace_message_field=True, replace_repeated_field=True
            )
        elif not request.update_mask.paths:
            # No mask: every field the request sets (proto3 cannot tell an empty string set).
            for field in _UPDATABLE:
                value = getattr(source, field)
                if isinstance(value, str):
                    if value:
                        setattr(job, field, value)
                elif source.HasField(field):
                    getattr(job, field).CopyFrom(value)
        self._check(job)
        now = self._clock.now()
        set_timestamp(job.user_update_time, now)
        if (job.schedule, job.time_zone) != (existing.schedule, existing.time_zone):
            _reschedule(job, max(now, self._store.last_fired(job.name) or 0.0))
        # One INSERT OR REPLACE: there is never a moment without the job.
        self._store.put_job(job.name, job.SerializeToString())
        self._runner.job_changed(job)
        return job

    def delete_job(self, request: Any) -> Any:
        parse_job_name(request.name, "name")
        if not self._store.delete_job(request.name):
            raise not_found(f"job {request.name} does not exist")
        self._runner.job_removed(request.name)
        return empty_pb2.Empty()

    def pause_job(self, request: Any) -> Any:
        job = self._job(request.name)
        _require_state(job, _State.ENABLED.value, "only an ENABLED job pauses")
        job.state = _State.PAUSED.value
        return self._save(job)

    def resume_job(self, request: Any) -> Any:
        job = self._job(request.name)
        _require_state(job, _State.PAUSED.value, "only a PAUSED job resumes")
        job.state = _State.ENABLED.value
        # Runs missed while paused are not made up: the next one is after now.
        _reschedule(job, max(self._clock.now(), self._store.last_fired(job.name) or 0.0))
        return self._save(job)

    def run_job(self, request: Any) -> Any:
        job = self._job(request.name)
        self._runner.run_now(job)
        return job

    # -- helpers --------------------------------------------------------------------------

    def _job(self, name: str, field: str = "name") -> Any:
        parse_job_name(name, field)
        body = self._store.job(name)
        if body is None:
            raise not_found(f"job {name} does not exist")
        return JobPb.FromString(body)

    def _save(self, job: Any) -> Any:
        self._store.put_job(job.name, job.SerializeToString())
        self._runner.job_changed(job)
        return job

    def _check(self, job: Any) -> None:
        """Validate a whole job and fill in Google's defaults, or raise INVALID_ARGUMENT."""
        if len(job.description) > 500:
            raise invalid_argument("job.description: longer than 500 characters")
        target = job.WhichOneof("target")
        if target is None:
            raise invalid_argument(
                "job.http_target: required (a job needs a target; the emulator runs HTTP targets)"
            )
        if target != "http_target":
            raise invalid_argument(
                f"job.{target}: not emulated; the emulator runs http_target jobs only"
            )
        check_http_target(job.http_target, _TARGET_RULES)
        if not job.schedule.strip():
            raise invalid_argument("job.schedule: required")
        try:
            cron.check_schedule(job.schedule)
        except cron.ScheduleError as exc:
            raise invalid_argument(f"job.schedule: {exc}") from None
        try:
            cron.time_zone(job.time_zone)
        except cron.ScheduleError as exc:
            raise invalid_argument(f"job.time_zone: {exc}") from None
        self._check_deadline(job)
        _check_retry_config(job)
        size = job.ByteSize()
        if size > MAX_JOB_SIZE:
            raise invalid_argument(f"job: {size} bytes is over the job size limit of 1 MB")

    def _check_deadline(self, job: Any) -> None:
        if not job.HasField("attempt_deadline"):
            job.attempt_deadline.FromTimedelta(DEFAULT_ATTEMPT_DEADLINE)
            return
        low, high = self._config.min_attempt_deadline, self._config.max_attempt_deadline
        seconds = check_duration(job.attempt_deadline, "job.attempt_deadline")
        if not low <= seconds <= high:
            raise invalid_argument(
                f"job.attempt_deadline: {seconds:g}s is outside [{low:g}s, {high:g}s]"
            )


def _require_state(job: Any, state: int, rule: str) -> None:
    if job.state != state:
        raise failed_precondition(f"job {job.name} is {_State(job.state).name}: {rule}")


def _reschedule(job: Any, after: float) -> None:
    following = cron.next_run(job.schedule, cron.time_zone(job.time_zone), after)
    if following is None:
        job.ClearField("schedule_time")
    else:
        set_timestamp(job.schedule_time, following)


def _check_retry_config(job: Any) -> None:
    retry = job.retry_config
    if not 0 <= retry.retry_count <= MAX_JOB_RETRY_COUNT:
        raise invalid_argument(
            f"job.retry_config.retry_count: must be in [0, {MAX_JOB_RETRY_COUNT}], "
            f"got {retry.retry_count}"
        )
    if retry.max_doublings < 0:
        raise invalid_argument("job.retry_config.max_doublings: must not be negative")
    retry.max_doublings = retry.max_doublings or DEFAULT_JOB_MAX_DOUBLINGS
    for name in ("min_backoff_duration", "max_backoff_duration", "max_retry_duration"):
        if retry.HasField(name):
            check_duration(getattr(retry, name), f"job.retry_config.{name}")
    if not retry.HasField("min_backoff_duration"):
        retry.min_backoff_duration.FromTimedelta(DEFAULT_JOB_MIN_BACKOFF)
    if not retry.HasField("max_backoff_duration"):
        retry.max_backoff_duration.FromTimedelta(DEFAULT_JOB_MAX_BACKOFF)
    if not retry.HasField("max_retry_duration"):
        retry.max_retry_duration.FromSeconds(0)
    if retry.min_backoff_duration.ToNanoseconds() > retry.max_backoff_duration.ToNanoseconds():
        raise invalid_argument(
            "job.retry_config: min_backoff_duration is greater than max_backoff_duration"
        )
