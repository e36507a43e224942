"""Which fields of a job differ from what the code declares, as update-mask paths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.cloud import scheduler_v1

from .._protocol import (
    DEFAULT_JOB_MAX_BACKOFF,
    DEFAULT_JOB_MAX_DOUBLINGS,
    DEFAULT_JOB_MIN_BACKOFF,
)

__all__: list[str] = []

# Headers Cloud Scheduler adds to a stored job itself: not ours to compare.
_SERVICE_HEADERS = {"user-agent"}


def job_differences(wanted: scheduler_v1.Job, current: scheduler_v1.Job) -> tuple[str, ...]:
    """Update-mask paths whose values differ; fields ``wanted`` leaves unset are not compared
    (the service's defaults stand)."""
    differing = [
        path
        for path in ("description", "schedule", "time_zone")
        if getattr(wanted, path) != getattr(current, path)
    ]
    if _target(wanted.http_target) != _target(current.http_target):
        differing.append("http_target")
    if "retry_config" in wanted and _retry(wanted.retry_config) != _retry(current.retry_config):
        differing.append("retry_config")
    if "attempt_deadline" in wanted and wanted.attempt_deadline != current.attempt_deadline:
        differing.append("attempt_deadline")
    return tuple(differing)


def _retry(retry: scheduler_v1.RetryConfig) -> tuple[Any, ...]:
    # Zero reads as "unset" in proto3, and the service stores its default instead: compare
    # what the service will hold, or a job asking for zero would be updated on every sync.
    return (
        retry.retry_count,
        retry.min_backoff_duration or DEFAULT_JOB_MIN_BACKOFF,
        retry.max_backoff_duration or DEFAULT_JOB_MAX_BACKOFF,
        retry.max_doublings or DEFAULT_JOB_MAX_DOUBLINGS,
        retry.max_retry_duration,
    )


def _target(target: scheduler_v1.HttpTarget) -> tuple[Any, ...]:
    headers = {
        key.lower(): value
        for key, value in target.headers.items()
        if key.lower() not in _SERVICE_HEADERS
    }
    oidc = target.oidc_token
    return (
        target.uri,
        int(target.http_method) or int(scheduler_v1.HttpMethod.POST),
        sorted(headers.items()),
        target.body,
        oidc.service_account_email,
        oidc.audience,
    )


def job_details(
    wanted: scheduler_v1.Job,
    current: scheduler_v1.Job | None,
    differing: Sequence[str],
    paused: bool,
) -> tuple[str, ...]:
    """For a sync's output: ``path: old -> new`` per differing path of an update, or the main
    fields of a job to create (``current`` is ``None``)."""
    if current is None:
        return tuple(f"{path}: {_show(wanted, path)}" for path in ("schedule", "time_zone", "uri"))
    # The wanted job carries no state of its own: the declaration says paused or not.
    wanted = scheduler_v1.Job(wanted, state="PAUSED" if paused else "ENABLED")
    return tuple(f"{path}: {_show(current, path)} -> {_show(wanted, path)}" for path in differing)


def _show(job: scheduler_v1.Job, path: str) -> str:
    if path == "state":
        return str(job.state.name)
    if path in ("uri", "http_target"):
        target = job.http_target
        method = scheduler_v1.HttpMethod(int(target.http_method) or 1).name  # 1: POST
        return f"{method} {target.uri}" + (
            "" if path == "uri" else f" ({len(target.headers)} headers, {len(target.body)} B)"
        )
    if path == "retry_config":
        count, low, high, doublings, duration = _retry(job.retry_config)
        return (
            f"retry_count={count}, min_backoff={_seconds(low)}, max_backoff={_seconds(high)}, "
            f"max_doublings={doublings}, max_retry_duration={_seconds(duration)}"
        )
    if path == "attempt_deadline":
        return _seconds(job.attempt_deadline)
    return repr(getattr(job, path))


def _seconds(value: Any) -> str:
    total = value.total_seconds() if hasattr(value, "total_seconds") else float(value or 0)
    return f"{total:g}s"
