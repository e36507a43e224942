"""Which fields of a job differ from what the code declares, as update-mask paths."""

from __future__ import annotations

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
