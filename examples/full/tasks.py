"""Task routes of the full example: two queues, OIDC checked on every call, retry control."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cloudtasks_kit import (
    DelayedRoute,
    RetryLater,
    TaskCaller,
    TaskContext,
    TaskContextDep,
    attempt_guard,
    task_default_options,
    verify_task_caller,
)

__all__ = ["Email", "build_report", "received", "router", "send_email"]


class Email(BaseModel):
    to: list[str]
    subject: str
    body: str


class Received:
    """What the worker saw, for the run script to show (events, not sleeps)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.changed = threading.Condition()

    def add(self, entry: dict[str, str]) -> None:
        with self.changed:
            self.requests.append(entry)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.requests) >= count, timeout)


received = Received()
# Every route here checks the caller's OIDC token first (settings.auth: the emulator's issuer
# in dev, Google's in prod); a request without a valid token never reaches a handler.
router = APIRouter(
    route_class=DelayedRoute,
    prefix="/tasks",
    dependencies=[Depends(verify_task_caller), Depends(attempt_guard(5))],
)
Caller = Annotated[TaskCaller | None, Depends(verify_task_caller)]


@router.post("/emails/send")
async def send_email(
    email: Email, task: TaskContextDep = TaskContext(), caller: Caller = None
) -> None:
    received.add(
        {
            "task": "send_email",
            "to": ",".join(email.to),
            "caller": _email(caller),
            "attempt": str(task.attempt),
        }
    )


@router.post("/reports/{report}")
@task_default_options(queue="reports", hash_task_id=True)
async def build_report(
    report: str,
    day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    task: TaskContextDep = TaskContext(),
    caller: Caller = None,
) -> None:
    if task.attempt == 1:
        # The data is not there yet: Cloud Tasks retries no sooner than a second from now.
        raise RetryLater(after=1, reason=f"{report} data for {day} not loaded yet")
    received.add(
        {
            "task": f"build_report {report} {day}",
            "caller": _email(caller),
            "attempt": str(task.attempt),
            "previous": str(task.previous_response),
        }
    )


def _email(caller: TaskCaller | None) -> str:
    # None only where auth is off (config/test.yaml).
    return (caller.email or "") if caller is not None else "(auth off)"
