"""What the console reads and acts through, as ``_server`` hands it over: the two APIs' own
methods (called with the request messages the faces would build, so an action here does
exactly what the RPC does), and the stores for what no API exposes (attempt histories, queue
counts, the filtered task list).

The console is shared code: it imports neither half, and names what it needs of them here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._clock import Clock
from .._insight import Attempt, QueueCounts

__all__ = ["ConsoleSource", "JobReader", "SchedulerCore", "StoredTask", "TaskReader", "TasksCore"]


class TasksCore(Protocol):
    """``CloudTasksApi``: each method takes its request message and answers as the RPC."""

    def list_queues(self, request: Any) -> Any: ...
    def get_queue(self, request: Any) -> Any: ...
    def pause_queue(self, request: Any) -> Any: ...
    def resume_queue(self, request: Any) -> Any: ...
    def purge_queue(self, request: Any) -> Any: ...
    def get_task(self, request: Any) -> Any: ...
    def run_task(self, request: Any) -> Any: ...
    def delete_task(self, request: Any) -> Any: ...


class SchedulerCore(Protocol):
    """``CloudSchedulerApi``, likewise."""

    def list_jobs(self, request: Any) -> Any: ...
    def get_job(self, request: Any) -> Any: ...
    def run_job(self, request: Any) -> Any: ...
    def pause_job(self, request: Any) -> Any: ...
    def resume_job(self, request: Any) -> Any: ...


class StoredTask(Protocol):
    """A task as stored (``tasks._store.TaskRow``): what a line of the task list shows."""

    @property
    def name(self) -> str: ...
    @property
    def due(self) -> float: ...
    @property
    def dispatch_count(self) -> int: ...
    @property
    def response_count(self) -> int: ...
    @property
    def last_status(self) -> int | None: ...


class TaskReader(Protocol):
    """``tasks._store.TaskStore``, read only."""

    def queues(self) -> list[tuple[str, bytes]]: ...
    def browse(
        self, queue: str, *, after: str, prefix: str, attempted: bool | None, limit: int
    ) -> Sequence[StoredTask]: ...
    def attempts(self, name: str) -> list[Attempt]: ...
    def tombstone_reason(self, name: str, now: float) -> str | None: ...


class JobReader(Protocol):
    """``scheduler._store.JobStore``, read only."""

    def jobs(self) -> list[tuple[str, bytes]]: ...
    def attempts(self, name: str) -> list[Attempt]: ...


@dataclass(frozen=True, slots=True)
class ConsoleSource:
    tasks: TasksCore
    scheduler: SchedulerCore
    task_store: TaskReader
    job_store: JobReader
    #: A queue's stored tasks by where they are (the store's counts and the in-flight ones).
    queue_counts: Callable[[str], QueueCounts]
    #: Whether a task is being attempted now.
    is_running: Callable[[str], bool]
    #: A queue's attempts per second over the last minute.
    dispatch_rate: Callable[[str], float]
    clock: Clock
