"""How an emulator process is set up: addresses, state file, and the few limits tests shrink."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.cloud import tasks_v2
from google.protobuf import json_format

from .._protocol import MAX_DEADLINE, MAX_SCHEDULE_AHEAD, MAX_TASK_SIZE, MIN_DEADLINE

__all__ = ["EmulatorConfig", "load_declared_queues"]

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8123
    # None: port + 1 (or any free port when port is 0).
    http_port: int | None = None
    data: Path | None = None
    declared_queues: tuple[bytes, ...] = field(default=())
    # A task's name stays taken this long after it ran or was deleted (Google: about 1 hour).
    task_tombstone_ttl: float = 3600.0
    # A deleted queue's name cannot be reused this long (Google: 7 days).
    queue_tombstone_ttl: float = 7 * DAY
    # Google allows 15 s to 30 min; tests of deadlines lower the floor to stay fast.
    min_dispatch_deadline: float = MIN_DEADLINE.total_seconds()
    max_dispatch_deadline: float = MAX_DEADLINE.total_seconds()
    # A Scheduler job's attempt_deadline: the same 15 s to 30 min, the same reason to lower it.
    min_attempt_deadline: float = MIN_DEADLINE.total_seconds()
    max_attempt_deadline: float = MAX_DEADLINE.total_seconds()
    max_schedule_ahead: float = MAX_SCHEDULE_AHEAD.total_seconds()
    max_task_size: int = MAX_TASK_SIZE
    clock_offset: float = 0.0
    # PurgeQueue keeps the purged tasks' names taken like deletion does (Google: purged tasks
    # are deleted). True releases them at once, as aertje's cloud-tasks-emulator does with
    # -hard-reset-on-purge-queue, for test suites that purge between tests and reuse names.
    hard_reset_on_purge: bool = False

    def resolved_http_port(self) -> int:
        if self.http_port is not None:
            return self.http_port
        return 0 if self.port == 0 else self.port + 1


def load_declared_queues(path: Path) -> tuple[bytes, ...]:
    """Queues a YAML file declares, as serialized Queue messages.

    The file holds ``queues:``, a list of Queue resources in Cloud Tasks' JSON form, e.g.
    ``{name: projects/p/locations/l/queues/q, rateLimits: {maxDispatchesPerSecond: 5},
    retryConfig: {maxAttempts: 3, minBackoff: 0.1s}}`` (snake_case keys work too).
    """
    document: Any = yaml.safe_load(path.read_text()) or {}
    entries = document.get("queues", []) if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a mapping with a list under 'queues'")
    queues = []
    for index, entry in enumerate(entries):
        try:
            queue = json_format.ParseDict(entry, tasks_v2.Queue.pb()())
        except json_format.ParseError as exc:
            raise ValueError(f"{path}: queues[{index}]: {exc}") from exc
        queues.append(queue.SerializeToString())
    return tuple(queues)
