"""Operations: plan, then apply, to bring Cloud Tasks queues and Cloud Scheduler jobs in line
with what the settings and the code declare."""

from ._plan import Change, Failure, Plan
from ._queues import ensure_queues, plan_queues
from ._schedules import plan_schedules

__all__ = ["Change", "Failure", "Plan", "ensure_queues", "plan_queues", "plan_schedules"]
