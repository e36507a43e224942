"""Resource names of queues, tasks and jobs: parsing, the errors Google gives for bad ones,
and the ids the services mint."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from .._protocol import JOB_ID, QUEUE_ID, TASK_ID
from ._errors import invalid_argument

__all__ = [
    "QueueName",
    "location_of",
    "new_resource_id",
    "parse_job_name",
    "parse_queue_name",
    "parse_task_name",
]

# Project ids may be domain-scoped ("example.com:my-project"); locations are region names.
_PROJECT = r"[a-z][a-z0-9.:-]{0,62}[a-z0-9]"
_LOCATION = r"[a-z][a-z0-9-]{0,62}"
_LOCATION_RE = re.compile(rf"projects/(?P<project>{_PROJECT})/locations/(?P<location>{_LOCATION})")
_QUEUE_RE = re.compile(rf"{_LOCATION_RE.pattern}/queues/(?P<queue>{QUEUE_ID.pattern})")
_TASK_RE = re.compile(rf"(?P<parent>{_QUEUE_RE.pattern})/tasks/(?P<task>{TASK_ID.pattern})")


@dataclass(frozen=True, slots=True)
class QueueName:
    project: str
    location: str
    queue: str

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def __str__(self) -> str:
        return f"{self.parent}/queues/{self.queue}"


def location_of(name: str, field: str = "parent") -> str:
    if not _LOCATION_RE.fullmatch(name):
        raise invalid_argument(
            f"{field}: {name!r} is not a location name (projects/PROJECT/locations/LOCATION)"
        )
    return name


def parse_queue_name(name: str, field: str = "name") -> QueueName:
    match = _QUEUE_RE.fullmatch(name)
    if match is None:
        raise invalid_argument(
            f"{field}: {name!r} is not a queue name "
            "(projects/PROJECT/locations/LOCATION/queues/QUEUE_ID, "
            "the id 1-100 letters, digits or hyphens)"
        )
    return QueueName(match["project"], match["location"], match["queue"])


def parse_task_name(name: str, field: str = "name") -> tuple[str, str]:
    """Return (queue name, task id)."""
    match = _TASK_RE.fullmatch(name)
    if match is None:
        raise invalid_argument(
            f"{field}: {name!r} is not a task name "
            "(projects/P/locations/L/queues/Q/tasks/TASK_ID, the id 1-500 letters, digits, "
            "hyphens or underscores)"
        )
    return match["parent"], match["task"]


def parse_job_name(name: str, field: str = "name") -> str:
    """The location of a job name (projects/P/locations/L/jobs/JOB_ID), or INVALID_ARGUMENT."""
    location, marker, job_id = name.partition("/jobs/")
    if not (marker and JOB_ID.fullmatch(job_id) and _LOCATION_RE.fullmatch(location)):
        raise invalid_argument(
            f"{field}: {name!r} is not a job name (projects/PROJECT/locations/LOCATION/jobs/"
            "JOB_ID, the id 1-500 letters, digits, hyphens or underscores)"
        )
    return location


def new_resource_id() -> str:
    """The id of a task or job created without a name.

    Google's generated ids are long decimal numbers; random ones also spread well.
    """
    return str(secrets.randbits(63) | (1 << 62))
