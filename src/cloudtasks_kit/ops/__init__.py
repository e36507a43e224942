"""Operations: plan, then apply, to bring Cloud Tasks queues and Cloud Scheduler jobs in line
with what the settings and the code declare; list and replay dead letters; look at queues and
tasks and act on them."""

from ._dead_letters import (
    DeadLetter,
    DeadLetterNotFound,
    Replay,
    dead_letter_queue,
    list_dead_letters,
    replay_dead_letters,
)
from ._inspect import CloudTasksInspector
from ._plan import Change, Failure, Plan
from ._queues import ensure_queues, plan_queues
from ._schedules import plan_schedules

__all__ = [
    "Change",
    "CloudTasksInspector",
    "DeadLetter",
    "DeadLetterNotFound",
    "Failure",
    "Plan",
    "Replay",
    "dead_letter_queue",
    "ensure_queues",
    "list_dead_letters",
    "plan_queues",
    "plan_schedules",
    "replay_dead_letters",
]
