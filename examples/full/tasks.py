"""Task routes of the full example: two queues, OIDC on every task, a slow report."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from cloudtasks_kit import DelayedRoute, task_default_options

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
router = APIRouter(route_class=DelayedRoute, prefix="/tasks")


@router.post("/emails/send")
async def send_email(
    email: Email,
    authorization: Annotated[str, Header()] = "",
    traceparent: Annotated[str, Header()] = "",
) -> None:
    received.add(
        {"task": "send_email", "to": ",".join(email.to), "token": authorization,
         "traceparent": traceparent}
    )  # fmt: skip


@router.post("/reports/{report}")
@task_default_options(queue="reports", hash_task_id=True)
async def build_report(
    report: str,
    day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")],
    authorization: Annotated[str, Header()] = "",
) -> None:
    received.add({"task": f"build_report {report} {day}", "token": authorization})
